"""Exponential moving average of model weights."""

from __future__ import annotations

import copy

import torch
from torch import nn

from videoregion.errors import ConfigError

__all__ = ["ModelEma"]


class ModelEma:
    """A frozen copy of a model whose floating weights track ``decay * ema + (1 - decay) * model``.

    Buffers that are not floating (counters) are copied. ``module`` is evaluated like the model.
    """

    def __init__(self, model: nn.Module, *, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"SOLVER.EMA_DECAY must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step towards ``model`` (the bare model, not a DDP wrapper)."""
        ema_state = self.module.state_dict()
        for name, value in model.state_dict().items():
            target = ema_state[name]
            if target.is_floating_point():
                target.lerp_(value.detach().to(target.dtype), 1.0 - self.decay)
            else:
                target.copy_(value)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
