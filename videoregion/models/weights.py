"""Weight adaptation: the authors' checkpoints, inflation of 2D weights into video models, our own files.

``load_checkpoint(path)`` is the package's one ``torch.load`` (``weights_only=True``: a checkpoint never
runs code). ``checkpoint_filter_fn(state_dict, model)`` is a pure function from any supported state dict
to one that ``model.load_state_dict(..., strict=True)`` takes; ``load_weights`` loads one strictly, with
errors that name the file and list every missing, unexpected or misshapen key. ``load_pretrained``
(initialise a run) and ``load_eval_weights`` (evaluate a trained checkpoint) are built on them.
"""

from __future__ import annotations

import argparse
import logging
import os
import re

import torch
from torch import nn

from videoregion.errors import CheckpointError

log = logging.getLogger(__name__)

__all__ = [
    "CheckpointError",
    "checkpoint_filter_fn",
    "load_checkpoint",
    "load_eval_weights",
    "load_pretrained",
    "load_weights",
]


# The authors' names (left) and ours (right). Their "cls_token" are the regional tokens, their
# "patch_embed" the local tokenizer; block 0 of each stage is their downsampling, so their blocks
# 1..depth are our blocks 0..depth-1. The downsampling is stored twice (proj and proj_cls, the same
# module): the copy is checked and dropped.
_AUTHORS_KEYS: list[tuple[str, str]] = [
    (r"patch_embed\.proj\.(weight|bias)", r"local_embed.proj.0.\1"),  # 1conv stem
    (r"patch_embed\.proj\.(\d)\.(weight|bias)", r"local_embed.proj.\1.\2"),  # 3conv stem
    (r"cls_token\.proj\.(weight|bias)", r"region_embed.proj.\1"),
    (r"layers\.(\d+)\.block\.0\.proj\.0\.(weight|bias)", r"stages.\1.downsample.norm.\2"),
    (r"layers\.(\d+)\.block\.0\.proj\.2\.(weight|bias)", r"stages.\1.downsample.conv.\2"),
    (r"layers\.(\d+)\.peg\.weight", r"stages.\1.peg.weight"),
    (r"(norm|head)\.(weight|bias)", r"\1.\2"),
]
_AUTHORS_BLOCK = re.compile(r"layers\.(\d+)\.block\.(\d+)\.(norm0|norm1|norm2|attn|mlp)\.(.+)")
_AUTHORS_BLOCK_PARTS = {
    "norm0": "norm_region", "norm1": "norm_local", "norm2": "norm_mlp", "attn": "attn", "mlp": "mlp",
}
_AUTHORS_DUPLICATE = re.compile(r"layers\.(\d+)\.block\.0\.proj_cls\.(.+)")


def is_authors_format(state_dict: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith(("cls_token.", "layers.")) for k in state_dict)


def _rename_authors(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, unknown = {}, []
    for key, value in state_dict.items():
        duplicate = _AUTHORS_DUPLICATE.fullmatch(key)
        if duplicate:
            twin = f"layers.{duplicate[1]}.block.0.proj.{duplicate[2]}"
            if twin not in state_dict or not torch.equal(state_dict[twin], value):
                raise CheckpointError(f"{key} should be a copy of {twin} (one shared module), but it differs")
            continue
        block = _AUTHORS_BLOCK.fullmatch(key)
        if block:
            stage, index, part, rest = block.groups()
            out[f"stages.{stage}.blocks.{int(index) - 1}.{_AUTHORS_BLOCK_PARTS[part]}.{rest}"] = value
            continue
        for pattern, replacement in _AUTHORS_KEYS:
            if re.fullmatch(pattern, key):
                out[re.sub(pattern, replacement, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"keys not in the authors' RegionViT format: {', '.join(unknown)}")
    # LayerNorm2d stores (1, C, 1, 1) there and (C,) here; no other tensor of theirs has that shape.
    return {k: v.flatten() if v.dim() == 4 and v.shape[0] == 1 and v.shape[2:] == (1, 1) else v for k, v in out.items()}


def _strip_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop wrappers' prefixes: DistributedDataParallel's "module." and torch.compile's "_orig_mod."."""
    out = {}
    for key, value in state_dict.items():
        while key.startswith(("module.", "_orig_mod.")):
            key = key.split(".", 1)[1]
        out[key] = value
    return out


def _inflate(key: str, value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A 2D tensor made to fit the video model so that a static clip gives the 2D output.

    Tokenizer convs are mean-inflated in time (a static clip then sums to the 2D response); relative
    position tables are copied for every time offset.
    """
    if value.dim() == 4 and target.dim() == 5 and target.shape[:2] + target.shape[3:] == value.shape:
        frames = target.shape[2]
        return value.unsqueeze(2).repeat(1, 1, frames, 1, 1) / frames
    if key.endswith("attn.rel_pos") and value.dim() == 2 and target.shape[1] % value.shape[1] == 0:
        return value.repeat(1, target.shape[1] // value.shape[1])
    return value


def checkpoint_filter_fn(
    state_dict: dict[str, torch.Tensor], model: nn.Module, *, new_head: bool = True
) -> dict[str, torch.Tensor]:
    """Any supported state dict -> one that ``model`` loads strictly.

    Handles the authors' key names, wrapper prefixes, inflation of 2D weights into a video model
    (the tube-time table then starts at zero), and a head of another size, which is dropped so the
    model keeps its freshly initialised one when ``new_head`` (fine-tuning) and left for the strict
    load to report otherwise (evaluation). Keys that fit nothing are left for the strict load to report.
    """
    state_dict = _strip_prefixes(state_dict)
    if is_authors_format(state_dict):
        state_dict = _rename_authors(state_dict)
    target = model.state_dict()
    out = {}
    for key, value in state_dict.items():
        if key in target and value.shape != target[key].shape:
            value = _inflate(key, value, target[key])
        out[key] = value
    region_weight = state_dict.get("region_embed.proj.weight")
    inflated = getattr(model, "video", False) and region_weight is not None and region_weight.dim() == 4
    if inflated and "region_time_embed" in target and "region_time_embed" not in out:
        out["region_time_embed"] = torch.zeros_like(target["region_time_embed"])
    head_keys = [k for k in ("head.weight", "head.bias") if k in out]
    if new_head and head_keys and any(k not in target or out[k].shape != target[k].shape for k in head_keys):
        classes = out["head.weight"].shape[0] if "head.weight" in out else "?"
        log.info(
            "checkpoint head has %s classes, the model %s: the head is re-initialised",
            classes, getattr(model, "num_classes", "?"),
        )
        for k in head_keys:
            out.pop(k)
            if k in target:
                out[k] = target[k]
    return out


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint file read on the CPU, or a CheckpointError naming it.

    Loaded with ``weights_only=True``: a checkpoint never runs code. (``argparse.Namespace`` is allowed
    because training scripts in the DeiT lineage store their arguments that way.)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, corrupt or not a safe pickle: torch raises many kinds
        reason = (str(e).splitlines() or [""])[0]  # an empty file raises an error with an empty message
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {reason})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(obj).__name__}")
    return obj


def _state_dict(obj: object, source: str, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{source}: expected {what}")
    return obj


def _model_state_dict(checkpoint: dict, source: str) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint: ``{"model": state_dict, ...}`` or a bare state dict."""
    return _state_dict(checkpoint.get("model", checkpoint), source, "a state dict or a dict with a 'model' state dict")


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], *, source: str, new_head: bool = True) -> None:
    """Load ``state_dict`` into ``model`` strictly, adapted by :func:`checkpoint_filter_fn`.

    Any missing, unexpected or misshapen key is a :class:`CheckpointError` that names ``source`` (the
    file) and lists them.
    """
    state_dict = checkpoint_filter_fn(state_dict, model, new_head=new_head)
    target = model.state_dict()
    missing = sorted(set(target) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(target))
    misshapen = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(target[k].shape)}"
        for k in sorted(set(state_dict) & set(target))
        if state_dict[k].shape != target[k].shape
    ]
    if missing or unexpected or misshapen:
        problems = [f"{name}: {', '.join(keys)}" for name, keys in
                    (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)) if keys]
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(state_dict, strict=True)


def load_pretrained(model: nn.Module, path: str | os.PathLike) -> None:
    """Initialise ``model`` from a checkpoint file: ``{"model": state_dict, ...}`` or a bare state dict.

    Takes the authors' released RegionViT files (inflated when ``model`` is a video model), and ours;
    a head of another size is re-initialised (logged). Errors as :func:`load_weights`.
    """
    path = os.fspath(path)
    load_weights(model, _model_state_dict(load_checkpoint(path), path), source=path)


def load_eval_weights(model: nn.Module, checkpoint: dict, *, source: str, use_ema: bool) -> None:
    """Load a trained checkpoint's weights (read by :func:`load_checkpoint`) into ``model`` for evaluation.

    Its "ema" weights when ``use_ema`` and it has them, else its "model" weights (logged as a warning
    when ``use_ema`` asked for EMA weights). The head must fit too: a checkpoint of another class
    count is a CheckpointError, like any other misfit.
    """
    if use_ema and checkpoint.get("ema"):
        state_dict = _state_dict(checkpoint["ema"], source, "its 'ema' entry to be a state dict")
        which = "the EMA weights of "
    else:
        if use_ema:
            log.warning("%s has no EMA weights; evaluating its model weights", source)
        state_dict = _model_state_dict(checkpoint, source)
        which = ""
    load_weights(model, state_dict, source=source, new_head=False)
    log.info("loaded %s%s", which, source)
