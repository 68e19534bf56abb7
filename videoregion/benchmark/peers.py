"""The video peers of the speed benchmark, built with random weights and without downloads.

pytorchvideo's mvit_base_16x4 and x3d_m, and a joint space-time attention ViT-B (VideoMAE's layout,
from ``transformers``). Their packages are optional and imported when a peer is built;
:func:`missing_requirement` says which one is absent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from videoregion.models import create_model, list_models

__all__ = ["NUM_CLASSES", "PEERS", "Peer", "build_benchmark_model", "known_models", "missing_requirement"]

NUM_CLASSES = 400


class JointAttentionViT(nn.Module):
    """ViT-B with joint space-time attention over 2x16x16 tubelets (VideoMAE's classifier), random weights.

    Input (B, 3, T, H, W) like every model here; transformers wants (B, T, 3, H, W).
    """

    def __init__(self, *, num_frames: int, img_size: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        from transformers import VideoMAEConfig, VideoMAEForVideoClassification  # optional, heavy

        config = VideoMAEConfig(
            image_size=img_size, num_frames=num_frames, tubelet_size=2, patch_size=16, hidden_size=768,
            num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, num_labels=num_classes,
            attn_implementation="sdpa",
        )
        self.model = VideoMAEForVideoClassification(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x.transpose(1, 2)).logits


def build_mvit(frames: int, size: int) -> nn.Module:
    from pytorchvideo.models.hub import mvit_base_16x4

    return mvit_base_16x4(pretrained=False, temporal_size=frames, spatial_size=size, head_num_classes=NUM_CLASSES)


def build_x3d_m(frames: int, size: int) -> nn.Module:
    # The hub's x3d_m is create_x3d with these two settings at 16 x 224 (its signature fixes them).
    from pytorchvideo.models.x3d import create_x3d

    return create_x3d(input_clip_length=frames, input_crop_size=size, model_num_class=NUM_CLASSES)


def build_joint_vit(frames: int, size: int) -> nn.Module:
    return JointAttentionViT(num_frames=frames, img_size=size)


@dataclass(frozen=True)
class Peer:
    build: Callable[[int, int], nn.Module]
    requires: str  # top-level package that must be importable
    note: str


PEERS: dict[str, Peer] = {
    "mvit_base_16x4": Peer(build_mvit, "pytorchvideo", "pytorchvideo hub mvit_base_16x4, pretrained=False"),
    "x3d_m": Peer(build_x3d_m, "pytorchvideo", "pytorchvideo x3d_m (create_x3d), pretrained=False"),
    "videomae_vit_b": Peer(build_joint_vit, "transformers",
                           "ViT-B joint space-time attention, transformers VideoMAEForVideoClassification"),
}


def known_models() -> list[str]:
    """Every model the benchmark can measure: the registry's clip models, then the peers."""
    return list_models("clip") + list(PEERS)


def build_benchmark_model(name: str, frames: int, size: int) -> nn.Module:
    """A video classifier with random weights, input (B, 3, frames, size, size), output (B, 400)."""
    torch.manual_seed(0)
    if name in PEERS:
        return PEERS[name].build(frames, size)
    return create_model(name, num_frames=frames, num_classes=NUM_CLASSES)


def missing_requirement(name: str) -> str | None:
    """Why ``name`` cannot be measured here (its optional package is absent), or None."""
    peer = PEERS.get(name)
    if peer is not None and importlib.util.find_spec(peer.requires) is None:
        return f"{name} skipped: `{peer.requires}` is not installed (pip install {peer.requires})"
    return None
