"""A slow, literal RegionViT forward pass, for tests.

Written from the paper (Chen, Panda, Fan, "RegionViT: Regional-to-Local Attention for Vision
Transformers", ICLR 2022, arXiv 2106.02689: the R2L block, regional then local attention sharing one
attention module, then the MLP) and, where the paper leaves details open, from the authors' released
code (github.com/IBM/RegionViT): the state-dict key names and the wrap-around relative position index
``((dy + w//2) mod (2w-1)) * (2w-1) + (dx + w//2) mod (2w-1)`` for key-minus-query offsets (dy, dx).

It reads a state dict in the authors' key format directly, loops over windows one at a time, builds
the relative position bias for each (query, key) pair from that formula and gives each window only
its valid (unpadded) local tokens, so no mask is involved at all. The fast model must agree with it;
nothing here is shared with videoregion's code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _ln2d(x, sd, prefix):  # LayerNorm over channels, eps 1e-5, parameters (1, C, 1, 1)
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * sd[prefix + ".weight"] + sd[prefix + ".bias"]


def _ln(x, sd, prefix):
    return F.layer_norm(x, x.shape[-1:], sd[prefix + ".weight"], sd[prefix + ".bias"], eps=1e-6)


def _attention(x, sd, prefix, heads, bias=None):
    """x (L, C) -> (L, C); bias (heads, L, L) or None."""
    length, dim = x.shape
    qkv = F.linear(x, sd[prefix + ".qkv.weight"], sd[prefix + ".qkv.bias"]).reshape(length, 3, heads, dim // heads)
    q, k, v = qkv.permute(1, 2, 0, 3)  # each (heads, L, d)
    logits = q @ k.transpose(-1, -2) * (dim // heads) ** -0.5
    if bias is not None:
        logits = logits + bias
    out = (logits.softmax(-1) @ v).transpose(0, 1).reshape(length, dim)
    return F.linear(out, sd[prefix + ".proj.weight"], sd[prefix + ".proj.bias"])


def _mlp(x, sd, prefix):
    x = F.gelu(F.linear(x, sd[prefix + ".fc1.weight"], sd[prefix + ".fc1.bias"]))
    return F.linear(x, sd[prefix + ".fc2.weight"], sd[prefix + ".fc2.bias"])


def _local_bias(table, positions, window):
    """(heads, n, n) bias among local tokens at window positions [(y, x), ...] by the authors' wrap-around index."""
    side = 2 * window - 1
    n = len(positions)
    index = torch.empty(n, n, dtype=torch.long)
    for i, (qy, qx) in enumerate(positions):
        for j, (ky, kx) in enumerate(positions):
            index[i, j] = ((ky - qy + window // 2) % side) * side + (kx - qx + window // 2) % side
    return table[:, index]


def _downsample(x, sd, prefix):
    """A stage's downsampling of (1, C, H, W): LayerNorm2d, GELU, 3x3 conv at stride 2 with C groups."""
    return F.conv2d(F.gelu(_ln2d(x, sd, prefix + ".0")), sd[prefix + ".2.weight"], sd[prefix + ".2.bias"], 2, 1,
                    groups=x.shape[1])


def _block(region, local, sd, prefix, heads, window):
    """One R2L block on one sample: region (C, Hr, Wr), local (C, Hl, Wl), both updated."""
    c, hr, wr = region.shape
    _, hl, wl = local.shape
    r = region.flatten(1).T  # (Hr*Wr, C)
    r = r + _attention(_ln(r, sd, prefix + ".norm0"), sd, prefix + ".attn", heads)
    region, local = r.T.reshape(c, hr, wr).clone(), local.clone()
    for i in range(hr):
        for j in range(wr):
            positions = [
                (y, x) for y in range(window) for x in range(window)
                if i * window + y < hl and j * window + x < wl
            ]
            tokens = torch.stack([region[:, i, j]] + [local[:, i * window + y, j * window + x] for y, x in positions])
            bias = torch.zeros(heads, len(tokens), len(tokens))
            bias[:, 1:, 1:] = _local_bias(sd[prefix + ".attn.rel_pos"], positions, window)
            tokens = tokens + _attention(_ln(tokens, sd, prefix + ".norm1"), sd, prefix + ".attn", heads, bias)
            tokens = tokens + _mlp(_ln(tokens, sd, prefix + ".norm2"), sd, prefix + ".mlp")
            region[:, i, j] = tokens[0]
            for (y, x), token in zip(positions, tokens[1:], strict=True):
                local[:, i * window + y, j * window + x] = token
    return region, local


def reference_forward(sd, images, *, stem, depths, heads, window, peg=False):
    """Logits (B, classes) of the 2D RegionViT of the paper, one image at a time."""
    outputs = []
    for image in images:
        x = image[None]
        if stem == "3conv":
            local = F.conv2d(x, sd["patch_embed.proj.0.weight"], sd["patch_embed.proj.0.bias"], 2, 1)
            local = F.gelu(_ln2d(local, sd, "patch_embed.proj.1"))
            local = F.conv2d(local, sd["patch_embed.proj.3.weight"], sd["patch_embed.proj.3.bias"], 2, 1)
            local = F.gelu(_ln2d(local, sd, "patch_embed.proj.4"))
            local = F.conv2d(local, sd["patch_embed.proj.6.weight"], sd["patch_embed.proj.6.bias"], 1, 1)
        else:
            local = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], 4, 3)
        size = 4 * window
        ph, pw = -x.shape[-2] % size, -x.shape[-1] % size
        padded = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        region = F.conv2d(padded, sd["cls_token.proj.weight"], sd["cls_token.proj.bias"], size)
        for s, depth in enumerate(depths):
            if s > 0:
                p = f"layers.{s}.block.0.proj"
                region, local = _downsample(region, sd, p), _downsample(local, sd, p)
            r, loc = region[0], local[0]
            for i in range(1, depth + 1):
                r, loc = _block(r, loc, sd, f"layers.{s}.block.{i}", heads[s], window)
                if peg and i == 1:
                    w = sd[f"layers.{s}.peg.weight"]
                    r = r + F.conv2d(r[None], w, None, 1, 1, groups=r.shape[0])[0]
                    loc = loc + F.conv2d(loc[None], w, None, 1, 1, groups=loc.shape[0])[0]
            region, local = r[None], loc[None]
        tokens = _ln(region[0].flatten(1).T, sd, "norm")
        outputs.append(F.linear(tokens.mean(0), sd["head.weight"], sd["head.bias"]))
    return torch.stack(outputs)


def authors_state_dict(*, stem, dims, depths, heads, window, peg=False, num_classes=1000, generator=None):
    """A random state dict with exactly the key list of the authors' released checkpoints."""
    g = generator or torch.Generator().manual_seed(0)

    def rand(*shape, scale=0.1):
        return torch.randn(*shape, generator=g) * scale

    sd = {}
    c = dims[0]
    if stem == "3conv":
        for i, (cin, cout) in zip((0, 3, 6), ((3, c // 4), (c // 4, c // 2), (c // 2, c)), strict=True):
            sd[f"patch_embed.proj.{i}.weight"] = rand(cout, cin, 3, 3, scale=0.2)
            sd[f"patch_embed.proj.{i}.bias"] = rand(cout)
        for i, ch in ((1, c // 4), (4, c // 2)):
            sd[f"patch_embed.proj.{i}.weight"] = 1 + rand(1, ch, 1, 1)
            sd[f"patch_embed.proj.{i}.bias"] = rand(1, ch, 1, 1)
    else:
        sd["patch_embed.proj.weight"] = rand(c, 3, 8, 8, scale=0.05)
        sd["patch_embed.proj.bias"] = rand(c)
    sd["cls_token.proj.weight"] = rand(c, 3, 4 * window, 4 * window, scale=0.01)
    sd["cls_token.proj.bias"] = rand(c)
    for s, depth in enumerate(depths):
        d = dims[s]
        if s > 0:
            down = {
                "0.weight": 1 + rand(1, dims[s - 1], 1, 1), "0.bias": rand(1, dims[s - 1], 1, 1),
                "2.weight": rand(d, 1, 3, 3, scale=0.3), "2.bias": rand(d),
            }
            for k, v in down.items():
                sd[f"layers.{s}.block.0.proj.{k}"] = v
                sd[f"layers.{s}.block.0.proj_cls.{k}"] = v.clone()
        for i in range(1, depth + 1):
            p = f"layers.{s}.block.{i}"
            for n in ("norm0", "norm1", "norm2"):
                sd[f"{p}.{n}.weight"], sd[f"{p}.{n}.bias"] = 1 + rand(d), rand(d)
            sd[f"{p}.attn.qkv.weight"], sd[f"{p}.attn.qkv.bias"] = rand(3 * d, d), rand(3 * d)
            sd[f"{p}.attn.proj.weight"], sd[f"{p}.attn.proj.bias"] = rand(d, d), rand(d)
            sd[f"{p}.attn.rel_pos"] = rand(heads[s], (2 * window - 1) ** 2, scale=0.5)
            sd[f"{p}.mlp.fc1.weight"], sd[f"{p}.mlp.fc1.bias"] = rand(4 * d, d), rand(4 * d)
            sd[f"{p}.mlp.fc2.weight"], sd[f"{p}.mlp.fc2.bias"] = rand(d, 4 * d), rand(d)
        if peg:
            sd[f"layers.{s}.peg.weight"] = rand(d, 1, 3, 3, scale=0.3)
    sd["norm.weight"], sd["norm.bias"] = 1 + rand(dims[-1]), rand(dims[-1])
    sd["head.weight"], sd["head.bias"] = rand(num_classes, dims[-1]), rand(num_classes)
    return sd
