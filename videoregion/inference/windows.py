"""A whole video as sliding windows, and the test clips of each window: pure functions.

    windows = sliding_windows(num_frames=300, fps=30.0, window_seconds=1.0, stride_seconds=0.5)
    indices = window_clip_indices(windows[3], sampler, num_clips=1)  # (1, T) frame indices

A window is a stretch of the video treated as a short video of its own: the data pipeline's
test-time sampler places ``num_clips`` clips in it exactly as it places TEST.NUM_ENSEMBLE_VIEWS
clips in a test video (:func:`videoregion.data.clips.sample_test_clips`), so a window shorter
than one clip repeats frames the way a short test video does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from videoregion.data.clips import sample_test_clips
from videoregion.data.sampling import FrameSampler
from videoregion.errors import ConfigError

__all__ = ["MAX_WINDOWS", "Window", "check_window_settings", "sliding_windows", "window_clip_indices"]

# Windows one video may be cut into (each is at least one forward pass of the model).
MAX_WINDOWS = 100_000


@dataclass(frozen=True)
class Window:
    """Frames ``[first, first + length)`` of a video at ``fps``."""

    index: int
    first: int
    length: int
    fps: float

    @property
    def start(self) -> float:
        """Seconds from the start of the video to the window's first frame."""
        return self.first / self.fps

    @property
    def end(self) -> float:
        """Seconds from the start of the video to the end of the window's last frame."""
        return (self.first + self.length) / self.fps

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)


def _positive_seconds(value: float, what: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{what} must be a positive finite number of seconds, got {value}")


def check_window_settings(window_seconds: float, stride_seconds: float) -> None:
    """A ConfigError unless both are 0 (their defaults: one clip, half a window) or positive finite seconds."""
    for value, what in ((window_seconds, "--window-seconds / DEMO.WINDOW_SECONDS"),
                        (stride_seconds, "--stride-seconds / DEMO.STRIDE_SECONDS")):
        if value != 0:
            _positive_seconds(value, what)


def sliding_windows(num_frames: int, fps: float, window_seconds: float, stride_seconds: float,
                    max_windows: int = MAX_WINDOWS) -> list[Window]:
    """Windows of ``window_seconds`` starting every ``stride_seconds``, covering the whole video.

    The last window ends at the last frame (it may overlap its predecessor more than the others);
    a video no longer than one window is one window over all its frames. A stride shorter than a
    frame gives each start frame once. A ConfigError for a window or stride that is not a positive
    finite number, and for more than ``max_windows`` windows.
    """
    if num_frames <= 0 or not (fps > 0 and math.isfinite(fps)):
        raise ConfigError(f"cannot cut a video of {num_frames} frames at {fps} fps into windows")
    _positive_seconds(window_seconds, "the window")
    _positive_seconds(stride_seconds, "the stride")
    length = max(1, round(window_seconds * fps))
    if length >= num_frames:
        return [Window(0, 0, num_frames, fps)]
    last = num_frames - length
    step = stride_seconds * fps
    # starts round(k * step) below last, then last; a step of a frame or less starts at every frame
    count = last + 1 if step <= 1 else math.ceil(last / step) + 1
    if count > max_windows:
        raise ConfigError(
            f"a stride of {stride_seconds:g} s cuts this {num_frames / fps:.1f} s video into {count} windows, "
            f"more than {max_windows}; use a longer stride (--stride-seconds / DEMO.STRIDE_SECONDS)"
        )
    starts = list(range(last + 1)) if step <= 1 else sorted({round(k * step) for k in range(count - 1)} | {last})
    return [Window(i, first, length, fps) for i, first in enumerate(starts)]


def window_clip_indices(window: Window, sampler: FrameSampler, num_clips: int = 1) -> torch.Tensor:
    """Video frame indices of the window's test clips, (num_clips, T) int64.

    Clip ``k`` is the sampler's test view ``k`` of ``num_clips`` over the window's frames.
    """
    return sample_test_clips(sampler, window.length, window.fps, num_clips) + window.first
