"""A tiny RegionViT that detects a moving bright square, for the explanation test (tests/test_explain.py).

    python -m tests.explain_detector   # retrains it (minutes on a CPU) into tests/assets/explain_detector.pt

Class 1 clips hold a square moving in a straight line over a background of random brightness and
noise; class 0 clips hold none, with their brightness raised by the square's share so that only
local contrast tells the classes apart: the trained model has to find the square.
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


def draw(background: float, path: list[tuple[int, int]] | None, noise: torch.Tensor) -> torch.Tensor:
    """(3, T, SIZE, SIZE) float clip in [0, 1]: the background, the square along ``path`` (None: no square)."""
    x = background + noise
    if path is None:
        x = x + 0.5 * SQUARE * SQUARE / (SIZE * SIZE)
    else:
        for t, (top, left) in enumerate(path):
            x[:, t, top : top + SQUARE, left : left + SQUARE] += 0.5
    return x.clamp(0, 1)


def batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, 2, (n,), generator=g)
    clips = []
    for label in labels.tolist():
        background = 0.1 + 0.3 * float(torch.rand((), generator=g))
        noise = 0.05 * torch.randn(3, FRAMES, SIZE, SIZE, generator=g)
        path = None
        if label:
            start = torch.randint(0, SIZE - SQUARE, (2,), generator=g).tolist()
            path = square_path(tuple(start), tuple(torch.randint(-10, 11, (2,), generator=g).tolist()))
        clips.append(draw(background, path, noise))
    return (torch.stack(clips) - 0.45) / 0.225, labels


def train(steps: int = 200, seed: int = 0) -> RegionViT:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = RegionViT(**ARCH)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    start, ema, best = time.time(), 0.7, 0.3
    for step in range(steps):
        x, y = batch(16, g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema = 0.9 * ema + 0.1 * loss.item()
        if step % 20 == 19:
            print(f"step {step + 1}: loss {ema:.3f} ({time.time() - start:.0f} s)", flush=True)
        if ema < best:  # the weights at the lowest running loss
            best = ema
            torch.save(model.state_dict(), WEIGHTS)
    return model.eval()


if __name__ == "__main__":
    os.makedirs(os.path.dirname(WEIGHTS), exist_ok=True)
    train()
