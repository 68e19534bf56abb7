"""The models of the speed benchmark, built with random weights and without downloads.

The registry's clip models (RegionViT-3D and the video peers of :mod:`videoregion.models.peers`), and two
benchmark-only peers the registry does not hold: pytorchvideo's mvit_base_16x4 (MViTv1-B) and
``transformers``' VideoMAE ViT-B (the architecture of ``vit3d_base`` in another implementation: a check
that ours is not the slower one). :data:`PEERS` holds every peer with the package it needs;
:func:`missing_requirement` says when that package is absent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from videoregion.models import create_model, list_models, model_info

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


def build_joint_vit(frames: int, size: int) -> nn.Module:
    return JointAttentionViT(num_frames=frames, img_size=size)


def build_registered(name: str, frames: int, size: int) -> nn.Module:
    """Registry model ``name`` for clips (B, 3, frames, size, size), NUM_CLASSES outputs."""
    kwargs = dict(num_frames=frames, num_classes=NUM_CLASSES)
    if "input_size" in model_info(name).options:  # built for one clip shape
        kwargs["input_size"] = size
    return create_model(name, **kwargs)


@dataclass(frozen=True)
class Peer:
    build: Callable[[int, int], nn.Module]
    requires: str  # top-level package that must be importable
    note: str


def _registered_peers() -> dict[str, Peer]:
    peers = {}
    for name in list_models("clip"):
        info = model_info(name)
        if info.is_peer:
            note = f"{info.source} {info.family} ({name} in videoregion.models.peers)"
            peers[name] = Peer(partial(build_registered, name), info.source, note)
    return peers


PEERS: dict[str, Peer] = {
    **_registered_peers(),
    "mvit_base_16x4": Peer(build_mvit, "pytorchvideo", "pytorchvideo hub mvit_base_16x4, pretrained=False"),
    "videomae_vit_b": Peer(build_joint_vit, "transformers",
                           "ViT-B joint space-time attention, transformers VideoMAEForVideoClassification"),
}


def known_models() -> list[str]:
    """Every model the benchmark can measure: the registry's clip models, then the benchmark-only peers."""
    registered = list_models("clip")
    return registered + [name for name in PEERS if name not in registered]


def build_benchmark_model(name: str, frames: int, size: int) -> nn.Module:
    """A video classifier with random weights, input (B, 3, frames, size, size), output (B, 400)."""
    torch.manual_seed(0)
    if name in PEERS:
        return PEERS[name].build(frames, size)
    return build_registered(name, frames, size)


def missing_requirement(name: str) -> str | None:
    """Why ``name`` cannot be measured here (its optional package is absent), or None."""
    peer = PEERS.get(name)
    if peer is not None and importlib.util.find_spec(peer.requires) is None:
        return f"{name} skipped: `{peer.requires}` is not installed (pip install {peer.requires})"
    return None
