"""Model registry: architectures live in code as named variants, runs pick them by name.

Each entry pairs a builder with a :class:`ModelInfo` saying what the model takes (images or clips,
default clip length and input size, the build options it accepts, the clip shapes it can take), so
that callers ask the registry instead of parsing names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from torch import nn

from videoregion.errors import ConfigError

__all__ = ["BUILD_OPTIONS", "ModelInfo", "create_model", "list_models", "model_info", "register_model"]

InputKind = Literal["image", "clip"]
INPUT_KINDS: tuple[InputKind, ...] = ("image", "clip")

# Every keyword a builder may take besides num_classes; each entry declares the subset it takes.
BUILD_OPTIONS = frozenset(
    {"num_frames", "input_size", "drop_path_rate", "head_dropout", "grad_checkpointing", "tubelet_size",
     "region_steps", "stem_time_kernel"}
)
# What RegionViT takes, the registry's default.
_REGIONVIT_OPTIONS: dict[str, frozenset[str]] = {
    "image": frozenset({"drop_path_rate", "head_dropout", "grad_checkpointing"}),
    "clip": frozenset({"drop_path_rate", "head_dropout", "grad_checkpointing", "num_frames", "tubelet_size",
                       "region_steps", "stem_time_kernel"}),
}

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class ModelInfo:
    """What a registered model takes.

    ``input`` is "image" for (B, 3, H, W) or "clip" for (B, 3, T, H, W); ``num_frames`` is a clip
    model's default T (None for images); ``input_size`` is the height and width it is defined at (for
    a peer: its published input). ``family`` names the architecture ("regionvit", "swin3d", ...) and
    ``source`` the package whose code it runs ("videoregion", "torchvision", "pytorchvideo").
    ``options``: the build keywords it takes besides ``num_classes`` (a subset of BUILD_OPTIONS).
    ``fixed_input``: built for one clip shape (its position tables or pooling windows are sized from
    ``num_frames`` and ``input_size``), so it runs only on clips of that shape. ``frame_multiple``,
    ``min_frames``, ``size_multiple``, ``min_size``: the clip shapes it can take at all (a builder
    that takes ``tubelet_size`` also needs frames in whole tubelets). ``mean`` / ``std``: the published
    recipe's normalisation where it differs from ours (documentation; runs keep DATA.MEAN / DATA.STD).
    """

    name: str
    input: InputKind
    input_size: int
    num_frames: int | None = None
    family: str = "regionvit"
    source: str = "videoregion"
    options: frozenset[str] = frozenset()
    fixed_input: bool = False
    frame_multiple: int = 1
    min_frames: int = 1
    size_multiple: int = 1
    min_size: int = 1
    mean: RGB | None = None
    std: RGB | None = None

    def __post_init__(self) -> None:
        if self.input not in INPUT_KINDS:
            raise ValueError(f"{self.name}: input must be one of {INPUT_KINDS}, got {self.input!r}")
        if (self.num_frames is None) != (self.input == "image"):
            raise ValueError(f"{self.name}: num_frames is given for clip models and only for them")
        if not self.options <= BUILD_OPTIONS:
            raise ValueError(f"{self.name}: unknown build options {sorted(self.options - BUILD_OPTIONS)}")
        if self.fixed_input and not {"num_frames", "input_size"} <= self.options:
            raise ValueError(f"{self.name}: a fixed-input model must take num_frames and input_size")

    @property
    def takes_clips(self) -> bool:
        return self.input == "clip"

    @property
    def is_peer(self) -> bool:
        """Not one of ours (RegionViT): a model we compare against."""
        return self.family != "regionvit"

    def input_problem(self, frames: int | None, size: int, *, tubelet_size: int = 1) -> str | None:
        """What keeps this model from clips of ``frames`` x ``size`` x ``size`` (None: nothing).

        Covers the declared constraints; ``tubelet_size`` adds the whole-tubelet rule for models that
        take one. A fixed-input model's build shape is the caller's to compare.
        """
        multiple = self.frame_multiple * (tubelet_size if "tubelet_size" in self.options else 1)
        if frames is not None and (frames < self.min_frames or frames % multiple):
            return f"{self.name} takes clips of {_needs(multiple, self.min_frames)} frames"
        if size < self.min_size or size % self.size_multiple:
            return f"{self.name} takes clips of {_needs(self.size_multiple, self.min_size)} px"
        return None


def _needs(multiple: int, least: int) -> str:
    """"a multiple of 4", "at least 13", or both."""
    needs = ([f"a multiple of {multiple}"] if multiple > 1 else []) + ([f"at least {least}"] if least > 1 else [])
    return " and ".join(needs) or "at least 1"


_MODELS: dict[str, tuple[Callable[..., nn.Module], ModelInfo]] = {}


def register_model(
    *,
    input: InputKind,
    input_size: int = 224,
    num_frames: int | None = None,
    options: Iterable[str] | None = None,
    **info,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``fn(**kwargs) -> nn.Module`` available as ``create_model(fn.__name__)``.

    The keyword arguments become the entry's :class:`ModelInfo`; ``options`` defaults to RegionViT's.
    """

    def add(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        taken = _REGIONVIT_OPTIONS[input] if options is None else frozenset(options)
        _MODELS[name] = (fn, ModelInfo(name=name, input=input, input_size=input_size, num_frames=num_frames,
                                       options=taken, **info))
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
    """Build a registered model with random weights; kwargs override the variant's defaults.

    A build option (BUILD_OPTIONS) the model does not take is a ConfigError naming it; other keywords
    go to the builder as they are.
    """
    info = model_info(name)  # a clear error for unknown names
    unknown = sorted((set(kwargs) & BUILD_OPTIONS) - info.options)
    if unknown:
        raise ConfigError(f"{name} does not take {', '.join(unknown)} (it takes num_classes"
                          f"{''.join(', ' + o for o in sorted(info.options))})")
    return _MODELS[name][0](**kwargs)
