"""Parameter groups (weight decay, layer-wise LR decay) and the optimizers that take them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from videoregion.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["build_optimizer", "param_groups", "OPTIMIZERS"]


def _skips_decay(name: str, param: torch.Tensor, skip: Iterable[str]) -> bool:
    """Norm weights and biases (1-D) and the tables the model names never get weight decay."""
    if param.ndim <= 1:
        return True
    return any(name == s or name.startswith(s + ".") for s in skip)


def param_groups(model: nn.Module, *, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    """Trainable parameters of ``model`` split into optimizer groups.

    Each group holds parameters with the same weight decay (0 for 1-D parameters and those in
    ``model.no_weight_decay()``) and, with ``layer_decay < 1``, the same layer id: its ``lr_scale``
    is ``layer_decay ** (num_layers - 1 - layer_id)`` (the scheduler multiplies it in), which needs
    ``model.layer_id(name)`` and ``model.num_layers``.
    """
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    use_layers = layer_decay != 1.0
    if use_layers and not (hasattr(model, "layer_id") and hasattr(model, "num_layers")):
        raise ConfigError(
            f"SOLVER.LAYER_DECAY is {layer_decay} but {type(model).__name__} has no layer_id()/num_layers"
        )
    groups: dict[tuple[bool, int], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = _skips_decay(name, param, skip)
        layer = model.layer_id(name) if use_layers else 0
        key = (no_decay, layer)
        if key not in groups:
            scale = layer_decay ** (model.num_layers - 1 - layer) if use_layers else 1.0
            groups[key] = {"params": [], "weight_decay": 0.0 if no_decay else weight_decay, "lr_scale": scale}
        groups[key]["params"].append(param)
    ordered = [groups[k] for k in sorted(groups)]
    logger.info(
        "optimizer groups: %d (%d tensors without weight decay)",
        len(ordered),
        sum(len(g["params"]) for g in ordered if g["weight_decay"] == 0.0),
    )
    return ordered


def _adamw(groups: list[dict], *, lr: float, betas: Sequence[float], **_: object) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, betas=(float(betas[0]), float(betas[1])))


def _sgd(groups: list[dict], *, lr: float, momentum: float, nesterov: bool, **_: object) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)


OPTIMIZERS = {"adamw": _adamw, "sgd": _sgd}


def build_optimizer(
    groups: list[dict],
    *,
    name: str,
    lr: float,
    betas: Sequence[float] = (0.9, 0.999),
    momentum: float = 0.9,
    nesterov: bool = True,
) -> torch.optim.Optimizer:
    """An optimizer over ``groups`` (each keeps its ``weight_decay`` and ``lr_scale``)."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"SOLVER.OPTIMIZING_METHOD {name!r} is not one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](groups, lr=lr, betas=betas, momentum=momentum, nesterov=nesterov)
