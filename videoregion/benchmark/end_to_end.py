"""The main job's training speed with its data pipeline, against the model-only training step.

Three workloads share one model, one batch size and one input size (the config's, by default
configs/synthetic_regionvit.yaml: regionvit3d_nano, 8x56, batch 16, one loader worker):

- ``model``: the benchmark's training step (:func:`~.measure.make_step`: forward, cross-entropy,
  backward, AdamW) on random float clips; no data loading, no engine.
- ``engine``: the engine's training loop (:func:`videoregion.engine.trainer.train_one_epoch`: batch
  transform and normalisation, loss, gradient clipping, LR schedule, AdamW) on one loaded batch
  held in memory; what the engine adds to the model step, without the loader.
- ``end_to_end``: the same loop over the engine's real loader (``build_loader``: decoding,
  sampling, augmentation, collate, in its worker processes).

Rounds interleave the workloads (each round times a block of every one), so load on a shared
machine hits all alike; compare them as ratios within a run. While the other workloads run, the
loader's workers fill their queue (PREFETCH_FACTOR batches each): the first of those batches in
an end-to-end block are not timed. Its time runs from the arrival of the first timed batch to the
arrival of the batch after the last one, so each interval holds one step and the wait for the
next batch, as in a long epoch. Variants (torch threads of the training process, loader workers)
are timed in the same rounds.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from fvcore.common.config import CfgNode

from videoregion.config import load_config
from videoregion.data import build_batch_transform, build_dataset, build_loader
from videoregion.data.dataset import VideoDataset
from videoregion.engine import build
from videoregion.engine.precision import Precision, make_precision
from videoregion.engine.trainer import TrainState, train_one_epoch
from videoregion.synthetic.build import ensure_dataset

from .measure import make_step
from .timing import summarize, synchronize, time_calls

__all__ = [
    "DEFAULT_CONFIG",
    "EndToEndSettings",
    "Variant",
    "end_to_end_config",
    "run_end_to_end",
]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic_regionvit.yaml")
WORKLOADS = ("model", "engine", "end_to_end")


@dataclass(frozen=True)
class Variant:
    """Torch threads of the training process and loader workers, timed side by side."""

    threads: int
    workers: int | None = None  # None: DATA_LOADER.NUM_WORKERS

    @property
    def name(self) -> str:
        return f"{self.threads} threads, {self.workers} workers"


@dataclass(frozen=True)
class EndToEndSettings:
    """What one end-to-end run measures."""

    cfg_files: list[str]
    data_dir: str  # the synthetic dataset: generated there when it does not exist
    output_dir: str  # skipped-video listings of the loader
    opts: list[str] = field(default_factory=list)  # KEY VALUE overrides of the config
    variants: list[Variant] = field(default_factory=list)  # empty: torch's threads, DATA_LOADER.NUM_WORKERS
    iters: int = 10  # timed iterations per block
    rounds: int = 3
    warmup: int = 3  # untimed iterations of each variant first
    videos_per_class: int = 10  # of a generated dataset
    device: str = "cpu"


def end_to_end_config(settings: EndToEndSettings) -> CfgNode:
    """The main job's config pointed at ``settings.data_dir`` (a dataset found there is used as it is)."""
    cfg = load_config(settings.cfg_files, settings.opts, freeze=False)
    data_dir = os.path.abspath(settings.data_dir)
    cfg.DATA.PATH_TO_DATA_DIR = data_dir
    cfg.DATA.PATH_PREFIX = os.path.join(data_dir, "videos")
    cfg.OUTPUT_DIR = settings.output_dir
    cfg.NUM_GPUS = 1 if settings.device == "cuda" else 0
    if os.path.isdir(data_dir):
        cfg.SYNTHETIC.GENERATE = False  # someone's dataset: read it, never check it against our settings
    else:
        cfg.SYNTHETIC.GENERATE = True
        cfg.SYNTHETIC.VIDEOS_PER_CLASS = settings.videos_per_class
    cfg.freeze()
    return cfg


def long_enough(dataset: VideoDataset, batches: int, batch_size: int) -> VideoDataset:
    """``dataset`` with its videos listed as often as it takes to fill ``batches`` batches in one epoch.

    An epoch's end restarts the loader (its first batch is then never prefetched); a long epoch
    keeps those restarts out of the measurement as the main job's 131-batch epochs nearly do.
    """
    repeats = -(-batches * batch_size // len(dataset))
    if repeats <= 1:
        return dataset
    return VideoDataset(dataset.records * repeats, dataset.class_names, clips=dataset.clips, train=True,
                        max_retries=dataset.max_retries, seed=dataset.seed, num_samples=dataset.num_samples)


def _arrivals(batches: Iterator[dict], count: int, times: list[float]) -> Iterator[dict]:
    """The next ``count`` batches, noting in ``times`` when each one was in hand."""
    for batch in itertools.islice(batches, count):
        times.append(time.perf_counter())
        yield batch


@dataclass
class _Pipeline:
    """One variant's loader, its endless batch stream and its prefetched batches."""

    variant: Variant
    loader: Any
    batches: Iterator[dict]

    @property
    def prefetched(self) -> int:
        workers = self.variant.workers
        return workers * self.loader.prefetch_factor if workers > 0 else 0


class EndToEndRun:
    """The main job's training pieces built from ``cfg`` (as ``engine.run.train_net`` builds them)."""

    def __init__(self, cfg: CfgNode, settings: EndToEndSettings, variants: list[Variant]):
        self.cfg, self.settings = cfg, settings
        self.device = torch.device(settings.device)
        batch = cfg.TRAIN.BATCH_SIZE
        self.batch_size = batch
        needed = settings.warmup + settings.rounds * (settings.iters + 2 * cfg.DATA_LOADER.PREFETCH_FACTOR + 2)
        dataset = long_enough(build_dataset(cfg, "train"), needed, batch)
        build.check_num_classes(cfg, dataset, "train")
        self.pipelines = [self._pipeline(cfg, dataset, v) for v in variants]
        self.transform = build_batch_transform(cfg, "train")
        model = build.make_train_model(cfg, resuming=False).to(self.device)
        self.precision: Precision = make_precision(cfg, self.device)
        optimizer = build.make_optimizer(cfg, model)
        self.state = TrainState(model=model, optimizer=optimizer,
                                scheduler=build.make_scheduler(cfg, optimizer, len(self.pipelines[0].loader)),
                                scaler=build.make_scaler(precision=self.precision))
        self.loop = build.make_loop_settings(cfg)
        self.fixed_batch = next(self.pipelines[0].batches)
        amp = self.precision.dtype == torch.bfloat16
        self.model_step = make_step(model, "train", batch, cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE,
                                    self.device, amp, num_classes=cfg.MODEL.NUM_CLASSES)

    @staticmethod
    def _pipeline(cfg: CfgNode, dataset: VideoDataset, variant: Variant) -> _Pipeline:
        cfg = cfg.clone()
        cfg.defrost()
        cfg.DATA_LOADER.NUM_WORKERS = variant.workers
        loader = build_loader(cfg, "train", dataset)
        return _Pipeline(variant, loader, iter(loader))  # one epoch, long enough for the whole run

    def _loop(self, batches: Iterable[dict], count: int) -> None:
        train_one_epoch(self.state, batches, self.transform, device=self.device, precision=self.precision,
                        settings=self.loop, num_iters=count)
        self.state.step_in_epoch = 0

    def end_to_end(self, pipeline: _Pipeline, iters: int) -> float:
        """Seconds per iteration through the loader, its prefetched batches left out (module doc)."""
        times: list[float] = []
        skip = pipeline.prefetched
        self._loop(_arrivals(pipeline.batches, skip + iters + 1, times), skip + iters + 1)
        synchronize(self.device)
        return (times[-1] - times[skip]) / iters

    def engine(self, iters: int) -> float:
        """Seconds per iteration of the engine's loop on one batch held in memory."""
        synchronize(self.device)
        start = time.perf_counter()
        self._loop(itertools.repeat(self.fixed_batch, iters), iters)
        synchronize(self.device)
        return (time.perf_counter() - start) / iters

    def model(self, iters: int) -> float:
        return time_calls(self.model_step, iters, self.device)

    def close(self) -> None:
        for pipeline in self.pipelines:
            iterator = pipeline.batches
            if hasattr(iterator, "_shutdown_workers"):
                iterator._shutdown_workers()  # persistent workers: end them now, not at exit


def _variants(settings: EndToEndSettings, cfg: CfgNode) -> list[Variant]:
    """The settings' variants with their worker counts filled in; by default the config's run alone."""
    variants = settings.variants or [Variant(torch.get_num_threads())]
    workers = cfg.DATA_LOADER.NUM_WORKERS
    return list(dict.fromkeys(Variant(v.threads, workers if v.workers is None else v.workers) for v in variants))


def _with_threads(threads: int, fn: Callable[[], float]) -> float:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def run_end_to_end(settings: EndToEndSettings, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate the dataset when needed, then time every variant's three workloads round by round.

    Returns ``rows`` (one per variant and workload: seconds per iteration of each round, clips/s of
    their median, and the ratio to the same variant's model-only step, per round and as a median),
    the ``setup`` (model, batch, input, workers, precision, dataset) and ``rounds``.
    """
    cfg = end_to_end_config(settings)
    ensure_dataset(cfg, main_process=True)
    variants = _variants(settings, cfg)
    run = EndToEndRun(cfg, settings, variants)
    seconds: dict[tuple[Variant, str], list[float]] = {(v, w): [] for v in variants for w in WORKLOADS}
    try:
        warmup = max(1, settings.warmup)
        for pipeline in run.pipelines:  # warm-up: workers started, first steps and allocations done
            _with_threads(pipeline.variant.threads, lambda p=pipeline: run.end_to_end(p, warmup))
        run.engine(warmup)
        run.model(warmup)
        for round_ in range(settings.rounds):
            for pipeline in run.pipelines:
                v = pipeline.variant
                for workload in WORKLOADS:
                    fn = {"model": run.model, "engine": run.engine,
                          "end_to_end": lambda n, p=pipeline: run.end_to_end(p, n)}[workload]
                    seconds[(v, workload)].append(_with_threads(v.threads, lambda f=fn: f(settings.iters)))
                    if progress:
                        progress(f"round {round_ + 1}/{settings.rounds}: {v.name}, {workload}")
    finally:
        run.close()
    return dict(setup=_setup(cfg, run), rows=_rows(seconds, variants, run.batch_size), rounds=settings.rounds,
                iters=settings.iters)


def _setup(cfg: CfgNode, run: EndToEndRun) -> dict[str, Any]:
    dataset = run.pipelines[0].loader.dataset
    return dict(
        model=cfg.MODEL.NAME, batch=cfg.TRAIN.BATCH_SIZE, frames=cfg.DATA.NUM_FRAMES, size=cfg.DATA.TRAIN_CROP_SIZE,
        workers=cfg.DATA_LOADER.NUM_WORKERS, prefetch_factor=cfg.DATA_LOADER.PREFETCH_FACTOR,
        precision=str(run.precision.dtype or torch.float32).replace("torch.", ""),
        optimizer=cfg.SOLVER.OPTIMIZING_METHOD, clip_grad_norm=cfg.SOLVER.CLIP_GRAD_NORM,
        data_dir=cfg.DATA.PATH_TO_DATA_DIR, train_videos=len(dataset.records), device=str(run.device),
    )


def _rows(seconds: dict[tuple[Variant, str], list[float]], variants: list[Variant], batch: int) -> list[dict]:
    rows = []
    for v in variants:
        model = seconds[(v, "model")]
        for workload in WORKLOADS:
            times = seconds[(v, workload)]
            summary = summarize(times)
            ratios = [m / t for m, t in zip(model, times)]  # clips/s over the model-only clips/s, per round
            rows.append(dict(
                threads=v.threads, workers=v.workers, workload=workload, seconds={**summary, "all": times},
                clips_per_s=batch / summary["median"], ratio_to_model=summarize(ratios)["median"],
                ratio_to_model_rounds=ratios,
            ))
    return rows
