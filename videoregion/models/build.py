"""Config -> models: the one place where the run configuration becomes model arguments.

``build_model`` gives a freshly initialised model (initial weights, ``TRAIN.CHECKPOINT_FILE_PATH``, and
torch.compile are the engine's business); ``build_eval_model`` gives one with a trained checkpoint's
weights, for test-only runs and the demo alike. Each model gets only the options its registry entry
says it takes (``ModelInfo.options``); a config that asks a model for something it cannot do is a
one-line ConfigError naming the key.
"""

from __future__ import annotations

from fvcore.common.config import CfgNode
from torch import nn

from videoregion.config import get_cfg
from videoregion.errors import ConfigError

from .registry import ModelInfo, create_model, model_info
from .weights import load_checkpoint, load_eval_weights

__all__ = ["build_eval_model", "build_model", "check_clip_input", "model_kwargs"]

# MODEL key -> (builder keyword, what it asks for); a model that does not take the keyword must see the key
# at its neutral value: off for the regularisers and checkpointing, the default for RegionViT's geometry.
_MODEL_OPTIONS = {
    "DROP_PATH_RATE": ("drop_path_rate", "stochastic depth"),
    "HEAD_DROPOUT": ("head_dropout", "dropout before its classifier"),
    "GRAD_CHECKPOINTING": ("grad_checkpointing", "gradient checkpointing"),
    "TUBELET_SIZE": ("tubelet_size", "tubelet size to set"),
    "REGION_STEPS": ("region_steps", "regional tokens"),
    "STEM_TIME_KERNEL": ("stem_time_kernel", "stem time kernel to set"),
}
_NEUTRAL = {"DROP_PATH_RATE": 0.0, "HEAD_DROPOUT": 0.0, "GRAD_CHECKPOINTING": False}


def _neutral(key: str):
    return _NEUTRAL[key] if key in _NEUTRAL else get_cfg().MODEL[key]


def check_clip_input(cfg: CfgNode, frames: int, size: int, *, what: str) -> None:
    """ConfigError unless cfg's clip model can take clips of ``frames`` x ``size`` px (``what`` names where
    the numbers came from, e.g. "DATA.NUM_FRAMES 8, DATA.TEST_CROP_SIZE 56" or "--frames 8 --size 56").

    A fixed-input model (``ModelInfo.fixed_input``) takes only the shape it is built for: DATA.NUM_FRAMES x
    DATA.TRAIN_CROP_SIZE.
    """
    info = model_info(cfg.MODEL.NAME)
    problem = info.input_problem(frames, size, tubelet_size=cfg.MODEL.TUBELET_SIZE)
    if problem is None and info.fixed_input and (frames, size) != (cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE):
        problem = (f"{info.name} is built for one clip shape, DATA.NUM_FRAMES x DATA.TRAIN_CROP_SIZE = "
                   f"{cfg.DATA.NUM_FRAMES} x {cfg.DATA.TRAIN_CROP_SIZE}")
    if problem is not None:
        raise ConfigError(f"{what}: {problem}")


def _check_config_input(cfg: CfgNode, info: ModelInfo) -> None:
    frames = cfg.DATA.NUM_FRAMES
    for key in ("TRAIN_CROP_SIZE", "TEST_CROP_SIZE"):
        check_clip_input(cfg, frames, cfg.DATA[key], what=f"DATA.NUM_FRAMES {frames}, DATA.{key} {cfg.DATA[key]}")


def model_kwargs(cfg: CfgNode) -> dict:
    """The keyword arguments ``cfg`` builds its model with: what the model takes, nothing else.

    ConfigError (naming the key) when cfg sets an option the model does not have, or a clip shape it cannot take.
    """
    info = model_info(cfg.MODEL.NAME)
    kwargs = {"num_classes": cfg.MODEL.NUM_CLASSES}
    for key, (keyword, asks_for) in _MODEL_OPTIONS.items():
        value, neutral = cfg.MODEL[key], _neutral(key)
        if keyword in info.options:
            kwargs[keyword] = value
        elif value != neutral:
            raise ConfigError(f"MODEL.{key} is {value} but {info.name} ({info.family}) has no {asks_for}; "
                              f"set MODEL.{key} {neutral}")
    if info.takes_clips:
        _check_config_input(cfg, info)
        kwargs["num_frames"] = cfg.DATA.NUM_FRAMES
    if "input_size" in info.options:
        kwargs["input_size"] = cfg.DATA.TRAIN_CROP_SIZE
    return kwargs


def build_model(cfg: CfgNode) -> nn.Module:
    """A freshly initialised model as ``cfg.MODEL`` and ``cfg.DATA`` describe it (see :func:`model_kwargs`)."""
    return create_model(cfg.MODEL.NAME, **model_kwargs(cfg))


def build_eval_model(cfg: CfgNode, path: str, state: dict | None = None) -> nn.Module:
    """``build_model(cfg)`` with the trained weights of checkpoint ``path``, in eval mode.

    ``state`` is the file already read by ``load_checkpoint`` (it is not read again). Its EMA weights
    with TEST.USE_EMA when it has them, else its model weights; anything that does not fit the model
    (the head included) is a CheckpointError naming ``path`` (see ``load_eval_weights``).
    """
    model = build_model(cfg)
    load_eval_weights(model, load_checkpoint(path) if state is None else state, source=path, use_ema=cfg.TEST.USE_EMA)
    return model.eval()
