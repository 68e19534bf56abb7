"""Stand-ins shared by the engine tests: a tiny video classifier, an in-memory loader, and the tiny
run_net job (config and generated dataset) that the end-to-end tests train."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import yaml
from torch import nn

from videoregion.config import load_config
from videoregion.synthetic.build import ensure_dataset

# A run_net job that trains the smallest RegionViT for 2 epochs on a 2-class generated dataset of
# 32 px videos, 28 px crops of 4 frames: a few seconds on one CPU thread. regionvit3d_nano, not _tiny:
# an iteration costs 0.14 s instead of 1 s, and a checkpoint 25 MB instead of 220.
TINY_RUN = {
    "MODEL": {"NAME": "regionvit3d_nano", "NUM_CLASSES": 2, "DROP_PATH_RATE": 0.0},
    "DATA": {"DATASET": "kinetics", "NUM_FRAMES": 4, "SAMPLING_RATE": 2, "TRAIN_JITTER_SCALES": [28, 32],
             "TRAIN_CROP_SIZE": 28, "TEST_CROP_SIZE": 28, "RANDOM_FLIP": False},
    "SYNTHETIC": {"GENERATE": True, "VIDEOS_PER_CLASS": 8, "SIZE": 32, "NUM_FRAMES": 16},
    "SOLVER": {"BASE_LR": 1e-3, "BASE_BATCH_SIZE": 4, "MAX_EPOCH": 2, "WARMUP_EPOCHS": 0.5},
    "TRAIN": {"BATCH_SIZE": 4},
    "TEST": {"ENABLE": False},
    "DATA_LOADER": {"NUM_WORKERS": 0},
    "NUM_GPUS": 0,
    "LOG_PERIOD": 1,
}


def tiny_run_config(data: str | os.PathLike, **overrides) -> str:
    """The YAML of :data:`TINY_RUN` on the dataset folder ``data`` (its videos in ``data/videos``).

    ``SECTION__KEY=value`` sets one key of a section (``TEST__ENABLE=True``), ``KEY=value`` a top-level
    one (``OUTPUT_DIR=...``).
    """
    cfg = {key: dict(value) if isinstance(value, dict) else value for key, value in TINY_RUN.items()}
    cfg["DATA"].update(PATH_TO_DATA_DIR=str(data), PATH_PREFIX=os.path.join(str(data), "videos"))
    for name, value in overrides.items():
        section, _, key = name.rpartition("__")
        (cfg.setdefault(section, {}) if section else cfg)[key] = str(value) if isinstance(value, Path) else value
    return yaml.safe_dump(cfg, sort_keys=False)


def write_tiny_run(path: str | os.PathLike, data: str | os.PathLike, *, generate: bool = True,
                   **overrides) -> Path:
    """Write :func:`tiny_run_config` to ``path``; with ``generate``, also generate its dataset here, as run_net
    would (SYNTHETIC.GENERATE), so that run_net only checks it."""
    path = Path(path)
    path.write_text(tiny_run_config(data, **overrides))
    if generate:
        ensure_dataset(load_config([str(path)]), main_process=True)
    return path


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
