"""A small, fast learning probe: a few synthetic classes rendered into memory, one model, the main job's recipe.

Used to find out which model, recipe or data change lets a model learn a pair of classes (the rotation pair
of the README's "Main job"), minutes per try instead of a full run: no encoding or decoding, no loader;
clips are cut, scaled and cropped as the main job's training transform does (8 frames every 4th, scale
jitter 56-64 px, random 56 px crop), normalised with ImageNet's mean and std, and trained with AdamW
(weight decay 0.05), linear warmup over 1/12 of the steps, then a cosine. Test: 2 clips (start and end) per
held-out video, centre crop, softmax averaged, as the main job tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .classes import CLASSES, partner
from .params import sample_params, video_rng
from .render import render_frames

__all__ = ["ProbeData", "ProbeResult", "clip_of", "make_probe_data", "paired", "train_probe"]

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)
_TEST_OFFSET = 100_000  # test videos come from video indices no training video uses


@dataclass
class ProbeData:
    """Rendered videos, (N, T, H, W, 3) uint8, and their labels (positions in ``classes``)."""

    classes: tuple[int, ...]
    train_videos: torch.Tensor
    train_labels: torch.Tensor
    test_videos: torch.Tensor
    test_labels: torch.Tensor


@dataclass
class ProbeResult:
    top1: float
    per_class: list[float]
    curve: list[tuple[int, float, float]]  # (step, running loss, test top-1)
    seconds: float


def _render(classes: Sequence[int], first: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    videos, labels = [], []
    for label, class_index in enumerate(classes):
        motion = CLASSES[class_index].motion
        for video_index in range(first, first + count):
            params = sample_params(video_rng(seed, class_index, video_index), motion=motion)
            videos.append(torch.from_numpy(render_frames(class_index, params)))
            labels.append(label)
    return torch.stack(videos), torch.tensor(labels)


def make_probe_data(classes: Sequence[int], *, train_videos: int, test_videos: int, seed: int = 0) -> ProbeData:
    """``train_videos`` and ``test_videos`` per class, drawn as the generator draws them (independent per class)."""
    for c in classes:
        if not 0 <= c < len(CLASSES):
            raise ValueError(f"class index {c} out of range [0, {len(CLASSES)})")
    train = _render(classes, 0, train_videos, seed)
    test = _render(classes, _TEST_OFFSET, test_videos, seed)
    return ProbeData(tuple(classes), *train, *test)


def paired(data: ProbeData) -> ProbeData:
    """``data`` with every training video also played backwards, labelled as its partner class.

    A synthetic video played backwards is a video of the partner class (:func:`~.params.reverse_params`),
    so each object and its motion appear in both directions with both labels: what the video shows no
    longer tells the class, only the direction of its motion does. A model that fits these training videos
    has found a direction feature; one that cannot stays at chance (loss ln 2 for two classes) instead of
    memorising the videos. Every class's partner must be among ``data.classes``; the test videos are kept.
    """
    position = {c: i for i, c in enumerate(data.classes)}
    missing = [CLASSES[c].name for c in data.classes if partner(c) not in position]
    if missing:
        raise ValueError(f"paired training needs each class's partner: none for {', '.join(missing)}")
    partner_label = torch.tensor([position[partner(c)] for c in data.classes])
    return ProbeData(data.classes, torch.cat([data.train_videos, data.train_videos.flip(1)]),
                     torch.cat([data.train_labels, partner_label[data.train_labels]]),
                     data.test_videos, data.test_labels)


def clip_of(video: torch.Tensor, start: int, frames: int, stride: int, scale: int) -> torch.Tensor:
    """Frames start, start + stride, ... of ``video``: (T, H, W, 3) uint8 -> (3, frames, scale, scale) float
    in [0, 1] (the probes' and the statistics' one frame sampler)."""
    index = torch.arange(start, start + (frames - 1) * stride + 1, stride)
    clip = video[index].permute(3, 0, 1, 2).float() / 255
    if scale != clip.shape[-1]:
        clip = F.interpolate(clip, size=(scale, scale), mode="bilinear", align_corners=False)
    return clip


def _train_batch(data: ProbeData, g: torch.Generator, *, batch: int, frames: int, stride: int, crop: int,
                 max_scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    picks = torch.randint(len(data.train_videos), (batch,), generator=g)
    span = (frames - 1) * stride + 1
    clips = []
    for i in picks.tolist():
        video = data.train_videos[i]
        start = int(torch.randint(video.shape[0] - span + 1, (1,), generator=g))
        scale = int(torch.randint(crop, max_scale + 1, (1,), generator=g))
        y, x = (int(torch.randint(scale - crop + 1, (1,), generator=g)) for _ in range(2))
        clips.append(clip_of(video, start, frames, stride, scale)[:, :, y : y + crop, x : x + crop])
    return (torch.stack(clips) - _MEAN) / _STD, data.train_labels[picks]


def _test_views(data: ProbeData, *, frames: int, stride: int, crop: int) -> list[torch.Tensor]:
    length, size = data.test_videos.shape[1:3]
    span = (frames - 1) * stride + 1
    views = []
    for start in sorted({0, length - span}):
        o = (size - crop) // 2
        clips = [clip_of(v, start, frames, stride, size)[:, :, o : o + crop, o : o + crop] for v in data.test_videos]
        views.append((torch.stack(clips) - _MEAN) / _STD)
    return views


@torch.no_grad()
def _evaluate(model: nn.Module, views: list[torch.Tensor], labels: torch.Tensor, num_classes: int):
    model.eval()
    scores = sum(torch.cat([model(v[i : i + 32]).softmax(-1) for i in range(0, len(v), 32)]) for v in views)
    model.train()
    pred = scores.argmax(-1)
    per_class = [100.0 * float((pred[labels == k] == k).float().mean()) for k in range(num_classes)]
    return 100.0 * float((pred == labels).float().mean()), per_class


def train_probe(
    model: nn.Module, data: ProbeData, *, steps: int, lr: float = 3e-4, batch: int = 16, frames: int = 8,
    stride: int = 4, crop: int = 56, max_scale: int = 64, seed: int = 0, evals: int = 6,
    log: Callable[[str], None] | None = None,
) -> ProbeResult:
    """Train ``model`` (output: len(data.classes) logits) for ``steps`` AdamW steps; test ``evals`` times."""
    if (frames - 1) * stride + 1 > data.train_videos.shape[1]:
        raise ValueError(f"{frames} frames every {stride} do not fit in {data.train_videos.shape[1]}-frame videos")
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    warmup = max(1, steps // 12)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    views = _test_views(data, frames=frames, stride=stride, crop=crop)
    num_classes = len(data.classes)
    curve, running, start = [], 0.0, time.perf_counter()
    every = max(1, steps // max(1, evals))
    model.train()
    for step in range(1, steps + 1):
        x, y = _train_batch(data, g, batch=batch, frames=frames, stride=stride, crop=crop, max_scale=max_scale)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        running = loss.item() if step == 1 else 0.95 * running + 0.05 * loss.item()
        if not math.isfinite(running):
            raise FloatingPointError(f"the training loss is {running} at step {step}")
        if step % every == 0 or step == steps:
            top1, per_class = _evaluate(model, views, data.test_labels, num_classes)
            curve.append((step, running, top1))
            if log is not None:
                log(f"step {step}/{steps}  loss {running:.3f}  test top-1 {top1:.1f}%  per class "
                    + " ".join(f"{a:.0f}" for a in per_class) + f"  ({time.perf_counter() - start:.0f} s)")
    top1, per_class = _evaluate(model, views, data.test_labels, num_classes)
    return ProbeResult(top1, per_class, curve, time.perf_counter() - start)
