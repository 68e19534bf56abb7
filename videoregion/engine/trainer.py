"""The training loop: one epoch of optimizer steps, and the state a checkpoint holds.

Nothing here reads the config: ``videoregion.engine.build`` makes the pieces from it and
``videoregion.engine.run`` calls these. ``batch_transform`` is a ``videoregion.data.BatchTransform``
or any callable ``(batch, device) -> (clips, targets)``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from videoregion.data.batch import BatchTransform
from videoregion.errors import NonFiniteLossError

from .checkpoint import CheckpointManager, capture_rng_state, restore_rng_state
from .distributed import all_reduce_mean, barrier, get_world_size, unwrap_model
from .ema import ModelEma
from .precision import Precision
from .scheduler import WarmupCosineSchedule
from .stats import StatsWriter

logger = logging.getLogger(__name__)

__all__ = ["LoopSettings", "NonFiniteLossError", "TrainState", "classification_loss", "fit", "train_one_epoch"]


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for int labels (B,) or soft targets (B, K) from mixup / label smoothing."""
    logits = logits.float()
    if targets.is_floating_point():
        return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()
    return F.cross_entropy(logits, targets)


@dataclass(frozen=True)
class LoopSettings:
    """How the loop runs (from cfg.SOLVER / cfg.TRAIN)."""

    max_epoch: int
    accum_iters: int = 1  # micro-batches per optimizer step
    clip_grad_norm: float = 0.0  # 0: no clipping
    log_period: int = 10  # iterations between train_iter stats records
    eval_period: int = 1  # epochs between validations (0: never)
    checkpoint_period: int = 1  # epochs between checkpoints


@dataclass
class TrainState:
    """Everything a resumed run needs besides the config: weights, optimizer, schedule, counters."""

    model: nn.Module  # possibly wrapped in DistributedDataParallel
    optimizer: torch.optim.Optimizer
    scheduler: WarmupCosineSchedule
    scaler: torch.amp.GradScaler | None = None
    ema: ModelEma | None = None
    epoch: int = 0  # epochs completed
    best_metric: float = -math.inf
    extra: dict = field(default_factory=dict)  # written as is: "cfg", "class_names", ...

    def state_dict(self) -> dict:
        return {
            "model": unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "epoch": self.epoch,
            "best_metric": self.best_metric,
            "rng": capture_rng_state(),
            **self.extra,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint written by :meth:`state_dict` (same model, same optimizer groups)."""
        unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state.get("ema"):
                self.ema.load_state_dict(state["ema"])
            else:
                logger.warning("checkpoint has no EMA weights; the EMA restarts from the current weights")
                self.ema.module.load_state_dict(unwrap_model(self.model).state_dict())
        self.epoch = int(state["epoch"])
        self.best_metric = float(state.get("best_metric", -math.inf))
        if "rng" in state:
            restore_rng_state(state["rng"])


def _sync_context(model: nn.Module, sync: bool) -> contextlib.AbstractContextManager:
    """DDP all-reduces gradients only on the micro-batch that ends an accumulation."""
    if not sync and isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def train_one_epoch(
    state: TrainState,
    loader: Iterable[dict],
    batch_transform: BatchTransform,
    *,
    device: torch.device,
    precision: Precision,
    settings: LoopSettings | None = None,
    stats: StatsWriter | None = None,
    progress: bool = False,
) -> dict:
    """Train ``state.model`` on every batch of ``loader`` once; returns the epoch's stats record.

    Each micro-batch's loss is divided by ``accum_iters``; an optimizer step follows every
    ``accum_iters`` micro-batches and the last one. A non-finite loss (after averaging over
    processes, so every process stops together) raises NonFiniteLossError naming the iteration.
    """
    settings = settings or LoopSettings(max_epoch=state.epoch + 1)
    accum_iters, log_period = settings.accum_iters, settings.log_period
    model, optimizer, scheduler = state.model, state.optimizer, state.scheduler
    model.train()
    num_iters = len(loader)  # type: ignore[arg-type]
    world = get_world_size()
    total_loss, total_clips, lr = 0.0, 0, scheduler.last_lr
    start = tick = time.perf_counter()
    bar = tqdm(total=num_iters, disable=not progress, dynamic_ncols=True, leave=False,
               desc=f"epoch {state.epoch + 1}/{settings.max_epoch}")
    optimizer.zero_grad(set_to_none=True)
    for i, batch in enumerate(loader):
        clips, targets = batch_transform(batch, device)
        ends_step = (i + 1) % accum_iters == 0 or i + 1 == num_iters
        with _sync_context(model, ends_step), precision.autocast():
            loss = classification_loss(model(clips), targets)
        global_loss = all_reduce_mean(loss.detach())
        if not torch.isfinite(global_loss):
            bar.close()
            raise NonFiniteLossError(
                f"non-finite loss ({global_loss.item()}) at epoch {state.epoch + 1}, iteration {i + 1}/{num_iters} "
                f"(optimizer step {scheduler.steps_taken + 1}); stopping without saving this state"
            )
        with _sync_context(model, ends_step):
            scaled = loss / accum_iters
            (state.scaler.scale(scaled) if state.scaler is not None else scaled).backward()
        if ends_step:
            lr = _optimizer_step(state, settings.clip_grad_norm)
        batch_clips = clips.shape[0] * world
        total_loss += global_loss.item() * batch_clips
        total_clips += batch_clips
        now = time.perf_counter()
        clips_per_s = batch_clips / max(now - tick, 1e-9)
        tick = now
        bar.update(1)
        bar.set_postfix(loss=f"{global_loss.item():.4f}", lr=f"{lr:.2e}", clips_s=f"{clips_per_s:.1f}")
        if stats is not None and log_period > 0 and (i + 1) % log_period == 0:
            step = state.epoch * num_iters + i + 1
            stats.write({"split": "train_iter", "epoch": state.epoch + 1, "iter": i + 1, "loss": global_loss.item(),
                         "lr": lr, "clips_per_s": clips_per_s}, step=step, echo=False)
    bar.close()
    elapsed = time.perf_counter() - start
    return {
        "split": "train",
        "epoch": state.epoch + 1,
        "loss": total_loss / max(total_clips, 1),
        "lr": lr,
        "clips_per_s": total_clips / max(elapsed, 1e-9),
        "time_s": elapsed,
    }


def _optimizer_step(state: TrainState, clip_grad_norm: float) -> float:
    """Schedule the LR, unscale and clip, step (through the scaler for fp16), update the EMA."""
    lr = state.scheduler.step()
    params = [p for group in state.optimizer.param_groups for p in group["params"]]
    if state.scaler is not None:
        state.scaler.unscale_(state.optimizer)
    if clip_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
    if state.scaler is not None:
        state.scaler.step(state.optimizer)
        state.scaler.update()
    else:
        state.optimizer.step()
    state.optimizer.zero_grad(set_to_none=True)
    if state.ema is not None:
        state.ema.update(unwrap_model(state.model))
    return lr


def fit(
    state: TrainState,
    loader: Iterable[dict],
    batch_transform: BatchTransform,
    *,
    device: torch.device,
    precision: Precision,
    settings: LoopSettings,
    manager: CheckpointManager | None = None,
    stats: StatsWriter | None = None,
    validate: Callable[[TrainState], float] | None = None,
    set_epoch: Callable[[int], None] | None = None,
    main_process: bool = True,
) -> TrainState:
    """Train from ``state.epoch`` to ``settings.max_epoch``, validating and checkpointing on schedule.

    ``validate(state)`` returns the metric the best checkpoint is chosen by (higher is better); the
    last epoch is always validated and checkpointed. Only the main process writes checkpoints.
    """
    while state.epoch < settings.max_epoch:
        if set_epoch is not None:
            set_epoch(state.epoch)
        record = train_one_epoch(state, loader, batch_transform, device=device, precision=precision,
                                 settings=settings, stats=stats, progress=main_process)
        state.epoch += 1
        if stats is not None:
            stats.write(record, step=state.epoch)
        last = state.epoch == settings.max_epoch
        is_best = False
        if validate is not None and settings.eval_period > 0 and (state.epoch % settings.eval_period == 0 or last):
            metric = validate(state)
            is_best = metric > state.best_metric
            state.best_metric = max(state.best_metric, metric)
        if manager is not None and (state.epoch % settings.checkpoint_period == 0 or last):
            if main_process:
                manager.save(state.state_dict(), epoch=state.epoch, is_best=is_best)
            barrier()
    return state
