"""Batch -> model input on the device: normalisation, and mixup / cutmix with label smoothing.

Clips travel to the device as uint8 (a quarter of the bytes of float32, pinned memory,
non-blocking copy); the float conversion, normalisation and mixing run there.

    transform = BatchTransform(mean, std, num_classes, mixup=Mixup(...))
    clips, targets = transform(batch, device)  # (B, C, T, H, W) float32, (B, K) or (B,)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

__all__ = ["BatchTransform", "Mixup", "cutmix_box", "denormalize", "mix_batch", "normalize", "smooth_one_hot"]


def normalize(clips: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(B, C, T, H, W) uint8 -> float32 ``(x / 255 - mean) / std`` per channel (0-1 scale stats)."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=clips.device).view(1, -1, 1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=clips.device).view(1, -1, 1, 1, 1)
    return clips.float().sub_(mean_t * 255).div_(std_t * 255)


def denormalize(clips: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """The inverse of :func:`normalize`: (B, C, T, H, W) float -> uint8, rounded and clamped to [0, 255]."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=clips.device).view(1, -1, 1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=clips.device).view(1, -1, 1, 1, 1)
    return (clips.float() * (std_t * 255) + mean_t * 255).round_().clamp_(0, 255).to(torch.uint8)


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """(B,) int64 -> (B, K) float: ``1 - smoothing + smoothing / K`` on the label, ``smoothing / K`` elsewhere."""
    off = smoothing / num_classes
    targets = torch.full((labels.shape[0], num_classes), off, device=labels.device)
    return targets.scatter_(1, labels.view(-1, 1), 1.0 - smoothing + off)


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a box covering about ``1 - lam`` of the frame, centred at random."""
    cut = np.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height)
    left, right = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width)
    return int(top), int(bottom), int(left), int(right)


def mix_batch(
    clips: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    generator: torch.Generator,
    *,
    mixup_alpha: float = 0.8,
    cutmix_alpha: float = 1.0,
    prob: float = 1.0,
    switch_prob: float = 0.5,
    smoothing: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each clip with the batch reversed (mixup, or cutmix on the same box in every frame).

    clips (B, C, T, H, W) float, labels (B,) int64 -> mixed clips, soft targets (B, num_classes).
    With probability ``prob`` a mix happens; cutmix is chosen with ``switch_prob`` when both
    alphas are positive. The cutmix weight is corrected to the box's true area.
    """
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=generator)))
    targets = smooth_one_hot(labels, num_classes, smoothing)
    use_mixup, use_cutmix = mixup_alpha > 0, cutmix_alpha > 0
    if not (use_mixup or use_cutmix) or rng.random() >= prob:
        return clips, targets
    cutmix = use_cutmix and (not use_mixup or rng.random() < switch_prob)
    lam = float(rng.beta(cutmix_alpha, cutmix_alpha) if cutmix else rng.beta(mixup_alpha, mixup_alpha))
    if cutmix:
        height, width = clips.shape[-2:]
        top, bottom, left, right = cutmix_box(height, width, lam, rng)
        clips = clips.clone()
        clips[..., top:bottom, left:right] = clips.flip(0)[..., top:bottom, left:right]
        lam = 1.0 - (bottom - top) * (right - left) / (height * width)
    else:
        clips = clips.mul(lam).add_(clips.flip(0), alpha=1.0 - lam)
    return clips, targets.mul(lam).add_(targets.flip(0), alpha=1.0 - lam)


@dataclass(frozen=True)
class Mixup:
    """Settings of :func:`mix_batch`."""

    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    prob: float = 1.0
    switch_prob: float = 0.5
    smoothing: float = 0.1


class BatchTransform:
    """``(batch, device) -> (clips, targets)``: copy, normalise and (in training) mix on the device.

    Targets are int64 labels (B,) without mixing, soft (B, num_classes) with it. ``seed`` fixes
    the mixing draws (one generator per transform, advanced every batch).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], num_classes: int,
                 mixup: Mixup | None = None, seed: int = 0):
        self.mean, self.std = list(mean), list(std)
        self.num_classes = num_classes
        self.mixup = mixup
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, batch: dict, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        clips = batch["clip"].to(device, non_blocking=True)
        labels = batch["label"].to(device, non_blocking=True)
        clips = normalize(clips, self.mean, self.std)
        if self.mixup is None:
            return clips, labels
        return mix_batch(clips, labels, self.num_classes, self.generator, **asdict(self.mixup))
