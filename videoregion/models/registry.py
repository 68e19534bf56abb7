"""Model registry: architectures live in code as named variants, runs pick them by name."""

from __future__ import annotations

from typing import Callable

from torch import nn
from videoregion.errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``fn(**kwargs) -> nn.Module`` available as ``create_model(name)``."""

    def add(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = fn
        return fn

    return add


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_MODELS)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model with random weights; kwargs override the variant's defaults."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)
