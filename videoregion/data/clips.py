"""Frames of chosen clips of a video, at the decode size, under the time budget, cropped into views.

    clips = ClipReader(sampler, transform, DecodeSettings(backend="decord", threads=1, timeout=30.0))
    frames = clips.train_clip("a.mp4", generator)      # one random clip, (T, C, H, W) uint8
    frames = clips.test_clips("a.mp4", num_clips=10)   # the sampler's 10 test clips, [(T, C, H, W) uint8]
    views = clips.views(frames[0])                     # that clip's test crops, [(C, T, crop, crop) uint8]

    reader = clips.open("a.mp4")                       # or: chosen clips of an opened video, e.g.
    frames = clips.read(reader, 90 + sample_test_clips(clips.sampler, 30, reader.fps, 2))  # 2 in frames 90-119

A :class:`ClipReader` is the one path from a video file to model-sized clips: the decoder scales
the frames to the transform's decode size as it decodes (:func:`~.readers.open_video`), the
sampler (:mod:`.sampling`) picks the frame indices, clips that lie close together are decoded in
one pass (:func:`read_clips`) and the transform (:mod:`.transforms`) crops them into views. The
dataset (:class:`~.dataset.VideoDataset`) and the demo's Predictor use it.

Each decode runs under the time budget (:func:`~.readers.run_with_timeout`). A file that cannot
be read, or a decoder that stalls, is a :class:`~.readers.VideoError`: the caller decides what
that means (the dataset skips the video, the Predictor reports it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from .readers import VideoReader, open_video, run_with_timeout
from .sampling import FrameSampler

__all__ = ["ClipReader", "ClipTransform", "DecodeSettings", "group_nearby", "read_clips", "sample_test_clips"]


class ClipTransform(Protocol):
    def decode_size(self, generator: torch.Generator | None) -> int | None:
        """Short side the decoder should deliver (None: native size)."""

    def __call__(self, frames: torch.Tensor, generator: torch.Generator | None, spatial_view: int) -> torch.Tensor:
        """(T, C, H, W) uint8 -> (C, T, H', W') uint8."""


@dataclass(frozen=True)
class DecodeSettings:
    """How videos are decoded: the backend (:data:`~.readers.READERS`), its threads (0: the
    decoder chooses) and the seconds one decode may take before the video counts as unreadable
    (0: no limit)."""

    backend: str = "decord"
    threads: int = 1
    timeout: float = 0.0

    def open(self, path: str, short_side: int | None = None) -> VideoReader:
        """``path`` opened for frames of ``short_side`` (None: native size); a VideoError when it cannot be read."""
        return open_video(path, backend=self.backend, threads=self.threads, short_side=short_side)


def sample_test_clips(sampler: FrameSampler, num_frames: int, fps: float, num_clips: int) -> torch.Tensor:
    """Frame indices of the sampler's ``num_clips`` test clips of a video, (num_clips, T) int64.

    Clip ``k`` is the sampler's test view ``k`` of ``num_clips``, so the rows are in order of
    their first frame.
    """
    return torch.stack([sampler(num_frames, fps, view, num_clips, None) for view in range(num_clips)])


@dataclass(frozen=True)
class ClipReader:
    """Clips of videos as a ``sampler`` picks them and a ``transform`` sizes and crops them.

    The transform gives the decode size (:meth:`~.transforms.TestTransform.decode_size`; drawn
    per clip in training) and the crops; ``decode`` the backend and the time budget.
    """

    sampler: FrameSampler
    transform: ClipTransform
    decode: DecodeSettings = field(default_factory=DecodeSettings)

    @property
    def num_crops(self) -> int:
        """Views cut from one test clip (:meth:`views`); 1 for a transform without test crops."""
        return getattr(self.transform, "num_crops", 1)

    def open(self, path: str) -> VideoReader:
        """``path`` opened for frames at the test decode size (:meth:`read`); a VideoError when it cannot be read."""
        return self.decode.open(path, self.transform.decode_size(None))

    def train_clip(self, path: str, generator: torch.Generator) -> torch.Tensor:
        """A random clip at a random decode size, (T, C, H, W) uint8.

        ``generator`` draws the decode size, then the clip's position (in that order).
        """
        def decode() -> torch.Tensor:
            short_side = self.transform.decode_size(generator)
            reader = self.decode.open(path, short_side)
            indices = self.sampler(reader.num_frames, reader.fps, None, 1, generator)
            return reader.get_frames(indices.tolist(), short_side=short_side, layout="TCHW")

        return run_with_timeout(decode, self.decode.timeout, path)

    def test_clips(self, path: str, num_clips: int) -> list[torch.Tensor]:
        """The sampler's ``num_clips`` test clips of the whole video, [(T, C, H, W) uint8] in view order.

        Opening and decoding share one time budget; nearby clips are decoded in one pass.
        """
        short_side = self.transform.decode_size(None)

        def decode() -> list[torch.Tensor]:
            reader = self.decode.open(path, short_side)
            return read_clips(reader, sample_test_clips(self.sampler, reader.num_frames, reader.fps, num_clips),
                              short_side)

        return run_with_timeout(decode, self.decode.timeout, path)

    def read(self, reader: VideoReader, clips: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The frames of given clips of a video opened by :meth:`open`, [(T, C, H, W) uint8] per clip.

        ``clips``: frame indices (T,) per clip (or one (N, T) tensor), in order of their first
        frame; decoded under the time budget, nearby clips in one pass (:func:`read_clips`).
        """
        short_side = self.transform.decode_size(None)
        return run_with_timeout(lambda: read_clips(reader, clips, short_side), self.decode.timeout, reader.path)

    def view(self, frames: torch.Tensor, spatial_view: int = 0,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """One view of a clip: (T, C, H, W) -> (C, T, crop, crop) uint8 (random crops drawn from ``generator``)."""
        return self.transform(frames, generator, spatial_view)

    def views(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Every test crop of a clip, [(C, T, crop, crop) uint8] by spatial view."""
        return [self.transform(frames, None, crop) for crop in range(self.num_crops)]


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
