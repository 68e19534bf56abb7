"""A tiny RegionViT that finds a moving bright square in every frame, for the explanation test
(tests/test_explain.py).

    python -m tests.explain_detector   # retrains it into tests/assets/explain_detector.pt (~3 min, 2 cores)

Class 1 clips hold a square moving in a straight line over a background of random brightness and
noise, in every frame. Class 0 clips hold it in no frame, or only in the first or only in the second
local time step (frames 0-1 or 2-3); a frame without the square has its brightness raised by the
square's share, so that only local contrast tells them apart. To say "class 1" the trained model has
to find the square in each time step, so a true heat map sits on it in every frame (a detector that
only had to find the square somewhere learned to rely on some frames, and a faithful map ignored the
others).
"""

from __future__ import annotations

import os
import time

import torch
import torch.nn.functional as F

from videoregion.models.regionvit import RegionViT

SIZE, FRAMES, SQUARE = 112, 4, 16
ARCH = dict(dims=(8, 16, 32, 64), depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2), num_frames=FRAMES, num_classes=2)
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "explain_detector.pt")


def square_path(start: tuple[int, int], step: tuple[int, int], frames: int = FRAMES) -> list[tuple[int, int]]:
    """Top-left corners of the square in each frame, kept inside the picture."""
    top, left = start
    return [(min(max(top + step[0] * t, 0), SIZE - SQUARE), min(max(left + step[1] * t, 0), SIZE - SQUARE))
            for t in range(frames)]


SHOWN = {"all": (1, 1, 1, 1), "none": (0, 0, 0, 0), "first": (1, 1, 0, 0), "second": (0, 0, 1, 1)}


def draw(background: float, path: list[tuple[int, int]], noise: torch.Tensor,
         shown: tuple[int, ...] = SHOWN["all"]) -> torch.Tensor:
    """(3, T, SIZE, SIZE) float clip in [0, 1]: the background, the square along ``path`` in the frames
    ``shown`` marks; the other frames brightened by the square's share of the picture."""
    x = background + noise
    for t in range(FRAMES):
        if shown[t]:
            top, left = path[t]
            x[:, t, top : top + SQUARE, left : left + SQUARE] += 0.5
        else:
            x[:, t] += 0.5 * SQUARE * SQUARE / (SIZE * SIZE)
    return x.clamp(0, 1)


def batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, 2, (n,), generator=g)
    clips = []
    for label in labels.tolist():
        background = 0.1 + 0.3 * float(torch.rand((), generator=g))
        noise = 0.05 * torch.randn(3, FRAMES, SIZE, SIZE, generator=g)
        start = torch.randint(0, SIZE - SQUARE, (2,), generator=g).tolist()
        path = square_path(tuple(start), tuple(torch.randint(-10, 11, (2,), generator=g).tolist()))
        shown = SHOWN["all"] if label else SHOWN[("none", "first", "second")[int(torch.randint(0, 3, (), generator=g))]]
        clips.append(draw(background, path, noise, shown))
    return (torch.stack(clips) - 0.45) / 0.225, labels


def train(steps: int = 1500, seed: int = 0) -> RegionViT:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = RegionViT(**ARCH)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    start, ema = time.time(), 0.7
    for step in range(steps):
        x, y = batch(16, g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema = 0.9 * ema + 0.1 * loss.item()
        if step % 100 == 99:
            print(f"step {step + 1}: loss {ema:.3f} ({time.time() - start:.0f} s)", flush=True)
    torch.save(model.state_dict(), WEIGHTS)
    return model.eval()


if __name__ == "__main__":
    os.makedirs(os.path.dirname(WEIGHTS), exist_ok=True)
    train()
