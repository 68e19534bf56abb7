"""Autocast settings for training and evaluation, and the config -> :class:`Precision` function.

Kept apart from the training loop so that evaluation and the demo build one without importing it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch
from fvcore.common.config import CfgNode

from videoregion.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["PRECISIONS", "Precision", "make_precision"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """Autocast settings: ``dtype`` None runs in float32; float16 needs a gradient scaler."""

    device_type: str
    dtype: torch.dtype | None = None

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def make_precision(cfg: CfgNode, device: torch.device) -> Precision:
    """Autocast dtype: TRAIN.MIXED_PRECISION on GPU; float32 on the CPU unless CPU_AUTOCAST with bf16."""
    name = cfg.TRAIN.MIXED_PRECISION
    if name not in PRECISIONS:
        raise ConfigError(f"TRAIN.MIXED_PRECISION {name!r} is not one of {sorted(PRECISIONS)}")
    if device.type == "cuda":
        dtype = PRECISIONS[name]
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            logger.warning("this GPU has no bf16; using fp16 with a gradient scaler")
            dtype = torch.float16
        return Precision("cuda", dtype)
    if cfg.TRAIN.CPU_AUTOCAST and name == "bf16":
        return Precision("cpu", torch.bfloat16)
    return Precision(device.type, None)
