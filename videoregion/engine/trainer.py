"""The training loop: one epoch of optimizer steps, and the state a checkpoint holds.

Nothing here reads the config: ``videoregion.engine.build`` makes the pieces from it and
``videoregion.engine.run`` calls these. ``batch_transform`` is a ``videoregion.data.BatchTransform``
or any callable ``(batch, device) -> (clips, targets)``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import signal
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
from .distributed import all_gather_objects, all_reduce_mean, barrier, get_rank, get_world_size, unwrap_model
from .ema import ModelEma
from .precision import Precision
from .preemption import Preempted, RunControl
from .scheduler import WarmupCosineSchedule
from .stats import StatsWriter

logger = logging.getLogger(__name__)

__all__ = ["LoopSettings", "NonFiniteLossError", "TrainState", "classification_loss", "fit", "train_one_epoch"]

NEW_EPOCH_PROGRESS = {"loss_sum": 0.0, "clips": 0, "reads": 0, "failed": 0}


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
    max_steps: int = 0  # > 0: train exactly this many optimizer steps (max_epoch is then ignored)
    accum_iters: int = 1  # micro-batches per optimizer step
    clip_grad_norm: float = 0.0  # 0: no clipping
    log_period: int = 10  # iterations between train_iter stats records
    eval_period: int = 1  # epochs between validations (0: never)
    checkpoint_period: int = 1  # epochs between checkpoints


@dataclass
class TrainState:
    """Everything a resumed run needs besides the config: weights, optimizer, schedule, counters, and
    where in the epoch it stopped.

    ``generators`` are extra random streams of this process (the mixup generator of the batch
    transform) saved and restored with the global RNG of every rank (``"rank_states"``).
    """

    model: nn.Module  # possibly wrapped in DistributedDataParallel
    optimizer: torch.optim.Optimizer
    scheduler: WarmupCosineSchedule
    scaler: torch.amp.GradScaler | None = None
    ema: ModelEma | None = None
    epoch: int = 0  # epochs completed
    best_metric: float = -math.inf
    extra: dict = field(default_factory=dict)  # written as is: "cfg", "class_names", ...
    step_in_epoch: int = 0  # iterations (micro-batches) of epoch ``epoch + 1`` done
    validation_pending: bool = False  # epoch ``epoch`` trained, its validation not yet done
    progress: dict = field(default_factory=lambda: dict(NEW_EPOCH_PROGRESS))  # sums over this epoch so far
    generators: dict[str, torch.Generator] = field(default_factory=dict)

    def rank_state(self) -> dict:
        """This process's random streams: the global generators and ``generators``."""
        return {"rng": capture_rng_state(), "generators": {k: g.get_state() for k, g in self.generators.items()}}

    def state_dict(self, rank_states: list[dict] | None = None) -> dict:
        """The checkpoint; ``rank_states`` are :meth:`rank_state` of every process in rank order
        (this process's alone when None)."""
        return {
            "model": unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "validation_pending": self.validation_pending,
            "epoch_progress": dict(self.progress),
            "best_metric": self.best_metric,
            "rng": capture_rng_state(),
            "rank_states": rank_states if rank_states is not None else [self.rank_state()],
            **self.extra,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint written by :meth:`state_dict` (same model, same optimizer groups).

        Each process takes its own random streams when the checkpoint was written by as many
        processes as there are now; else the streams keep their per-rank seeds (logged).
        """
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
        self.step_in_epoch = int(state.get("step_in_epoch", 0))
        self.validation_pending = bool(state.get("validation_pending", False))
        self.progress = {**NEW_EPOCH_PROGRESS, **state.get("epoch_progress", {})}
        self.best_metric = float(state.get("best_metric", -math.inf))
        self._load_rank_state(state)

    def _load_rank_state(self, state: dict) -> None:
        saved = state.get("rank_states")
        if saved and len(saved) == get_world_size():
            mine = saved[get_rank()]
            restore_rng_state(mine["rng"])
            for name, generator in self.generators.items():
                if name in mine["generators"]:
                    generator.set_state(mine["generators"][name])
        elif saved:
            logger.warning("the checkpoint was written by %d process(es), this run has %d: random streams "
                           "restart from the per-rank seeds (the run will not repeat an uninterrupted one exactly)",
                           len(saved), get_world_size())
        elif "rng" in state:
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
    control: RunControl | None = None,
    num_iters: int | None = None,
    on_checkpoint: Callable[[], None] | None = None,
) -> dict | None:
    """Train ``state.model`` on the batches of ``loader``; returns the epoch's stats record, or None
    when ``control`` agreed to stop (``state.step_in_epoch`` says where).

    ``loader`` yields the iterations ``state.step_in_epoch`` .. ``num_iters`` (default: all of
    ``len(loader)``); the epoch ends after iteration ``num_iters`` even when it yields more (a step
    budget's last epoch). Each micro-batch's loss is divided by ``accum_iters``; an optimizer step
    follows every ``accum_iters`` micro-batches and the last one. Every iteration all ranks agree
    (``control.poll``): when one rank has no batch (all its videos failed), every rank skips the
    iteration (an optimizer step it would end is skipped, the schedule advances); a stop or a
    periodic checkpoint (``on_checkpoint()``) happens at the end of an optimizer step. Failed reads
    are counted over all ranks for the epoch and checked by the loader's ``skip_report``. A
    non-finite loss (after averaging over processes, so every process stops together) raises
    NonFiniteLossError naming the iteration.
    """
    settings = settings or LoopSettings(max_epoch=state.epoch + 1)
    control = control or RunControl()
    accum_iters, log_period = settings.accum_iters, settings.log_period
    model, optimizer, scheduler = state.model, state.optimizer, state.scheduler
    model.train()
    first = state.step_in_epoch
    num_iters = num_iters if num_iters is not None else len(loader)  # type: ignore[arg-type]
    world = get_world_size()
    report = getattr(loader, "skip_report", None)
    totals, lr, batch_clips, segment_clips = state.progress, scheduler.last_lr, 0, 0
    start = tick = time.perf_counter()
    bar = tqdm(total=num_iters, initial=first, disable=not progress, dynamic_ncols=True, leave=False,
               desc=f"epoch {state.epoch + 1}" + ("" if settings.max_steps else f"/{settings.max_epoch}"))
    optimizer.zero_grad(set_to_none=True)
    for i, batch in enumerate(loader, start=first):
        decision = control.poll(have_batch="clip" in batch, reads=batch.get("num_reads", 0),
                                failed=batch.get("num_failed", 0))
        totals["reads"] += decision.reads
        totals["failed"] += decision.failed
        if report is not None and decision.reads:
            report.check_totals(totals["reads"], totals["failed"], where=f"in epoch {state.epoch + 1} on all ranks")
        ends_step = (i + 1) % accum_iters == 0 or i + 1 == num_iters
        if decision.skip:
            logger.warning("epoch %d, iteration %d: a process has no batch (all its videos failed); every process "
                           "skips this iteration", state.epoch + 1, i + 1)
            if ends_step:
                optimizer.zero_grad(set_to_none=True)
                lr = scheduler.step()
        else:
            clips, targets = batch_transform(batch, device)
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
            totals["loss_sum"] += global_loss.item() * batch_clips
            totals["clips"] += batch_clips
            segment_clips += batch_clips
        state.step_in_epoch = i + 1
        now = time.perf_counter()
        clips_per_s = batch_clips / max(now - tick, 1e-9)
        tick = now
        bar.update(1)
        if not decision.skip:
            bar.set_postfix(loss=f"{global_loss.item():.4f}", lr=f"{lr:.2e}", clips_s=f"{clips_per_s:.1f}")
            if stats is not None and log_period > 0 and (i + 1) % log_period == 0:
                step = state.epoch * num_iters + i + 1
                stats.write({"split": "train_iter", "epoch": state.epoch + 1, "iter": i + 1,
                             "loss": global_loss.item(), "lr": lr, "clips_per_s": clips_per_s}, step=step, echo=False)
        if ends_step and i + 1 < num_iters:
            if decision.stop:
                bar.close()
                return None
            if decision.checkpoint_due and on_checkpoint is not None:
                on_checkpoint()
        if i + 1 == num_iters:  # a step budget ends the epoch early (see fit)
            break
    bar.close()
    elapsed = time.perf_counter() - start
    return {
        "split": "train",
        "epoch": state.epoch + 1,
        "loss": totals["loss_sum"] / max(totals["clips"], 1),
        "lr": lr,
        "clips_per_s": segment_clips / max(elapsed, 1e-9),
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


@dataclass
class _Checkpointer:
    """Writes the checkpoints of :func:`fit`: every rank's random streams gathered, the main process writes."""

    state: TrainState
    manager: CheckpointManager | None
    control: RunControl
    main_process: bool

    def save(self, *, is_best: bool = False) -> str:
        if self.manager is None:
            return ""
        rank_states = all_gather_objects(self.state.rank_state())
        path = self.manager.epoch_path(self.state.epoch, self.state.step_in_epoch)
        if self.main_process:
            self.manager.save(self.state.state_dict(rank_states), epoch=self.state.epoch,
                              iteration=self.state.step_in_epoch, is_best=is_best)
        barrier()
        self.control.checkpointed()
        return path

    def save_best(self) -> None:
        if self.manager is None:
            return
        rank_states = all_gather_objects(self.state.rank_state())
        if self.main_process:
            self.manager.save_best(self.state.state_dict(rank_states))
        barrier()

    def stop(self, path: str) -> None:
        """Log, hand the signal to the handler that was there before (a launcher's), exit."""
        signum = self.control.stop.signum or signal.SIGTERM
        logger.warning("stopped on %s after epoch %d, iteration %d; checkpoint %s; the same command continues "
                       "from it", signal.Signals(signum).name, self.state.epoch, self.state.step_in_epoch,
                       path or "(none: no checkpoint folder)")
        self.control.stop.deliver()
        raise Preempted(path)


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
    set_epoch: Callable[[int, int], None] | None = None,
    main_process: bool = True,
    control: RunControl | None = None,
) -> TrainState:
    """Train from ``state`` (epoch and iteration) to ``settings.max_epoch``, validating and checkpointing.

    With ``settings.max_steps`` the run ends after that many optimizer steps instead (counted by
    ``state.scheduler``, skipped steps included); its last epoch stops early and counts as the last.

    ``set_epoch(epoch, start)`` positions the loader at iteration ``start`` of ``epoch`` (0-based);
    without it the first ``start`` batches of ``loader`` are skipped. ``validate(state)`` returns
    the metric the best checkpoint is chosen by (higher is better); the last epoch is always
    validated and checkpointed, and an epoch that is best writes ``checkpoint_best.pyth`` at once.
    Only the main process writes checkpoints.

    Stop signals (``control.stop``, installed here) and ``control``'s period end the current step
    on every rank; a stop writes one checkpoint (mid-epoch, or after the epoch before or after its
    validation) and raises :class:`~.preemption.Preempted`.
    """
    control = control or RunControl()
    writer = _Checkpointer(state, manager, control, main_process)
    with control.stop.installed():
        if state.validation_pending:  # stopped between training an epoch and validating it
            _finish_epoch(state, settings, validate, writer)
        while not _finished(state, settings):
            first = state.step_in_epoch
            if set_epoch is not None:
                set_epoch(state.epoch, first)
                batches, num_iters = loader, first + len(loader)  # type: ignore[arg-type]
            else:
                batches, num_iters = itertools.islice(loader, first, None), len(loader)  # type: ignore[arg-type]
            if settings.max_steps:  # ``first`` ends an optimizer step: each further step takes accum_iters
                left = settings.max_steps - state.scheduler.steps_taken
                num_iters = min(num_iters, first + left * settings.accum_iters)
            if first:
                logger.info("continuing epoch %d at iteration %d of %d", state.epoch + 1, first + 1, num_iters)
            record = train_one_epoch(state, batches, batch_transform, device=device, precision=precision,
                                     settings=settings, stats=stats, progress=main_process, control=control,
                                     num_iters=num_iters, on_checkpoint=writer.save)
            if record is None:
                writer.stop(writer.save())
            state.epoch += 1
            state.step_in_epoch = 0
            state.progress = dict(NEW_EPOCH_PROGRESS)
            if stats is not None:
                stats.write(record, step=state.epoch)
            last = _finished(state, settings)
            state.validation_pending = validate is not None and settings.eval_period > 0 and (
                state.epoch % settings.eval_period == 0 or last)
            if control.poll(iteration=False).stop:  # the resumed run validates this epoch first
                writer.stop(writer.save())
            _finish_epoch(state, settings, validate, writer)
    return state


def _finished(state: TrainState, settings: LoopSettings) -> bool:
    """Whether training is over: ``settings.max_steps`` optimizer steps taken, or ``max_epoch`` epochs."""
    if settings.max_steps:
        return state.scheduler.steps_taken >= settings.max_steps
    return state.epoch >= settings.max_epoch


def _finish_epoch(state: TrainState, settings: LoopSettings, validate: Callable[[TrainState], float] | None,
                  writer: _Checkpointer) -> None:
    """Validate the epoch when due, write its checkpoint when due (or the best one when it is best),
    and stop when a signal came meanwhile (validation itself is not interrupted)."""
    is_best = False
    if state.validation_pending and validate is not None:
        metric = validate(state)
        is_best = metric > state.best_metric
        state.best_metric = max(state.best_metric, metric)
    state.validation_pending = False
    path = ""
    if state.epoch % settings.checkpoint_period == 0 or _finished(state, settings):
        path = writer.save(is_best=is_best)
    elif is_best:
        writer.save_best()
    if writer.control.poll(iteration=False).stop:
        writer.stop(path or writer.save())
