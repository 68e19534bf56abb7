"""Video decoding behind one small interface: open a file, ask for frames at given indices.

    reader = open_video("clip.mp4", backend="decord", threads=1)
    frames = reader.get_frames([0, 4, 8], short_side=256)  # (3, 256, W', 3) uint8, as displayed

Three backends sit in :data:`READERS`: ``decord`` (the default; fast seeking and batched reads),
``pyav`` and ``torchcodec`` (PyTorch's decoder; an optional extra that needs FFmpeg's shared
libraries). They follow one rule, the file's :class:`~.timeline.Timeline`: frame ``i`` is the
picture a player shows at ``(i + 0.5) / fps`` seconds, so the frame count, the duration and the
picture behind every index are the same whichever backend reads the file (also for variable frame
rates and AVI files with dropped frames), and frames come out as displayed (rotation metadata
applied). A backend only delivers stored pictures by their rank in presentation order; one that
numbers a file's pictures differently from its timeline (decord on some AVI files) hands that
file to PyAV. Only the frames a clip needs are converted to RGB, and ``short_side`` scales them
inside the decoder's colour conversion (swscale) instead of after it.

Every failure to read a file (missing, empty, not a video, no video stream, truncated, no frames,
a decoder error) is a :class:`VideoError` whose message names the file and the reason, so one
place in the dataset can skip the video and report why. A damaged stream is read as far as it
decodes: a picture that does not decode is replaced by the nearest one that does (what a player
holds on screen), with one warning per file naming the pictures. A stalled decoder is handled by
:func:`run_with_timeout`.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import av
import numpy as np
import torch

from videoregion.errors import ConfigError, DataError, VideoError

from .timeline import ZERO_FPS, Timeline, probe, short_message

__all__ = [
    "READERS",
    "MAX_STALLED_DECODES",
    "ZERO_FPS",
    "DecordReader",
    "PyAVReader",
    "TorchcodecReader",
    "VideoError",
    "check_backend",
    "VideoReader",
    "open_video",
    "run_with_timeout",
    "scaled_size",
]

logger = logging.getLogger(__name__)

LAYOUTS = ("THWC", "TCHW", "CTHW")
TORCHCODEC_MISSING = ("DATA.DECODING_BACKEND torchcodec needs torchcodec and FFmpeg's shared libraries: "
                      "pip install -e \".[torchcodec]\" and apt-get install ffmpeg (see the README)")


class VideoReader(Protocol):
    """What every backend offers. ``num_frames`` > 0 and ``fps`` > 0 once opened."""

    path: str
    timeline: Timeline
    num_frames: int
    fps: float

    @property
    def duration(self) -> float:
        """Length in seconds (``num_frames / fps``)."""

    @property
    def size(self) -> tuple[int, int]:
        """Displayed (height, width) at the native size."""

    def get_frames(
        self, indices: Sequence[int], short_side: int | None = None, layout: str = "THWC"
    ) -> torch.Tensor:
        """uint8 frames at ``indices`` (T, H, W, C) (or the given layout), as displayed, short side scaled."""


def scaled_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """(height, width) with the short side at ``short_side`` and the aspect ratio kept."""
    if short_side is None or short_side == min(height, width):
        return height, width
    if height <= width:
        return short_side, max(1, round(width * short_side / height))
    return max(1, round(height * short_side / width)), short_side


def _to_layout(frames: torch.Tensor, layout: str) -> torch.Tensor:
    """(T, H, W, C) -> the requested layout (a view, no copy)."""
    if layout == "THWC":
        return frames
    if layout == "TCHW":
        return frames.permute(0, 3, 1, 2)
    if layout == "CTHW":
        return frames.permute(3, 0, 1, 2)
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def _nearest_decoded(ordinal: int, found: dict[int, np.ndarray]) -> int:
    """``ordinal`` if it decoded, else the last decoded picture before it (else the first one after)."""
    if ordinal in found:
        return ordinal
    earlier = [k for k in found if k < ordinal]
    return max(earlier) if earlier else min(found)


_warned: set = set()  # (files, (file, "damaged")) warned about once per process

# Readers this process opened. A forked child (a loader worker) inherits their decoders without the
# decoders' threads; freeing one there waits for those threads for ever (avcodec_free_context), so one
# garbage collection in a worker would hang it. A child keeps every inherited reader alive instead.
_open_readers: weakref.WeakSet = weakref.WeakSet()
_inherited_readers: list = []


def _keep_inherited_readers() -> None:
    _inherited_readers.extend(_open_readers)


os.register_at_fork(after_in_child=_keep_inherited_readers)


class _TimelineReader:
    """The rule every backend shares: indices -> stored pictures (:class:`~.timeline.Timeline`),
    pictures -> frames. A backend implements :meth:`_pictures`."""

    def __init__(self, path: str, threads: int = 1, short_side: int | None = None):
        _open_readers.add(self)
        self.timeline = probe(path)
        self.path = path
        self.num_frames = self.timeline.num_frames
        self.fps = self.timeline.fps
        self._threads = threads

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def size(self) -> tuple[int, int]:
        return self.timeline.size

    def get_frames(
        self, indices: Sequence[int], short_side: int | None = None, layout: str = "THWC"
    ) -> torch.Tensor:
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError("no frame indices requested")
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise IndexError(f"{self.path}: frame indices {bad[:5]} outside [0, {self.num_frames})")
        ordinals = self.timeline.stored_frames(indices)
        wanted = np.unique(ordinals)
        height, width = scaled_size(*self.size, short_side)
        try:
            found = self._pictures(wanted, height, width)
        except VideoError:
            raise
        except Exception as e:  # whatever the decoding library raises, as one line naming the file
            raise VideoError(self.path, f"decoding failed: {short_message(e)}") from None
        if not found:
            raise VideoError(self.path, "no frames decoded")
        if self.timeline.problems and self.path not in _warned:
            _warned.add(self.path)
            logger.warning("%s: %s", self.path, "; ".join(self.timeline.problems))
        missing = [int(k) for k in wanted if k not in found]
        if missing and (self.path, "damaged") not in _warned:
            _warned.add((self.path, "damaged"))
            logger.warning("%s: damaged stream: %d of the pictures asked for did not decode (ordinals %s); "
                           "showing the nearest decoded picture instead", self.path, len(missing), missing[:8])
        frames = np.stack([found[_nearest_decoded(int(k), found)] for k in ordinals])
        return _to_layout(torch.from_numpy(frames), layout)

    def _pictures(self, ordinals: np.ndarray, height: int, width: int) -> dict[int, np.ndarray]:
        """{ordinal: (height, width, 3) uint8 as displayed} for the sorted ``ordinals`` that decode."""
        raise NotImplementedError


def _rotate(picture: np.ndarray, rotation: int) -> np.ndarray:
    """A stored (H, W, 3) picture as displayed (``rotation`` degrees counter-clockwise)."""
    return np.ascontiguousarray(np.rot90(picture, k=rotation // 90)) if rotation else picture


# ----------------------------------------------------------------------------- pyav

class PyAVReader(_TimelineReader):
    """PyAV: seek to the key frame before the first wanted picture, decode on to the last one.

    Decoded pictures are placed by their timestamp (by their decoding timestamp when presentation
    timestamps go backwards, as FFmpeg's best-effort timestamp does; by their order after the last
    placed one when the decoder gives none). A packet that fails to decode is skipped; when the seek lands after the
    first wanted picture (a broken index, a damaged key frame) the file is decoded from its start.
    """

    def __init__(self, path: str, threads: int = 1, short_side: int | None = None):
        super().__init__(path, threads, short_side)
        try:
            self._container = av.open(path)
        except Exception as e:
            raise VideoError(path, f"cannot open: {short_message(e)}") from None
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "NONE" if threads == 1 else "AUTO"
        self._stream.thread_count = threads
        self._by_dts = self.timeline.pts_out_of_order  # place pictures by decoding timestamp (see _decode)

    def close(self) -> None:
        self._container.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _pictures(self, ordinals: np.ndarray, height: int, width: int) -> dict[int, np.ndarray]:
        rotation = self.timeline.rotation
        stored = (width, height) if rotation % 180 else (height, width)
        first, last = int(ordinals[0]), int(ordinals[-1])
        wanted = set(ordinals.tolist())
        found = self._decode(int(self.timeline.pts[first]), wanted, last, *stored)
        if first not in found and min(found, default=last + 1) > first:
            found.update(self._decode(None, wanted - set(found), last, *stored))
        return {k: _rotate(picture, rotation) for k, picture in found.items()}

    def _decode(self, seek_pts: int | None, wanted: set[int], last: int, height: int,
                width: int) -> dict[int, np.ndarray]:
        """{ordinal: stored picture} for the wanted pictures that decode, from ``seek_pts`` (None: the start)."""
        if seek_pts is None:
            self._container.seek(0)
        else:
            self._container.seek(seek_pts, stream=self._stream, backward=True, any_frame=False)
        found: dict[int, np.ndarray] = {}
        previous = None
        last_pts = None
        for packet in self._container.demux(self._stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue  # a damaged packet: decode on from the next one
            for frame in frames:
                if not self._by_dts and frame.pts is not None:
                    if last_pts is not None and frame.pts <= last_pts:
                        # The decoder's timestamps go backwards (packed B-frames in AVI files): its
                        # pictures come in presentation order with their packets' decoding timestamps.
                        self._by_dts = True
                        return self._decode(seek_pts, wanted, last, height, width)
                    last_pts = frame.pts
                stamp = frame.dts if self._by_dts else frame.pts
                if stamp is not None:
                    ordinal = self.timeline.ordinal_of(stamp)
                elif previous is not None:
                    ordinal = previous + 1
                else:
                    continue
                previous = ordinal
                if ordinal in wanted and ordinal not in found:
                    found[ordinal] = frame.to_ndarray(format="rgb24", width=width, height=height)
                if ordinal >= last:
                    return found
        return found


# ----------------------------------------------------------------------------- decord
class DecordReader(_TimelineReader):
    """decord.VideoReader, opened at the scaled size (decord scales only when it opens a file).

    decord applies the rotation itself and numbers pictures in presentation order; a file where its
    pictures' timestamps differ from the timeline's is read by PyAV instead (logged once), as are
    frame widths decord 0.6 cannot copy (16, 24, 48, ...). Pass the short side to
    :func:`open_video` to open once at the right size; another short side opens a second reader.
    """

    def __init__(self, path: str, threads: int = 1, short_side: int | None = None):
        super().__init__(path, threads, short_side)
        self._readers: dict[tuple[int, int] | None, object] = {}
        self._fallback: PyAVReader | None = None
        try:
            reader = self._reader_for(scaled_size(*self.size, short_side))
        except VideoError as e:  # the file plays (its timeline was read), decord cannot open it
            logger.info("%s: decord %s; reading it with PyAV", path, e.reason)
            self._fallback = PyAVReader(path, threads)
            return
        if not self._agrees(reader):
            logger.info("%s: decord numbers this file's pictures differently from their timestamps; "
                        "reading it with PyAV", path)
            self._fallback = PyAVReader(path, threads)

    def _agrees(self, reader) -> bool:
        """Whether decord's pictures are the timeline's: as many, at the same times from the first
        (decord reports missing timestamps, as in AVI files with B-frames, as huge negative numbers)."""
        timeline = self.timeline
        if len(reader) != timeline.num_stored:
            return False
        starts = reader.get_frame_timestamp(np.arange(len(reader)))[:, 0].astype(np.float64)
        if np.any(starts < 0):
            return False
        return bool(np.all(np.abs((starts - starts[0]) - timeline.times) < timeline.tolerance))

    def _reader_for(self, size: tuple[int, int]):
        import decord

        target = None if size == self.size else size
        if target not in self._readers:
            height, width = target or (-1, -1)  # decord takes the displayed (rotated) size
            try:
                self._readers[target] = decord.VideoReader(
                    self.path, ctx=decord.cpu(0), width=width, height=height, num_threads=self._threads
                )
            except Exception as e:  # decord raises RuntimeError or DECORDError with a C++ trace
                if "cannot find video stream" in str(e):
                    raise VideoError(self.path, "no video stream") from None
                raise VideoError(self.path, f"cannot open: {short_message(e)}") from None
        return self._readers[target]

    def _pictures(self, ordinals: np.ndarray, height: int, width: int) -> dict[int, np.ndarray]:
        if self._fallback is not None:
            return self._fallback._pictures(ordinals, height, width)
        try:
            batch = self._reader_for((height, width)).get_batch(ordinals.tolist())
        except VideoError:
            raise
        except Exception as e:
            if "DECORDArrayCopyFromTo" not in str(e):
                raise
            # decord 0.6 cannot copy frames of some widths (16, 24, 48, 72 ...): PyAV reads the same pictures.
            self._fallback = PyAVReader(self.path, self._threads)
            return self._fallback._pictures(ordinals, height, width)
        # (a torch tensor when a torch bridge is set, as pytorchvideo does)
        pictures = batch.numpy() if isinstance(batch, torch.Tensor) else batch.asnumpy()
        return dict(zip(ordinals.tolist(), pictures))


# ----------------------------------------------------------------------------- torchcodec
class TorchcodecReader(_TimelineReader):
    """torchcodec's VideoDecoder in exact seek mode: pictures by their rank in presentation order,
    rotated and scaled by FFmpeg (a Resize decoder transform) as they are converted.

    A picture torchcodec cannot deliver (a damaged stream) is left out and replaced like any other
    picture that does not decode.
    """

    def __init__(self, path: str, threads: int = 1, short_side: int | None = None):
        self._decoder_class, self._resize = _torchcodec()
        super().__init__(path, threads, short_side)
        self._decoders: dict[tuple[int, int], object] = {}
        self._fallback: PyAVReader | None = None  # reads the pictures torchcodec cannot
        self._pyav_only = False
        decoder = self._decoder_for(scaled_size(*self.size, short_side))
        if len(decoder) != self.timeline.num_stored:
            logger.info("%s: torchcodec counts %d pictures where the stream holds %d; reading it with PyAV",
                        path, len(decoder), self.timeline.num_stored)
            self._pyav_only = True
            self._fallback = PyAVReader(path, threads)

    def _decoder_for(self, size: tuple[int, int]):
        if size not in self._decoders:
            transforms = None if size == self.size else [self._resize(size)]
            try:
                self._decoders[size] = self._decoder_class(
                    self.path, seek_mode="exact", dimension_order="NHWC", num_ffmpeg_threads=self._threads,
                    transforms=transforms)
            except Exception as e:
                raise VideoError(self.path, f"cannot open: {short_message(e)}") from None
        return self._decoders[size]

    def _right_pictures(self, ordinals: np.ndarray, seconds: np.ndarray) -> bool:
        timeline = self.timeline
        expected = timeline.pts[ordinals].astype(np.float64) * float(timeline.time_base)
        return bool(np.all(np.abs(seconds - expected) < timeline.tolerance))

    def _pictures(self, ordinals: np.ndarray, height: int, width: int) -> dict[int, np.ndarray]:
        if self._pyav_only:
            return self._fallback._pictures(ordinals, height, width)
        decoder = self._decoder_for((height, width))
        try:
            batch = decoder.get_frames_at(ordinals.tolist())
        except RuntimeError:
            pass
        else:
            if self._right_pictures(ordinals, batch.pts_seconds.numpy()):
                return dict(zip(ordinals.tolist(), batch.data.numpy()))
            # torchcodec placed other pictures at these ranks (AVI files without presentation timestamps)
            logger.info("%s: torchcodec's pictures are not at the timeline's times; reading it with PyAV", self.path)
            self._pyav_only = True
            self._fallback = self._fallback or PyAVReader(self.path, self._threads)
            return self._fallback._pictures(ordinals, height, width)
        # torchcodec fails a whole request on one picture it cannot deliver (the last pictures of some
        # files): take the others one by one and ask PyAV for the rest.
        found = {}
        for k in ordinals.tolist():
            try:
                found[k] = decoder.get_frame_at(k).data.numpy()
            except RuntimeError:
                continue
        missing = np.array(sorted(set(ordinals.tolist()) - set(found)), dtype=np.int64)
        if len(missing):
            if self._fallback is None:
                self._fallback = PyAVReader(self.path, self._threads)
            found.update(self._fallback._pictures(missing, height, width))
        return found


def _torchcodec():
    """torchcodec's VideoDecoder and Resize; a ConfigError saying how to install them when they do not load."""
    try:
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize
    except Exception:  # not installed (ImportError), or FFmpeg's shared libraries missing (OSError, RuntimeError)
        raise ConfigError(TORCHCODEC_MISSING) from None
    return VideoDecoder, Resize


# ----------------------------------------------------------------------------- registry
READERS: dict[str, Callable[..., VideoReader]] = {
    "decord": DecordReader, "pyav": PyAVReader, "torchcodec": TorchcodecReader,
}


def check_backend(backend: str) -> None:
    """A ConfigError when ``backend`` is not registered or cannot run here (torchcodec without FFmpeg)."""
    if backend not in READERS:
        raise ConfigError(f"DATA.DECODING_BACKEND {backend!r} unknown; expected one of {sorted(READERS)}")
    if backend == "torchcodec":
        _torchcodec()


def open_video(path: str, backend: str = "decord", threads: int = 1, short_side: int | None = None) -> VideoReader:
    """Open ``path`` with a registered backend; a :class:`VideoError` when it cannot be read.

    ``short_side``: the short side later ``get_frames`` calls will ask for, so that a backend
    that scales only when it opens a file (decord, torchcodec) opens it once, at that size.
    """
    if backend not in READERS:
        raise ConfigError(f"unknown decoding backend {backend!r}; registered: {sorted(READERS)}")
    return READERS[backend](path, threads=threads, short_side=short_side)


# ----------------------------------------------------------------------------- stalls
T = TypeVar("T")

# Stalled decodes one process may leave behind before it stops: past this the decoder hangs for good.
MAX_STALLED_DECODES = 8
# Stalled decodes of one file before it fails without a new thread (a second try may meet a transient
# stall's end: a storage hiccup, not the file).
MAX_STALLS_PER_FILE = 2
_stalled: dict[str, list[threading.Thread]] = {}  # file -> its decode threads that have not returned yet
_stalled_guard = threading.Lock()


def _check_stalled(path: str, max_stalled: int) -> None:
    """Forget stalled decodes that have since returned; refuse a file whose decode hangs
    MAX_STALLS_PER_FILE times (VideoError) and any decode once ``max_stalled`` hang in this process
    (DataError)."""
    with _stalled_guard:
        for stalled_path, threads in list(_stalled.items()):
            threads[:] = [t for t in threads if t.is_alive()]
            if not threads:
                del _stalled[stalled_path]
        if len(_stalled.get(path, ())) >= MAX_STALLS_PER_FILE:
            raise VideoError(path, "decoder still stalled from earlier reads of this file")
        total = sum(len(threads) for threads in _stalled.values())
        if total >= max_stalled:
            files = ", ".join(list(_stalled)[:3])
            raise DataError(
                f"the video decoder hangs: {total} decodes in this process never returned ({files}, ...). "
                "Check the storage and the files (tools/check_dataset.py), or try another DATA.DECODING_BACKEND"
            )


def run_with_timeout(fn: Callable[[], T], timeout: float, path: str, *, max_stalled: int = MAX_STALLED_DECODES) -> T:
    """``fn()``, or a :class:`VideoError` when it has not returned after ``timeout`` seconds.

    The call runs in a daemon thread and the caller waits with a timeout. Both decoders release
    the GIL while they decode (decord through ctypes, PyAV in nogil sections), so the wait ends
    even when the decoder never does. A stalled thread cannot be killed from Python: it is left
    behind (daemon, so it never blocks exit) and logged. ``timeout <= 0`` calls ``fn`` directly.

    Stalled threads are bounded: while MAX_STALLS_PER_FILE decodes of a file hang, that file fails at
    once without a new thread; once ``max_stalled`` decodes hang in this process, every call raises a
    :class:`DataError` (the decoder hangs; the run stops). A stalled decode that returns is forgotten,
    so the file (a transient failure) is read again next time.
    """
    if timeout <= 0:
        return fn()
    _check_stalled(path, max_stalled)
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
        with _stalled_guard:
            _stalled.setdefault(path, []).append(thread)
        logger.warning("decoder stalled on %s for %.1f s; leaving it behind", path, timeout)
        raise VideoError(path, f"decoder stalled (no result after {timeout:g} s)")
    if "error" in result:
        raise result["error"]
    return result["value"]
