"""The one place where the run configuration becomes model arguments."""

from __future__ import annotations

from fvcore.common.config import CfgNode
from torch import nn

from .registry import create_model, model_info


def build_model(cfg: CfgNode) -> nn.Module:
    """A freshly initialised model as ``cfg.MODEL`` and ``cfg.DATA.NUM_FRAMES`` describe it.

    Weights (``TRAIN.CHECKPOINT_FILE_PATH``) and torch.compile are the engine's business.
    """
    kwargs = dict(
        num_classes=cfg.MODEL.NUM_CLASSES,
        drop_path_rate=cfg.MODEL.DROP_PATH_RATE,
        head_dropout=cfg.MODEL.HEAD_DROPOUT,
        grad_checkpointing=cfg.MODEL.GRAD_CHECKPOINTING,
    )
    if model_info(cfg.MODEL.NAME).takes_clips:
        kwargs.update(
            num_frames=cfg.DATA.NUM_FRAMES,
            tubelet_size=cfg.MODEL.TUBELET_SIZE,
            region_steps=cfg.MODEL.REGION_STEPS,
        )
    return create_model(cfg.MODEL.NAME, **kwargs)
