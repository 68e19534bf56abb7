"""Which frames of a video make a clip: pure functions with an explicit torch.Generator.

Every sampler has the signature of :data:`FrameSampler`::

    indices = sampler(num_video_frames, video_fps, view, num_views, generator)  # (T,) int64

``view`` is ``None`` in training (a random clip) or the temporal view ``0 <= view < num_views``
at test time (deterministic, views spread over the video). Indices always lie in
``[0, num_video_frames)``: videos shorter than a clip repeat their last frames (dense) or some
frames (segments); a short video is never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["FrameSampler", "clip_span", "dense_indices", "segment_indices"]

FrameSampler = Callable[[int, float, "int | None", int, "torch.Generator | None"], torch.Tensor]


def clip_span(video_fps: float, num_frames: int, sampling_rate: int, target_fps: float) -> float:
    """Video frames a dense clip covers from its first to its last sampled frame, plus one."""
    return (num_frames - 1) * sampling_rate * video_fps / target_fps + 1


def dense_indices(
    num_video_frames: int,
    video_fps: float,
    view: int | None,
    num_views: int,
    generator: torch.Generator | None = None,
    *,
    num_frames: int,
    sampling_rate: int,
    target_fps: float,
) -> torch.Tensor:
    """Kinetics-style dense clip: ``num_frames`` frames ``sampling_rate`` apart at ``target_fps``.

    The stride in video frames is ``sampling_rate * video_fps / target_fps`` (a 60 fps video
    steps twice as far). Train (``view is None``): the clip starts uniformly at random. Test: view
    ``k`` of ``K`` starts at ``k / (K - 1)`` of the free range (first clip at the start, last at the
    end; one view sits in the centre). Returns (num_frames,) int64.
    """
    _check_video(num_video_frames, video_fps)
    step = sampling_rate * video_fps / target_fps
    free = max(num_video_frames - clip_span(video_fps, num_frames, sampling_rate, target_fps), 0.0)
    if view is None:
        start = float(torch.rand((), generator=generator)) * free
    else:
        _check_view(view, num_views)
        start = free * (view / (num_views - 1) if num_views > 1 else 0.5)
    positions = start + torch.arange(num_frames, dtype=torch.float64) * step
    return _to_indices(positions, num_video_frames)


def segment_indices(
    num_video_frames: int,
    video_fps: float,
    view: int | None,
    num_views: int,
    generator: torch.Generator | None = None,
    *,
    num_frames: int,
) -> torch.Tensor:
    """SSv2-style segments: the video cut into ``num_frames`` equal parts, one frame from each.

    Train: a uniformly random frame in each segment (independently). Test: view ``k`` of ``K``
    takes the frame at ``(k + 0.5) / K`` of every segment (the centre for one view).
    Returns (num_frames,) int64.
    """
    _check_video(num_video_frames, video_fps)
    if view is None:
        offsets = torch.rand(num_frames, generator=generator, dtype=torch.float64)
    else:
        _check_view(view, num_views)
        offsets = torch.full((num_frames,), (view + 0.5) / num_views, dtype=torch.float64)
    positions = (torch.arange(num_frames, dtype=torch.float64) + offsets) * num_video_frames / num_frames
    return _to_indices(positions.floor(), num_video_frames)  # the frame that contains the position


def _to_indices(positions: torch.Tensor, num_video_frames: int) -> torch.Tensor:
    return positions.round().clamp_(0, num_video_frames - 1).to(torch.int64)


def _check_video(num_video_frames: int, video_fps: float) -> None:
    if num_video_frames <= 0:
        raise ValueError(f"cannot sample from a video of {num_video_frames} frames")
    if not (video_fps > 0 and math.isfinite(video_fps)):
        raise ValueError(f"cannot sample from a video at {video_fps} fps")


def _check_view(view: int, num_views: int) -> None:
    if not 0 <= view < num_views:
        raise ValueError(f"view {view} outside [0, {num_views})")

