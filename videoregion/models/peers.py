"""The video peers RegionViT-3D is compared with, registered like our own models (random weights only).

    model = create_model("swin3d_t", num_classes=14, num_frames=16)       # torchvision's, never downloaded
    model = create_model("x3d_m", num_classes=14, num_frames=8, input_size=56)

The strongest video classifiers that install with our dependencies, with the published settings of
each: torchvision's ``swin3d_t``, ``mvit_v2_s``, ``r2plus1d_18``, ``r3d_18`` and ``s3d``; pytorchvideo's
``x3d_xs``, ``x3d_s``, ``x3d_m``, ``x3d_l`` (``create_x3d``); and a joint space-time attention ViT of our
own (:mod:`.vit3d`), ``vit3d_base`` as VideoMAE's ViT-B, with ``vit3d_small`` and ``vit3d_tiny``. Each
keeps its library's parameter names and initialisation (:mod:`.peer_adapters` adds our model interface).

The main job's clips are small (8 frames at 56 px). The ``*_nano`` variants are the peers at that size,
each scaled the way its family scales (width, then depth) to within +-25% of the 0.292 GFLOPs that
``regionvit3d_nano`` cost there (fvcore, one multiply-add = one FLOP, attention counted; 14 classes) while
its last two stages padded their 4x4 and 2x2 local maps to whole 7x7 windows. It now attends in windows
the size of such maps (``Stage.window_hw``: the same outputs); since its local tokens come from a small 3D
CNN (the ``"cnn"`` stem) it costs 0.161 GFLOPs, so each ``*_nano`` peer has 1.7-2.2 times its compute.
Measured with
``tools/count_flops.py --model NAME --frames 8 --size 56 --num-classes 14`` and, at the published input,
``--num-classes 400`` (parameters at that class count):

    model              params    GFLOPs 8x56   published input   params     GFLOPs there
    regionvit3d_nano    1.63 M      0.161         (16 x 224)       1.73 M       4.85   (ours)
    swin3d_nano         6.30 M      0.327              -
    mvit_v2_nano        3.86 M      0.291              -
    r3d_nano            2.08 M      0.358              -
    r2plus1d_nano       1.96 M      0.334              -
    s3d_nano            3.53 M      0.280              -
    vit3d_nano          1.24 M      0.301              -
    x3d_l               5.36 M      0.354          16 x 312        6.15 M      18.93
    x3d_xs = s = m      3.00 M      0.180        4 / 13 / 16 x     3.79 M   0.63 / 2.03 / 4.90
                                                 160 / 160 / 224
    swin3d_t           27.86 M      1.43           32 x 224       28.16 M      88.06
    mvit_v2_s          34.15 M      2.12           16 x 224       34.54 M      64.46
    r3d_18             33.17 M      5.19           16 x 112       33.37 M      40.74
    r2plus1d_18        31.31 M      5.18           16 x 112       31.51 M      40.64
    s3d                   -      (needs 13 x 209)  16 x 224        8.32 M      18.07
    vit3d_tiny          5.64 M   0.379 at 8x64     16 x 224        5.71 M      20.15
    vit3d_small        21.89 M   1.44 at 8x64      16 x 224       22.04 M      56.95
    vit3d_base            -     (16 px tubelets)   16 x 224       86.54 M     180.49

The published counts agree with the papers and torchvision's tables (Swin-T 88, MViTv2-S 64, R3D-18 40.7,
S3D 18.0, X3D-M 4.97 at 16x224 in pytorchvideo's, VideoMAE ViT-B 180), and torchvision's parameter counts
exactly: the main ops of every peer are counted (tests/test_peers.py checks what fvcore skips).

``x3d_xs``, ``x3d_s`` and ``x3d_m`` are one network (they differ in input only) that needs no smaller
variant: at 8x56 it costs 0.18 GFLOPs, below the target; ``x3d_l`` (X3D's deeper member) is the X3D
matched to it. Normalisation stays ours (DATA.MEAN / DATA.STD); ModelInfo.mean / std record where a
peer's published recipe differs.
"""

from __future__ import annotations

from torch import nn

from .registry import register_model
from .vit3d import VisionTransformer3d

__all__: list[str] = []

_KINETICS_MEAN, _KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)  # torchvision's
_X3D_MEAN, _X3D_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)  # pytorchvideo's and torchvision MViT's
_NANO = dict(num_frames=8, input_size=56)  # the main job's clips, where the nano variants are defined

_SWIN = dict(family="swin3d", source="torchvision", options={"num_frames", "drop_path_rate"})
_MVIT = dict(family="mvit", source="torchvision", fixed_input=True, frame_multiple=2, size_multiple=4,
             options={"num_frames", "input_size", "drop_path_rate", "head_dropout"}, mean=_X3D_MEAN, std=_X3D_STD)
_RESNET = dict(family="resnet3d", source="torchvision", options={"num_frames"}, mean=_KINETICS_MEAN,
               std=_KINETICS_STD)
_S3D = dict(family="s3d", source="torchvision", options={"num_frames", "head_dropout"}, mean=_KINETICS_MEAN,
            std=_KINETICS_STD)
_X3D = dict(family="x3d", source="pytorchvideo", fixed_input=True, options={"num_frames", "input_size", "head_dropout"},
            mean=_X3D_MEAN, std=_X3D_STD)
_VIT = dict(family="vit3d", options={"num_frames", "drop_path_rate", "head_dropout", "grad_checkpointing",
                                     "tubelet_size"})


# ----------------------------------------------------------------------------- Video Swin (torchvision)
def _swin3d(arch: dict, kwargs: dict) -> nn.Module:
    from .peer_adapters import Swin3d

    return Swin3d(**{**arch, **kwargs})


@register_model(input="clip", num_frames=32, **_SWIN)
def swin3d_t(**kwargs) -> nn.Module:
    """torchvision swin3d_t: embed_dim 96, depths (2, 2, 6, 2), heads (3, 6, 12, 24), patch 2x4x4, window 8x7x7."""
    return _swin3d(dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), num_frames=32), kwargs)


@register_model(input="clip", **_NANO, **_SWIN)
def swin3d_nano(**kwargs) -> nn.Module:
    """swin3d_t at half width (embed_dim 48, heads (3, 6, 12, 24) as swin3d_t) with stage-3 depth 4 instead of
    6 (Swin scales depth in stage 3): depths (2, 2, 4, 2); patch 2x4x4 and window 8x7x7 kept (at 8 frames the
    window is the 4 tubelets there are)."""
    return _swin3d(dict(embed_dim=48, depths=(2, 2, 4, 2), num_heads=(3, 6, 12, 24), num_frames=8), kwargs)


# ----------------------------------------------------------------------------- MViTv2 (torchvision)
def _mvit(arch: dict, kwargs: dict) -> nn.Module:
    from .peer_adapters import MViTv2

    return MViTv2(**{**arch, **kwargs})


@register_model(input="clip", num_frames=16, **_MVIT)
def mvit_v2_s(**kwargs) -> nn.Module:
    """torchvision mvit_v2_s: dims (96, 192, 384, 768), depths (1, 2, 11, 2), heads (1, 2, 4, 8); built for one
    clip shape (default 16x224), frames even, size a multiple of 4."""
    return _mvit(dict(dims=(96, 192, 384, 768), depths=(1, 2, 11, 2), num_heads=(1, 2, 4, 8)), kwargs)


@register_model(input="clip", **_NANO, **_MVIT)
def mvit_v2_nano(**kwargs) -> nn.Module:
    """mvit_v2_s at a third of its width: dims (32, 64, 128, 256), depths (1, 2, 11, 2) and heads (1, 2, 4, 8)
    as mvit_v2_s; keys and values pooled to 7x7 in stage 1 as there (stride 2 at 56 px, 8 at 224)."""
    arch = dict(dims=(32, 64, 128, 256), depths=(1, 2, 11, 2), num_heads=(1, 2, 4, 8), **_NANO)
    return _mvit(arch, kwargs)


# ----------------------------------------------------------------------------- R3D, R(2+1)D (torchvision)
def _resnet(arch: dict, kwargs: dict) -> nn.Module:
    from .peer_adapters import VideoResNet3d

    return VideoResNet3d(**{**arch, **kwargs})


@register_model(input="clip", num_frames=16, input_size=112, **_RESNET)
def r3d_18(**kwargs) -> nn.Module:
    """torchvision r3d_18: 3D ResNet-18, widths 64..512, 16x112 clips in its recipe."""
    return _resnet(dict(conv="3d", width=64), kwargs)


@register_model(input="clip", num_frames=16, input_size=112, **_RESNET)
def r2plus1d_18(**kwargs) -> nn.Module:
    """torchvision r2plus1d_18: (2+1)D ResNet-18, widths 64..512, 16x112 clips in its recipe."""
    return _resnet(dict(conv="2plus1d", width=64), kwargs)


@register_model(input="clip", **_NANO, **_RESNET)
def r3d_nano(**kwargs) -> nn.Module:
    """r3d_18 at a quarter of its width: stage widths (16, 32, 64, 128), stem 16, depth 18 kept."""
    return _resnet(dict(conv="3d", width=16, num_frames=8), kwargs)


@register_model(input="clip", **_NANO, **_RESNET)
def r2plus1d_nano(**kwargs) -> nn.Module:
    """r2plus1d_18 at a quarter of its width: stage widths (16, 32, 64, 128), stem 3 -> 11 -> 16 (torchvision's
    45 -> 64 scaled alike), depth 18 kept; the (2+1)D middle widths follow torchvision's rule."""
    return _resnet(dict(conv="2plus1d", width=16, num_frames=8), kwargs)


# ----------------------------------------------------------------------------- S3D (torchvision)
def _s3d(arch: dict, kwargs: dict) -> nn.Module:
    from .peer_adapters import S3DNet

    return S3DNet(**{**arch, **kwargs})


@register_model(input="clip", num_frames=16, min_frames=13, min_size=209, **_S3D)
def s3d(**kwargs) -> nn.Module:
    """torchvision s3d: its 2x7x7 final average pool needs clips of at least 13 frames at 209 px."""
    return _s3d(dict(), kwargs)


@register_model(input="clip", **_NANO, **_S3D)
def s3d_nano(**kwargs) -> nn.Module:
    """s3d with every channel count times 2/3 (rounded) and a global average pool in place of the 2x7x7 one
    (which does not fit 8x56 clips, whose last map is 1x2x2)."""
    return _s3d(dict(width=2 / 3, global_pool=True, num_frames=8), kwargs)


# ----------------------------------------------------------------------------- X3D (pytorchvideo)
def _x3d(arch: dict, kwargs: dict) -> nn.Module:
    from .peer_adapters import X3D

    return X3D(**{**arch, **kwargs})


@register_model(input="clip", num_frames=4, input_size=160, **_X3D)
def x3d_xs(**kwargs) -> nn.Module:
    """pytorchvideo X3D-XS: create_x3d (width 2.0, depth 2.2, bottleneck 2.25) at 4x160."""
    return _x3d(dict(num_frames=4, input_size=160), kwargs)


@register_model(input="clip", num_frames=13, input_size=160, **_X3D)
def x3d_s(**kwargs) -> nn.Module:
    """pytorchvideo X3D-S: X3D-XS's network at 13x160."""
    return _x3d(dict(num_frames=13, input_size=160), kwargs)


@register_model(input="clip", num_frames=16, input_size=224, **_X3D)
def x3d_m(**kwargs) -> nn.Module:
    """pytorchvideo X3D-M: X3D-XS's network at 16x224 (the hub's x3d_m, logits instead of softmax)."""
    return _x3d(dict(num_frames=16, input_size=224), kwargs)


@register_model(input="clip", num_frames=16, input_size=312, **_X3D)
def x3d_l(**kwargs) -> nn.Module:
    """pytorchvideo X3D-L: depth factor 5.0, at 16x312; at 8x56 0.35 GFLOPs, sized like the ``*_nano`` peers."""
    return _x3d(dict(num_frames=16, input_size=312, depth_factor=5.0), kwargs)


# ----------------------------------------------------------------------------- joint space-time ViT (ours)
def _vit3d(arch: dict, kwargs: dict) -> VisionTransformer3d:
    return VisionTransformer3d(**{**arch, **kwargs})


@register_model(input="clip", num_frames=16, size_multiple=16, **_VIT)
def vit3d_base(**kwargs) -> VisionTransformer3d:
    """ViT-B with joint space-time attention over 2x16x16 tubelets (VideoMAE's ViT-B classifier)."""
    return _vit3d(dict(dim=768, depth=12, num_heads=12), kwargs)


@register_model(input="clip", num_frames=16, size_multiple=16, **_VIT)
def vit3d_small(**kwargs) -> VisionTransformer3d:
    """ViT-S (dim 384, depth 12, 6 heads) with joint space-time attention over 2x16x16 tubelets."""
    return _vit3d(dict(dim=384, depth=12, num_heads=6), kwargs)


@register_model(input="clip", num_frames=16, size_multiple=16, **_VIT)
def vit3d_tiny(**kwargs) -> VisionTransformer3d:
    """ViT-Ti (dim 192, depth 12, 3 heads) with joint space-time attention over 2x16x16 tubelets."""
    return _vit3d(dict(dim=192, depth=12, num_heads=3), kwargs)


@register_model(input="clip", **_NANO, size_multiple=8, **_VIT)
def vit3d_nano(**kwargs) -> VisionTransformer3d:
    """ViT with dim 128, depth 6, 2 heads (head dim 64 as ViT-S/B) over 2x8x8 tubelets: 56 px is not whole
    16 px patches, and 8 px gives the 7x7 grid ViT-B/32 has at 224."""
    return _vit3d(dict(dim=128, depth=6, num_heads=2, patch_size=8, num_frames=8), kwargs)
