"""An ONNX export of tools/export.py run by onnxruntime, called like the model it came from.

    model = OnnxModel("model.onnx")
    logits = model(clips)          # (B, 3, T, H, W) float32 CPU tensor -> (B, K) float32 CPU tensor
    model.class_names, model.metadata["config"]

The :class:`~.predictor.Predictor` takes it in place of the PyTorch model (it runs on the CPU).
onnx and onnxruntime are an optional extra (``pip install -e ".[export]"``): without them this
module still imports, and opening a file is one ConfigError that says how to install them.
"""

from __future__ import annotations

import numpy as np
import torch

from .export import read_metadata, require_onnx

__all__ = ["OnnxModel"]


class OnnxModel:
    """clips -> logits through an onnxruntime session on the CPU; ``threads`` 0: onnxruntime's default."""

    def __init__(self, path: str, *, threads: int = 0):
        require_onnx(f"running {path}")
        import onnxruntime as ort

        self.metadata = read_metadata(path, "onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.path = path
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.class_names = [str(n) for n in self.metadata["class_names"]]
        self.num_classes = len(self.class_names)

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) float CPU tensor -> logits (B, K) float32."""
        x = np.ascontiguousarray(clips.detach().cpu().numpy(), dtype=np.float32)
        (logits,) = self.session.run(None, {self.input_name: x})
        return torch.from_numpy(logits)

    def __repr__(self) -> str:
        return f"OnnxModel({self.path!r}: {self.metadata['model']}, {self.num_classes} classes)"
