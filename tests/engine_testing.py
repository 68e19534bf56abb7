"""Stand-ins shared by the engine tests: a tiny video classifier and an in-memory loader."""

from __future__ import annotations

import torch
from torch import nn


class TinyVideoNet(nn.Module):
    """(B, 3, T, H, W) -> (B, num_classes), with the model interface the engine relies on."""

    def __init__(self, num_classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv3d(3, width, kernel_size=3, padding=1)
        self.time_embed = nn.Parameter(torch.zeros(1, width, 4, 1, 1))
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(0.2)  # randomness a resumed run must replay
        self.head = nn.Linear(width, num_classes)
        self.num_classes = num_classes
        self.num_layers = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.time_embed[:, :, : x.shape[2]].mean(dim=2, keepdim=True)
        x = x.relu().mean(dim=(2, 3, 4))  # (B, width)
        return self.head(self.drop(self.norm(x)))

    def no_weight_decay(self) -> set[str]:
        return {"time_embed"}

    def layer_id(self, name: str) -> int:
        return 0 if name.startswith(("stem", "time_embed")) else (1 if name.startswith("norm") else 2)


def make_batches(
    num_batches: int, batch_size: int, num_classes: int = 4, *, seed: int = 0, views: int = 1
) -> list[dict]:
    """Batches shaped like the data pipeline's: uint8 clips (B, 3, 4, 8, 8), labels, video/view indices.

    The class is encoded in the clip's mean brightness so a model can learn it.
    """
    g = torch.Generator().manual_seed(seed)
    batches = []
    n = 0
    for _ in range(num_batches):
        labels = torch.randint(0, num_classes, (batch_size,), generator=g)
        base = (labels.float() * 200 / max(num_classes - 1, 1))[:, None, None, None, None]
        noise = torch.randint(0, 40, (batch_size, 3, 4, 8, 8), generator=g).float()
        clips = (base + noise).clamp(0, 255).to(torch.uint8)
        index = torch.arange(n, n + batch_size)
        n += batch_size
        batches.append({
            "clip": clips,
            "label": labels,
            "video_index": index // views,
            "view_index": index % views,
            "path": [f"video_{int(v)}.mp4" for v in index // views],
        })
    return batches


def batch_transform(batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 -> normalised float on ``device``; int labels."""
    clips = batch["clip"].to(device).float().div(255.0).sub(0.5).div(0.25)
    return clips, batch["label"].to(device)
