"""RegionViT (Chen, Panda, Fan, ICLR 2022) for images, and inflated in time for video.

Regional tokens (one per 28x28 pixels, or 56x56 with window 14) and local tokens (one per 4x4
pixels) flow through four stages. Each R2L block runs regional self-attention among all regional
tokens of a sample, then local self-attention inside each window: one regional token followed by the
local tokens it owns.

One class serves both worlds. With ``num_frames=None`` it is the 2D model of the paper, input
(B, 3, H, W), with the authors' parameters to the unit. With ``num_frames=T`` it is the video model,
input (B, 3, T, H, W): local tokens are tubelets of ``tubelet_size`` frames, a regional token covers a
tube of ``region_steps`` local time steps, its window holds ``region_steps x w x w`` local tokens,
regional attention spans every regional token of the clip and local attention carries a relative
position bias over (dt, dy, dx). Everything between the tokenizers works frame by frame in space
(downsampling and PEG keep time), so maps travel as (B * T, C, H, W) with time folded into the batch.

Layout of this file: helpers, attention, R2L block, stage, model, registered variants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from videoregion.errors import ConfigError

from .chunked import CHUNK_ROWS, attention_in_chunks, biased_attention, chunking_pays, mlp_in_chunks
from .registry import register_model

__all__ = ["RegionViT", "relative_position_index", "window_bias_index"]


# ----------------------------------------------------------------------------- helpers
class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (N, C, H, W) map."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.weight.shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth: drops the residual branch of whole samples (dim 0) in training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 on every token.

    CPU inference runs it ``chunk_rows`` tokens at a time (:mod:`.chunked`): same result, faster.
    """

    def __init__(self, dim: int, hidden_dim: int, chunk_rows: int = CHUNK_ROWS) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.chunk_rows = chunk_rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., C) -> (..., C)."""
        if chunking_pays(x, self.chunk_rows):
            return mlp_in_chunks(self.fc1, self.act, self.fc2, x, self.chunk_rows)
        return self.fc2(self.act(self.fc1(x)))


def relative_position_index(steps: int, window: int) -> torch.Tensor:
    """Index into a (2*steps-1) * (2*window-1)**2 bias table for each (query, key) of a window.

    Tokens are ordered (t, y, x). Spatial offsets use the authors' wrap-around rule:
    ``(d + window // 2) mod (2 * window - 1)`` for key-minus-query offset d. It is not Swin's index,
    and a Swin index would load the authors' tables without error and give wrong outputs. Time offsets
    are plain: ``dt + steps - 1``. Returns (N, N) with N = steps * window**2, rows = queries.
    """
    coords = torch.stack(
        torch.meshgrid(torch.arange(steps), torch.arange(window), torch.arange(window), indexing="ij")
    ).flatten(1)  # (3, N)
    offset = coords[:, None, :] - coords[:, :, None]  # (3, N query, N key): key minus query
    side = 2 * window - 1
    dt = offset[0] + steps - 1
    dy = (offset[1] + window // 2) % side
    dx = (offset[2] + window // 2) % side
    return (dt * side + dy) * side + dx


def window_bias_index(steps: int, window: int) -> torch.Tensor:
    """:func:`relative_position_index` for a whole window, regional token first: (1 + N, 1 + N).

    Pairs with the regional token point past the table: to a zero entry (T) or, for the regional
    key, to a log(steps) entry (T + 1), T = (2*steps-1) * (2*window-1)**2. See Attention.local_bias.
    """
    local = relative_position_index(steps, window)
    size = (2 * steps - 1) * (2 * window - 1) ** 2
    index = F.pad(local, (1, 0, 1, 0), value=size)
    index[:, 0] = size + 1
    return index


# ----------------------------------------------------------------------------- tokenizers
def _fold_time(x: torch.Tensor) -> torch.Tensor:
    return rearrange(x, "b c t h w -> (b t) c h w")


class TimeConv(nn.Conv3d):
    """A stem conv that also looks at ``kernel`` neighbouring local time steps (stride 1 in time).

    Time is padded by repeating the first and last step, so that mean-inflated 2D weights give a
    static clip exactly the 2D response. Input and output are folded, (B * T, C, H, W).
    """

    def __init__(self, in_dim: int, out_dim: int, *, time_kernel: int, kernel: int, stride: int, padding: int) -> None:
        if time_kernel % 2 == 0:
            raise ConfigError(f"stem_time_kernel must be odd (centred in time), got {time_kernel}")
        super().__init__(in_dim, out_dim, (time_kernel, kernel, kernel), (1, stride, stride), (0, padding, padding))

    def forward_folded(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        x = rearrange(x, "(b t) c h w -> b c t h w", b=batch)
        half = self.kernel_size[0] // 2
        x = torch.cat([x[:, :, :1].expand(-1, -1, half, -1, -1), x, x[:, :, -1:].expand(-1, -1, half, -1, -1)], dim=2)
        return _fold_time(super().forward(x))


class LocalTokenizer(nn.Module):
    """Local tokens at stride 4: the 3-conv stem (Ti, S) or one 8x8 conv (M, B).

    In video mode the first conv also strides over ``tubelet_size`` frames (kernel = stride in
    time), so a local token is a tubelet. Output (B * T_local, C, H / 4, W / 4).
    """

    def __init__(
        self, *, dim: int, stem: str, tubelet_size: int | None, time_kernel: int = 1, in_chans: int = 3
    ) -> None:
        super().__init__()
        video = tubelet_size is not None

        def first_conv(out: int, kernel: int, stride: int, padding: int) -> nn.Module:
            if not video:
                return nn.Conv2d(in_chans, out, kernel, stride, padding)
            return nn.Conv3d(
                in_chans, out, (tubelet_size, kernel, kernel), (tubelet_size, stride, stride), (0, padding, padding)
            )

        def later_conv(in_dim: int, out: int, kernel: int, stride: int, padding: int) -> nn.Module:
            if not video or time_kernel == 1:
                return nn.Conv2d(in_dim, out, kernel, stride, padding)
            return TimeConv(in_dim, out, time_kernel=time_kernel, kernel=kernel, stride=stride, padding=padding)

        if stem == "3conv":
            self.proj = nn.Sequential(
                first_conv(dim // 4, 3, 2, 1),
                LayerNorm2d(dim // 4),
                nn.GELU(),
                later_conv(dim // 4, dim // 2, 3, 2, 1),
                LayerNorm2d(dim // 2),
                nn.GELU(),
                later_conv(dim // 2, dim, 3, 1, 1),
            )
        elif stem == "1conv":
            self.proj = nn.Sequential(first_conv(dim, 8, 4, 3))
        else:
            raise ValueError(f"unknown stem {stem!r}: expected '3conv', '1conv' or 'cnn'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        x = self.proj[0](x)
        if x.dim() == 5:
            x = _fold_time(x)
        for layer in self.proj[1:]:
            x = layer.forward_folded(x, batch) if isinstance(layer, TimeConv) else layer(x)
        return x


class _FramePaddedConv3d(nn.Conv3d):
    """A conv with time kernel 3 whose input is padded in time by repeating its first and last frame."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (0, 0, 0, 0, 1, 1), mode="replicate"))


class ConvNetTokenizer(nn.Module):
    """Local tokens at stride 4 from a small CNN: the ``"cnn"`` stem (not the authors'; nano's).

    Four 3x3 convolutions (dim/2, dim, dim, dim channels, strides 2, 2, 1, 1), the first three each
    followed by a per-channel normalisation over the whole map (GroupNorm with one group per channel:
    instance normalisation) and GELU. In video mode the first three are 3x3x3 at the full frame rate,
    time padded by repeating the first and last frame, and the fourth folds ``tubelet_size`` frames into a
    local time step (kernel = stride in time); mean-inflated 2D weights then give a static clip exactly the
    2D response. Why this stem: a turn's direction is a third-order, position-invariant motion feature
    that nano's two-frame tubelet convs with per-position LayerNorm did not learn, and a CNN with
    per-channel normalisation learns within a few hundred steps (README, "The rotation pair").
    Input (B, 3, [T,] H, W); output (B * T / tubelet_size, dim, H / 4, W / 4).
    """

    def __init__(self, *, dim: int, tubelet_size: int | None, in_chans: int = 3) -> None:
        super().__init__()
        self.video = tubelet_size is not None
        layers: list[nn.Module] = []
        channels = in_chans
        for out, stride in zip((dim // 2, dim, dim), (2, 2, 1)):
            if self.video:
                layers.append(_FramePaddedConv3d(channels, out, 3, (1, stride, stride), (0, 1, 1)))
            else:
                layers.append(nn.Conv2d(channels, out, 3, stride, 1))
            layers += [nn.GroupNorm(out, out), nn.GELU()]
            channels = out
        if self.video:
            layers.append(nn.Conv3d(channels, dim, (tubelet_size, 3, 3), (tubelet_size, 1, 1), (0, 1, 1)))
        else:
            layers.append(nn.Conv2d(channels, dim, 3, 1, 1))
        self.proj = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        return _fold_time(x) if self.video else x


class RegionTokenizer(nn.Module):
    """Regional tokens: one conv with kernel = stride = 4 * window pixels (and a tube in time).

    The image is zero-padded symmetrically when its size is not a multiple of the region size.
    Output (B * T_region, C, ceil(H / r), ceil(W / r)).
    """

    def __init__(self, *, dim: int, region_px: int, region_frames: int | None, in_chans: int = 3) -> None:
        super().__init__()
        self.region_px = region_px
        if region_frames is None:
            self.proj = nn.Conv2d(in_chans, dim, region_px, region_px)
        else:
            kernel = (region_frames, region_px, region_px)
            self.proj = nn.Conv3d(in_chans, dim, kernel, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.region_px, -w % self.region_px
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        x = self.proj(x)
        return _fold_time(x) if x.dim() == 5 else x


class Downsample(nn.Module):
    """LayerNorm2d -> GELU -> depthwise-style 3x3 conv at stride 2 (C -> 2C), per frame.

    One module serves regional and local tokens alike (the authors' checkpoints store it twice).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(in_dim)
        self.act = nn.GELU()
        self.conv = nn.Conv2d(in_dim, out_dim, 3, 2, 1, groups=in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(self.norm(x)))


# ----------------------------------------------------------------------------- attention
class Attention(nn.Module):
    """Multi-head self-attention shared by the regional and the local pass of an R2L block.

    ``rel_pos`` is the local pass's relative position table, (heads, (2s-1) (2w-1)^2).

    The regional pass (no bias) runs on SDPA's fused kernels. The local pass (a bias) does too on a
    GPU; on the CPU it is three plain steps (:func:`.chunked.biased_attention`), in chunks of
    ``chunk_rows`` query rows in inference: SDPA's fused CPU kernel splits 99-token windows into
    32-query blocks, and with a trainable bias it falls back to its math kernel plus a guard against
    fully masked rows that scans every logit three times (regionvit3d_small 16x224 float32, 2 threads:
    the local pass's attention 129 -> 106 ms in inference, a training step 1.09x faster; README, "Speed").
    """

    def __init__(self, dim: int, num_heads: int, rel_pos_size: int, chunk_rows: int = CHUNK_ROWS) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos = nn.Parameter(torch.zeros(num_heads, rel_pos_size))
        self.chunk_rows = chunk_rows

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, L, C) -> (N, L, C).

        ``attn_bias`` is added to the logits: (heads, L, L) for every sequence alike, or
        (S, heads, L, L) for sequences that cycle through S spatial windows (padding masks).
        """
        n = x.shape[0]
        q, k, v = rearrange(self.qkv(x), "n l (three h d) -> three n h l d", three=3, h=self.num_heads)
        if attn_bias is None:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            attn_bias = attn_bias.to(q.dtype)
            if attn_bias.dim() == 4 and attn_bias.shape[0] > 1:  # (N, h, L, d) -> (N / S, S, h, L, d)
                q, k, v = (t.unflatten(0, (-1, attn_bias.shape[0])) for t in (q, k, v))
            if q.device.type != "cpu":
                # a 4-D mask keeps the fused kernels (a 3-D one falls back to math; 5-D inputs, the
                # per-window masks, always do; one window, S = 1, broadcasts as it is)
                mask = attn_bias[None] if attn_bias.dim() == 3 else attn_bias
                x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            elif chunking_pays(q, self.chunk_rows):
                x = attention_in_chunks(q, k, v, attn_bias, self.chunk_rows)
            else:
                x = biased_attention(q, k, v, attn_bias)
        return self.proj(rearrange(x.reshape(n, *x.shape[-3:]), "n h l d -> n l (h d)"))

    def local_bias(self, index: torch.Tensor, region_steps: int) -> torch.Tensor:
        """The local pass's logit bias, (heads, 1 + N, 1 + N), regional token first.

        ``index`` is :func:`window_bias_index`, flattened. Local-to-local pairs get the relative
        position bias, pairs with the regional token none, except that the regional key gets
        log(steps): it then weighs as if it stood once per local time step, which makes a static clip
        attend exactly as the image model does (the I3D "boring video" property).
        """
        heads, length = self.rel_pos.shape[0], math.isqrt(index.numel())
        extra = self.rel_pos.new_tensor([0.0, math.log(region_steps)]).expand(heads, 2)
        table = torch.cat([self.rel_pos, extra], dim=1)  # (heads, table + [zero, log(steps)])
        # index_select, not table[:, index]: advanced indexing is ~100x slower on the CPU here.
        return table.index_select(1, index).view(heads, length, length)


# ----------------------------------------------------------------------------- R2L block
class R2LBlock(nn.Module):
    """Regional self-attention, then local self-attention in each window, then an MLP."""

    def __init__(self, *, dim: int, num_heads: int, rel_pos_size: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.norm_region = norm(dim)
        self.norm_local = norm(dim)
        self.attn = Attention(dim, num_heads, rel_pos_size)
        self.norm_mlp = norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, windows: torch.Tensor, num_regions: int, local_bias: torch.Tensor) -> torch.Tensor:
        """windows (B * R, 1 + N, C): regional token first, then its N local tokens."""
        c = windows.shape[-1]
        region_tokens = windows[:, 0].reshape(-1, num_regions, c)  # (B, R, C)
        region_tokens = region_tokens + self.drop_path(self.attn(self.norm_region(region_tokens)))
        windows = torch.cat([region_tokens.reshape(-1, 1, c), windows[:, 1:]], dim=1)
        windows = windows + self.drop_path(self.attn(self.norm_local(windows), local_bias))
        return windows + self.drop_path(self.mlp(self.norm_mlp(windows)))


# ----------------------------------------------------------------------------- stage
class Stage(nn.Module):
    """Optional downsampling, then R2L blocks on the windowed layout (and a PEG after the first)."""

    def __init__(
        self,
        *,
        in_dim: int,
        dim: int,
        depth: int,
        num_heads: int,
        window: int,
        region_steps: int,
        mlp_ratio: float,
        drop_path: Sequence[float],
        peg: bool,
        authors_padding_mask: bool = False,
    ) -> None:
        super().__init__()
        self.window = window
        self.authors_padding_mask = authors_padding_mask
        self.region_steps = region_steps
        self.downsample = Downsample(in_dim, dim) if in_dim != dim else nn.Identity()
        rel_pos_size = (2 * region_steps - 1) * (2 * window - 1) ** 2
        self.blocks = nn.ModuleList(
            R2LBlock(dim=dim, num_heads=num_heads, rel_pos_size=rel_pos_size, mlp_ratio=mlp_ratio, drop_path=p)
            for p in drop_path
        )
        self.peg = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim, bias=False) if peg else None
        self.register_buffer("bias_index", window_bias_index(region_steps, window).flatten(), persistent=False)
        self.grad_checkpointing = False

    def window_hw(self, region_hw: tuple[int, int], local_hw: tuple[int, int]) -> tuple[int, int]:
        """The local window's height and width: ``window``, except along a side with a single region whose
        local map is shorter, where the window is the map itself.

        Padding such a map up to a whole window would only add tokens that every valid query masks
        away (at 8x56 the last two stages of nano would carry 49 tokens per step for 16 and 4 real
        ones): the valid tokens' outputs are the same without them. ``authors_padding_mask`` keeps
        whole windows, whose padded queries the authors' mask lets valid keys see.
        """
        if self.authors_padding_mask:
            return self.window, self.window
        (hr, wr), (hl, wl), w = region_hw, local_hw, self.window
        return (hl if hr == 1 and hl < w else w, wl if wr == 1 and wl < w else w)

    def bias_index_for(self, window_hw: tuple[int, int]) -> torch.Tensor:
        """:attr:`bias_index` for a ``window_hw`` window: the whole window's rows and columns of its tokens."""
        w = self.window
        if window_hw == (w, w):
            return self.bias_index
        t, y, x = torch.meshgrid(
            torch.arange(self.region_steps), torch.arange(window_hw[0]), torch.arange(window_hw[1]), indexing="ij"
        )
        keep = F.pad(1 + (t * w * w + y * w + x).flatten(), (1, 0)).to(self.bias_index.device)  # regional token first
        full = math.isqrt(self.bias_index.numel())
        return self.bias_index.view(full, full)[keep][:, keep].flatten()

    def to_windows(
        self, region: torch.Tensor, local: torch.Tensor, batch: int, window_hw: tuple[int, int]
    ) -> torch.Tensor:
        """region (B*Tr, C, Hr, Wr), local (B*Tl, C, Hl, Wl) -> windows (B*Tr*Hr*Wr, 1 + s*wh*ww, C).

        The local map is zero-padded at the bottom and right to fill Hr x Wr whole windows.
        """
        wh, ww = window_hw
        pad_h = region.shape[-2] * wh - local.shape[-2]
        pad_w = region.shape[-1] * ww - local.shape[-1]
        if pad_h or pad_w:
            local = F.pad(local, (0, pad_w, 0, pad_h))
        # channels last first, then runs of ww * C values into their windows: onnxruntime has fast paths for
        # both copies and none for one 8-D transpose (regionvit3d_small 16x224: 1.09x at batch 1; eager the same)
        local = rearrange(
            local.permute(0, 2, 3, 1), "(b tr tw) (hr wh) (wr ww) c -> (b tr hr wr) (tw wh ww) c",
            b=batch, tw=self.region_steps, wh=wh, ww=ww,
        )
        region = rearrange(region, "n c hr wr -> (n hr wr) 1 c")
        return torch.cat([region, local], dim=1)

    def from_windows(
        self, windows: torch.Tensor, batch: int, region_hw: tuple[int, int], local_hw: tuple[int, int],
        window_hw: tuple[int, int],
    ):
        """The inverse of :meth:`to_windows`, padding cropped."""
        hr, wr = region_hw
        region = rearrange(windows[:, 0], "(n hr wr) c -> n c hr wr", hr=hr, wr=wr)
        local = rearrange(
            windows[:, 1:],
            "(b tr hr wr) (tw wh ww) c -> (b tr tw) (hr wh) (wr ww) c",
            b=batch, hr=hr, wr=wr, tw=self.region_steps, wh=window_hw[0], ww=window_hw[1],
        )
        return region, local[:, : local_hw[0], : local_hw[1]].permute(0, 3, 1, 2).contiguous()

    def padding_mask(
        self, region_hw: tuple[int, int], local_hw: tuple[int, int], device: torch.device,
        window_hw: tuple[int, int] | None = None,
    ):
        """Additive logit mask for padded local tokens, broadcastable to (Hr*Wr, heads, 1+N, 1+N), or None.

        Every query, valid or padded, sees only valid keys and the regional token: (Hr*Wr, 1, 1, 1+N).
        ``authors_padding_mask`` instead reproduces the authors' code, query by query, to evaluate their
        checkpoints as published (it matters for window 14 at 224, whose last stage is padded): there
        the bottom-right window lets valid queries see keys padded in one direction only.
        ``window_hw`` is :meth:`window_hw`'s window; whole windows when None.
        """
        (hr, wr), (hl, wl), (wh, ww) = region_hw, local_hw, window_hw or (self.window, self.window)
        if hr * wh == hl and wr * ww == wl:
            return None
        rows = torch.arange(hr * wh, device=device)[:, None].expand(-1, wr * ww) < hl
        cols = torch.arange(wr * ww, device=device)[None, :].expand(hr * wh, -1) < wl

        def per_window(valid: torch.Tensor) -> torch.Tensor:  # (Hr*wh, Wr*ww) -> (Hr*Wr, 1 + N)
            valid = rearrange(valid, "(hr wh) (wr ww) -> (hr wr) (wh ww)", wh=wh, ww=ww).repeat(1, self.region_steps)
            return F.pad(valid, (1, 0), value=True)  # the regional token is always valid

        if not self.authors_padding_mask:
            valid = per_window(rows & cols)
            return torch.zeros(valid.shape, device=device).masked_fill_(~valid, float("-inf"))[:, None, None]
        rows, cols = per_window(rows), per_window(cols)

        def pairs(valid: torch.Tensor) -> torch.Tensor:  # (..., 1 + N) -> (..., 1 + N, 1 + N): query and key valid
            return valid[..., :, None] & valid[..., None, :]

        allowed = pairs(rows & cols)
        allowed[-1] = pairs(rows[-1]) | pairs(cols[-1])
        # A huge finite value, not -inf: their fully masked (padded) queries attend uniformly.
        huge = torch.finfo(torch.float32).min / 2
        return torch.zeros(allowed.shape, device=device).masked_fill_(~allowed, huge)[:, None]

    def forward(self, region: torch.Tensor, local: torch.Tensor, batch: int):
        """region (B*Tr, C, Hr, Wr), local (B*Tl, C, Hl, Wl) -> the same layout, after the stage."""
        region, local = self.downsample(region), self.downsample(local)
        region_hw, local_hw = tuple(region.shape[-2:]), tuple(local.shape[-2:])
        num_regions = region.shape[0] // batch * region_hw[0] * region_hw[1]
        window_hw = self.window_hw(region_hw, local_hw)
        mask = self.padding_mask(region_hw, local_hw, local.device, window_hw)
        bias_index = self.bias_index_for(window_hw)
        windows = self.to_windows(region, local, batch, window_hw)
        for i, block in enumerate(self.blocks):
            bias = block.attn.local_bias(bias_index, self.region_steps)
            if mask is not None:
                bias = bias + mask  # (Hr*Wr, heads, 1 + N, 1 + N)
            if self.grad_checkpointing and torch.is_grad_enabled():
                windows = checkpoint(block, windows, num_regions, bias, use_reentrant=False)
            else:
                windows = block(windows, num_regions, bias)
            if i == 0 and self.peg is not None:
                region, local = self.from_windows(windows, batch, region_hw, local_hw, window_hw)
                windows = self.to_windows(region + self.peg(region), local + self.peg(local), batch, window_hw)
        return self.from_windows(windows, batch, region_hw, local_hw, window_hw)


# ----------------------------------------------------------------------------- model
class RegionViT(nn.Module):
    """RegionViT for images (``num_frames=None``, input (B, 3, H, W)) or video (input (B, 3, T, H, W))."""

    def __init__(
        self,
        *,
        dims: Sequence[int],
        depths: Sequence[int],
        num_heads: Sequence[int],
        stem: str = "3conv",
        head_pool: str = "regional",
        window: int = 7,
        peg: bool = False,
        mlp_ratio: float = 4.0,
        num_classes: int = 1000,
        drop_path_rate: float = 0.0,
        head_dropout: float = 0.0,
        num_frames: int | None = None,
        tubelet_size: int = 2,
        region_steps: int = 2,
        stem_time_kernel: int = 1,
        grad_checkpointing: bool = False,
        authors_padding_mask: bool = False,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if not len(dims) == len(depths) == len(num_heads):
            raise ValueError(f"dims, depths and num_heads differ in length: {dims}, {depths}, {num_heads}")
        self.video = num_frames is not None
        if self.video:
            region_frames = tubelet_size * region_steps
            if num_frames < 1 or num_frames % region_frames:
                raise ConfigError(
                    f"num_frames={num_frames} must be a positive multiple of tubelet_size * region_steps "
                    f"= {tubelet_size} * {region_steps}"
                )
        else:
            tubelet_size, region_steps = 1, 1
        self.num_frames = num_frames
        self.tubelet_size = tubelet_size
        self.region_steps = region_steps
        self.num_classes = num_classes
        self.num_features = dims[-1]

        if head_pool not in ("regional", "all"):
            raise ConfigError(f"head_pool must be 'regional' or 'all', got {head_pool!r}")
        self.head_pool = head_pool
        if stem == "cnn":
            if stem_time_kernel != 1:
                raise ConfigError("stem_time_kernel applies to the '3conv' stem; the 'cnn' stem already sees 3 frames")
            self.local_embed = ConvNetTokenizer(dim=dims[0], tubelet_size=tubelet_size if self.video else None)
        else:
            self.local_embed = LocalTokenizer(
                dim=dims[0], stem=stem, tubelet_size=tubelet_size if self.video else None, time_kernel=stem_time_kernel
            )
        self.region_embed = RegionTokenizer(
            dim=dims[0], region_px=4 * window, region_frames=tubelet_size * region_steps if self.video else None
        )
        if self.video:  # tells the order of tubes, which regional attention alone cannot
            self.region_time_embed = nn.Parameter(torch.zeros(num_frames // (tubelet_size * region_steps), dims[0]))
        else:
            self.region_time_embed = None

        drop_path = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            first = sum(depths[:i])
            self.stages.append(
                Stage(
                    in_dim=dims[max(i - 1, 0)], dim=dims[i], depth=depth, num_heads=num_heads[i], window=window,
                    region_steps=region_steps, mlp_ratio=mlp_ratio, drop_path=drop_path[first : first + depth],
                    peg=peg, authors_padding_mask=authors_padding_mask,
                )
            )
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head_drop = nn.Dropout(head_dropout)
        self.head = nn.Linear(dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)
        for name, p in self.named_parameters():
            if name.endswith("rel_pos") or name == "region_time_embed":
                _normal_init(p)
        self.set_grad_checkpointing(grad_checkpointing)

    # -- the model interface
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.stages:
            stage.grad_checkpointing = enable

    def no_weight_decay(self) -> set[str]:
        """Parameters kept out of weight decay besides norms and biases: position tables."""
        names = {n for n, _ in self.named_parameters() if n.endswith("rel_pos")}
        return names | ({"region_time_embed"} if self.video else set())

    @property
    def num_layers(self) -> int:
        """Depth for layer-wise LR decay: tokenizers (0), one per block, then norm and head."""
        return sum(len(s.blocks) for s in self.stages) + 2

    def layer_id(self, name: str) -> int:
        """The layer of a parameter for layer-wise LR decay (0 = tokenizers ... num_layers - 1 = head)."""
        if name.startswith(("local_embed", "region_embed", "region_time_embed")):
            return 0
        if name.startswith("stages."):
            parts = name.split(".")
            stage = int(parts[1])
            before = sum(len(s.blocks) for s in self.stages[:stage])
            if parts[2] == "blocks":
                return before + int(parts[3]) + 1
            return before + (1 if parts[2] == "downsample" else 2)  # PEG sits after the first block
        return self.num_layers - 1

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if num_classes > 0:
            _init_weights(self.head)

    def _check_input(self, x: torch.Tensor) -> None:
        expected = 5 if self.video else 4
        if x.dim() != expected:
            layout = "(B, C, T, H, W)" if self.video else "(B, C, H, W)"
            raise ValueError(f"expected a {expected}-D input {layout}, got shape {tuple(x.shape)}")
        if self.video and x.shape[2] % (self.tubelet_size * self.region_steps):
            raise ValueError(
                f"clip of {x.shape[2]} frames: the frame count must be a multiple of tubelet_size * region_steps "
                f"= {self.tubelet_size * self.region_steps}"
            )

    def _time_embed(self, num_tubes: int) -> torch.Tensor:
        """The tube-time table, linearly resampled in float32 if the clip has another length."""
        table = self.region_time_embed
        if table.shape[0] != num_tubes:
            resized = F.interpolate(table.float().T[None], size=num_tubes, mode="linear", align_corners=False)
            table = resized[0].T.to(table.dtype)
        return table

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, [T,] H, W) -> the normalised tokens the head pools, (B, R, C): the last stage's regional
        tokens; with ``head_pool="all"`` each regional token once per local time step it covers, then the
        local tokens, (B, R * region_steps + L, C)."""
        self._check_input(x)
        batch = x.shape[0]
        local = self.local_embed(x)  # (B*Tl, C, H/4, W/4)
        region = self.region_embed(x)  # (B*Tr, C, H/28, W/28)
        if self.region_time_embed is not None:
            region = rearrange(region, "(b t) c h w -> b t c h w", b=batch)
            region = (region + self._time_embed(region.shape[1])[None, :, :, None, None]).flatten(0, 1)
        for stage in self.stages:
            region, local = stage(region, local, batch)
        if self.head_pool == "regional":
            return self.norm(rearrange(region, "(b t) c h w -> b (t h w) c", b=batch))
        # each regional token stands once per local time step it covers, as its local tokens do, so that a
        # static clip pools as the image does
        regional = rearrange(region, "(b t) c h w -> b t (h w) c", b=batch)
        regional = regional.repeat_interleave(self.region_steps, dim=1).flatten(1, 2)
        return self.norm(torch.cat([regional, rearrange(local, "(b t) c h w -> b (t h w) c", b=batch)], dim=1))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(B, N, C) tokens of :meth:`forward_features` -> (B, C) pooled if ``pre_logits``, else (B, classes)."""
        x = self.head_drop(x.mean(dim=1))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _normal_init(p: torch.Tensor) -> None:
    # The reference init is trunc_normal_(std=0.02), whose default bounds are +-2 in absolute units,
    # i.e. +-100 std: the same distribution as a plain normal, which draws several times faster.
    nn.init.normal_(p, std=0.02)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        _normal_init(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, LayerNorm2d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# ----------------------------------------------------------------------------- variants
# The paper's architectures, and nano: not in the paper, for CPU-sized runs (the synthetic main job), with
# tiny's layout at half the width and fewer blocks, a small CNN as its local tokenizer and a head that pools
# local tokens beside regional ones (without them it did not learn a turn's direction: README, "The rotation
# pair"). Each is registered twice below: as the 2D model for images (regionvit_<arch>_224) and inflated in
# time for clips (regionvit3d_<arch>).
_NANO = dict(stem="cnn", head_pool="all", dims=(32, 64, 128, 256), num_heads=(1, 2, 4, 8), depths=(1, 1, 2, 1))
_TINY = dict(stem="3conv", dims=(64, 128, 256, 512), num_heads=(2, 4, 8, 16), depths=(2, 2, 8, 2))
_SMALL = dict(stem="3conv", dims=(96, 192, 384, 768), num_heads=(3, 6, 12, 24), depths=(2, 2, 8, 2))
_MEDIUM = dict(stem="1conv", dims=(96, 192, 384, 768), num_heads=(3, 6, 12, 24), depths=(2, 2, 14, 2))
_BASE = dict(stem="1conv", dims=(128, 256, 512, 1024), num_heads=(4, 8, 16, 32), depths=(2, 2, 14, 2))
_SMALL_W14 = dict(_SMALL, window=14)
_SMALL_W14_PEG = dict(_SMALL, window=14, peg=True)
_BASE_W14 = dict(_BASE, window=14)
_BASE_W14_PEG = dict(_BASE, window=14, peg=True)

_CLIP_FRAMES = 16  # the video variants' default clip length


def _image_model(arch: dict, kwargs: dict) -> RegionViT:
    return RegionViT(**{**arch, **kwargs})


def _clip_model(arch: dict, kwargs: dict) -> RegionViT:
    return RegionViT(**{**arch, "num_frames": _CLIP_FRAMES, **kwargs})


@register_model(input="image")
def regionvit_nano_224(**kwargs) -> RegionViT:
    """RegionViT-nano for 224x224 images (2D)."""
    return _image_model(_NANO, kwargs)


@register_model(input="image")
def regionvit_tiny_224(**kwargs) -> RegionViT:
    """RegionViT-Ti for 224x224 images (2D, the authors' architecture)."""
    return _image_model(_TINY, kwargs)


@register_model(input="image")
def regionvit_small_224(**kwargs) -> RegionViT:
    """RegionViT-S for 224x224 images (2D, the authors' architecture)."""
    return _image_model(_SMALL, kwargs)


@register_model(input="image")
def regionvit_medium_224(**kwargs) -> RegionViT:
    """RegionViT-M for 224x224 images (2D, the authors' architecture)."""
    return _image_model(_MEDIUM, kwargs)


@register_model(input="image")
def regionvit_base_224(**kwargs) -> RegionViT:
    """RegionViT-B for 224x224 images (2D, the authors' architecture)."""
    return _image_model(_BASE, kwargs)


@register_model(input="image")
def regionvit_small_w14_224(**kwargs) -> RegionViT:
    """RegionViT-S with window 14 for 224x224 images (2D, the authors' architecture)."""
    return _image_model(_SMALL_W14, kwargs)


@register_model(input="image")
def regionvit_small_w14_peg_224(**kwargs) -> RegionViT:
    """RegionViT-S with window 14 and PEG for 224x224 images (2D, the authors' architecture)."""
    return _image_model(_SMALL_W14_PEG, kwargs)


@register_model(input="image")
def regionvit_base_w14_224(**kwargs) -> RegionViT:
    """RegionViT-B with window 14 for 224x224 images (2D, the authors' architecture)."""
    return _image_model(_BASE_W14, kwargs)


@register_model(input="image")
def regionvit_base_w14_peg_224(**kwargs) -> RegionViT:
    """RegionViT-B with window 14 and PEG for 224x224 images (2D, the authors' architecture)."""
    return _image_model(_BASE_W14_PEG, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_nano(**kwargs) -> RegionViT:
    """RegionViT-nano in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_NANO, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_tiny(**kwargs) -> RegionViT:
    """RegionViT-Ti in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_TINY, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_small(**kwargs) -> RegionViT:
    """RegionViT-S in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_SMALL, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_medium(**kwargs) -> RegionViT:
    """RegionViT-M in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_MEDIUM, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_base(**kwargs) -> RegionViT:
    """RegionViT-B in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_BASE, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_small_w14(**kwargs) -> RegionViT:
    """RegionViT-S with window 14 in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_SMALL_W14, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_small_w14_peg(**kwargs) -> RegionViT:
    """RegionViT-S with window 14 and PEG in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_SMALL_W14_PEG, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_base_w14(**kwargs) -> RegionViT:
    """RegionViT-B with window 14 in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_BASE_W14, kwargs)


@register_model(input="clip", num_frames=_CLIP_FRAMES)
def regionvit3d_base_w14_peg(**kwargs) -> RegionViT:
    """RegionViT-B with window 14 and PEG in time: 16 frames, tubelets of 2, regions of 2 local steps."""
    return _clip_model(_BASE_W14_PEG, kwargs)
