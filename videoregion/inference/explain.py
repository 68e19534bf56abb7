"""Where the model looked: a Grad-CAM heat map of each window's top class over the frames of its clip.

    explanations = explain_video(predictor, "video.mp4", prediction)   # one Explanation per window
    plot_explanations(explanations, "explained.png")                   # .visualize: a strip per window

The method is Grad-CAM (captum's ``LayerGradCam``, an optional extra: ``pip install -e ".[explain]"``)
on the local tokens two stages before the last (:data:`STAGE`): the clip's token maps, each channel
weighted by the gradient of the class score averaged over the clip (3D Grad-CAM), summed, and only
the positive part kept. The map is 1/8 of the input (28 x 28 at 224) per local time step. Measured on
a tiny model trained to find a moving square in every frame (tests/explain_detector.py): this stage's
heat centre lies 4-7 px from the square at 112 px, the next stage's (1/16, 7 x 7 at 112) 9-42 px off;
the last stage's local tokens do not reach the head (it pools the regional tokens).
A map is per clip: its maximum is 1.

Each window is explained on one view, the one the model saw in the middle of it: the middle clip of
the window's test clips, centre crop. :class:`Explanation` keeps the map at the layer's resolution
and where the crop lies in the decoded frame, so renderers can lay it over the frames.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from videoregion.data.batch import normalize
from videoregion.errors import ConfigError

from .predictor import Label, Prediction, Predictor
from .windows import Window, window_clip_indices

__all__ = ["STAGE", "Explanation", "explain_video", "grad_cam", "layer_grad_cam", "strip_windows", "upsample_heat"]

STAGE = -3  # the stage whose local tokens Grad-CAM weighs (see the module docstring)
CAPTUM_MISSING = 'explanations need captum: pip install -e ".[explain]"'


@dataclass
class Explanation:
    """Where the model looked in one window when it scored ``label``.

    ``heat`` (T, h, w) in [0, 1] at the layer's resolution covers the crop ``box`` (top, left, height,
    width) of the frames ``frames`` (T,) decoded at ``frame_size`` (height, width), frame t of the
    clip at heat[t]; ``images`` (T, box height, box width, 3) uint8 is that crop, when kept.
    """

    window: Window
    label: Label
    frames: torch.Tensor
    heat: torch.Tensor
    box: tuple[int, int, int, int]
    frame_size: tuple[int, int]
    images: torch.Tensor | None = None


def layer_grad_cam():
    """captum's LayerGradCam; a ConfigError that says what to install when captum is missing."""
    try:
        from captum.attr import LayerGradCam
    except ImportError:
        raise ConfigError(CAPTUM_MISSING) from None
    return LayerGradCam


def strip_windows(num_windows: int, rows: int = 12) -> list[int]:
    """Which windows a strip PNG shows: all, or ``rows`` spread evenly from the first to the last."""
    if num_windows <= rows:
        return list(range(num_windows))
    return sorted({round(i * (num_windows - 1) / (rows - 1)) for i in range(rows)})


class _ClipMap(nn.Module):
    """The identity on local tokens, seen as clips: (B*T, C, h, w) -> (B, C, T, h, w).

    Grad-CAM averages the gradient over all of a sample's positions; on this view of the tokens a
    sample is a clip, so each clip gets one weight per channel (3D Grad-CAM) instead of one per frame.
    """

    def forward(self, local: torch.Tensor, batch: int) -> torch.Tensor:
        return rearrange(local, "(b t) c h w -> b c t h w", b=batch)


def grad_cam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, stage: int = STAGE) -> torch.Tensor:
    """Grad-CAM of class ``target`` (B,) for normalised clips x (B, C, T, H, W) -> (B, T, h, w) in [0, 1].

    ``stage``: the RegionViT stage whose local tokens are weighed (not the last: see the module docstring).
    Frame t of the clip gets the map of its local time step. Computed in float32 with gradients.
    """
    stages = getattr(model, "stages", None)
    if stages is None or not getattr(model, "video", False):
        raise ConfigError(f"explanations need a video RegionViT, not {type(model).__name__}")
    if stage % len(stages) == len(stages) - 1:
        raise ValueError("the last stage's local tokens do not reach the head: explain an earlier stage")
    probe, batch = _ClipMap(), x.shape[0]

    def through_probe(module, inputs, outputs):  # the stage's local tokens pass the probe, unchanged
        region, local = outputs
        return region, rearrange(probe(local, batch), "b c t h w -> (b t) c h w")

    hook = stages[stage].register_forward_hook(through_probe)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            x = x.detach().clone().float().requires_grad_(True)
            heat = layer_grad_cam()(model, probe).attribute(x, target=target.tolist(), relu_attributions=True)
    finally:
        hook.remove()
    heat = heat.detach()[:, 0]  # (B, Tl, h, w)
    heat = heat.repeat_interleave(x.shape[2] // heat.shape[1], dim=1)  # (B, T, h, w): a local step spans a tubelet
    peak = heat.flatten(1).amax(dim=1).clamp_min(1e-12)
    return heat / peak[:, None, None, None]


def upsample_heat(heat: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., h, w) heat -> (..., H, W), bilinear (the map's cells cover the picture edge to edge)."""
    lead = heat.shape[:-2]
    up = F.interpolate(heat.reshape(-1, 1, *heat.shape[-2:]).float(), size=size, mode="bilinear",
                       align_corners=False)
    return up.reshape(*lead, *size).clamp(0, 1)


def _centre_box(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """The centre crop of a (height, width) frame, as the test transform cuts it."""
    return (height - size) // 2, (width - size) // 2, size, size


def explain_video(
    predictor: Predictor,
    path: str,
    prediction: Prediction,
    *,
    keep_images: Collection[int] = (),
    stage: int = STAGE,
) -> list[Explanation]:
    """One :class:`Explanation` per window of ``prediction`` (made by ``predictor`` for ``path``),
    each of the window's top class; the crops of the windows in ``keep_images`` are kept for drawing."""
    reader = predictor.clips.open(path)
    middle, crop = predictor.clips_per_window // 2, predictor.clips.num_crops // 2
    keep = set(keep_images)
    per_batch = max(1, predictor.batch_size // 2)
    explanations = []
    for first in range(0, len(prediction.windows), per_batch):
        windows = prediction.windows[first : first + per_batch]
        indices = [window_clip_indices(w, predictor.clips.sampler, predictor.clips_per_window)[middle]
                   for w in windows]
        clips = predictor.clips.read(reader, indices)  # [(T, C, H, W) uint8]
        views = [predictor.clips.view(frames, crop) for frames in clips]  # [(C, T, s, s)]
        x = normalize(torch.stack(views).to(predictor.device), predictor.mean, predictor.std)  # (B, C, T, s, s)
        labels = [prediction.window_topk[w.index][0] for w in windows]
        heat = grad_cam(predictor.model, x, torch.tensor([label.index for label in labels]), stage).cpu()
        for w, label, frames, view, index, h in zip(windows, labels, clips, views, indices, heat):
            size = view.shape[-1]
            explanations.append(Explanation(
                w, label, index, h, _centre_box(*frames.shape[-2:], size), tuple(frames.shape[-2:]),
                view.permute(1, 2, 3, 0).contiguous() if w.index in keep else None))
    return explanations

