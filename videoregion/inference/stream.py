"""Live input: frames as a camera, a URL or stdin delivers them, each window classified as it completes.

    source = StreamSource.parse("0")                     # /dev/video0; or "rtsp://...", a path, "-" (stdin)
    classifier = StreamClassifier(predictor)             # the file demo's windows, views and model
    summary = classifier.run(source, on_result=print)    # StreamResult per window, in order

A reader thread decodes the stream and hands frames, scaled to the test decode size as they are
converted to RGB, to a bounded queue. When the model falls behind and the queue is full, the oldest
waiting frame is dropped (and counted), so results stay close to live. The windows are the file
demo's (:meth:`~.predictor.Predictor.window_span`: the same length, stride and frame positions
from the stream's start), and each is scored by the Predictor's own path from clips to scores
(:meth:`~.predictor.Predictor.score_clips`): its test clips take the frames at their indices, or
the nearest frame that arrived where one was dropped. When the stream ends, a last window ending at
its last frame is scored, as for a file; a stream shorter than one window is one window.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import av
import numpy as np
import torch

from videoregion.data.readers import scaled_size
from videoregion.errors import VideoError

from .predictor import Label, Predictor, topk_labels
from .windows import Window, window_clip_indices

__all__ = ["StreamClassifier", "StreamFrame", "StreamResult", "StreamSource", "StreamSummary"]

logger = logging.getLogger(__name__)

DEFAULT_FPS = 30.0  # for a stream that states no frame rate
# FFmpeg probes 5 s of a stream before its first frame by default: 1 s starts a live source sooner.
LIVE_OPTIONS = {"analyzeduration": "1000000"}


@dataclass(frozen=True)
class StreamSource:
    """What FFmpeg opens: ``url`` (a path, a URL, a v4l2 device) in ``format`` (None: probed); stdin for "-"."""

    url: str
    format: str | None = None

    @classmethod
    def parse(cls, text: str) -> StreamSource:
        """"-": stdin; a camera index N: /dev/videoN (v4l2); anything else as FFmpeg reads it."""
        if text.isdigit():
            return cls(f"/dev/video{text}", "v4l2")
        return cls(text)

    @property
    def stdin(self) -> bool:
        return self.url == "-"

    def open(self, timeout: float, stop: threading.Event | None = None):
        """The opened input container; a VideoError that names the source when it cannot be opened.

        Reading stdin ends (as at the end of the stream) soon after ``stop`` is set; reading a URL gives
        up after ``timeout`` seconds without data.
        """
        try:
            if self.stdin:
                return av.open(_Pipe(sys.stdin.fileno(), stop or threading.Event()), format=self.format,
                               options=LIVE_OPTIONS)
            return av.open(self.url, format=self.format, options=LIVE_OPTIONS, timeout=(timeout, timeout))
        except (av.FFmpegError, OSError) as e:
            raise VideoError(self.url, f"cannot open the stream ({e})") from None


class _Pipe(io.RawIOBase):
    """A pipe's file descriptor read without buffering, at its end once ``stop`` is set.

    A reader blocked on the pipe would otherwise outlive the stream: a thread still decoding while the
    interpreter shuts down is killed inside torch or FFmpeg (the process aborts).
    """

    def __init__(self, fd: int, stop: threading.Event, poll: float = 0.05):
        super().__init__()
        self.fd, self.stop, self.poll = fd, stop, poll

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.stop.is_set():
            if select.select([self.fd], [], [], self.poll)[0]:
                return os.readv(self.fd, [buffer])
        return 0


@dataclass
class StreamFrame:
    """Frame ``index`` of the stream (counted from its start, dropped frames included)."""

    index: int
    arrival: float  # time.monotonic() when it was decoded
    model: torch.Tensor  # (C, H, W) uint8 at the decode size
    display: np.ndarray | None  # (H', W', 3) uint8 at the output size, when one is asked for


@dataclass
class StreamResult:
    """The scores of one window, and how long after its last frame arrived they were ready."""

    window: Window
    scores: torch.Tensor  # (K,)
    topk: list[Label]
    latency: float  # seconds
    dropped: int  # frames dropped so far

    def to_dict(self) -> dict:
        w = self.window
        return {"index": w.index, "start_seconds": round(w.start, 4), "end_seconds": round(w.end, 4),
                "first_frame": w.first, "num_frames": w.length,
                "topk": [{"label": n, "index": i, "score": round(s, 6)} for n, i, s in self.topk],
                "latency_seconds": round(self.latency, 4), "dropped_frames": self.dropped}


@dataclass
class StreamSummary:
    fps: float
    frames: int = 0  # frames the stream delivered (dropped ones included)
    dropped: int = 0
    windows: int = 0
    stopped: bool = False  # ended by the caller's stop event, not by the stream


class _Reader(threading.Thread):
    """Decodes the source into a bounded queue of :class:`StreamFrame`; when full, the oldest frame goes.

    The queue's first item is the frame rate (or the exception that kept the source from opening);
    its last is None (the end) or an exception.
    """

    def __init__(self, source: StreamSource, short_side: int, display_size: Callable[[int, int], tuple[int, int]]
                 | None, capacity: int, timeout: float):
        super().__init__(daemon=True, name="stream-reader")
        self.source, self.short_side, self.display_size = source, short_side, display_size
        self.timeout = timeout
        self.frames: queue.Queue = queue.Queue(maxsize=capacity)
        self.dropped = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def put(self, item) -> None:
        """Queue ``item``; when the queue is full, drop its oldest item first (a frame: items other than
        frames come first and last)."""
        with self._lock:  # the consumer only takes, so after one drop there is room
            try:
                self.frames.put_nowait(item)
            except queue.Full:
                self.dropped += isinstance(self.frames.get_nowait(), StreamFrame)
                self.frames.put_nowait(item)

    def run(self) -> None:
        try:
            container = self.source.open(self.timeout, self.stop)
        except VideoError as e:
            self.put(e)
            return
        try:
            stream = container.streams.video[0] if container.streams.video else None
            if stream is None:
                raise VideoError(self.source.url, "the stream holds no video")
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.put(float(rate) if rate and float(rate) > 0 else None)
            for index, frame in enumerate(self.decode(container, stream)):
                if self.stop.is_set():
                    break
                self.put(self.convert(index, frame))
            self.put(None)
        except (av.FFmpegError, OSError) as e:
            self.put(VideoError(self.source.url, f"the stream broke off ({e})"))
        except Exception as e:  # anything else reaches the consumer, which raises it
            self.put(e)
        finally:
            container.close()

    @staticmethod
    def decode(container, stream) -> Iterator[av.VideoFrame]:
        for packet in container.demux(stream):
            yield from packet.decode()

    def convert(self, index: int, frame: av.VideoFrame) -> StreamFrame:
        h, w = scaled_size(frame.height, frame.width, self.short_side)
        model = torch.from_numpy(frame.reformat(width=w, height=h, format="rgb24").to_ndarray()).permute(2, 0, 1)
        display = None
        if self.display_size is not None:
            dh, dw = self.display_size(frame.height, frame.width)
            display = frame.reformat(width=dw, height=dh, format="rgb24").to_ndarray()
        return StreamFrame(index, time.monotonic(), model, display)


@dataclass
class _Schedule:
    """The file demo's windows over a stream of unknown length: window k starts at round(k * step)."""

    fps: float
    length: int
    step: float
    next: int = 0
    buffer: dict[int, torch.Tensor] = field(default_factory=dict)
    last_end: int = 0  # one past the last frame of the last window scored

    def window(self, k: int) -> Window:
        return Window(k, round(k * self.step), self.length, self.fps)

    def tail(self, newest: int) -> Window | None:
        """The window that ends at the stream's last frame, unless the last window scored did."""
        if newest + 1 <= self.last_end:
            return None
        length = min(self.length, newest + 1)
        return Window(self.next, newest + 1 - length, length, self.fps)


class StreamClassifier:
    """Windows of a live stream through a :class:`~.predictor.Predictor`, scored as they complete.

    ``capacity``: frames that may wait for the model; beyond it the oldest is dropped.
    ``start_timeout``: seconds to wait for the source to open and for each frame (the source counts as
    broken when nothing comes for that long).
    """

    def __init__(self, predictor: Predictor, *, capacity: int = 64, start_timeout: float = 10.0):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.predictor = predictor
        self.capacity = capacity
        self.start_timeout = start_timeout

    def run(
        self,
        source: StreamSource,
        on_result: Callable[[StreamResult], None],
        *,
        on_frame: Callable[[StreamFrame, StreamResult | None], None] | None = None,
        display_size: Callable[[int, int], tuple[int, int]] | None = None,
        stop: threading.Event | None = None,
        on_start: Callable[[float], None] | None = None,
    ) -> StreamSummary:
        """Read ``source`` until it ends or ``stop`` is set; ``on_result`` per window, in order.

        ``on_frame(frame, latest result)`` sees every frame the model took (with ``display_size(h, w)``
        giving the size of ``frame.display``); ``on_start(fps)`` is called once the source delivers.
        A VideoError when the source does not open, delivers no frame, or stalls.
        """
        stop = stop or threading.Event()
        reader = _Reader(source, self.predictor.clips.transform.decode_size(None), display_size, self.capacity,
                         self.start_timeout)
        reader.start()
        try:
            return self._consume(reader, source, on_result, on_frame, stop, on_start)
        finally:  # the reader ends at its next frame, or when its source gives up waiting for one
            reader.stop.set()
            reader.join(self.start_timeout + 1)
            if reader.is_alive():
                logger.warning("%s: the reader did not stop within %g s", source.url, self.start_timeout + 1)

    def _next(self, reader: _Reader, source: StreamSource, stop: threading.Event):
        """The next queue item; None once ``stop`` is set."""
        deadline = time.monotonic() + self.start_timeout
        while not stop.is_set():
            try:
                item = reader.frames.get(timeout=0.05)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise VideoError(source.url, f"nothing arrived for {self.start_timeout:g} s") from None
                continue
            if isinstance(item, Exception):
                raise item
            return item
        return None

    def _consume(self, reader, source, on_result, on_frame, stop, on_start) -> StreamSummary:
        fps = self._next(reader, source, stop)
        if fps is None and stop.is_set():
            return StreamSummary(DEFAULT_FPS, stopped=True)
        if not fps:
            logger.warning("%s states no frame rate: taking %g fps", source.url, DEFAULT_FPS)
            fps = DEFAULT_FPS
        window_seconds, stride_seconds = self.predictor.window_span(fps)
        plan = _Schedule(fps, max(1, round(window_seconds * fps)), stride_seconds * fps)
        summary = StreamSummary(fps)
        latest: StreamResult | None = None
        newest = -1
        while True:
            frame = self._next(reader, source, stop)
            summary.dropped = reader.dropped
            if frame is None:  # the end of the stream, or stopped
                summary.stopped = stop.is_set()
                break
            if newest < 0 and on_start is not None:
                on_start(fps)
            newest = frame.index
            plan.buffer[frame.index] = frame.model
            while (window := plan.window(plan.next)).first + window.length - 1 <= newest:
                latest = self._score(plan, window, frame.arrival, reader.dropped)
                on_result(latest)
            if on_frame is not None:
                on_frame(frame, latest)
            keep = min(plan.window(plan.next).first, newest + 1 - plan.length)
            for index in [i for i in plan.buffer if i < keep]:
                del plan.buffer[index]
        summary.frames = newest + 1
        if newest < 0:
            if summary.stopped:
                return summary
            raise VideoError(source.url, "the stream ended before its first frame")
        if not summary.stopped and (window := plan.tail(newest)) is not None:
            on_result(self._score(plan, window, time.monotonic(), reader.dropped))
        summary.windows = plan.next
        return summary

    def _score(self, plan: _Schedule, window: Window, arrival: float, dropped: int) -> StreamResult:
        """Scores of ``window`` from the buffered frames (the nearest that arrived for a dropped one)."""
        predictor = self.predictor
        have = torch.tensor(sorted(plan.buffer))
        clips = []
        for indices in window_clip_indices(window, predictor.clips.sampler, predictor.clips_per_window):
            nearest = have[(have[None] - indices[:, None]).abs().argmin(dim=1)]
            clips.append(torch.stack([plan.buffer[i] for i in nearest.tolist()]))  # (T, C, H, W)
        with torch.inference_mode():
            scores = predictor.score_clips(clips, 1)[0]
        plan.next += 1
        plan.last_end = window.first + window.length
        return StreamResult(window, scores, topk_labels(scores, predictor.class_names, predictor.topk),
                            time.monotonic() - arrival, dropped)
