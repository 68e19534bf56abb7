"""A trained model as a file that runs without this package: ONNX, TorchScript or torch.export.

    export_model(model, path, "onnx", num_frames=8, size=56, batch=None, metadata=meta)  # None: any batch
    loaded, meta = load_export(path)              # (clips (B, 3, T, H, W) -> logits (B, K), metadata)
    largest = max_abs_difference(model, loaded, clips)

The exported model takes the normalised clip, float32 (B, 3, T, H, W) as
:func:`~videoregion.data.batch.normalize` makes it, and returns logits (B, K). The metadata (class
names, preprocessing, model, checkpoint; made by :func:`~.build.export_metadata`) travels inside the
file: ONNX ``metadata_props`` (key :data:`METADATA_KEY`, a JSON string), TorchScript ``_extra_files``
and torch.export ``extra_files`` (file :data:`METADATA_KEY`). The demo reads it from there
(:func:`~.build.export_config`).

ONNX goes through the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): the
dynamo exporter of torch 2.14 cannot convert the model's 5-D scaled_dot_product_attention.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from videoregion.errors import CheckpointError, ConfigError, OutputError

__all__ = [
    "FORMATS", "INSTALL_EXPORT", "MAX_DYNAMIC_BATCH", "METADATA_KEY", "ONNX_OPSET", "TOLERANCE", "export_model",
    "format_of", "load_export", "max_abs_difference", "read_metadata", "require_onnx", "time_interleaved",
]

FORMATS = ("onnx", "torchscript", "exported")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".pt2": "exported"}
METADATA_KEY = "videoregion.json"
ONNX_OPSET = 17
# the largest absolute difference of an export's logits from eager PyTorch that passes the check (float32)
TOLERANCE = 1e-3
# torch.export needs a bound on a dynamic batch; far beyond any batch a CPU runs
MAX_DYNAMIC_BATCH = 1024
INSTALL_EXPORT = 'pip install -e ".[export]"  (onnx and onnxruntime)'

Model = Callable[[torch.Tensor], torch.Tensor]


def require_onnx(what: str) -> None:
    """A ConfigError with the install command when onnx or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"{what} needs onnx and onnxruntime ({e}); install them: {INSTALL_EXPORT}") from None


def format_of(path: str) -> str:
    """The format a file name implies: .onnx, .pt (TorchScript), .pt2 (torch.export)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in SUFFIXES:
        raise ConfigError(f"{path}: cannot tell the export format from {ext or 'no extension'}; "
                          f"use {', '.join(f'{e} ({f})' for e, f in SUFFIXES.items())} or give --format")
    return SUFFIXES[ext]


def _without_chunking(model: nn.Module) -> nn.Module:
    """A copy whose MLPs and attention run in one call: a traced row-chunk loop (:mod:`~videoregion.models.chunked`)
    would be fixed to the example's row count and wrong for another batch."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if hasattr(module, "chunk_rows"):
            module.chunk_rows = 1 << 62
    return model


def export_model(model: nn.Module, path: str, fmt: str, *, num_frames: int, size: int, batch: int | None,
                 metadata: dict) -> None:
    """Write ``model`` (eval mode, on the CPU) to ``path`` in ``fmt`` for clips (batch, 3, num_frames, size, size).

    ``batch`` None: any batch size. An OutputError when ``path`` cannot be written.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
    model = _without_chunking(model)
    example = torch.randn(2 if batch is None else batch, 3, num_frames, size, size)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with warnings.catch_warnings():
            # tracing warns at each Python branch on a shape: those shapes are fixed (the batch, which
            # no branch reads, aside), and the export is checked against eager PyTorch once written
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*[Cc]onstant folding.*")
            _write(model, example, path, fmt, dynamic=batch is None, text=json.dumps(metadata))
    except OSError as e:
        raise OutputError(f"{path}: cannot write the export ({e.strerror or e})") from None


def _write(model: nn.Module, example: torch.Tensor, path: str, fmt: str, *, dynamic: bool, text: str) -> None:
    if fmt == "onnx":
        _export_onnx(model, example, path, dynamic=dynamic, text=text)
    elif fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
        torch.jit.save(traced, path, _extra_files={METADATA_KEY: text})
    else:
        dims = {"x": {0: torch.export.Dim("batch", min=1, max=MAX_DYNAMIC_BATCH)}} if dynamic else None
        with torch.no_grad():
            program = torch.export.export(model, (example,), dynamic_shapes=dims)
        torch.export.save(program, path, extra_files={METADATA_KEY: text})


def _export_onnx(model: nn.Module, example: torch.Tensor, path: str, *, dynamic: bool, text: str) -> None:
    require_onnx("--format onnx")
    import onnx

    axes = {"clips": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    with torch.no_grad():
        torch.onnx.export(model, (example,), path, input_names=["clips"], output_names=["logits"],
                          dynamic_axes=axes, opset_version=ONNX_OPSET, dynamo=False)
    proto = onnx.load(path)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text
    onnx.save(proto, path)


def _parse(path: str, text: str | bytes | None) -> dict:
    if not text:
        raise CheckpointError(f"{path}: holds no videoregion metadata ({METADATA_KEY}); "
                              "export the model with tools/export.py")
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: its metadata is not JSON ({e})") from None
    missing = [k for k in ("model", "class_names", "config", "input") if k not in metadata]
    if missing:
        raise CheckpointError(f"{path}: its metadata lacks {', '.join(missing)}")
    return metadata


def read_metadata(path: str, fmt: str | None = None) -> dict:
    """The metadata stored in an export (a CheckpointError when the file has none or cannot be read)."""
    fmt = fmt or format_of(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such export file")
    try:
        if fmt == "onnx":
            require_onnx("reading an ONNX export")
            import onnx

            props = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
            return _parse(path, props.get(METADATA_KEY))
        extra = {METADATA_KEY: ""}
        if fmt == "torchscript":
            torch.jit.load(path, map_location="cpu", _extra_files=extra)
        else:
            torch.export.load(path, extra_files=extra)
        return _parse(path, extra[METADATA_KEY])
    except (RuntimeError, ValueError, OSError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable {fmt} export ({type(e).__name__}: {e})") from None


def load_export(path: str, fmt: str | None = None, *, threads: int = 0) -> tuple[Model, dict]:
    """(clips -> logits on CPU tensors, metadata) of an export; ONNX runs in onnxruntime."""
    fmt = fmt or format_of(path)
    metadata = read_metadata(path, fmt)
    if fmt == "onnx":
        from .onnx_model import OnnxModel

        model = OnnxModel(path, threads=threads)
        return model, model.metadata
    if fmt == "torchscript":
        return torch.jit.load(path, map_location="cpu").eval(), metadata
    return torch.export.load(path).module(), metadata


@torch.no_grad()
def max_abs_difference(reference: nn.Module, exported: Model, clips: torch.Tensor) -> float:
    """The largest absolute difference between the logits of ``reference`` and ``exported`` on ``clips``."""
    expected = reference(clips).float()
    got = torch.as_tensor(exported(clips)).float()
    if got.shape != expected.shape:
        raise CheckpointError(f"the export returned logits of shape {tuple(got.shape)}, "
                              f"eager PyTorch {tuple(expected.shape)}")
    return float((got - expected).abs().max())


def time_interleaved(models: dict[str, Model], clips: torch.Tensor, rounds: int,
                     warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each model, the models taking turns round by round (so that a
    slower or busier stretch of the machine hits all of them alike)."""
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for r in range(warmup + rounds):
            for name, model in models.items():
                start = time.perf_counter()
                model(clips)
                if r >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
