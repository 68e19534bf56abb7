"""Classify a whole video with a trained model: sliding windows, each scored as a test video.

    predictor = build_predictor(cfg, "checkpoint_best.pyth")   # videoregion.inference.build
    prediction = predictor.predict("video.mp4", progress=True)
    prediction.video_topk          # [Label("move_right", 0, 0.998), ...]
    prediction.window_topk[3]      # the same for window 3 (prediction.windows[3].start, .end)

The data pipeline's clip reader (:class:`~videoregion.data.clips.ClipReader`, the test dataset's)
does the work: it decodes (scaled to the test size as it decodes), its test sampler places the
clips in each window (:mod:`.windows`), its test transform crops them, and
:func:`~videoregion.data.batch.normalize` normalises them on the device. A window's clips and
crops are combined like a test video's views (:func:`~videoregion.engine.metrics.aggregate_views`,
DATA.ENSEMBLE_METHOD), and so are the windows for the whole video. Scores are softmax
probabilities: the mean over views ("sum") or their maximum ("max").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from tqdm import tqdm

from videoregion.data.batch import normalize
from videoregion.data.clips import ClipReader
from videoregion.data.readers import VideoReader
from videoregion.engine.metrics import aggregate_views
from videoregion.engine.precision import Precision
from videoregion.errors import ConfigError

from .windows import Window, check_window_settings, sliding_windows, window_clip_indices

__all__ = ["Label", "Prediction", "Predictor", "topk_labels", "window_record"]

logger = logging.getLogger(__name__)


class Label(NamedTuple):
    name: str
    index: int
    score: float


def topk_labels(scores: torch.Tensor, class_names: Sequence[str], k: int) -> list[Label]:
    """The ``k`` best classes of (K,) scores, best first."""
    values, indices = scores.topk(min(k, scores.shape[0]))
    return [Label(class_names[i], i, v) for v, i in zip(values.tolist(), indices.tolist())]


def window_record(window: Window) -> dict:
    """A window as the JSON files write it: index, start and end in seconds, first frame and frame count."""
    return {"index": window.index, "start_seconds": round(window.start, 4), "end_seconds": round(window.end, 4),
            "first_frame": window.first, "num_frames": window.length}


@dataclass
class Prediction:
    """Scores of every window (W, K) and of the whole video (K,), with what they refer to."""

    path: str
    fps: float
    num_frames: int
    size: tuple[int, int]  # native (height, width)
    windows: list[Window]
    window_scores: torch.Tensor  # (W, K)
    video_scores: torch.Tensor  # (K,)
    class_names: list[str]
    topk: int

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def video_topk(self) -> list[Label]:
        return topk_labels(self.video_scores, self.class_names, self.topk)

    @property
    def window_topk(self) -> list[list[Label]]:
        return [topk_labels(s, self.class_names, self.topk) for s in self.window_scores]

    def window_of_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(N,) frame indices -> (N,) index of the window whose centre is nearest to each frame."""
        centres = torch.tensor([w.centre for w in self.windows], dtype=torch.float64)
        times = (frames.to(torch.float64) + 0.5) / self.fps
        return (times[:, None] - centres[None]).abs().argmin(dim=1)

    def to_dict(self) -> dict:
        """Everything as plain JSON types."""
        def labels(items: list[Label]) -> list[dict]:
            return [{"label": n, "index": i, "score": round(s, 6)} for n, i, s in items]

        return {
            "video": self.path,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "duration_seconds": self.duration,
            "height": self.size[0],
            "width": self.size[1],
            "topk": labels(self.video_topk),
            "windows": [
                {**window_record(w), "topk": labels(top)}
                for w, top in zip(self.windows, self.window_topk)
            ],
            "class_names": list(self.class_names),
        }


class Predictor:
    """A model and the data pipeline's test-time path, applied to whole videos window by window.

    ``model``: a PyTorch model (moved to ``device``, eval mode) or any callable ``clips -> logits``
    with a ``num_classes`` (e.g. :class:`~.onnx_model.OnnxModel`, given clips on ``device``).
    ``clips``: the test clip reader (sampler, test transform, decoder and time budget).
    ``clip_frames(fps)``: video frames one clip spans (the default window); ``window_seconds`` or
    ``stride_seconds`` 0 take one clip's span and half a window. ``batch_size``: clips per forward.
    """

    def __init__(
        self,
        model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
        class_names: Sequence[str],
        *,
        clips: ClipReader,
        clip_frames: Callable[[float], float],
        mean: Sequence[float],
        std: Sequence[float],
        window_seconds: float = 0.0,
        stride_seconds: float = 0.0,
        clips_per_window: int = 1,
        ensemble_method: str = "sum",
        topk: int = 5,
        batch_size: int = 8,
        device: torch.device | str = "cpu",
        precision: Precision | None = None,
    ):
        if len(class_names) != model.num_classes:
            raise ConfigError(f"{len(class_names)} class names for a model of {model.num_classes} classes")
        check_window_settings(window_seconds, stride_seconds)
        if clips_per_window < 1 or batch_size < 1 or topk < 1:
            raise ConfigError("clips per window, batch size and top-k must be at least 1")
        self.device = torch.device(device)
        self.model = model.eval().to(self.device) if isinstance(model, nn.Module) else model
        self.class_names = list(class_names)
        self.clips = clips
        self.clip_frames = clip_frames
        self.mean, self.std = list(mean), list(std)
        self.window_seconds = window_seconds
        self.stride_seconds = stride_seconds
        self.clips_per_window = clips_per_window
        self.ensemble_method = ensemble_method
        self.topk = topk
        self.batch_size = batch_size
        self.precision = precision or Precision(self.device.type, None)

    @property
    def views_per_window(self) -> int:
        return self.clips_per_window * self.clips.num_crops

    def open(self, path: str, short_side: int | None) -> VideoReader:
        """``path`` opened by the configured decoder for frames of ``short_side`` (None: native size).

        A :class:`~videoregion.data.readers.VideoError` when it cannot be read.
        """
        return self.clips.decode.open(path, short_side)

    def window_span(self, fps: float) -> tuple[float, float]:
        """(window, stride) in seconds at ``fps``: the configured ones, else one clip's span and half of it."""
        window = self.window_seconds or self.clip_frames(fps) / fps
        return window, self.stride_seconds or window / 2

    def windows_of(self, num_frames: int, fps: float) -> list[Window]:
        return sliding_windows(num_frames, fps, *self.window_span(fps))

    @torch.inference_mode()
    def predict(self, path: str, progress: bool = False) -> Prediction:
        """Scores of every window of the video at ``path`` and of the whole video."""
        reader = self.clips.open(path)
        windows = self.windows_of(reader.num_frames, reader.fps)
        scores = []
        with tqdm(total=len(windows), disable=not progress, desc="windows", unit="window", dynamic_ncols=True) as bar:
            for batch in self.batches(windows):
                scores.append(self.score_windows(reader, batch))
                bar.update(len(batch))
        window_scores = torch.cat(scores)
        video_scores = self.combine(window_scores, torch.zeros(len(windows), dtype=torch.long))[0]
        size = getattr(reader, "size", (0, 0))
        logger.info("%s: %d frames at %.2f fps, %d windows", path, reader.num_frames, reader.fps, len(windows))
        return Prediction(path, reader.fps, reader.num_frames, tuple(size), windows, window_scores, video_scores,
                          self.class_names, self.topk)

    def batches(self, windows: Sequence[Window]) -> Iterator[Sequence[Window]]:
        """Consecutive runs of windows whose views make one forward pass of at most ``batch_size`` clips."""
        per_batch = max(1, self.batch_size // self.views_per_window)
        for first in range(0, len(windows), per_batch):
            yield windows[first : first + per_batch]

    def window_views(self, reader: VideoReader, windows: Sequence[Window]) -> torch.Tensor:
        """Every view of each window, window by window: (len(windows) * views_per_window, C, T, crop, crop) uint8.

        A window's views are its ``clips_per_window`` test clips, each in every test crop.
        """
        clips = torch.cat([window_clip_indices(w, self.clips.sampler, self.clips_per_window) for w in windows])
        return self.clip_views(self.clips.read(reader, clips))

    def forward_views(self, views: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(N, C, T, H, W) uint8 views -> (N, K) float32 logits on the device; with ``pre_logits``, the pooled
        features the head takes, (N, D) (``model.forward_head(model.forward_features(x), pre_logits=True)``)."""
        x = normalize(views.to(self.device, non_blocking=True), self.mean, self.std)  # (N, C, T, H, W)
        with self.precision.autocast():
            if pre_logits:
                return self.model.forward_head(self.model.forward_features(x), pre_logits=True).float()
            return self.model(x).float()

    def score_windows(self, reader: VideoReader, windows: Sequence[Window]) -> torch.Tensor:
        """Softmax scores (len(windows), K), each window's clips and crops combined."""
        clips = torch.cat([window_clip_indices(w, self.clips.sampler, self.clips_per_window) for w in windows])
        return self.score_clips(self.clips.read(reader, clips), len(windows))

    def score_clips(self, clips: Sequence[torch.Tensor], num_windows: int) -> torch.Tensor:
        """Softmax scores (num_windows, K) of windows' clips [(T, C, H, W) uint8 at the decode size],
        ``clips_per_window`` consecutive clips per window; each clip's crops and clips combined."""
        probs = self.forward_views(self.clip_views(clips)).softmax(dim=-1).cpu()
        owner = torch.arange(num_windows).repeat_interleave(self.views_per_window)
        return self.combine(probs, owner)

    def clip_views(self, clips: Sequence[torch.Tensor]) -> torch.Tensor:
        """Clips [(T, C, H, W) uint8] -> each clip's test crops, (N * crops, C, T, crop, crop) uint8."""
        return torch.stack([view for frames in clips for view in self.clips.views(frames)])

    def combine(self, scores: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        """(N, K) scores -> (G, K): per group, the mean ("sum") or the maximum ("max") over its rows."""
        _, combined = aggregate_views(scores, group, self.ensemble_method)
        if self.ensemble_method == "sum":
            combined = combined / torch.bincount(group).unsqueeze(1)
        return combined
