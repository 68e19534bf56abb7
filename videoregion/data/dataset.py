"""Records -> items: one map-style dataset for every layout (Kinetics, SSv2, ...).

An index addresses one view of one video (``index = video_index * num_views + view_index``;
``view_index = temporal_view * num_spatial_views + spatial_view``). A :class:`~.clips.ClipReader`
turns a video into views (decode at the transform's size under the time budget, sample, crop);
in training one random clip per item, at test time all clips of a video decoded in one pass and
kept while its views are read (views come in order).

Repeated augmentation (``num_samples`` K > 1, training only): the item's clip is decoded once
(one decode size, one clip position) and cropped K times, each crop, flip and RandAugment with
its own draws, into ``clip`` (K, C, T, H, W); the collate function (:func:`~.loader.collate_items`)
makes them K rows of the batch.

Decode failures are handled in one place, :meth:`VideoDataset.__getitem__`: a
:class:`~.readers.VideoError` (or a stalled decoder) is recorded in the item's ``skipped`` list;
in training another video is drawn (at most ``max_retries`` times), at test time the item comes
back without a clip and the collate function leaves it out. The loader reports the skips
(:class:`~.loader.SkipReport`): log once per path, a file in the output folder, and a clear error
when most videos fail.

Randomness: each item gets its own ``torch.Generator`` seeded from (seed, epoch, index), so a
clip does not depend on the number of workers or on which worker loads it. The loader's sampler
hands the epoch to the dataset with each index (``(index, epoch)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .annotations import VideoRecord
from .clips import ClipReader
from .readers import VideoError

__all__ = ["VideoDataset", "item_generator"]


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator for one item, independent across (seed, epoch, index)."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


class VideoDataset(Dataset):
    """Views of annotated videos as dict items.

    Item: ``clip`` (C, T, H, W) uint8 (training with ``num_samples`` K > 1: (K, C, T, H, W), K
    augmentations of one decoded clip), ``label`` int, ``video_index`` int, ``view_index`` int,
    ``path`` str, and ``skipped``: a list of (path, reason) for videos that failed on the way
    (the loader pops it). An item whose video failed at test time has no ``clip``.

    ``clips`` reads the views: at test time ``num_temporal_views`` clips per video, each in the
    transform's ``clips.num_crops`` crops; in training one random clip per video and
    ``num_samples`` random crops of it.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        class_names: Sequence[str],
        *,
        clips: ClipReader,
        train: bool,
        num_temporal_views: int = 1,
        max_retries: int = 10,
        seed: int = 0,
        num_samples: int = 1,
    ):
        if not records:
            raise ValueError("no videos to load")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.records = list(records)
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.clips = clips
        self.train = train
        self.num_temporal_views = 1 if train else num_temporal_views
        self.num_spatial_views = 1 if train else clips.num_crops
        self.num_views = self.num_temporal_views * self.num_spatial_views
        self.max_retries = max_retries if train else 0
        self.num_samples = num_samples if train else 1
        self.seed = seed
        # Test views come in order, video by video: the clips of the last video decoded.
        self._cache: tuple[str, list[torch.Tensor]] | None = None
        self._failed: VideoError | None = None

    @property
    def num_videos(self) -> int:
        return len(self.records)

    def __len__(self) -> int:
        return self.num_videos * self.num_views

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} outside [0, {len(self)})")
        video_index, view_index = divmod(index, self.num_views)
        generator = item_generator(self.seed, epoch, index)
        skipped: list[tuple[str, str]] = []
        for attempt in range(self.max_retries + 1):
            if attempt:  # training only: another video in place of the unreadable one
                video_index = int(torch.randint(self.num_videos, (), generator=generator))
            record = self.records[video_index]
            try:
                clip = self.load_view(record.path, view_index, generator)
            except VideoError as e:
                skipped.append((record.path, e.reason))
                continue
            return {"clip": clip, "label": record.label, "video_index": video_index,
                    "view_index": view_index, "path": record.path, "skipped": skipped}
        return {"video_index": video_index, "view_index": view_index, "path": record.path, "skipped": skipped}

    def load_view(self, path: str, view_index: int, generator: torch.Generator) -> torch.Tensor:
        """Decode (under the time budget), sample and crop one view -> (C, T, H, W) uint8, or
        (K, C, T, H, W): ``num_samples`` K > 1 crops of one decoded clip."""
        temporal_view, spatial_view = divmod(view_index, self.num_spatial_views)
        if not self.train and self._failed is not None and self._failed.path == path:
            raise self._failed  # the other views of a test video that just failed
        try:
            frames = self.frames_of(path, temporal_view, generator)
        except VideoError as e:
            if not self.train:  # in training a failure may be transient: a later epoch tries again
                self._failed = e
            raise
        if self.num_samples == 1:
            return self.clips.view(frames, spatial_view, generator)
        return torch.stack([self.clips.view(frames, spatial_view, generator) for _ in range(self.num_samples)])

    def frames_of(self, path: str, temporal_view: int, generator: torch.Generator) -> torch.Tensor:
        """The frames of a random clip (train) or of test clip ``temporal_view``, (T, C, H, W) uint8."""
        if self.train:
            return self.clips.train_clip(path, generator)
        if self._cache is None or self._cache[0] != path:
            self._cache = (path, self.clips.test_clips(path, self.num_temporal_views))
        return self._cache[1][temporal_view]
