"""Video decoding behind one small interface: open a file, ask for frames at given indices.

    reader = open_video("clip.mp4", backend="decord", threads=1)
    frames = reader.get_frames([0, 4, 8], short_side=256)  # (3, 256, W', 3) uint8

Two backends sit in :data:`READERS`: ``decord`` (the default; fast seeking and batched reads) and
``pyav``. Both index frames the same way (0 = first frame in presentation order) and return the
same pixels for the same indices on a lossless video (tests check it). Only the frames a clip needs
are converted to RGB, and ``short_side`` scales them inside the decoder's colour conversion
(swscale) instead of converting full-size frames and resizing them afterwards.

Every failure to read a file (missing, empty, not a video, truncated, no frames, a decoder error)
is a :class:`VideoError` whose message names the file and the reason, so one place in the dataset
can skip the video and report why. A stalled decoder is handled by :func:`run_with_timeout`.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Protocol, TypeVar

import numpy as np
import torch

from videoregion.errors import ConfigError, VideoError

__all__ = [
    "READERS",
    "VideoError",
    "VideoReader",
    "DecordReader",
    "PyAVReader",
    "open_video",
    "run_with_timeout",
    "scaled_size",
]

logger = logging.getLogger(__name__)

LAYOUTS = ("THWC", "TCHW", "CTHW")
ZERO_FPS = "zero frame rate"


class VideoReader(Protocol):
    """What every backend offers. ``num_frames`` > 0 and ``fps`` > 0 once opened."""

    path: str
    num_frames: int
    fps: float

    @property
    def duration(self) -> float:
        """Length in seconds (``num_frames / fps``)."""

    def get_frames(
        self, indices: Sequence[int], short_side: int | None = None, layout: str = "THWC"
    ) -> torch.Tensor:
        """uint8 frames at ``indices`` (T, H, W, C) (or the given layout), short side scaled."""


def scaled_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """(height, width) with the short side at ``short_side`` and the aspect ratio kept."""
    if short_side is None or short_side == min(height, width):
        return height, width
    if height <= width:
        return short_side, max(1, round(width * short_side / height))
    return max(1, round(height * short_side / width)), short_side


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise VideoError(path, "missing file")
    if os.path.isdir(path):
        raise VideoError(path, "a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "empty file (0 bytes)")


def _check_indices(reader: VideoReader, indices: Sequence[int]) -> list[int]:
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("no frame indices requested")
    bad = [i for i in indices if not 0 <= i < reader.num_frames]
    if bad:
        raise IndexError(f"{reader.path}: frame indices {bad[:5]} outside [0, {reader.num_frames})")
    return indices


def _bad_rate(fps: float) -> str:
    return ZERO_FPS if fps == 0 else f"invalid frame rate {fps}"


def _to_layout(frames: torch.Tensor, layout: str) -> torch.Tensor:
    """(T, H, W, C) -> the requested layout (a view, no copy)."""
    if layout == "THWC":
        return frames
    if layout == "TCHW":
        return frames.permute(0, 3, 1, 2)
    if layout == "CTHW":
        return frames.permute(3, 0, 1, 2)
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def _short_message(error: BaseException) -> str:
    """One line for a report: the last line of the message (decord's C++ traces end with it)."""
    reason = getattr(error, "strerror", None)
    if isinstance(reason, str) and reason:  # PyAV: "[Errno N] reason: 'path'" (the path is named already)
        return reason
    text = str(error).strip().splitlines()
    # decord prefixes its messages with a timestamp and a source location; keep the message.
    line = text[-1] if text else type(error).__name__
    return line.split(": ", 1)[-1] if line.startswith("[") else line


# ----------------------------------------------------------------------------- decord
class DecordReader:
    """decord.VideoReader, opened at the scaled size (decord scales only when it opens a file).

    decord does not report the frame size, so the native size is read from the container header
    with PyAV once per file and process (:func:`_native_size`). Pass the short side to
    :func:`open_video` to open once at the right size; ``get_frames`` with another short side
    opens a second reader.
    """

    def __init__(self, path: str, threads: int = 1, short_side: int | None = None):
        _check_file(path)
        self.path = path
        self._threads = threads
        self._readers: dict[tuple[int, int] | None, object] = {}
        first = self._reader_for(short_side)
        self.num_frames = len(first)
        self.fps = float(first.get_avg_fps())
        if self.num_frames <= 0:
            raise VideoError(path, "no frames")
        if not self.fps > 0 or not math.isfinite(self.fps):
            raise VideoError(path, _bad_rate(self.fps))

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def size(self) -> tuple[int, int]:
        """Native (height, width)."""
        return _native_size(self.path, os.stat(self.path).st_mtime_ns)

    def _target(self, short_side: int | None) -> tuple[int, int] | None:
        """(height, width) to open at, None for the native size."""
        if short_side is None:
            return None
        target = scaled_size(*self.size, short_side)
        return None if target == self.size else target

    def _reader_for(self, short_side: int | None):
        import decord

        target = self._target(short_side)
        if target not in self._readers:
            height, width = target or (-1, -1)
            try:
                self._readers[target] = decord.VideoReader(
                    self.path, ctx=decord.cpu(0), width=width, height=height, num_threads=self._threads
                )
            except Exception as e:  # decord raises RuntimeError or DECORDError with a C++ trace
                if "cannot find video stream" in str(e):
                    raise VideoError(self.path, "no video stream") from None
                raise VideoError(self.path, f"cannot open: {_short_message(e)}") from None
        return self._readers[target]

    def get_frames(
        self, indices: Sequence[int], short_side: int | None = None, layout: str = "THWC"
    ) -> torch.Tensor:
        indices = _check_indices(self, indices)
        try:
            frames = _as_numpy(self._reader_for(short_side).get_batch(indices))
        except VideoError:
            raise
        except Exception as e:
            if "DECORDArrayCopyFromTo" not in str(e):
                raise VideoError(self.path, f"decoding failed: {_short_message(e)}") from None
            # decord 0.6 cannot copy frames of some widths (16, 24, 48, 72 ...): PyAV numbers the
            # frames the same way and scales with the same swscale filter.
            return PyAVReader(self.path, threads=self._threads).get_frames(indices, short_side, layout)
        return _to_layout(torch.from_numpy(frames), layout)


def _as_numpy(batch) -> np.ndarray:
    """decord's output as numpy, whichever global bridge is set (pytorchvideo sets "torch")."""
    return batch.numpy() if isinstance(batch, torch.Tensor) else batch.asnumpy()


@functools.lru_cache(maxsize=65536)
def _native_size(path: str, mtime_ns: int) -> tuple[int, int]:
    """(height, width) from the container header; cached per (path, modification time)."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            return stream.codec_context.height, stream.codec_context.width
    except Exception as e:
        raise VideoError(path, f"cannot read the frame size: {_short_message(e)}") from None


# ----------------------------------------------------------------------------- pyav
class PyAVReader:
    """PyAV: seek to the key frame before the first wanted frame, decode on to the last one.

    A frame's index comes from its timestamp (``round((pts - start) * fps)``), which is how
    decord numbers frames too for constant-rate video. Requested frames past the last one that
    decodes (headers that overstate the length) repeat the last decoded frame.
    """

    def __init__(self, path: str, threads: int = 1, short_side: int | None = None):
        import av  # (PyAV scales any frame on conversion: ``short_side`` needs no preparation)

        _check_file(path)
        self.path = path
        try:
            self._container = av.open(path)
        except Exception as e:
            raise VideoError(path, f"cannot open: {_short_message(e)}") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(path, "no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        if not self.fps > 0 or not math.isfinite(self.fps):
            self.close()
            raise VideoError(path, _bad_rate(self.fps))
        self._time_base = stream.time_base or Fraction(1, 1)
        self._start = stream.start_time or 0
        self.num_frames = stream.frames or self._frames_from_duration()
        if self.num_frames <= 0:
            self.close()
            raise VideoError(path, "no frames")

    def _frames_from_duration(self) -> int:
        stream = self._stream
        if stream.duration:
            seconds = float(stream.duration * self._time_base)
        elif self._container.duration:
            seconds = self._container.duration / 1_000_000  # av.time_base
        else:
            return 0
        return int(round(seconds * self.fps))

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def size(self) -> tuple[int, int]:
        return self._stream.codec_context.height, self._stream.codec_context.width

    def close(self) -> None:
        self._container.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _index(self, pts: int) -> int:
        return int(round(float((pts - self._start) * self._time_base) * self.fps))

    def _seek_pts(self, index: int) -> int:
        return self._start + int(math.floor(index / self.fps / self._time_base))

    def get_frames(
        self, indices: Sequence[int], short_side: int | None = None, layout: str = "THWC"
    ) -> torch.Tensor:
        indices = _check_indices(self, indices)
        height, width = scaled_size(*self.size, short_side)
        try:
            found = self._decode_range(min(indices), max(indices), set(indices), height, width)
            if min(indices) not in found and min(found, default=0) > min(indices):
                # The seek landed after the first wanted frame (broken index): start over from 0.
                found = self._decode_range(0, max(indices), set(indices), height, width, seek=False)
        except Exception as e:
            raise VideoError(self.path, f"decoding failed: {_short_message(e)}") from None
        if not found:
            raise VideoError(self.path, "no frames decoded")
        frames = np.stack([found[_nearest_decoded(i, found)] for i in indices])
        return _to_layout(torch.from_numpy(frames), layout)

    def _decode_range(
        self, first: int, last: int, wanted: set[int], height: int, width: int, seek: bool = True
    ) -> dict[int, np.ndarray]:
        """{index: (H, W, 3) uint8} for the wanted frames in [first, last] that decode."""
        self._container.seek(self._seek_pts(first) if seek else self._start, stream=self._stream,
                             backward=True, any_frame=False)
        found: dict[int, np.ndarray] = {}
        for frame in self._container.decode(self._stream):
            if frame.pts is None:
                continue
            index = self._index(frame.pts)
            if index in wanted:
                found[index] = frame.to_ndarray(format="rgb24", width=width, height=height)
            if index >= last:
                break
        return found


def _nearest_decoded(index: int, found: dict[int, np.ndarray]) -> int:
    """``index`` if it decoded, else the last decoded frame before it (else the first one)."""
    if index in found:
        return index
    earlier = [k for k in found if k < index]
    return max(earlier) if earlier else min(found)


# ----------------------------------------------------------------------------- registry
READERS: dict[str, Callable[..., VideoReader]] = {"decord": DecordReader, "pyav": PyAVReader}


def open_video(path: str, backend: str = "decord", threads: int = 1, short_side: int | None = None) -> VideoReader:
    """Open ``path`` with a registered backend; a :class:`VideoError` when it cannot be read.

    ``short_side``: the short side later ``get_frames`` calls will ask for, so that a backend
    that scales only when it opens a file (decord) opens it once, at that size.
    """
    if backend not in READERS:
        raise ConfigError(f"unknown decoding backend {backend!r}; registered: {sorted(READERS)}")
    return READERS[backend](path, threads=threads, short_side=short_side)


# ----------------------------------------------------------------------------- stalls
T = TypeVar("T")


def run_with_timeout(fn: Callable[[], T], timeout: float, path: str) -> T:
    """``fn()``, or a :class:`VideoError` when it has not returned after ``timeout`` seconds.

    The call runs in a daemon thread and the caller waits with a timeout. Both decoders release
    the GIL while they decode (decord through ctypes, PyAV in nogil sections), so the wait ends
    even when the decoder never does. A stalled thread cannot be killed from Python: it is left
    behind (daemon, so it never blocks exit) and logged. ``timeout <= 0`` calls ``fn`` directly.
    """
    if timeout <= 0:
        return fn()
    result: dict[str, object] = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e

    thread = threading.Thread(target=target, name=f"decode:{os.path.basename(path)}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        logger.warning("decoder stalled on %s for %.1f s; leaving it behind", path, timeout)
        raise VideoError(path, f"decoder stalled (no result after {timeout:g} s)")
    if "error" in result:
        raise result["error"]
    return result["value"]
