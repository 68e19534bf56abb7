"""Speed and memory of RegionViT-3D beside video peers: workloads, measurements and the report.

``tools/benchmark.py`` parses arguments and prints; everything it measures lives here:
:mod:`.peers` (the peer models), :mod:`.measure` (workloads, timing, fresh-process memory, rows),
:mod:`.report` (tables and plot), :mod:`.timing` (interleaved timing, memory and machine probes).
``tools/benchmark_data.py`` likewise: :mod:`.data_pipeline` times our data pipeline against pytorchvideo's.
"""

from .measure import (
    MODES,
    Cell,
    Settings,
    plan_cells,
    run_benchmark,
    skip_missing_peers,
    skip_unavailable_onnx,
)
from .peers import NUM_CLASSES, PEERS, build_benchmark_model, known_models, missing_requirement
from .report import plot, report

__all__ = [
    "MODES",
    "NUM_CLASSES",
    "PEERS",
    "Cell",
    "Settings",
    "build_benchmark_model",
    "known_models",
    "missing_requirement",
    "plan_cells",
    "plot",
    "report",
    "run_benchmark",
    "skip_missing_peers",
    "skip_unavailable_onnx",
]
