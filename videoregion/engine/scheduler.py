"""Per-iteration learning rate: linear warmup, then a half cosine down to an end value."""

from __future__ import annotations

import logging
import math

import torch

logger = logging.getLogger(__name__)

__all__ = ["WarmupCosineSchedule", "warmup_cosine_lr"]


def warmup_cosine_lr(
    step: int, *, base_lr: float, total_steps: int, warmup_steps: int, start_lr: float, end_lr: float
) -> float:
    """The LR of optimizer step ``step`` (0-based).

    Steps ``0 .. warmup_steps - 1`` rise linearly from ``start_lr`` towards ``base_lr``; from
    ``warmup_steps`` the LR follows ``end + (base - end) * (1 + cos(pi * t)) / 2`` with ``t`` going
    from 0 at ``warmup_steps`` to 1 at ``total_steps``. Steps past the end stay at ``end_lr``.
    """
    if step < warmup_steps:
        return start_lr + (base_lr - start_lr) * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    t = min((step - warmup_steps) / span, 1.0)
    return end_lr + (base_lr - end_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


class WarmupCosineSchedule:
    """Sets the LR of every group (times its ``lr_scale``) before each optimizer step.

    Call :meth:`step` once per optimizer step, before ``optimizer.step()``. The state is the
    number of steps taken, so a resumed run continues the same curve.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        base_lr: float,
        total_steps: int,
        warmup_steps: int,
        start_lr: float,
        end_lr: float,
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"the schedule needs at least one step, got total_steps={total_steps}")
        self.optimizer = optimizer
        self.base_lr = base_lr
        self.total_steps = total_steps
        self.warmup_steps = min(warmup_steps, total_steps)
        self.start_lr = start_lr
        self.end_lr = end_lr
        self.steps_taken = 0

    def lr_at(self, step: int) -> float:
        return warmup_cosine_lr(
            step,
            base_lr=self.base_lr,
            total_steps=self.total_steps,
            warmup_steps=self.warmup_steps,
            start_lr=self.start_lr,
            end_lr=self.end_lr,
        )

    def step(self) -> float:
        """Set the LR of the next optimizer step and return it (before group scales)."""
        lr = self.lr_at(self.steps_taken)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        self.steps_taken += 1
        return lr

    @property
    def last_lr(self) -> float:
        return self.lr_at(max(self.steps_taken - 1, 0))

    def _shape(self) -> dict:
        return {
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
        }

    def state_dict(self) -> dict:
        return {"steps_taken": self.steps_taken, **self._shape()}

    def load_state_dict(self, state: dict) -> None:
        saved = {k: state[k] for k in self._shape() if k in state}
        changed = {k: (v, self._shape()[k]) for k, v in saved.items() if v != self._shape()[k]}
        if changed:
            logger.warning("resumed schedule differs from the saved one (saved, now): %s", changed)
        self.steps_taken = int(state["steps_taken"])
