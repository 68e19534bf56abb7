"""A whole run from a config: train (with validation and checkpoints), then the multi-view test.

``run(local_rank, cfg)`` is what every process executes (see ``distributed.launch``). This module
orchestrates: the config becomes objects in the build modules (``engine.build``, ``data.build``,
``models.build``, ``engine.precision``); here they are put together in order. A test-only run
evaluates the checkpoint ``engine.checkpoint.checkpoint_to_evaluate`` picks (README: Training and
evaluation).

Guards around a run: the main process holds OUTPUT_DIR's lock (``engine.runlock``) for the whole run and
every process learns whether it got it; a resume must fit the checkpoint (``engine.compat``: its config,
model and optimizer groups); ``config.yaml`` stays the config of the weights in the folder; a test that
could not read more than TEST.MAX_MISSING_FRACTION of its videos fails after writing its results; and a
failure of the machine or of torch's machinery leaves as one line (``engine.failures``).
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from fvcore.common.config import CfgNode

from videoregion.data import build_batch_transform, build_dataset, build_loader, set_epoch
from videoregion.errors import ConfigError, OutputError
from videoregion.synthetic.build import ensure_dataset

from . import build
from .compat import check_optimizer_fits, check_resume_config, check_state_dict_fits, save_run_config
from .distributed import all_gather_objects, barrier, is_main_process, unwrap_model
from .evaluator import check_missing_videos, missing_videos
from .failures import friendly_error, output_error
from .precision import make_precision
from .runlock import RunLock, RunLockError, acquire_run_lock
from .stats import StatsWriter, plot_curves, setup_logging
from .trainer import TrainState, fit

logger = logging.getLogger(__name__)

__all__ = ["RunContext", "lock_output_dir", "run", "test_net", "train_net"]


@dataclass(frozen=True)
class RunContext:
    """This process's place in the run."""

    device: torch.device
    main: bool  # writes logs, stats and checkpoints


def seed_everything(seed: int) -> None:
    """The same seed on every process: models start identical (DDP checks), loaders seed their workers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_net(cfg: CfgNode, ctx: RunContext, stats: StatsWriter) -> TrainState:
    """Train for SOLVER.MAX_EPOCH epochs (resuming when a checkpoint is there); returns the final state."""
    settings = build.make_loop_settings(cfg)
    train_set = build_dataset(cfg, "train")
    build.check_num_classes(cfg, train_set, "train")
    train_loader = build_loader(cfg, "train", train_set)
    train_transform = build_batch_transform(cfg, "train")
    val_loader = build_loader(cfg, "val", build_dataset(cfg, "val")) if settings.eval_period > 0 else None
    val_transform = build_batch_transform(cfg, "val")

    manager = build.make_checkpoint_manager(cfg)
    resume = build.resume_checkpoint(cfg, manager)
    if resume is not None:
        check_resume_config(resume[1].get("cfg"), cfg.dump(), resume[0], allow_change=cfg.TRAIN.ALLOW_CONFIG_CHANGE)
    fresh = resume is None and not manager.epoch_checkpoints()  # no weights of another config in the folder
    model = build.make_train_model(cfg, resuming=resume is not None)
    model.to(ctx.device)
    precision = make_precision(cfg, ctx.device)
    optimizer = build.make_optimizer(cfg, model)
    state = TrainState(
        model=model,
        optimizer=optimizer,
        scheduler=build.make_scheduler(cfg, optimizer, len(train_loader)),
        scaler=build.make_scaler(precision),
        ema=build.make_ema(cfg, model),
        extra={"cfg": cfg.dump(), "class_names": list(train_set.class_names)},
        generators={"mixup": train_transform.generator},
    )
    build.seed_this_rank(cfg)  # drop path differs across ranks; a resume restores each rank's streams
    if resume is not None:
        path, saved = resume
        check_state_dict_fits(model, saved["model"], path)
        check_optimizer_fits(optimizer, saved["optimizer"], path)
        state.load_state_dict(saved)
        logger.info("resumed from %s after epoch %d", path, state.epoch)
    if ctx.main:
        _save_config(cfg, fresh=fresh)
    state.model = build.wrap_for_training(cfg, model, ctx.device)

    evaluator = build.make_evaluator(cfg, ctx.device, precision, progress=ctx.main)
    fit(
        state, train_loader, train_transform, device=ctx.device, precision=precision, settings=settings,
        manager=manager, stats=stats, main_process=ctx.main,
        validate=lambda s: _validate(s, evaluator, val_loader, val_transform, stats),
        set_epoch=functools.partial(set_epoch, train_loader), control=build.make_run_control(cfg),
    )
    curves = os.path.join(cfg.OUTPUT_DIR, "curves.png")
    if ctx.main and plot_curves(stats.path, curves):
        logger.info("saved loss and accuracy curves to %s", curves)
    return state


def _validate(state: TrainState, evaluator: Callable[..., tuple], loader, transform, stats: StatsWriter) -> float:
    """One view per video; returns the top-1 used to pick the best checkpoint (EMA's when there is one)."""
    start = time.perf_counter()
    _, metrics = evaluator(unwrap_model(state.model), loader, transform, desc="val")
    record = {"split": "val", "epoch": state.epoch, "top1_acc": metrics["top1_acc"], "top5_acc": metrics["top5_acc"],
              "mean_class_acc": metrics["mean_class_acc"], "num_videos": metrics["num_videos"]}
    best_key = metrics["top1_acc"]
    if state.ema is not None:
        _, ema_metrics = evaluator(state.ema.module, loader, transform, desc="val ema")
        record.update(ema_top1_acc=ema_metrics["top1_acc"], ema_top5_acc=ema_metrics["top5_acc"])
        best_key = ema_metrics["top1_acc"]
    record["time_s"] = time.perf_counter() - start
    stats.write(record, step=state.epoch)
    return best_key


def test_net(cfg: CfgNode, ctx: RunContext, stats: StatsWriter, state: TrainState | None = None) -> dict:
    """Multi-view test of the trained ``state`` (or, without one, of the checkpoint ``build.test_checkpoint``
    picks); returns the metrics."""
    test_set = build_dataset(cfg, "test")
    build.check_num_classes(cfg, test_set, "test")
    loader = build_loader(cfg, "test", test_set)
    model = build.model_to_test(cfg, state).to(ctx.device)
    precision = make_precision(cfg, ctx.device)
    evaluator = build.make_evaluator(cfg, ctx.device, precision, progress=ctx.main)
    start = time.perf_counter()
    results, metrics = evaluator(model, loader, build_batch_transform(cfg, "test"), desc="test")
    expected_views = test_set.num_videos * test_set.num_views
    missing = missing_videos([r.path for r in test_set.records], results)
    record = {
        "split": "test_final",
        "top1_acc": metrics["top1_acc"],
        "top5_acc": metrics["top5_acc"],
        "mean_class_acc": metrics["mean_class_acc"],
        "num_videos": metrics["num_videos"],
        "num_views": metrics["num_views"],
        "missing_views": expected_views - metrics["num_views"],
        "missing_videos": len(missing),
        "missing_fraction": len(missing) / max(test_set.num_videos, 1),
        "time_s": time.perf_counter() - start,
    }
    stats.write(record, step=state.epoch if state is not None else 0)
    if ctx.main:
        build.make_test_writer(cfg)(results, metrics, list(test_set.class_names))
        if missing:
            logger.warning("test: %d of %d videos (%.1f%%) could not be read and are not in these accuracies "
                           "(first: %s)", len(missing), test_set.num_videos, record["missing_fraction"] * 100,
                           missing[0])
    barrier()
    check_missing_videos(missing, test_set.num_videos, cfg.TEST.MAX_MISSING_FRACTION)
    return metrics


def _save_config(cfg: CfgNode, *, fresh: bool) -> None:
    """config.yaml for a new run; config_<n>.yaml for a config that did not produce the folder's weights."""
    try:
        path = save_run_config(cfg.OUTPUT_DIR, cfg.dump(), fresh=fresh)
    except OSError as e:
        raise output_error(str(e.filename or cfg.OUTPUT_DIR), e) from None
    logger.info("config of this run: %s", path)


def lock_output_dir(cfg: CfgNode, main: bool) -> RunLock | None:
    """The main process takes OUTPUT_DIR's lock (engine.runlock); every process learns whether it did, so
    none goes on when it failed. Returns the lock on the main process, None elsewhere."""
    lock, failure = None, None
    if main:
        try:
            lock = acquire_run_lock(cfg.OUTPUT_DIR, stale_minutes=cfg.DIST.LOCK_STALE_MINUTES,
                                    force=cfg.DIST.BREAK_LOCK)
        except OutputError as e:
            failure = e
    outcome = all_gather_objects(None if failure is None else (isinstance(failure, RunLockError), str(failure)))[0]
    if failure is not None:
        raise failure
    if outcome is not None:
        is_lock, message = outcome
        raise (RunLockError if is_lock else OutputError)(message)
    return lock


def run(local_rank: int, cfg: CfgNode) -> None:
    """Everything one process does: lock OUTPUT_DIR, logging, seeding, training if enabled, testing if enabled.

    A failure :func:`~.failures.friendly_error` recognises leaves as its one-line error."""
    ctx = RunContext(device=build.make_device(cfg, local_rank), main=is_main_process())
    lock = lock_output_dir(cfg, ctx.main)
    try:
        _run_locked(cfg, ctx, lock)
    except Exception as e:
        friendly = friendly_error(e, cfg.OUTPUT_DIR)
        if friendly is None:
            raise
        raise friendly from e
    finally:
        if lock is not None:
            lock.release()


def cpu_threads(cfg: CfgNode) -> int:
    """Torch threads of one training process on the CPU: ``CPU_THREADS``; when 0, ``OMP_NUM_THREADS`` where it
    is set (torchrun sets 1), else the usable cores shared among this machine's training processes
    (``LOCAL_WORLD_SIZE``), less one per loader worker, at least 1."""
    if cfg.CPU_THREADS < 0:
        raise ConfigError(f"CPU_THREADS must be >= 0 (0: automatic), got {cfg.CPU_THREADS}")
    if cfg.CPU_THREADS:
        return cfg.CPU_THREADS
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    per_process = cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, per_process - cfg.DATA_LOADER.NUM_WORKERS)


def _run_locked(cfg: CfgNode, ctx: RunContext, lock: RunLock | None) -> None:
    setup_logging(cfg.OUTPUT_DIR, main_process=ctx.main)
    if lock is not None and lock.took_over:
        logger.warning("%s", lock.took_over)
    if ctx.device.type == "cpu":
        torch.set_num_threads(cpu_threads(cfg))
        logger.info("torch threads per process: %d (CPU_THREADS %d)", torch.get_num_threads(), cfg.CPU_THREADS)
    seed_everything(cfg.RNG_SEED)
    build.set_determinism(cfg)
    ensure_dataset(cfg, main_process=ctx.main)  # generates the synthetic dataset when configured
    barrier()
    stats = StatsWriter(cfg.OUTPUT_DIR, enabled=ctx.main)
    try:
        if not cfg.TRAIN.ENABLE and ctx.main:
            _save_config(cfg, fresh=False)
        state = train_net(cfg, ctx, stats) if cfg.TRAIN.ENABLE else None
        if cfg.TEST.ENABLE:
            test_net(cfg, ctx, stats, state)
    finally:
        stats.close()
