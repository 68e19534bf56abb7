"""Config -> engine pieces. The one place that reads cfg.SOLVER / cfg.TRAIN / cfg.TEST for them.

Learning-rate scaling rule: ``SOLVER.BASE_LR`` is the LR for a global batch of
``SOLVER.BASE_BATCH_SIZE`` clips per optimizer step. A run's global batch is ``TRAIN.BATCH_SIZE``
(split evenly over all processes) times ``SOLVER.ACCUM_ITERS``, and with ``SOLVER.LR_SCALING``
"linear" its LR is ``BASE_LR * global_batch / BASE_BATCH_SIZE`` (Goyal et al., 2017). Warmup start
and cosine end are fractions of that scaled LR.
"""

from __future__ import annotations

import logging
import math

import torch
from fvcore.common.config import CfgNode
from torch import nn

from .ema import ModelEma
from .optimizer import build_optimizer, param_groups
from .scheduler import WarmupCosineSchedule
from .trainer import Precision
from videoregion.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["make_ema", "make_optimizer", "make_precision", "make_scaler", "make_scheduler", "scaled_lr"]

LR_SCALINGS = ("linear", "none")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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


def make_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer, iters_per_epoch: int) -> WarmupCosineSchedule:
    """Warmup over SOLVER.WARMUP_EPOCHS, cosine until SOLVER.MAX_EPOCH, counted in optimizer steps."""
    per_epoch = steps_per_epoch(cfg, iters_per_epoch)
    lr = scaled_lr(cfg)
    logger.info("LR %.3g (BASE_LR %.3g for %d clips, global batch %d x %d accumulation), %d steps/epoch",
                lr, cfg.SOLVER.BASE_LR, cfg.SOLVER.BASE_BATCH_SIZE, cfg.TRAIN.BATCH_SIZE, cfg.SOLVER.ACCUM_ITERS, per_epoch)
    return WarmupCosineSchedule(
        optimizer,
        base_lr=lr,
        total_steps=per_epoch * cfg.SOLVER.MAX_EPOCH,
        warmup_steps=round(per_epoch * cfg.SOLVER.WARMUP_EPOCHS),
        start_lr=lr * cfg.SOLVER.WARMUP_START_FACTOR,
        end_lr=lr * cfg.SOLVER.COSINE_END_FACTOR,
    )


def make_precision(cfg: CfgNode, device: torch.device) -> Precision:
    """Autocast dtype: TRAIN.MIXED_PRECISION on GPU; float32 on the CPU unless CPU_AUTOCAST with bf16."""
    name = cfg.TRAIN.MIXED_PRECISION
    if name not in PRECISIONS:
        raise ConfigError(f"TRAIN.MIXED_PRECISION {name!r} is not one of {sorted(PRECISIONS)}")
    if device.type == "cuda":
        dtype = PRECISIONS[name]
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            logger.warning("this GPU has no bf16; using fp16 with a gradient scaler")
            dtype = torch.float16
        return Precision("cuda", dtype)
    if cfg.TRAIN.CPU_AUTOCAST and name == "bf16":
        return Precision("cpu", torch.bfloat16)
    return Precision(device.type, None)


def make_scaler(precision: Precision) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(precision.device_type) if precision.needs_scaler else None


def make_ema(cfg: CfgNode, model: nn.Module) -> ModelEma | None:
    return ModelEma(model, decay=cfg.SOLVER.EMA_DECAY) if cfg.SOLVER.EMA_ENABLE else None
