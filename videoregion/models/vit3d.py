"""A plain ViT with joint space-time attention over tubelets: the video transformer baseline.

The layout of ViViT's "spatio-temporal attention" model and of VideoMAE's classifier: a Conv3d cuts the
clip into tubelets (2 x 16 x 16 for ViT-B), every tubelet attends to every other in pre-norm blocks,
the tokens are mean-pooled, normalised and classified. Position is a fixed 3D sine-cosine table made
for the token grid of each input (a third of the channels each for t, y and x), so one model takes any
clip whose frames and pixels are whole tubelets. Its variants are registered in :mod:`.peers`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from videoregion.errors import ConfigError

from .regionvit import DropPath, Mlp

__all__ = ["VisionTransformer3d", "sincos_position_table"]


def _sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(N,) positions -> (N, dim) [sin | cos] at dim/2 frequencies from 1 to 1/10000 (dim even)."""
    freqs = torch.exp(torch.arange(dim // 2, dtype=torch.float32) * (-math.log(10000.0) / (dim // 2)))
    angles = positions.float()[:, None] * freqs[None]  # (N, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_position_table(t: int, h: int, w: int, dim: int) -> torch.Tensor:
    """Fixed position embedding of a (t, h, w) token grid: (t*h*w, dim), float32, t-major like the tokens.

    Each axis gets an even third of the channels (2 * (dim // 6)); any remainder is zero.
    """
    part = 2 * (dim // 6)
    grid = torch.stack(torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij"))
    table = torch.cat([_sincos_1d(axis.flatten(), part) for axis in grid], dim=1)  # (t*h*w, 3 * part)
    return F.pad(table, (0, dim - 3 * part))


class Attention(nn.Module):
    """Multi-head self-attention over all tokens (F.scaled_dot_product_attention)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, N, C) -> (B, N, C)."""
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, C / heads)
        return self.proj(rearrange(x, "b h n d -> b n (h d)"))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)), each with stochastic depth."""

    def __init__(self, *, dim: int, num_heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionTransformer3d(nn.Module):
    """ViT with joint space-time attention: input (B, 3, T, H, W), T a multiple of ``tubelet_size`` and H, W
    multiples of ``patch_size``; output (B, num_classes)."""

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        num_heads: int,
        patch_size: int = 16,
        tubelet_size: int = 2,
        mlp_ratio: float = 4.0,
        num_frames: int = 16,
        num_classes: int = 400,
        drop_path_rate: float = 0.0,
        head_dropout: float = 0.0,
        grad_checkpointing: bool = False,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if num_frames < 1 or num_frames % tubelet_size:
            raise ConfigError(f"num_frames={num_frames} must be a positive multiple of tubelet_size={tubelet_size}")
        self.num_frames = num_frames
        self.tubelet_size = tubelet_size
        self.patch_size = patch_size
        self.num_classes = num_classes
        self.num_features = dim
        self.grad_checkpointing = grad_checkpointing

        kernel = (tubelet_size, patch_size, patch_size)
        self.patch_embed = nn.Conv3d(in_chans, dim, kernel_size=kernel, stride=kernel)
        drop_path = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # rising linearly from 0
        self.blocks = nn.ModuleList(
            Block(dim=dim, num_heads=num_heads, mlp_ratio=mlp_ratio, drop_path=p) for p in drop_path
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # after the mean pool (VideoMAE's fc_norm)
        self.head_drop = nn.Dropout(head_dropout)
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)

    # -- the model interface
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    def no_weight_decay(self) -> set[str]:
        return set()  # the position table is fixed; norms and biases are 1-D, skipped anyway

    @property
    def num_layers(self) -> int:
        """Layer ids for layer-wise LR decay: the tubelet embedding, each block, then the head."""
        return len(self.blocks) + 2

    def layer_id(self, name: str) -> int:
        if name.startswith("patch_embed"):
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return self.num_layers - 1

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> tokens (B, T/tubelet * H/patch * W/patch, C)."""
        x = self.patch_embed(x)  # (B, C, t, h, w)
        t, h, w = x.shape[2:]
        x = rearrange(x, "b c t h w -> b (t h w) c")
        x = x + sincos_position_table(t, h, w, x.shape[-1]).to(x.device, x.dtype)
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Tokens (B, N, C) -> logits (B, num_classes), or the pooled features (B, C) with ``pre_logits``."""
        x = self.norm(x.mean(dim=1))
        return x if pre_logits else self.head(self.head_drop(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _init_weights(module: nn.Module) -> None:
    # ViT's: linear layers N(0, 0.02) (the +-2-std truncation of the reference changes little), zero
    # biases; the tubelet embedding like a linear layer on the flattened tubelet (xavier, as MAE does).
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv3d):
        nn.init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
