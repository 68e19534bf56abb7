"""Config -> models: the one place where the run configuration becomes model arguments.

``build_model`` gives a freshly initialised model (initial weights, ``TRAIN.CHECKPOINT_FILE_PATH``, and
torch.compile are the engine's business); ``build_eval_model`` gives one with a trained checkpoint's
weights, for test-only runs and the demo alike.
"""

from __future__ import annotations

from fvcore.common.config import CfgNode
from torch import nn

from .registry import create_model, model_info
from .weights import load_checkpoint, load_eval_weights


def build_model(cfg: CfgNode) -> nn.Module:
    """A freshly initialised model as ``cfg.MODEL`` and ``cfg.DATA.NUM_FRAMES`` describe it."""
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


def build_eval_model(cfg: CfgNode, path: str, state: dict | None = None) -> nn.Module:
    """``build_model(cfg)`` with the trained weights of checkpoint ``path``, in eval mode.

    ``state`` is the file already read by ``load_checkpoint`` (it is not read again). Its EMA weights
    with TEST.USE_EMA when it has them, else its model weights; anything that does not fit the model
    (the head included) is a CheckpointError naming ``path`` (see ``load_eval_weights``).
    """
    model = build_model(cfg)
    load_eval_weights(model, load_checkpoint(path) if state is None else state, source=path, use_ema=cfg.TEST.USE_EMA)
    return model.eval()
