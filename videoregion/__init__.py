"""videoregion: a time-inflated RegionViT for video action recognition."""

__version__ = "0.1.0"
