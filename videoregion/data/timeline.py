"""What a video file shows and when: the one rule every decoding backend follows.

    timeline = probe("clip.mp4")
    timeline.num_frames, timeline.fps, timeline.duration   # 300, 30.0, 10.0
    timeline.stored_frames([0, 1, 299])                    # which stored pictures those frames show

**What frame ``i`` means.** A video is read the way a player shows it: on a grid of ``fps`` frames
per second starting at the first picture, frame ``i`` is the picture on screen in the middle of
grid slot ``i``, at ``(i + 0.5) / fps`` seconds. ``fps`` is the stream's average frame rate (the
container header's, else frames over duration), ``duration`` runs from the first picture's
presentation time to the end of the last (or of the last empty frame slot, in AVI files with
dropped frames) and ``num_frames = round(duration * fps)``. For a constant-rate video this is
simply the ``i``-th picture in presentation order; a variable-frame-rate video, or an AVI whose
dropped frames are empty chunks, repeats pictures where a player holds them, so that ``i / fps``
is real time whatever the file.

The timeline comes from the container (packets are demuxed, not decoded, and the first picture
is decoded for its orientation), so every backend agrees on the frame count, the duration and
which picture each frame shows; a backend's only job is to deliver pictures
(:mod:`.readers`). ``rotation`` is the display matrix's counter-clockwise rotation (0, 90, 180
or 270): frames are delivered as displayed, ``size`` is the displayed (height, width).
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from videoregion.errors import VideoError

__all__ = ["Timeline", "ZERO_FPS", "probe", "short_message"]

ZERO_FPS = "zero frame rate"
MAX_FPS = 1000.0  # a header rate above this is a time base, not a frame rate


@dataclass(frozen=True, eq=False)
class Timeline:
    """The pictures a video stream stores and the frames a player shows of them.

    ``pts``: presentation timestamps (in ``time_base`` units) of the stored pictures, sorted and
    distinct; the picture with ordinal ``k`` (its rank in presentation order) has ``pts[k]``.
    ``stored_size``: (height, width) as coded, before ``rotation``. ``problems``: what is wrong
    with a file that still plays (e.g. truncated), one line each, for reports. ``pts_out_of_order``:
    the decoder's presentation timestamps go backwards although its pictures come in presentation
    order (packed B-frames in AVI files): place decoded pictures by their decoding timestamps.
    """

    path: str
    pts: np.ndarray
    time_base: Fraction
    fps: float
    duration: float
    rotation: int
    stored_size: tuple[int, int]
    problems: tuple[str, ...] = ()
    pts_out_of_order: bool = False

    @property
    def num_frames(self) -> int:
        return max(1, round(self.duration * self.fps))

    @property
    def num_stored(self) -> int:
        return len(self.pts)

    @property
    def size(self) -> tuple[int, int]:
        """Displayed (height, width)."""
        height, width = self.stored_size
        return (width, height) if self.rotation % 180 else (height, width)

    @functools.cached_property
    def times(self) -> np.ndarray:
        """Seconds from the first picture to each stored picture, (num_stored,) float64."""
        return (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)

    @functools.cached_property
    def tolerance(self) -> float:
        """Seconds two timestamps of one picture may differ by: half the shortest interval between pictures."""
        gaps = np.diff(self.times)
        return 0.5 * float(gaps.min()) if len(gaps) else 0.5 / self.fps

    def stored_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Ordinals of the stored pictures that frames ``indices`` show, int64 (see the module docstring)."""
        middle = (np.asarray(indices, dtype=np.float64) + 0.5) / self.fps
        ordinals = np.searchsorted(self.times, middle, side="right") - 1
        return np.clip(ordinals, 0, self.num_stored - 1).astype(np.int64)

    def ordinal_of(self, pts: int) -> int:
        """Ordinal of the stored picture with timestamp ``pts`` (the nearest one when none has it)."""
        k = int(np.searchsorted(self.pts, pts))
        if k == len(self.pts) or (k > 0 and pts - self.pts[k - 1] < self.pts[k] - pts):
            k -= 1
        return k


def short_message(error: BaseException) -> str:
    """One line for a report: the reason without the path (PyAV) or the C++ trace (decord)."""
    reason = getattr(error, "strerror", None)
    if isinstance(reason, str) and reason:  # PyAV: "[Errno N] reason: 'path'" (the path is named already)
        return reason
    text = str(error).strip().splitlines()
    # decord prefixes its messages with a timestamp and a source location; keep the message.
    line = text[-1] if text else type(error).__name__
    return line.split(": ", 1)[-1] if line.startswith("[") else line


def check_file(path: str) -> None:
    """A :class:`VideoError` for a path that cannot be a video file at all."""
    if not os.path.exists(path):
        raise VideoError(path, "missing file")
    if os.path.isdir(path):
        raise VideoError(path, "a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "empty file (0 bytes)")


def probe(path: str) -> Timeline:
    """The :class:`Timeline` of ``path``'s first video stream; a :class:`VideoError` when it has none.

    Cached per (path, size, modification time) in each process, for 4096 files (a few MB): a
    persistent loader worker probes a small dataset's videos once, not once per epoch.
    """
    check_file(path)
    stat = os.stat(path)
    return _probe(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _probe(path: str, size: int, mtime_ns: int) -> Timeline:
    try:
        container = av.open(path)
    except Exception as e:
        raise VideoError(path, f"cannot open: {short_message(e)}") from None
    with container:
        if not container.streams.video:
            raise VideoError(path, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "NONE"  # one picture is decoded: FFmpeg's threads would only outlive the probe
        stream.thread_count = 1
        try:
            pts, end, rotation = _scan_packets(container, stream)
            if rotation is None:  # the first packet is damaged or needs others: decode on until a picture comes
                rotation = _first_picture_rotation(container, stream)
            if rotation is None:
                raise VideoError(path, "no frames decode (a damaged or truncated stream)")
            out_of_order = "avi" in container.format.name and _pts_go_backwards(container, stream)
        except VideoError:
            raise
        except Exception as e:
            raise VideoError(path, f"cannot read the stream: {short_message(e)}") from None
        if not len(pts):
            raise VideoError(path, "no frames")
        time_base = stream.time_base or Fraction(1, 1)
        duration = float((end - int(pts[0])) * time_base)
        fps = _frame_rate(stream, len(pts), duration)
        if not fps > 0:
            raise VideoError(path, ZERO_FPS)
        if not math.isfinite(fps):
            raise VideoError(path, f"invalid frame rate {fps}")
        problems = []
        slots = max(1, round(duration * fps))
        if stream.frames > slots + 1:  # (an encoder that lost its last frame to the flush is not news)
            problems.append(f"truncated: the header counts {stream.frames} frames, the file holds {slots}")
        return Timeline(path=path, pts=pts, time_base=time_base, fps=fps, duration=duration, rotation=rotation,
                        stored_size=(stream.codec_context.height, stream.codec_context.width),
                        problems=tuple(problems), pts_out_of_order=out_of_order)


def _scan_packets(container, stream) -> tuple[np.ndarray, int, int | None]:
    """Sorted distinct timestamps of the packets that hold a picture, the stream's end, and the
    first picture's rotation (None when the first packet does not decode on its own).

    A packet without a presentation timestamp (AVI) is placed by its decoding timestamp; empty
    packets (an AVI's dropped frames) hold no picture but extend the stream.
    """
    stamps: list[int] = []
    end = None
    step = None
    rotation = None
    for packet in container.demux(stream):
        when = packet.pts if packet.pts is not None else packet.dts
        if when is None:
            continue  # the demuxer's final flush packet
        if packet.size and not stamps:
            rotation = _rotation_of_first(packet, stream)
        if packet.size:
            stamps.append(when)
        if packet.duration:
            step = packet.duration
        finish = when + (packet.duration or step or 0)
        end = finish if end is None else max(end, finish)
    pts = np.unique(np.asarray(stamps, dtype=np.int64))
    if len(pts) and (end is None or end <= pts[-1]):  # no packet durations: one frame interval more
        end = int(pts[-1]) + (int(np.median(np.diff(pts))) if len(pts) > 1 else 1)
    return pts, int(end or 0), rotation


def _rotation(frame) -> int:
    return round((frame.rotation or 0) / 90) * 90 % 360  # (a display matrix can be any angle)


def _rotation_of_first(packet, stream) -> int | None:
    """The rotation of the picture in the first packet, decoded alone (the decoder is drained at once
    rather than fed the packets its reordering delay would wait for)."""
    try:
        frames = packet.decode() or stream.codec_context.decode(None)
    except av.error.FFmpegError:
        return None
    return _rotation(frames[0]) if frames else None


def _pictures_from_start(container, stream):
    """The stream's pictures in the order they decode from its start, damaged packets skipped."""
    stream.codec_context.flush_buffers()
    container.seek(0, stream=stream)
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.FFmpegError:
            continue  # a damaged packet: the next one may decode


def _first_picture_rotation(container, stream) -> int | None:
    """The display matrix's counter-clockwise rotation of the first picture that decodes (None: none does)."""
    first = next(_pictures_from_start(container, stream), None)
    return None if first is None else _rotation(first)


def _pts_go_backwards(container, stream, max_pictures: int = 16) -> bool:
    """Whether the first pictures' decoded presentation timestamps ever decrease."""
    pictures = itertools.islice(_pictures_from_start(container, stream), max_pictures)
    seen = [frame.pts for frame in pictures if frame.pts is not None]
    return any(b <= a for a, b in zip(seen, seen[1:]))


def _frame_rate(stream, num_stored: int, duration: float) -> float:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate and 0 < float(rate) <= MAX_FPS:
            return float(rate)
    return num_stored / duration if duration > 0 else 0.0
