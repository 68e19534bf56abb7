"""Config -> engine pieces: the engine's one reader of cfg.SOLVER, cfg.TRAIN and cfg.TEST.

``run.py`` reads only TRAIN.ENABLE and TEST.ENABLE (what runs), OUTPUT_DIR and RNG_SEED; every other
key the training and test loops depend on is turned into an object here. Model construction is
``videoregion.models.build``, the data pipeline ``videoregion.data.build``, the synthetic dataset
``videoregion.synthetic.build``, autocast ``videoregion.engine.precision``.

Learning-rate scaling rule: ``SOLVER.BASE_LR`` is the LR for a global batch of
``SOLVER.BASE_BATCH_SIZE`` clips per optimizer step. A run's global batch is ``TRAIN.BATCH_SIZE``
(split evenly over all processes) times ``SOLVER.ACCUM_ITERS``, and with ``SOLVER.LR_SCALING``
"linear" its LR is ``BASE_LR * global_batch / BASE_BATCH_SIZE`` (Goyal et al., 2017). Warmup start
and cosine end are fractions of that scaled LR.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import random
from collections.abc import Callable

import numpy as np
import torch
from fvcore.common.config import CfgNode
from torch import nn

from videoregion.errors import CheckpointError, ConfigError
from videoregion.models import build_model, load_pretrained
from videoregion.models.build import build_eval_model

from .checkpoint import CheckpointManager, checkpoint_to_evaluate
from .distributed import get_rank, get_world_size, unwrap_model, wrap_ddp
from .ema import ModelEma
from .evaluator import evaluate, save_test_outputs
from .optimizer import build_optimizer, param_groups
from .precision import Precision
from .preemption import RunControl
from .scheduler import WarmupCosineSchedule
from .trainer import LoopSettings, TrainState

logger = logging.getLogger(__name__)

__all__ = [
    "check_num_classes",
    "make_checkpoint_manager",
    "make_device",
    "make_ema",
    "make_evaluator",
    "make_loop_settings",
    "make_optimizer",
    "make_run_control",
    "make_scaler",
    "make_scheduler",
    "make_test_writer",
    "make_train_model",
    "max_steps",
    "model_to_test",
    "resume_checkpoint",
    "scaled_lr",
    "schedule_steps",
    "seed_this_rank",
    "set_determinism",
    "test_checkpoint",
    "wrap_for_training",
]

LR_SCALINGS = ("linear", "none")


def scaled_lr(cfg: CfgNode) -> float:
    """The peak LR of this run under the linear scaling rule (see the module docstring)."""
    rule = cfg.SOLVER.LR_SCALING
    if rule not in LR_SCALINGS:
        raise ConfigError(f"SOLVER.LR_SCALING {rule!r} is not one of {LR_SCALINGS}")
    if rule == "none":
        return cfg.SOLVER.BASE_LR
    global_batch = cfg.TRAIN.BATCH_SIZE * cfg.SOLVER.ACCUM_ITERS
    return cfg.SOLVER.BASE_LR * global_batch / cfg.SOLVER.BASE_BATCH_SIZE


def make_optimizer(cfg: CfgNode, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer over ``model``'s groups (the bare model, not a DDP wrapper)."""
    groups = param_groups(model, weight_decay=cfg.SOLVER.WEIGHT_DECAY, layer_decay=cfg.SOLVER.LAYER_DECAY)
    return build_optimizer(
        groups,
        name=cfg.SOLVER.OPTIMIZING_METHOD,
        lr=scaled_lr(cfg),
        betas=cfg.SOLVER.BETAS,
        momentum=cfg.SOLVER.MOMENTUM,
        nesterov=cfg.SOLVER.NESTEROV,
    )


def steps_per_epoch(cfg: CfgNode, iters_per_epoch: int) -> int:
    """Optimizer steps per epoch: one every ACCUM_ITERS micro-batches, and one at the epoch's end."""
    return math.ceil(iters_per_epoch / cfg.SOLVER.ACCUM_ITERS)


def max_steps(cfg: CfgNode) -> int:
    """SOLVER.MAX_STEPS, checked: the run's optimizer steps when > 0, 0 when MAX_EPOCH decides."""
    steps = cfg.SOLVER.MAX_STEPS
    if steps < 0:
        raise ConfigError(f"SOLVER.MAX_STEPS must be >= 0 (0: train SOLVER.MAX_EPOCH epochs), got {steps}")
    if steps > 0 and cfg.SOLVER.MAX_EPOCH < 1:
        raise ConfigError(f"SOLVER.MAX_STEPS {steps} keeps the warmup's fraction WARMUP_EPOCHS / MAX_EPOCH, "
                          f"which needs SOLVER.MAX_EPOCH >= 1, got {cfg.SOLVER.MAX_EPOCH}")
    return steps


def schedule_steps(cfg: CfgNode, iters_per_epoch: int) -> tuple[int, int]:
    """(total, warmup) optimizer steps of the LR schedule.

    SOLVER.MAX_EPOCH epochs with SOLVER.WARMUP_EPOCHS of warmup; with SOLVER.MAX_STEPS, that many steps
    with the same shape: the warmup takes the fraction WARMUP_EPOCHS / MAX_EPOCH of them.
    """
    budget = max_steps(cfg)
    if budget:
        return budget, round(budget * cfg.SOLVER.WARMUP_EPOCHS / cfg.SOLVER.MAX_EPOCH)
    per_epoch = steps_per_epoch(cfg, iters_per_epoch)
    return per_epoch * cfg.SOLVER.MAX_EPOCH, round(per_epoch * cfg.SOLVER.WARMUP_EPOCHS)


def make_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer, iters_per_epoch: int) -> WarmupCosineSchedule:
    """Warmup over SOLVER.WARMUP_EPOCHS, cosine until SOLVER.MAX_EPOCH (or SOLVER.MAX_STEPS), counted in
    optimizer steps (see :func:`schedule_steps`)."""
    per_epoch = steps_per_epoch(cfg, iters_per_epoch)
    total, warmup = schedule_steps(cfg, iters_per_epoch)
    lr = scaled_lr(cfg)
    logger.info("LR %.3g (BASE_LR %.3g for %d clips, global batch %d x %d accumulation), %d steps/epoch, "
                "%d steps in all", lr, cfg.SOLVER.BASE_LR, cfg.SOLVER.BASE_BATCH_SIZE, cfg.TRAIN.BATCH_SIZE,
                cfg.SOLVER.ACCUM_ITERS, per_epoch, total)
    return WarmupCosineSchedule(
        optimizer,
        base_lr=lr,
        total_steps=total,
        warmup_steps=warmup,
        start_lr=lr * cfg.SOLVER.WARMUP_START_FACTOR,
        end_lr=lr * cfg.SOLVER.COSINE_END_FACTOR,
    )


def make_scaler(precision: Precision) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(precision.device_type) if precision.needs_scaler else None


def make_ema(cfg: CfgNode, model: nn.Module) -> ModelEma | None:
    return ModelEma(model, decay=cfg.SOLVER.EMA_DECAY) if cfg.SOLVER.EMA_ENABLE else None


def make_device(cfg: CfgNode, local_rank: int) -> torch.device:
    """This process's device: GPU ``local_rank`` (made current) when NUM_GPUS > 0, else the CPU."""
    if cfg.NUM_GPUS > 0:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def check_num_classes(cfg: CfgNode, dataset, split: str) -> None:
    """A ConfigError when the ``split`` dataset's class count is not MODEL.NUM_CLASSES."""
    if dataset.num_classes != cfg.MODEL.NUM_CLASSES:
        raise ConfigError(
            f"MODEL.NUM_CLASSES is {cfg.MODEL.NUM_CLASSES} but the {split} split of "
            f"{cfg.DATA.PATH_TO_DATA_DIR} has {dataset.num_classes} classes; "
            f"set MODEL.NUM_CLASSES {dataset.num_classes}"
        )


def make_loop_settings(cfg: CfgNode) -> LoopSettings:
    """SOLVER.MAX_EPOCH / MAX_STEPS / ACCUM_ITERS / CLIP_GRAD_NORM, LOG_PERIOD, TRAIN.EVAL_PERIOD /
    CHECKPOINT_PERIOD."""
    return LoopSettings(
        max_epoch=cfg.SOLVER.MAX_EPOCH,
        max_steps=max_steps(cfg),
        accum_iters=cfg.SOLVER.ACCUM_ITERS,
        clip_grad_norm=cfg.SOLVER.CLIP_GRAD_NORM,
        log_period=cfg.LOG_PERIOD,
        eval_period=cfg.TRAIN.EVAL_PERIOD,
        checkpoint_period=cfg.TRAIN.CHECKPOINT_PERIOD,
    )


def make_checkpoint_manager(cfg: CfgNode) -> CheckpointManager:
    """The run's checkpoints: OUTPUT_DIR/checkpoints, keeping TRAIN.CHECKPOINT_KEEP epoch files; the
    temporary files of writes a signal interrupted are removed."""
    manager = CheckpointManager(os.path.join(cfg.OUTPUT_DIR, "checkpoints"), keep_last=cfg.TRAIN.CHECKPOINT_KEEP)
    manager.sweep_temporary()
    return manager


def resume_checkpoint(cfg: CfgNode, manager: CheckpointManager) -> tuple[str, dict] | None:
    """(path, state) of the newest readable checkpoint to resume from with TRAIN.AUTO_RESUME, else None.

    Never trains beside checkpoints it does not continue: with AUTO_RESUME False and checkpoints in
    the folder, or with only unreadable ones there, it refuses (CheckpointError) unless
    TRAIN.OVERWRITE, which deletes them. ``manager`` takes over the resumed run's retention record.
    """
    found = [path for _, _, path in manager.checkpoints()]
    if os.path.isfile(manager.best_path):
        found.append(manager.best_path)
    if not found:
        return None
    resumed = manager.latest_readable() if cfg.TRAIN.AUTO_RESUME else None
    if resumed is not None:
        manager.adopt(resumed[1])
        return resumed
    if not cfg.TRAIN.OVERWRITE:
        why = ("TRAIN.AUTO_RESUME is False" if not cfg.TRAIN.AUTO_RESUME
               else "none of them loads (see the warnings above)")
        raise CheckpointError(
            f"{manager.folder} holds {len(found)} checkpoint(s) of an earlier run (e.g. {os.path.basename(found[-1])}) "
            f"and {why}: continue it with TRAIN.AUTO_RESUME True, train into another OUTPUT_DIR, or delete them "
            "and start over with TRAIN.OVERWRITE True"
        )
    removed = manager.remove_all()
    logger.warning("TRAIN.OVERWRITE: deleted %d checkpoint(s) of an earlier run in %s", len(removed), manager.folder)
    return None


def make_run_control(cfg: CfgNode) -> RunControl:
    """Stop signals and the mid-epoch checkpoint period (TRAIN.CHECKPOINT_PERIOD_MINUTES / _ITERS)."""
    minutes, iters = cfg.TRAIN.CHECKPOINT_PERIOD_MINUTES, cfg.TRAIN.CHECKPOINT_PERIOD_ITERS
    if minutes < 0 or iters < 0:
        raise ConfigError(f"TRAIN.CHECKPOINT_PERIOD_MINUTES ({minutes}) and TRAIN.CHECKPOINT_PERIOD_ITERS ({iters}) "
                          "must be >= 0 (0: off)")
    return RunControl(period_minutes=minutes, period_iters=iters)


def seed_this_rank(cfg: CfgNode) -> None:
    """Seed this process's global generators from RNG_SEED and its rank, so stochastic layers (drop
    path) draw differently on each rank. Call it after the model is built (models start identical)."""
    seed = cfg.RNG_SEED + 1_000_003 * get_rank()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_determinism(cfg: CfgNode) -> None:
    """TRAIN.DETERMINISTIC: deterministic algorithms only, cuDNN deterministic without autotuning."""
    if not cfg.TRAIN.DETERMINISTIC:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be deterministic
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def make_train_model(cfg: CfgNode, *, resuming: bool) -> nn.Module:
    """A fresh model, initialised from TRAIN.CHECKPOINT_FILE_PATH unless the run resumes."""
    model = build_model(cfg)
    if not resuming and cfg.TRAIN.CHECKPOINT_FILE_PATH:
        load_pretrained(model, cfg.TRAIN.CHECKPOINT_FILE_PATH)
        logger.info("initialised from %s", cfg.TRAIN.CHECKPOINT_FILE_PATH)
    return model


def wrap_for_training(cfg: CfgNode, model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` compiled with MODEL.COMPILE, then in DistributedDataParallel when the run has several processes."""
    if cfg.MODEL.COMPILE:
        model = torch.compile(model)
    return wrap_ddp(model, device) if get_world_size() > 1 else model


def make_evaluator(cfg: CfgNode, device: torch.device, precision: Precision, *, progress: bool) -> Callable[..., tuple]:
    """``evaluate`` with MODEL.NUM_CLASSES and DATA.ENSEMBLE_METHOD bound: ``(model, loader, transform, desc=)``."""
    return functools.partial(evaluate, device=device, precision=precision, num_classes=cfg.MODEL.NUM_CLASSES,
                             ensemble_method=cfg.DATA.ENSEMBLE_METHOD, progress=progress)


def make_test_writer(cfg: CfgNode) -> Callable[..., None]:
    """``save_test_outputs`` into OUTPUT_DIR (predictions also to TEST.SAVE_RESULTS_PATH).

    Called as ``(results, metrics, class_names)``.
    """
    return functools.partial(save_test_outputs, cfg.OUTPUT_DIR, results_path=cfg.TEST.SAVE_RESULTS_PATH)


TRAIN_FIRST = "train first (TRAIN.ENABLE True with this config), or set TEST.CHECKPOINT_FILE_PATH"


def test_checkpoint(cfg: CfgNode) -> tuple[str, dict]:
    """(path, state) a test-only run evaluates: TEST.CHECKPOINT_FILE_PATH, else OUTPUT_DIR's best checkpoint,
    else its newest readable one, else TRAIN.CHECKPOINT_FILE_PATH (see ``checkpoint_to_evaluate``)."""
    return checkpoint_to_evaluate(os.path.join(cfg.OUTPUT_DIR, "checkpoints"), explicit=cfg.TEST.CHECKPOINT_FILE_PATH,
                                  fallback=cfg.TRAIN.CHECKPOINT_FILE_PATH, remedy=TRAIN_FIRST)


def model_to_test(cfg: CfgNode, state: TrainState | None) -> nn.Module:
    """The model the test evaluates: the trained ``state``'s (its EMA with TEST.USE_EMA when it has one),
    or, in a test-only run (``state`` None), :func:`test_checkpoint`'s through ``build_eval_model``."""
    if state is None:
        path, saved = test_checkpoint(cfg)
        return build_eval_model(cfg, path, saved)
    if cfg.TEST.USE_EMA and state.ema is not None:
        return state.ema.module
    return unwrap_model(state.model)
