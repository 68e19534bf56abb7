"""Records -> items: one map-style dataset for every layout (Kinetics, SSv2, ...).

An index addresses one view of one video (``index = video_index * num_views + view_index``;
``view_index = temporal_view * num_spatial_views + spatial_view``). Loading a view is three
steps, each a pluggable callable: :func:`~.readers.open_video` (decode), a frame sampler
(:mod:`.sampling`) and a clip transform (:mod:`.transforms`). At test time all clips of a video
are decoded in one pass and kept while its views are read (views come in order).

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

from typing import Callable, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .annotations import VideoRecord
from .readers import VideoError, VideoReader, open_video, run_with_timeout
from .sampling import FrameSampler

__all__ = ["ClipTransform", "VideoDataset", "group_nearby", "item_generator", "read_clips"]


class ClipTransform(Protocol):
    def decode_size(self, generator: torch.Generator | None) -> int | None:
        """Short side the decoder should deliver (None: native size)."""

    def __call__(self, frames: torch.Tensor, generator: torch.Generator | None, spatial_view: int) -> torch.Tensor:
        """(T, C, H, W) uint8 -> (C, T, H', W') uint8."""


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator for one item, independent across (seed, epoch, index)."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


class VideoDataset(Dataset):
    """Views of annotated videos as dict items (see ``interfaces.md``).

    Item: ``clip`` (C, T, H, W) uint8, ``label`` int, ``video_index`` int, ``view_index`` int,
    ``path`` str, and ``skipped``: a list of (path, reason) for videos that failed on the way
    (the loader pops it). An item whose video failed at test time has no ``clip``.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        class_names: Sequence[str],
        *,
        sampler: FrameSampler,
        transform: ClipTransform,
        train: bool,
        num_temporal_views: int = 1,
        num_spatial_views: int = 1,
        backend: str = "decord",
        decode_threads: int = 1,
        decode_timeout: float = 0.0,
        max_retries: int = 10,
        seed: int = 0,
        open_fn: Callable[..., object] = open_video,
    ):
        if not records:
            raise ValueError("no videos to load")
        self.records = list(records)
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.sampler = sampler
        self.transform = transform
        self.train = train
        self.num_temporal_views = 1 if train else num_temporal_views
        self.num_spatial_views = 1 if train else num_spatial_views
        self.num_views = self.num_temporal_views * self.num_spatial_views
        self.backend = backend
        self.decode_threads = decode_threads
        self.decode_timeout = decode_timeout
        self.max_retries = max_retries if train else 0
        self.seed = seed
        self.open_fn = open_fn
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
        """Decode (under the time budget), sample and transform one view -> (C, T, H, W) uint8."""
        temporal_view, spatial_view = divmod(view_index, self.num_spatial_views)
        if self._failed is not None and self._failed.path == path:
            raise self._failed  # the other views of a video that just failed
        try:
            frames = run_with_timeout(lambda: self.frames_of(path, temporal_view, generator), self.decode_timeout, path)
        except VideoError as e:
            self._failed = e
            raise
        return self.transform(frames, generator, spatial_view)

    def frames_of(self, path: str, temporal_view: int, generator: torch.Generator) -> torch.Tensor:
        """The frames of a random clip (train) or of test clip ``temporal_view``, (T, C, H, W) uint8."""
        if self.train:
            return self.decode_clip(path, generator)
        if self._cache is None or self._cache[0] != path:
            self._cache = (path, self.decode_test_clips(path))
        return self._cache[1][temporal_view]

    def decode_clip(self, path: str, generator: torch.Generator) -> torch.Tensor:
        """A random clip, short side as the transform draws it: (T, C, H, W) uint8."""
        short_side = self.transform.decode_size(generator)
        reader = self.open_fn(path, backend=self.backend, threads=self.decode_threads, short_side=short_side)
        indices = self.sampler(reader.num_frames, reader.fps, None, 1, generator)
        return reader.get_frames(indices.tolist(), short_side=short_side, layout="TCHW")

    def decode_test_clips(self, path: str) -> list[torch.Tensor]:
        """Every test clip of a video, [(T, C, H, W) uint8] by temporal view (read by :func:`read_clips`)."""
        short_side = self.transform.decode_size(None)
        reader = self.open_fn(path, backend=self.backend, threads=self.decode_threads, short_side=short_side)
        clips = [self.sampler(reader.num_frames, reader.fps, view, self.num_temporal_views, None)
                 for view in range(self.num_temporal_views)]
        return read_clips(reader, clips, short_side)


def read_clips(reader: VideoReader, clips: Sequence[torch.Tensor], short_side: int | None) -> list[torch.Tensor]:
    """The frames of several clips of one video, [(T, C, H, W) uint8] per clip.

    ``clips``: frame indices (T,) per clip, in order of their first frame. Clips that overlap or
    nearly touch (:func:`group_nearby`) are read together, in one sorted pass that decodes each
    frame at most once (one read per clip would go back to a key frame every time); clips far
    apart in a long video are read separately, each after its own seek.
    """
    frames: list[torch.Tensor | None] = [None] * len(clips)
    for run in group_nearby(clips):
        wanted = torch.cat([clips[i] for i in run]).unique(sorted=True)
        decoded = reader.get_frames(wanted.tolist(), short_side=short_side, layout="TCHW")
        for i in run:
            frames[i] = decoded[torch.searchsorted(wanted, clips[i])]
    return frames


def group_nearby(clips: Sequence[torch.Tensor]) -> list[list[int]]:
    """Clip numbers grouped into runs whose frame ranges overlap or lie less than a clip apart.

    ``clips``: frame indices per clip, clips in order of their first frame.
    """
    runs: list[list[int]] = []
    end = None
    for i, clip in enumerate(clips):
        first, last = int(clip.min()), int(clip.max())
        if end is None or first - end > last - first + 1:
            runs.append([])
        runs[-1].append(i)
        end = last if end is None else max(end, last)
    return runs
