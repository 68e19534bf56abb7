"""A whole run from a config: train (with validation and checkpoints), then the multi-view test.

``run(local_rank, cfg)`` is what every process executes (see ``distributed.launch``).
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
from fvcore.common.config import CfgNode
from torch import nn

from . import build
from videoregion.synthetic.build import ensure_dataset

from .checkpoint import CheckpointError, CheckpointManager, load_checkpoint
from .distributed import barrier, get_world_size, is_main_process, unwrap_model
from .evaluator import evaluate, save_test_outputs
from .stats import StatsWriter, plot_curves, setup_logging
from .trainer import LoopSettings, TrainState, fit
from videoregion.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["RunContext", "run", "test_net", "train_net"]


@dataclass(frozen=True)
class RunContext:
    """This process's place in the run."""

    device: torch.device
    main: bool  # writes logs, stats and checkpoints


def _context(cfg: CfgNode, local_rank: int) -> RunContext:
    if cfg.NUM_GPUS > 0:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    return RunContext(device=device, main=is_main_process())


def seed_everything(seed: int) -> None:
    """The same seed on every process: models start identical (DDP checks), loaders seed their workers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def checkpoint_manager(cfg: CfgNode) -> CheckpointManager:
    return CheckpointManager(os.path.join(cfg.OUTPUT_DIR, "checkpoints"), keep_last=cfg.TRAIN.CHECKPOINT_KEEP)


def _check_classes(cfg: CfgNode, dataset, split: str) -> None:
    if dataset.num_classes != cfg.MODEL.NUM_CLASSES:
        raise ConfigError(
            f"MODEL.NUM_CLASSES is {cfg.MODEL.NUM_CLASSES} but the {split} split of "
            f"{cfg.DATA.PATH_TO_DATA_DIR} has {dataset.num_classes} classes; set MODEL.NUM_CLASSES {dataset.num_classes}"
        )


def _wrap_ddp(model: nn.Module, ctx: RunContext) -> nn.Module:
    if get_world_size() == 1:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def train_net(cfg: CfgNode, ctx: RunContext, stats: StatsWriter) -> TrainState:
    """Train for SOLVER.MAX_EPOCH epochs (resuming when a checkpoint is there); returns the final state."""
    from videoregion.data import build_batch_transform, build_dataset, build_loader, set_epoch
    from videoregion.models import build_model, load_pretrained

    train_set = build_dataset(cfg, "train")
    _check_classes(cfg, train_set, "train")
    train_loader = build_loader(cfg, "train", train_set)
    train_transform = build_batch_transform(cfg, "train")
    val_set = build_dataset(cfg, "val") if cfg.TRAIN.EVAL_PERIOD > 0 else None
    val_loader = build_loader(cfg, "val", val_set) if val_set is not None else None
    val_transform = build_batch_transform(cfg, "val")

    manager = checkpoint_manager(cfg)
    resume = manager.latest_readable() if cfg.TRAIN.AUTO_RESUME else None
    model = build_model(cfg)
    if resume is None and cfg.TRAIN.CHECKPOINT_FILE_PATH:
        load_pretrained(model, cfg.TRAIN.CHECKPOINT_FILE_PATH)
        logger.info("initialised from %s", cfg.TRAIN.CHECKPOINT_FILE_PATH)
    model.to(ctx.device)
    precision = build.make_precision(cfg, ctx.device)
    optimizer = build.make_optimizer(cfg, model)
    state = TrainState(
        model=model,
        optimizer=optimizer,
        scheduler=build.make_scheduler(cfg, optimizer, len(train_loader)),
        scaler=build.make_scaler(precision),
        ema=build.make_ema(cfg, model),
        extra={"cfg": cfg.dump(), "class_names": list(train_set.class_names)},
    )
    if resume is not None:
        path, saved = resume
        state.load_state_dict(saved)
        logger.info("resumed from %s after epoch %d", path, state.epoch)
    if cfg.MODEL.COMPILE:
        model = torch.compile(model)
    state.model = _wrap_ddp(model, ctx)

    settings = LoopSettings(
        max_epoch=cfg.SOLVER.MAX_EPOCH, accum_iters=cfg.SOLVER.ACCUM_ITERS, clip_grad_norm=cfg.SOLVER.CLIP_GRAD_NORM,
        log_period=cfg.LOG_PERIOD, eval_period=cfg.TRAIN.EVAL_PERIOD if val_loader is not None else 0,
        checkpoint_period=cfg.TRAIN.CHECKPOINT_PERIOD,
    )
    fit(
        state, train_loader, train_transform, device=ctx.device, precision=precision, settings=settings,
        manager=manager, stats=stats, main_process=ctx.main,
        validate=lambda s: _validate(cfg, s, val_loader, val_transform, ctx, precision, stats),
        set_epoch=lambda epoch: set_epoch(train_loader, epoch),
    )
    if ctx.main and plot_curves(stats.path, os.path.join(cfg.OUTPUT_DIR, "curves.png")):
        logger.info("saved loss and accuracy curves to %s", os.path.join(cfg.OUTPUT_DIR, "curves.png"))
    return state


def _validate(cfg: CfgNode, state: TrainState, loader, transform, ctx: RunContext, precision, stats: StatsWriter) -> float:
    """One view per video; returns the top-1 used to pick the best checkpoint (EMA's when there is one)."""
    start = time.perf_counter()
    kwargs = dict(device=ctx.device, precision=precision, num_classes=cfg.MODEL.NUM_CLASSES,
                  ensemble_method=cfg.DATA.ENSEMBLE_METHOD, progress=ctx.main)
    _, metrics = evaluate(unwrap_model(state.model), loader, transform, desc="val", **kwargs)
    record = {"split": "val", "epoch": state.epoch, "top1_acc": metrics["top1_acc"], "top5_acc": metrics["top5_acc"],
              "mean_class_acc": metrics["mean_class_acc"], "num_videos": metrics["num_videos"]}
    best_key = metrics["top1_acc"]
    if state.ema is not None:
        _, ema_metrics = evaluate(state.ema.module, loader, transform, desc="val ema", **kwargs)
        record.update(ema_top1_acc=ema_metrics["top1_acc"], ema_top5_acc=ema_metrics["top5_acc"])
        best_key = ema_metrics["top1_acc"]
    record["time_s"] = time.perf_counter() - start
    stats.write(record, step=state.epoch)
    return best_key


def _weights_to_test(cfg: CfgNode) -> str:
    if cfg.TEST.CHECKPOINT_FILE_PATH:
        return cfg.TEST.CHECKPOINT_FILE_PATH
    newest = checkpoint_manager(cfg).latest_readable()
    if newest is not None:
        return newest[0]
    if cfg.TRAIN.CHECKPOINT_FILE_PATH:
        return cfg.TRAIN.CHECKPOINT_FILE_PATH
    raise CheckpointError(
        f"nothing to test: TEST.CHECKPOINT_FILE_PATH is empty, {cfg.OUTPUT_DIR}/checkpoints has no readable "
        "checkpoint and TRAIN.CHECKPOINT_FILE_PATH is empty"
    )


def _load_test_model(cfg: CfgNode) -> nn.Module:
    from videoregion.models import build_model, load_pretrained

    model = build_model(cfg)
    path = _weights_to_test(cfg)
    if cfg.TEST.USE_EMA:
        saved = load_checkpoint(path)
        if saved.get("ema"):
            model.load_state_dict(saved["ema"])
            logger.info("testing the EMA weights of %s", path)
            return model
        logger.warning("%s has no EMA weights; testing its model weights", path)
    load_pretrained(model, path)
    logger.info("testing %s", path)
    return model


def test_net(cfg: CfgNode, ctx: RunContext, stats: StatsWriter, state: TrainState | None = None) -> dict:
    """Multi-view test of the trained model (or of the checkpoint the config names); returns the metrics."""
    from videoregion.data import build_batch_transform, build_dataset, build_loader

    test_set = build_dataset(cfg, "test")
    _check_classes(cfg, test_set, "test")
    loader = build_loader(cfg, "test", test_set)
    if state is None:
        model = _load_test_model(cfg).to(ctx.device)
    elif cfg.TEST.USE_EMA and state.ema is not None:
        model = state.ema.module
    else:
        model = unwrap_model(state.model)
    precision = build.make_precision(cfg, ctx.device)
    start = time.perf_counter()
    results, metrics = evaluate(
        model, loader, build_batch_transform(cfg, "test"), device=ctx.device, precision=precision,
        num_classes=cfg.MODEL.NUM_CLASSES, ensemble_method=cfg.DATA.ENSEMBLE_METHOD, progress=ctx.main, desc="test",
    )
    expected_views = test_set.num_videos * test_set.num_views
    record = {
        "split": "test_final",
        "top1_acc": metrics["top1_acc"],
        "top5_acc": metrics["top5_acc"],
        "mean_class_acc": metrics["mean_class_acc"],
        "num_videos": metrics["num_videos"],
        "num_views": metrics["num_views"],
        "missing_views": expected_views - metrics["num_views"],
        "time_s": time.perf_counter() - start,
    }
    stats.write(record, step=state.epoch if state is not None else 0)
    if ctx.main:
        save_test_outputs(cfg.OUTPUT_DIR, results, metrics, list(test_set.class_names), results_path=cfg.TEST.SAVE_RESULTS_PATH)
    barrier()
    return metrics


def run(local_rank: int, cfg: CfgNode) -> None:
    """Everything one process does: logging, seeding, training if enabled, testing if enabled."""
    ctx = _context(cfg, local_rank)
    setup_logging(cfg.OUTPUT_DIR, main_process=ctx.main)
    if ctx.device.type == "cpu" and get_world_size() > 1:
        # processes of one machine share its cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    seed_everything(cfg.RNG_SEED)
    ensure_dataset(cfg, main_process=ctx.main)  # generates the synthetic dataset when configured
    barrier()
    stats = StatsWriter(cfg.OUTPUT_DIR, enabled=ctx.main)
    try:
        state = train_net(cfg, ctx, stats) if cfg.TRAIN.ENABLE else None
        if cfg.TEST.ENABLE:
            test_net(cfg, ctx, stats, state)
    finally:
        stats.close()
