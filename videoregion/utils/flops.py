"""FLOP counting with fvcore, attention included.

fvcore counts one multiply-add as one FLOP (as the RegionViT and most video papers do) but has no
handle for ``scaled_dot_product_attention``, which it would silently count as zero. Everything else the
models of the registry spend their compute on (convolutions, linear layers, matmul, einsum, bmm) has a
fvcore handle; what fvcore skips in them is listed by :func:`analyse_flops` (elementwise work, pooling,
softmax and GELU, all cheap next to the products: the tests check every registered peer).
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

__all__ = ["CHEAP_OPS", "analyse_flops", "count_flops", "count_params", "sdpa_flop_jit"]

# Ops fvcore has no handle for that cost O(elements) (no products): fine to leave uncounted, as papers do.
CHEAP_OPS = frozenset(
    f"aten::{op}" for op in (
        "add", "add_", "sub", "rsub", "mul", "mul_", "div", "neg", "pow", "sqrt", "exp", "sin", "cos", "sigmoid",
        "softmax", "gelu", "silu", "relu", "relu_", "fill_", "ne", "eq", "where", "masked_fill", "clamp", "mean",
        "sum", "pad", "constant_pad_nd", "roll", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "dropout_",
        "tensor_split", "linspace", "arange", "meshgrid", "cumsum", "scatter_", "bernoulli_", "floor_divide",
        "reciprocal", "upsample_linear1d",
    )
) | {"prim::PythonOp.SwishFunction"}


def sdpa_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """Multiply-adds of softmax(q k^T) v: q (..., L, E), k (..., S, E), v (..., S, Ev)."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = prod(torch.broadcast_shapes(tuple(q[:-2]), tuple(k[:-2])))
    length, source = q[-2], k[-2]
    return batch * length * source * (q[-1] + v[-1])


def _analysis(model: nn.Module, inputs: torch.Tensor) -> FlopCountAnalysis:
    analysis = FlopCountAnalysis(model.eval(), inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    logging.getLogger("fvcore.nn.jit_analysis").setLevel(logging.ERROR)
    return analysis


def count_flops(model: nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-adds of one forward pass of ``model`` on ``inputs`` (fvcore, attention counted)."""
    return analyse_flops(model, inputs)[0]


def analyse_flops(model: nn.Module, inputs: torch.Tensor) -> tuple[int, dict[str, int]]:
    """:func:`count_flops`, and the ops of the pass it does not count, with how often each ran."""
    analysis = _analysis(model, inputs)
    with torch.no_grad():
        return int(analysis.total()), dict(analysis.unsupported_ops())


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
