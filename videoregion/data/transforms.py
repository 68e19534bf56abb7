"""Frames -> clip: spatial sampling and augmentation on uint8 video tensors.

Pure functions take an explicit ``torch.Generator``; the geometric work is done by
``torchvision.transforms.v2.functional`` on (T, C, H, W) video tensors (one set of parameters for
every frame of a clip). Two thin objects compose them:

- :class:`TrainTransform`: random short-side scale (done by the decoder: :meth:`decode_size`) and
  random crop, or random-resized crop; optional horizontal flip, RandAugment, random erasing.
- :class:`TestTransform`: short-side scale (by the decoder) and one of 1 or 3 spatial crops.

Both return (C, T, H, W) uint8; normalisation happens on the device (:mod:`.batch`).

RandAugment and RandomErasing come from torchvision.transforms.v2, which draws from torch's global
generator. :func:`seeded` is the one place that bridges the two: it runs such a transform under a
forked global RNG seeded from the item's generator, so results stay deterministic per item.
(pytorchvideo.transforms, the other candidate, does not import on this torchvision: it needs
the removed ``torchvision.transforms.functional_tensor``; nothing here imports it.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torchvision.transforms.v2 as T
import torchvision.transforms.v2.functional as F
from torchvision import tv_tensors

from videoregion.errors import ConfigError

__all__ = [
    "TestTransform",
    "TrainTransform",
    "horizontal_flip",
    "random_crop",
    "random_resized_crop",
    "resize_short_side",
    "sample_short_side",
    "seeded",
    "spatial_crop",
]


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """Uniform integer in [low, high] (inclusive)."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def sample_short_side(scales: Sequence[int], generator: torch.Generator | None) -> int:
    """A short-side length drawn uniformly from ``[scales[0], scales[1]]`` pixels."""
    low, high = int(scales[0]), int(scales[1])
    if not 0 < low <= high:
        raise ConfigError(f"scale range (DATA.TRAIN_JITTER_SCALES) must be 0 < min <= max, got {list(scales)}")
    return _randint(low, high, generator)


def resize_short_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(T, C, H, W) -> (T, C, H', W') with min(H', W') == size, aspect kept (antialiased)."""
    if min(frames.shape[-2:]) == size:
        return frames
    return F.resize(frames, [size], antialias=True)


def random_crop(frames: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    """A ``size`` x ``size`` crop at a uniform random position of (T, C, H, W) frames."""
    height, width = frames.shape[-2:]
    if height < size or width < size:
        frames = resize_short_side(frames, size)
        height, width = frames.shape[-2:]
    top = _randint(0, height - size, generator)
    left = _randint(0, width - size, generator)
    return frames[..., top : top + size, left : left + size]


def random_resized_crop(
    frames: torch.Tensor,
    size: int,
    generator: torch.Generator | None,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> torch.Tensor:
    """Inception-style crop (area fraction in ``scale``, log-uniform aspect in ``ratio``) -> size².

    Same sampling rule as torchvision's RandomResizedCrop.get_params, drawn from ``generator``;
    falls back to the largest centred crop of a clamped ratio.
    """
    height, width = frames.shape[-2:]
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(attempts):
        u = torch.rand(2, generator=generator, dtype=torch.float64)
        target_area = area * (scale[0] + (scale[1] - scale[0]) * float(u[0]))
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * float(u[1]))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = _randint(0, height - h, generator)
            left = _randint(0, width - w, generator)
            return F.resized_crop(frames, top, left, h, w, [size, size], antialias=True)
    aspect = width / height
    if aspect < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif aspect > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return F.resized_crop(frames, (height - h) // 2, (width - w) // 2, h, w, [size, size], antialias=True)


def horizontal_flip(frames: torch.Tensor, generator: torch.Generator | None, p: float = 0.5) -> torch.Tensor:
    """Mirror every frame with probability ``p`` (one draw per clip)."""
    if float(torch.rand((), generator=generator)) < p:
        return F.horizontal_flip(frames)
    return frames


def spatial_crop(frames: torch.Tensor, size: int, index: int, num_crops: int) -> torch.Tensor:
    """Test crop ``index`` of ``num_crops``: 1 = centre; 3 = start, centre, end of the long side."""
    if num_crops not in (1, 3):
        raise ConfigError(f"num_crops (TEST.NUM_SPATIAL_CROPS) must be 1 or 3, got {num_crops}")
    if not 0 <= index < num_crops:
        raise ValueError(f"spatial crop {index} outside [0, {num_crops})")
    height, width = frames.shape[-2:]
    if height < size or width < size:
        frames = resize_short_side(frames, size)
        height, width = frames.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    if num_crops == 3 and index != 1:
        if height > width:
            top = 0 if index == 0 else height - size
        else:
            left = 0 if index == 0 else width - size
    return frames[..., top : top + size, left : left + size]


def seeded(transform: Callable[[torch.Tensor], torch.Tensor], frames: torch.Tensor,
           generator: torch.Generator | None) -> torch.Tensor:
    """Run a global-RNG transform (torchvision v2) on a video, seeded from ``generator``.

    The global RNG state is saved and restored around the call, so other code is unaffected.
    """
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transform(tv_tensors.Video(frames)).as_subclass(torch.Tensor)


@dataclass(frozen=True)
class TrainTransform:
    """Train-time spatial sampling and augmentation: (T, C, H, W) -> (C, T, crop, crop) uint8.

    ``crop_mode`` "scale_crop": the decoder scales the short side to a size drawn from
    ``jitter_scales`` (:meth:`decode_size`), then a random ``crop_size`` crop.
    "random_resized_crop": full-size frames, then an Inception-style crop resized to ``crop_size``.
    """

    crop_size: int
    jitter_scales: tuple[int, int] = (256, 320)
    crop_mode: str = "scale_crop"
    rrc_scale: tuple[float, float] = (0.08, 1.0)
    rrc_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    rand_augment: T.RandAugment | None = None
    random_erasing: T.RandomErasing | None = None

    def __post_init__(self):
        if self.crop_mode not in ("scale_crop", "random_resized_crop"):
            raise ConfigError(f"unknown crop_mode (DATA.TRAIN_CROP_MODE) {self.crop_mode!r}; "
                              "expected scale_crop or random_resized_crop")

    def decode_size(self, generator: torch.Generator | None) -> int | None:
        """The short side the decoder should deliver (None: native size)."""
        if self.crop_mode == "random_resized_crop":
            return None
        return sample_short_side(self.jitter_scales, generator)

    def __call__(self, frames: torch.Tensor, generator: torch.Generator | None, spatial_view: int = 0) -> torch.Tensor:
        if self.crop_mode == "scale_crop":
            frames = random_crop(frames, self.crop_size, generator)
        else:
            frames = random_resized_crop(frames, self.crop_size, generator, self.rrc_scale, self.rrc_ratio)
        if self.flip:
            frames = horizontal_flip(frames, generator)
        if self.rand_augment is not None:
            frames = seeded(self.rand_augment, frames, generator)
        if self.random_erasing is not None:
            frames = seeded(self.random_erasing, frames, generator)
        return frames.permute(1, 0, 2, 3).contiguous()  # (T, C, H, W) -> (C, T, H, W)


@dataclass(frozen=True)
class TestTransform:
    """Test-time view: short side scaled to ``crop_size`` by the decoder, then crop ``spatial_view``.

    (T, C, H, W) -> (C, T, crop_size, crop_size) uint8; deterministic.
    """

    __test__ = False  # not a pytest test class despite the name

    crop_size: int
    num_crops: int = 1

    def decode_size(self, generator: torch.Generator | None = None) -> int:
        return self.crop_size

    def __call__(
        self, frames: torch.Tensor, generator: torch.Generator | None = None, spatial_view: int = 0
    ) -> torch.Tensor:
        frames = spatial_crop(frames, self.crop_size, spatial_view, self.num_crops)
        return frames.permute(1, 0, 2, 3).contiguous()  # (T, C, H, W) -> (C, T, H, W)
