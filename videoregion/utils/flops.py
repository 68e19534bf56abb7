"""FLOP counting with fvcore, attention included.

fvcore counts one multiply-add as one FLOP (as the RegionViT and most video papers do) but has no
handle for ``scaled_dot_product_attention``, which it would silently count as zero.
"""

from __future__ import annotations

import logging
import warnings
from math import prod
from typing import Any

import torch
from torch import nn

# fvcore scripts a loss at import; torch now warns about torch.jit.script, which says nothing about us.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.jit_handles import get_shape

__all__ = ["count_flops", "count_params", "sdpa_flop_jit"]


def sdpa_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """Multiply-adds of softmax(q k^T) v: q (..., L, E), k (..., S, E), v (..., S, Ev)."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = prod(torch.broadcast_shapes(tuple(q[:-2]), tuple(k[:-2])))
    length, source = q[-2], k[-2]
    return batch * length * source * (q[-1] + v[-1])


def count_flops(model: nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-adds of one forward pass of ``model`` on ``inputs`` (fvcore, attention counted)."""
    analysis = FlopCountAnalysis(model.eval(), inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    logging.getLogger("fvcore.nn.jit_analysis").setLevel(logging.ERROR)
    with torch.no_grad():
        return int(analysis.total())


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
