"""Which order of pixel statistics tells a time-reversed pair apart: why the rotation pair is hard.

A class and its partner are the same videos played the other way, so they can differ only in statistics
that change sign under time reversal. Three hand-made sets of them, each fit by an L2-regularised
logistic regression on the training videos and tested on the held-out ones (:func:`pair_statistics`):

- ``second order, pooled``: for every shift d up to ``radius`` px, the antisymmetric part of the
  correlation of frame t at p with frame t+1 at p - d, summed over the frame and over time: how much the
  image moves along d. It tells left from right, not a turn's direction, because the rim of a turning
  object moves in every direction at once;
- ``second order, per quadrant``: the same summed over each quarter of the frame: where in the frame the
  motion is (enough for a turn about a fixed point, such as ordergen's propeller about the frame centre);
- ``third order, pooled``: that correlation at p weighed by grad m(p) x d, m the clip's mean image:
  motion along d weighed by the side of p on which the (light) object lies. Clockwise motion has the
  object on the same side all round a turning object's rim, wherever the object is.

The clips are the main job's: 8 frames every 4th, the whole frame scaled to 56 px, grey.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .probe import ProbeData, clip_of

__all__ = ["STATISTICS", "motion_statistics", "pair_statistics"]

STATISTICS = ("second order, pooled", "second order, per quadrant", "third order, pooled")


def _grey_clips(videos: torch.Tensor, frames: int, stride: int, size: int) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 -> (N, frames, size, size) float, the first ``frames`` every ``stride``, grey."""
    return torch.stack([clip_of(video, 0, frames, stride, size).mean(0) for video in videos])


def motion_statistics(videos: torch.Tensor, kind: str, *, radius: int = 3, frames: int = 8, stride: int = 4,
                      size: int = 56) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 videos -> (N, features) statistics of ``kind`` (one of :data:`STATISTICS`)."""
    if kind not in STATISTICS:
        raise ValueError(f"unknown statistics {kind!r}; expected one of {STATISTICS}")
    x = _grey_clips(videos, frames, stride, size)
    mean = x.mean(1)  # (N, H, W): where the object is, over the clip
    grad_y = (torch.roll(mean, -1, 1) - torch.roll(mean, 1, 1)) / 2
    grad_x = (torch.roll(mean, -1, 2) - torch.roll(mean, 1, 2)) / 2
    x = x - x.mean(dim=(2, 3), keepdim=True)
    now, later = x[:, :-1], x[:, 1:]
    half = size // 2
    features = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if (dy, dx) <= (0, 0):  # d and -d give the same feature, negated
                continue
            shifted_later, shifted_now = (torch.roll(t, (dy, dx), dims=(2, 3)) for t in (later, now))
            flow = (now * shifted_later - later * shifted_now).mean(1)  # (N, H, W), odd under time reversal
            if kind == "second order, pooled":
                features.append(flow.mean(dim=(1, 2)))
            elif kind == "second order, per quadrant":
                features += [flow[:, i * half : (i + 1) * half, j * half : (j + 1) * half].mean(dim=(1, 2))
                             for i in range(2) for j in range(2)]
            else:
                features.append((flow * (grad_x * dy - grad_y * dx)).mean(dim=(1, 2)))
    return torch.stack(features, dim=1)


def _fit_and_test(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                  weight_decay: float = 1e-3) -> tuple[float, float]:
    """Binary logistic regression on standardised features; (train, test) accuracy in percent."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-12
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(train_x.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=200)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.binary_cross_entropy_with_logits(train_x @ weight + bias, train_y.float())
        value = value + weight_decay * weight.square().sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    with torch.no_grad():
        return tuple(100.0 * float(((x @ weight + bias > 0).long() == y).float().mean())
                     for x, y in ((train_x, train_y), (test_x, test_y)))


def pair_statistics(data: ProbeData, *, radius: int = 3) -> dict[str, tuple[float, float]]:
    """For two classes' rendered videos: statistics kind -> (train, test) accuracy of a linear classifier."""
    if len(data.classes) != 2:
        raise ValueError(f"the statistics compare two classes, got {len(data.classes)}")
    return {
        kind: _fit_and_test(motion_statistics(data.train_videos, kind, radius=radius), data.train_labels,
                            motion_statistics(data.test_videos, kind, radius=radius), data.test_labels)
        for kind in STATISTICS
    }
