"""Config + checkpoint -> :class:`~.predictor.Predictor`. The only module of ``inference`` that reads the config.

    path, state = find_checkpoint(cfg)                    # or (path, load_checkpoint(path))
    cfg = checkpoint_config(state, path) or cfg           # the config the checkpoint was trained with
    predictor = build_predictor(cfg, path, state=state)

A checkpoint of ours carries the config of its run and the class names, so a checkpoint alone is
enough; an explicit config (and a label file) may replace them. An export (tools/export.py) carries
what the demo needs in its metadata (:func:`export_metadata`), so it needs neither:

    model = OnnxModel("model.onnx")                       # .onnx_model
    cfg = export_config(model.metadata, "model.onnx")     # the preprocessing and demo settings it was exported with
    predictor = build_export_predictor(cfg, model, model.class_names)
 Which checkpoint, and which of its
weights, follow the same rules as a test-only run (``engine.checkpoint.checkpoint_to_evaluate``,
``models.build.build_eval_model``); nothing of the training loop is imported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import torch
import yaml
from fvcore.common.config import CfgNode

from videoregion.config import ConfigError, get_cfg, merge_opts
from videoregion.data.annotations import AnnotationError, read_class_names
from videoregion.data.build import build_clip_frames, build_clip_reader, build_transform
from videoregion.data.layouts import get_layout
from videoregion.engine.checkpoint import CheckpointError, checkpoint_to_evaluate
from videoregion.engine.precision import make_precision
from videoregion.models.build import build_eval_model
from videoregion.models.weights import load_checkpoint

from .export import ONNX_OPSET
from .predictor import Predictor

__all__ = [
    "EXPORT_KEYS", "build_export_predictor", "build_predictor", "checkpoint_config", "export_config",
    "export_metadata", "find_checkpoint", "resolve_device",
]

logger = logging.getLogger(__name__)

MAIN_JOB = "python tools/run_net.py --cfg configs/synthetic_regionvit.yaml"


def find_checkpoint(cfg: CfgNode, explicit: str = "") -> tuple[str, dict]:
    """(path, loaded state) of the checkpoint the demo takes: ``explicit`` (--checkpoint), else
    DEMO.CHECKPOINT_FILE_PATH, else OUTPUT_DIR's best checkpoint, else its newest readable one.

    A CheckpointError that says what to run when there is none.
    """
    return checkpoint_to_evaluate(
        os.path.join(cfg.OUTPUT_DIR, "checkpoints"), explicit=explicit or cfg.DEMO.CHECKPOINT_FILE_PATH,
        remedy=f"train the model first ({MAIN_JOB}), or give one with --checkpoint PATH",
    )


def checkpoint_config(state: dict, path: str, opts: list[str] | tuple[str, ...] = ()) -> CfgNode | None:
    """The config a checkpoint was trained with (then ``opts``), None when it has none."""
    text = state.get("cfg")
    if not isinstance(text, str):
        return None
    cfg = get_cfg()
    try:
        cfg.merge_from_other_cfg(CfgNode(yaml.safe_load(text)))
    except (yaml.YAMLError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: its saved config does not fit this version ({type(e).__name__}: {e})") from None
    merge_opts(cfg, list(opts))
    return cfg


def resolve_device(name: str) -> torch.device:
    """"cpu", "cuda[:N]", or "" for cuda when available."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; expected cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine; use cpu")
    return device


def class_names_for(cfg: CfgNode, path: str, state: dict, num_classes: int) -> list[str]:
    """DEMO.LABEL_FILE_PATH, else the names saved in the checkpoint, else class_0, class_1, ..."""
    labels = cfg.DEMO.LABEL_FILE_PATH
    if labels:
        names = read_class_names(labels)
        if len(names) != num_classes:
            raise AnnotationError(labels, f"names {len(names)} classes but the checkpoint {path} has {num_classes}")
        return names
    names = state.get("class_names")
    if isinstance(names, (list, tuple)) and names:
        if len(names) != num_classes:
            raise CheckpointError(f"{path}: {len(names)} class names saved for a model of {num_classes} classes")
        return [str(n) for n in names]
    logger.warning("%s holds no class names and no label file was given: numbering the classes", path)
    return [f"class_{i}" for i in range(num_classes)]


def build_predictor(cfg: CfgNode, checkpoint: str, *, state: dict | None = None) -> Predictor:
    """A predictor for ``checkpoint`` (its loaded ``state`` may be passed to avoid a second read).

    Uses cfg.MODEL (architecture), DATA (sampling, crop, normalisation, decoder), TEST.NUM_SPATIAL_CROPS,
    TEST.USE_EMA, TRAIN.MIXED_PRECISION (on GPU) and DEMO.
    """
    state = load_checkpoint(checkpoint) if state is None else state
    device = resolve_device(cfg.DEMO.DEVICE)
    model = build_eval_model(cfg, checkpoint, state)
    return _predictor(cfg, model, class_names_for(cfg, checkpoint, state, model.num_classes), device)


def build_export_predictor(cfg: CfgNode, model: Callable[[torch.Tensor], torch.Tensor],
                           class_names: Sequence[str]) -> Predictor:
    """A predictor around an exported model (``clips -> logits`` on the CPU, with ``num_classes``).

    ``cfg``: :func:`export_config` of its metadata; uses the same keys as :func:`build_predictor`
    but MODEL and TRAIN (it runs on the CPU in float32).
    """
    if cfg.DEMO.DEVICE not in ("", "cpu"):
        raise ConfigError(f"an exported model runs on the CPU here; got --device {cfg.DEMO.DEVICE}")
    return _predictor(cfg, model, class_names, torch.device("cpu"))


def _predictor(cfg: CfgNode, model, class_names: Sequence[str], device: torch.device) -> Predictor:
    return Predictor(
        model,
        class_names,
        clips=build_clip_reader(cfg, "test"),
        clip_frames=build_clip_frames(cfg),
        mean=cfg.DATA.MEAN,
        std=cfg.DATA.STD,
        window_seconds=cfg.DEMO.WINDOW_SECONDS,
        stride_seconds=cfg.DEMO.STRIDE_SECONDS,
        clips_per_window=cfg.DEMO.CLIPS_PER_WINDOW,
        ensemble_method=cfg.DATA.ENSEMBLE_METHOD,
        topk=cfg.DEMO.TOPK,
        batch_size=cfg.DEMO.BATCH_SIZE,
        device=device,
        precision=make_precision(cfg, device) if isinstance(model, torch.nn.Module) else None,
    )


# The config keys an export carries: what the demo needs to cut, normalise and combine clips as the run did.
EXPORT_KEYS = (
    "MODEL.NAME", "MODEL.NUM_CLASSES", "DATA.DATASET", "DATA.NUM_FRAMES", "DATA.SAMPLING_RATE", "DATA.TARGET_FPS",
    "DATA.TEST_CROP_SIZE", "DATA.MEAN", "DATA.STD", "DATA.ENSEMBLE_METHOD", "TEST.NUM_SPATIAL_CROPS",
    "TEST.NUM_ENSEMBLE_VIEWS", "DEMO.WINDOW_SECONDS", "DEMO.STRIDE_SECONDS", "DEMO.CLIPS_PER_WINDOW", "DEMO.TOPK",
)


def _get(cfg: CfgNode, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return list(node) if isinstance(node, (list, tuple)) else node


def export_metadata(cfg: CfgNode, checkpoint: str, class_names: Sequence[str], *, fmt: str, num_frames: int,
                    size: int, batch: int | None) -> dict:
    """What an export of ``checkpoint`` (trained as ``cfg`` says) stores about itself, as JSON types.

    The exported input is (batch, 3, num_frames, size, size), ``batch`` None for any; DATA.NUM_FRAMES
    and DATA.TEST_CROP_SIZE are stored as ``num_frames`` and ``size``, so that the demo cuts clips of
    that shape. ``config`` (:data:`EXPORT_KEYS`) is what :func:`export_config` restores; ``preprocess``
    says the same for readers outside this package.
    """
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATA.NUM_FRAMES, cfg.DATA.TEST_CROP_SIZE = num_frames, size
    test = build_transform(cfg, "test")
    return {
        "videoregion_export": 1,
        "model": cfg.MODEL.NAME,
        "checkpoint": os.path.abspath(checkpoint),
        "class_names": [str(n) for n in class_names],
        "format": fmt,
        **({"opset": ONNX_OPSET} if fmt == "onnx" else {}),
        "torch": torch.__version__,
        "input": {"name": "clips", "shape": ["batch" if batch is None else batch, 3, num_frames, size, size],
                  "dtype": "float32", "layout": "(B, C, T, H, W), RGB"},
        "output": {"name": "logits", "shape": ["batch" if batch is None else batch, len(class_names)]},
        "preprocess": {
            "decode_short_side": test.decode_size(None),
            "crop_size": size,
            "num_frames": num_frames,
            "sampling": get_layout(cfg.DATA.DATASET).sampling.name,
            "sampling_rate": cfg.DATA.SAMPLING_RATE,
            "target_fps": cfg.DATA.TARGET_FPS,
            "normalise": "(x / 255 - mean) / std per channel",
            "mean": list(cfg.DATA.MEAN),
            "std": list(cfg.DATA.STD),
            "test_clips": cfg.TEST.NUM_ENSEMBLE_VIEWS,
            "test_crops": cfg.TEST.NUM_SPATIAL_CROPS,
            "ensemble_method": cfg.DATA.ENSEMBLE_METHOD,
        },
        "config": {key: _get(cfg, key) for key in EXPORT_KEYS},
    }


def export_config(metadata: dict, path: str, opts: list[str] | tuple[str, ...] = ()) -> CfgNode:
    """The defaults with an export's stored settings (:func:`export_metadata`), then ``opts`` (unfrozen)."""
    cfg = get_cfg()
    stored = metadata.get("config")
    if not isinstance(stored, dict):
        raise CheckpointError(f"{path}: its metadata holds no config settings")
    try:
        cfg.merge_from_list([item for pair in stored.items() for item in pair])
    except (KeyError, ValueError, TypeError, AssertionError) as e:
        raise CheckpointError(f"{path}: its stored settings do not fit this version ({type(e).__name__}: {e})") \
            from None
    merge_opts(cfg, list(opts))
    return cfg
