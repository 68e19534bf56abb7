"""Pooled pre-logit features of whole videos, window by window, for downstream models.

    extractor = FeatureExtractor(build_predictor(cfg, checkpoint), window_frames=16, stride_frames=4)
    video = extractor.extract("video.mp4")      # VideoFeatures: .features (W, D) float32, .windows
    summary = extract_videos(extractor, paths, "features/", meta={"model": ..., "checkpoint": ..., "settings": ...})

A window's feature is what the model's head takes: ``model.forward_head(model.forward_features(x),
pre_logits=True)`` of each of the window's views (the Predictor's windows and views, the same
:meth:`~.predictor.Predictor.window_views` and :meth:`~.predictor.Predictor.forward_views`), averaged
over the views. :func:`extract_videos` writes one ``<stem>.npy`` (W, D) float32 and one ``<stem>.json``
(the windows, the video, ``meta``) per video, the layout temporal-localisation code such as
ActionFormer reads; it resumes a killed run, lists unreadable videos instead of stopping, and takes
every ``world_size``-th video of the list in process ``rank``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from videoregion.data.readers import VideoReader
from videoregion.errors import ConfigError, OutputError, VideoError

from .predictor import Predictor, window_record
from .windows import Window, sliding_windows

__all__ = [
    "ExtractionSummary",
    "FeatureExtractor",
    "VideoFeatures",
    "extract_videos",
    "failed_report_path",
    "output_stems",
]

logger = logging.getLogger(__name__)


@dataclass
class VideoFeatures:
    """The features of every window of one video, (W, D) float32, with what they refer to."""

    path: str
    fps: float
    num_frames: int
    size: tuple[int, int]  # native (height, width)
    windows: list[Window]
    features: np.ndarray  # (W, D) float32

    def to_dict(self) -> dict:
        """The video and its windows as plain JSON types (the demo JSON's window keys)."""
        return {
            "video": os.path.abspath(self.path),
            "fps": self.fps,
            "num_frames": self.num_frames,
            "duration_seconds": self.num_frames / self.fps,
            "height": self.size[0],
            "width": self.size[1],
            "num_windows": len(self.windows),
            "feature_dim": int(self.features.shape[1]),
            "windows": [window_record(w) for w in self.windows],
        }


class FeatureExtractor:
    """A :class:`~.predictor.Predictor`'s windows and views, through the model up to the head's input.

    Windows are the predictor's (its window and stride in seconds) unless ``window_frames`` is given:
    then ``window_frames`` frames every ``stride_frames`` (default half a window) of each video.
    """

    def __init__(self, predictor: Predictor, *, window_frames: int = 0, stride_frames: int = 0):
        if window_frames < 0 or stride_frames < 0:
            raise ConfigError(f"window and stride must not be negative, got {window_frames} and {stride_frames} frames")
        if stride_frames and not window_frames:
            raise ConfigError("a stride in frames needs a window in frames (--window-frames)")
        self.predictor = predictor
        self.window_frames = window_frames
        self.stride_frames = stride_frames or max(1, window_frames // 2)

    @property
    def feature_dim(self) -> int:
        return self.predictor.model.num_features

    def windows_of(self, num_frames: int, fps: float) -> list[Window]:
        if not self.window_frames:
            return self.predictor.windows_of(num_frames, fps)
        return sliding_windows(num_frames, fps, self.window_frames / fps, self.stride_frames / fps)

    def open(self, path: str) -> tuple[VideoReader, list[Window]]:
        """(reader, windows) of the video at ``path``; a VideoError when it cannot be read."""
        reader = self.predictor.clips.open(path)
        return reader, self.windows_of(reader.num_frames, reader.fps)

    @torch.inference_mode()
    def features_of(self, views: torch.Tensor) -> torch.Tensor:
        """(W * views_per_window, C, T, H, W) uint8 views, window by window -> (W, D) float32 on the CPU."""
        pooled = self.predictor.forward_views(views, pre_logits=True)  # (W * V, D)
        return pooled.unflatten(0, (-1, self.predictor.views_per_window)).mean(dim=1).cpu()

    def extract(self, path: str) -> VideoFeatures:
        """The features of every window of the video at ``path``."""
        reader, windows = self.open(path)
        chunks = [self.features_of(self.predictor.window_views(reader, batch))
                  for batch in self.predictor.batches(windows)]
        return VideoFeatures(path, reader.fps, reader.num_frames, tuple(getattr(reader, "size", (0, 0))), windows,
                             torch.cat(chunks).numpy())


@dataclass
class ExtractionSummary:
    """What one process did with its share of the videos."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already done by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    report: str = ""  # the file listing ``failed`` ("" when none failed)


def output_stems(paths: Sequence[str]) -> list[str]:
    """The output name of each video (its file name without extension); a ConfigError naming both
    videos when two different files would write the same name."""
    owner: dict[str, str] = {}
    stems = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        first = owner.setdefault(stem, path)
        if os.path.abspath(first) != os.path.abspath(path):
            raise ConfigError(f"{first} and {path} would both write {stem}.npy: give them different names, "
                              "or extract them into different --out folders")
        stems.append(stem)
    return stems


def failed_report_path(out_dir: str, rank: int = 0, world_size: int = 1) -> str:
    """``out_dir/failed.tsv``, ``failed_rank<R>.tsv`` per process when there are several."""
    return os.path.join(out_dir, "failed.tsv" if world_size == 1 else f"failed_rank{rank}.tsv")


def _plain(value: dict) -> dict:
    return json.loads(json.dumps(value))


def _is_done(out_dir: str, stem: str, path: str, meta: dict) -> bool:
    """Whether ``stem``'s .json and .npy are complete for ``path``; a ConfigError when they hold another
    video's features or were written with other settings (resuming would mix them)."""
    json_path, npy_path = os.path.join(out_dir, stem + ".json"), os.path.join(out_dir, stem + ".npy")
    try:
        with open(json_path) as f:
            record = json.load(f)
        windows, dim = len(record["windows"]), record["feature_dim"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if record.get("video") != os.path.abspath(path):
        raise ConfigError(f"{json_path} holds the features of {record.get('video')}, not of {path}; "
                          "extract into another --out folder")
    different = sorted(key for key, value in _plain(meta).items() if record.get(key) != value)
    if different:
        raise ConfigError(f"{json_path} was written with other {', '.join(different)}; "
                          "extract into another --out folder, or delete it to redo it")
    try:
        array = np.load(npy_path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return array.dtype == np.float32 and array.shape == (windows, dim)


def _write_atomic(path: str, write) -> None:
    temp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(temp, "wb") as f:
            write(f)
        os.replace(temp, path)
    except OSError as e:
        if os.path.exists(temp):
            os.remove(temp)
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None


def _write_outputs(out_dir: str, stem: str, video: VideoFeatures, meta: dict) -> None:
    """``stem``.npy, then ``stem``.json (its existence marks the video done), each replaced atomically."""
    _write_atomic(os.path.join(out_dir, stem + ".npy"), lambda f: np.save(f, video.features.astype(np.float32)))
    record = json.dumps({**video.to_dict(), **_plain(meta)}, indent=1).encode()
    _write_atomic(os.path.join(out_dir, stem + ".json"), lambda f: f.write(record))


@dataclass
class _Item:
    """One step of a video through a loader worker: its windows (first), a batch of views, or its failure."""

    number: int
    path: str
    windows: list[Window] | None = None
    fps: float = 0.0
    num_frames: int = 0
    size: tuple[int, int] = (0, 0)
    views: torch.Tensor | None = None  # (N * views_per_window, C, T, H, W) uint8
    error: str = ""


class _WindowViews(IterableDataset):
    """Videos -> their windows' views in forward-sized batches; loader worker ``k`` of ``n`` takes every n-th."""

    def __init__(self, extractor: FeatureExtractor, jobs: Sequence[tuple[int, str]]):
        self.extractor = extractor
        self.jobs = list(jobs)

    def __iter__(self) -> Iterator[_Item]:
        info = get_worker_info()
        jobs = self.jobs if info is None else self.jobs[info.id :: info.num_workers]
        predictor = self.extractor.predictor
        for number, path in jobs:
            try:
                reader, windows = self.extractor.open(path)
                yield _Item(number, path, windows=windows, fps=reader.fps, num_frames=reader.num_frames,
                            size=tuple(getattr(reader, "size", (0, 0))))
                for batch in predictor.batches(windows):
                    yield _Item(number, path, views=predictor.window_views(reader, batch))
            except VideoError as e:
                yield _Item(number, path, error=e.reason)


def _as_is(item: _Item) -> _Item:
    return item


def extract_videos(
    extractor: FeatureExtractor,
    videos: Sequence[str],
    out_dir: str,
    *,
    meta: dict,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    progress: bool = False,
) -> ExtractionSummary:
    """Features of this process's share of ``videos`` (every ``world_size``-th from ``rank``) into ``out_dir``.

    Per video ``<stem>.npy`` (W, D) float32 and ``<stem>.json`` (:meth:`VideoFeatures.to_dict` and ``meta``,
    JSON types: the model, checkpoint and settings). Videos whose files are complete are skipped; unreadable
    ones are listed in :func:`failed_report_path` (``<path>\\t<reason>``, rewritten by each run) and the
    others done. ``workers`` loader processes decode ahead of the model (0: decode in this process).
    A file listed twice is done once. A ConfigError before any work when two files share a stem, or
    when ``out_dir`` holds files of other settings or another video of the same stem.
    """
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is outside a world of {world_size} processes (RANK, WORLD_SIZE)")
    if workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {workers}")
    unique: dict[str, str] = {}
    for video in videos:
        unique.setdefault(os.path.abspath(video), video)
    videos = list(unique.values())
    stems = output_stems(videos)
    summary = ExtractionSummary()
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot create the output folder ({e.strerror or e})") from None
    jobs = []
    for number in range(rank, len(videos), world_size):
        if _is_done(out_dir, stems[number], videos[number], meta):
            summary.skipped.append(videos[number])
        else:
            jobs.append((number, videos[number]))
    report = failed_report_path(out_dir, rank, world_size)
    if os.path.exists(report):
        os.remove(report)  # the report lists this run's failures only
    loader = DataLoader(_WindowViews(extractor, jobs), batch_size=None, num_workers=workers, collate_fn=_as_is)
    partial: dict[int, tuple[_Item, list[torch.Tensor]]] = {}
    desc = "videos" if world_size == 1 else f"videos (rank {rank})"
    with tqdm(total=len(jobs), disable=not progress, desc=desc, unit="video", dynamic_ncols=True) as bar:
        for item in loader:
            if item.error:
                partial.pop(item.number, None)
                summary.failed.append((item.path, item.error))
                logger.info("failed: %s: %s", item.path, item.error)
                _append_line(report, f"{item.path}\t{item.error}")
                summary.report = report
                bar.update(1)
            elif item.views is None:
                partial[item.number] = (item, [])
            else:
                head, chunks = partial[item.number]
                chunks.append(extractor.features_of(item.views))
                if sum(len(c) for c in chunks) == len(head.windows):
                    del partial[item.number]
                    video = VideoFeatures(head.path, head.fps, head.num_frames, head.size, head.windows,
                                          torch.cat(chunks).numpy())
                    _write_outputs(out_dir, stems[item.number], video, meta)
                    summary.written.append(item.path)
                    bar.update(1)
    return summary


def _append_line(path: str, line: str) -> None:
    try:
        with open(path, "a") as f:
            f.write(line.replace("\n", " ") + "\n")
    except OSError as e:
        raise OutputError(f"{path}: cannot write the report of failed videos ({e.strerror or e})") from None
