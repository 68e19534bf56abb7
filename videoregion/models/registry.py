"""Model registry: architectures live in code as named variants, runs pick them by name.

Each entry pairs a builder with a :class:`ModelInfo` saying what the model takes (images or clips,
default clip length, default input size), so that callers ask the registry instead of parsing names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import nn

from videoregion.errors import ConfigError

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]

InputKind = Literal["image", "clip"]
INPUT_KINDS: tuple[InputKind, ...] = ("image", "clip")


@dataclass(frozen=True)
class ModelInfo:
    """What a registered model takes.

    ``input`` is "image" for (B, 3, H, W) or "clip" for (B, 3, T, H, W); ``num_frames`` is a clip
    model's default T (None for images); ``input_size`` is the height and width it is defined at.
    """

    name: str
    input: InputKind
    input_size: int
    num_frames: int | None = None

    def __post_init__(self) -> None:
        if self.input not in INPUT_KINDS:
            raise ValueError(f"{self.name}: input must be one of {INPUT_KINDS}, got {self.input!r}")
        if (self.num_frames is None) != (self.input == "image"):
            raise ValueError(f"{self.name}: num_frames is given for clip models and only for them")

    @property
    def takes_clips(self) -> bool:
        return self.input == "clip"


_MODELS: dict[str, tuple[Callable[..., nn.Module], ModelInfo]] = {}


def register_model(
    *, input: InputKind, input_size: int = 224, num_frames: int | None = None
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``fn(**kwargs) -> nn.Module`` available as ``create_model(fn.__name__)``.

    The keyword arguments become the entry's :class:`ModelInfo`.
    """

    def add(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = (fn, ModelInfo(name=name, input=input, input_size=input_size, num_frames=num_frames))
        return fn

    return add


def list_models(kind: InputKind | None = None) -> list[str]:
    """Names of the registered models, sorted; only those taking ``kind`` ("image" or "clip") if given."""
    if kind is not None and kind not in INPUT_KINDS:
        raise ValueError(f"kind must be one of {INPUT_KINDS} or None, got {kind!r}")
    return sorted(name for name, (_, info) in _MODELS.items() if kind is None or info.input == kind)


def model_info(name: str) -> ModelInfo:
    """What the registered model ``name`` takes; ConfigError if there is none of that name."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _MODELS[name][1]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model with random weights; kwargs override the variant's defaults."""
    model_info(name)  # a clear error for unknown names
    return _MODELS[name][0](**kwargs)
