"""RegionViT models: 2D (the authors' architecture) and time-inflated 3D, with weight adaptation."""

from . import regionvit  # noqa: F401  (registers the variants)
from .build import build_model
from .registry import create_model, list_models, register_model
from .regionvit import RegionViT
from .weights import checkpoint_filter_fn, load_pretrained

__all__ = [
    "RegionViT",
    "build_model",
    "checkpoint_filter_fn",
    "create_model",
    "list_models",
    "load_pretrained",
    "register_model",
]
