"""A quick health check of one video, for scanning a dataset before a long run.

:func:`check_video` opens a video with the run's backend, decodes its first, middle and last
frames, and sorts it into ``ok``, ``unreadable`` (any :class:`~.readers.VideoError`: missing,
empty, not a video, truncated, no frames, a stalled decoder) or ``suspicious`` (shorter than one
clip, a zero frame rate, or a file that plays but is damaged, e.g. truncated: see
:attr:`~.timeline.Timeline.problems`). tools/check_dataset.py runs it over a split in parallel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .readers import ZERO_FPS, VideoError, open_video, run_with_timeout

__all__ = ["VideoCheck", "check_video"]


@dataclass(frozen=True)
class VideoCheck:
    path: str
    status: str  # "ok", "unreadable" or "suspicious"
    reason: str = ""
    num_frames: int = 0
    fps: float = 0.0


def check_video(
    path: str,
    *,
    backend: str = "decord",
    threads: int = 1,
    min_frames: Callable[[float], float] = lambda fps: 1,
    timeout: float = 0.0,
) -> VideoCheck:
    """Open ``path``, decode three frames, compare its length with ``min_frames(fps)``."""

    def probe():
        reader = open_video(path, backend=backend, threads=threads)
        n = reader.num_frames
        reader.get_frames(sorted({0, n // 2, n - 1}))
        return reader.num_frames, reader.fps, reader.timeline.problems

    try:
        num_frames, fps, problems = run_with_timeout(probe, timeout, path)
    except VideoError as e:
        return VideoCheck(path, "suspicious" if e.reason == ZERO_FPS else "unreadable", e.reason)
    if problems:
        return VideoCheck(path, "suspicious", "; ".join(problems), num_frames, fps)
    needed = min_frames(fps)
    if num_frames < needed:
        return VideoCheck(path, "suspicious", f"too short: {num_frames} frames, a clip spans {needed:.0f}",
                          num_frames, fps)
    return VideoCheck(path, "ok", "", num_frames, fps)
