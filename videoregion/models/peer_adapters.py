"""torchvision's and pytorchvideo's video classifiers with our model interface, random weights only.

Each class subclasses the library's own, so that its parameters keep the library's names and its
initialisation; what it adds is the interface the rest of videoregion relies on (``num_classes``,
``num_frames``, ``num_features``, ``forward_features``, ``forward_head(pre_logits=)``,
``no_weight_decay``) and, where the library hard-codes widths, a width argument so that the
compute-matched variants of :mod:`.peers` are the same architectures scaled. Nothing here downloads.

Imported only when a peer is built (torchvision's import costs seconds): see :mod:`.peers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from pytorchvideo.models.net import Net
from pytorchvideo.models.x3d import create_x3d
from torch import nn
from torchvision.models.video.mvit import MSBlockConfig, MViT
from torchvision.models.video.resnet import (
    BasicBlock,
    Conv2Plus1D,
    Conv3DSimple,
    VideoResNet,
)
from torchvision.models.video.s3d import S3D, SepInceptionBlock3D, TemporalSeparableConv
from torchvision.models.video.swin_transformer import SwinTransformer3d
from torchvision.ops.misc import Conv3dNormActivation

__all__ = ["MViTv2", "S3DNet", "Swin3d", "VideoResNet3d", "X3D", "mvit_v2_blocks"]


# ----------------------------------------------------------------------------- Video Swin
class Swin3d(SwinTransformer3d):
    """torchvision's Video Swin Transformer; input (B, 3, T, H, W) of any size (windows pad)."""

    def __init__(
        self,
        *,
        embed_dim: int,
        depths: Sequence[int],
        num_heads: Sequence[int],
        patch_size: Sequence[int] = (2, 4, 4),
        window_size: Sequence[int] = (8, 7, 7),
        num_frames: int = 32,
        num_classes: int = 400,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__(patch_size=list(patch_size), embed_dim=embed_dim, depths=list(depths),
                         num_heads=list(num_heads), window_size=list(window_size), num_classes=num_classes,
                         stochastic_depth_prob=drop_path_rate)
        self.num_frames = num_frames

    def no_weight_decay(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if n.endswith("relative_position_bias_table")}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, T/2, H/32, W/32, C) after the last stage's norm."""
        return self.norm(self.features(self.pos_drop(self.patch_embed(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avgpool(x.permute(0, 4, 1, 2, 3)).flatten(1)  # (B, C)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ----------------------------------------------------------------------------- MViTv2
def mvit_v2_blocks(
    dims: Sequence[int], depths: Sequence[int], num_heads: Sequence[int], kv_stride: int
) -> list[MSBlockConfig]:
    """torchvision's MViTv2 block table from its stages: the first block of each later stage pools the
    queries 2x in space and widens to the stage's dim; keys and values are pooled ``kv_stride``x in space in
    the first stage and half as much more in each later one (8, 4, 2, 1 in mvit_v2_s at 224 px)."""
    blocks, width, stride = [], dims[0], kv_stride
    for stage, (dim, depth, heads) in enumerate(zip(dims, depths, num_heads, strict=True)):
        for i in range(depth):
            first = stage > 0 and i == 0
            stride = max(1, stride // 2) if first else stride
            blocks.append(MSBlockConfig(
                num_heads=heads, input_channels=width, output_channels=dim, kernel_q=[3, 3, 3],
                kernel_kv=[3, 3, 3], stride_q=[1, 2, 2] if first else [1, 1, 1], stride_kv=[1, stride, stride],
            ))
            width = dim
    return blocks


class MViTv2(MViT):
    """torchvision's MViTv2 (pooling attention, relative positions, residual pooling) built for one clip shape:
    ``num_frames`` x ``input_size`` (its relative position tables are sized from it). Keys and values are
    pooled to a 7x7 grid in the first stage, as mvit_v2_s does at 224 px: stride input_size // 28 (8 at 224)."""

    def __init__(
        self,
        *,
        dims: Sequence[int],
        depths: Sequence[int],
        num_heads: Sequence[int],
        num_frames: int = 16,
        input_size: int = 224,
        num_classes: int = 400,
        drop_path_rate: float = 0.2,
        head_dropout: float = 0.5,
    ) -> None:
        blocks = mvit_v2_blocks(dims, depths, num_heads, kv_stride=max(1, input_size // 28))
        super().__init__(spatial_size=(input_size, input_size), temporal_size=num_frames, block_setting=blocks,
                         residual_pool=True, residual_with_cls_embed=False, rel_pos_embed=True,
                         proj_after_attn=True, dropout=head_dropout, stochastic_depth_prob=drop_path_rate,
                         num_classes=num_classes)
        self.num_frames = num_frames
        self.input_size = input_size
        self.num_classes = num_classes
        self.num_features = dims[-1]

    def no_weight_decay(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if n.endswith(("rel_pos_h", "rel_pos_w", "rel_pos_t"))
                or n.startswith("pos_encoding.")}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, 1 + tokens, C): the class token first."""
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # (B, T/2 * H/4 * W/4, C)
        x = self.pos_encoding(x)
        thw = (self.pos_encoding.temporal_size,) + self.pos_encoding.spatial_size
        for block in self.blocks:
            x, thw = block(x, thw)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]  # the class token
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ----------------------------------------------------------------------------- R3D, R(2+1)D
class _R2Plus1dStem(nn.Sequential):
    """torchvision's R2Plus1dStem (3 -> 45 -> 64 channels) at width ``width`` (45 scaled alike, rounded)."""

    def __init__(self, width: int) -> None:
        mid = round(45 * width / 64)
        super().__init__(
            nn.Conv3d(3, mid, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, width, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )


class _BasicStem(nn.Sequential):
    """torchvision's BasicStem (3 -> 64 channels, 3x7x7) at width ``width``."""

    def __init__(self, width: int) -> None:
        super().__init__(
            nn.Conv3d(3, width, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )


class VideoResNet3d(VideoResNet):
    """torchvision's VideoResNet (BasicBlocks) with the widths of its four stages ``width * (1, 2, 4, 8)``
    (64 in r3d_18 and r2plus1d_18); ``conv`` "3d" for R3D, "2plus1d" for R(2+1)D. Any input size."""

    def __init__(
        self,
        *,
        conv: str,
        layers: Sequence[int] = (2, 2, 2, 2),
        width: int = 64,
        num_frames: int = 16,
        num_classes: int = 400,
    ) -> None:
        builders = {"3d": (Conv3DSimple, _BasicStem), "2plus1d": (Conv2Plus1D, _R2Plus1dStem)}
        conv_builder, stem = builders[conv]
        # VideoResNet.__init__ fixes the widths at 64..512; this is its body with them scaled.
        nn.Module.__init__(self)
        self.inplanes = width
        self.stem = stem(width)
        self.layer1 = self._make_layer(BasicBlock, conv_builder, width, layers[0], stride=1)
        self.layer2 = self._make_layer(BasicBlock, conv_builder, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, conv_builder, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, conv_builder, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(8 * width, num_classes)
        _video_resnet_init(self)
        self.num_frames = num_frames
        self.num_classes = num_classes
        self.num_features = 8 * width

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, C, T/8, H/16, W/16)."""
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avgpool(x).flatten(1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _video_resnet_init(model: nn.Module) -> None:
    # VideoResNet.__init__'s initialisation, verbatim.
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)


# ----------------------------------------------------------------------------- S3D
# torchvision S3D's layers after the stem: an inception block is (b0_out, b1_mid, b1_out, b2_mid, b2_out,
# b3_out) (its input width is the previous output), "pool3" a 3x3x3 stride-2 max pool, "pool2" 2x2x2 stride 2.
_S3D_LAYERS: tuple = (
    (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "pool3",
    (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
    (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), "pool2",
    (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128),
)


def _s3d_features(width: float, norm_layer) -> tuple[nn.Sequential, int]:
    """torchvision S3D's ``features`` with every channel count times ``width`` (rounded), and its output width."""
    def c(n: int) -> int:
        return max(1, round(n * width))

    layers: list[nn.Module] = [
        TemporalSeparableConv(3, c(64), 7, 2, 3, norm_layer),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        Conv3dNormActivation(c(64), c(64), kernel_size=1, stride=1, norm_layer=norm_layer),
        TemporalSeparableConv(c(64), c(192), 3, 1, 1, norm_layer),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
    ]
    channels = c(192)
    for spec in _S3D_LAYERS:
        if spec == "pool3":
            layers.append(nn.MaxPool3d(kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1)))
        elif spec == "pool2":
            layers.append(nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)))
        else:
            b0, b1_mid, b1, b2_mid, b2, b3 = (c(n) for n in spec)
            layers.append(SepInceptionBlock3D(channels, b0, b1_mid, b1, b2_mid, b2, b3, norm_layer))
            channels = b0 + b1 + b2 + b3
    return nn.Sequential(*layers), channels


class S3DNet(S3D):
    """torchvision's S3D with channel counts times ``width``. ``global_pool`` False keeps its 2x7x7 average
    pool (clips of >= 13 frames at >= 209 px: the pool must fit the last feature map), True pools the whole
    map (any clip)."""

    def __init__(
        self,
        *,
        width: float = 1.0,
        global_pool: bool = False,
        num_frames: int = 16,
        num_classes: int = 400,
        head_dropout: float = 0.2,
    ) -> None:
        # S3D.__init__ fixes the channel counts; this is its body with them scaled.
        nn.Module.__init__(self)
        norm_layer = partial(nn.BatchNorm3d, eps=0.001, momentum=0.001)
        self.features, channels = _s3d_features(width, norm_layer)
        self.avgpool = nn.AdaptiveAvgPool3d(1) if global_pool else nn.AvgPool3d(kernel_size=(2, 7, 7), stride=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=head_dropout),
            nn.Conv3d(channels, num_classes, kernel_size=1, stride=1, bias=True),
        )
        self.num_frames = num_frames
        self.num_classes = num_classes
        self.num_features = channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, C, T/8, H/32, W/32)."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avgpool(x)
        if pre_logits:  # the 1x1x1 classifier is linear: pooling before it is pooling after it
            return x.mean(dim=(2, 3, 4))
        return self.classifier(x).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ----------------------------------------------------------------------------- X3D
class X3D(Net):
    """pytorchvideo's X3D (``create_x3d``; xs, s and m share the network and differ in input) built for
    ``num_frames`` x ``input_size`` (its head pools a window of that size), returning logits (no softmax).

    Its Swish is nn.SiLU, the same function: pytorchvideo's own is a Python autograd Function, which
    TorchScript cannot export.
    """

    def __init__(
        self,
        *,
        num_frames: int,
        input_size: int,
        num_classes: int = 400,
        head_dropout: float = 0.5,
        depth_factor: float = 2.2,
        width_factor: float = 2.0,
    ) -> None:
        net = create_x3d(input_clip_length=num_frames, input_crop_size=input_size, model_num_class=num_classes,
                         dropout_rate=head_dropout, depth_factor=depth_factor, width_factor=width_factor,
                         inner_act=nn.SiLU, head_activation=None)
        super().__init__(blocks=net.blocks)
        self.num_frames = num_frames
        self.input_size = input_size
        self.num_classes = num_classes
        self.num_features = self.blocks[-1].proj.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, C, T, H/32, W/32) before the head's projected pool."""
        for block in self.blocks[:-1]:
            x = block(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        head = self.blocks[-1]
        if pre_logits:  # the head's projection is linear: pooling before it is pooling after it
            return head.output_pool(head.pool(x)).flatten(1)
        return head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
