"""Whole videos through a trained model: sliding windows -> scores -> table, JSON, timeline, annotated video.

:mod:`.windows` (where the clips go), :mod:`.predictor` (scoring), :mod:`.visualize` (what people
see), :mod:`.build` (config + checkpoint -> predictor), :mod:`.features` (each window's pooled
features for downstream models). ``tools/demo.py`` and ``tools/extract_features.py`` are the command lines.
"""

from .build import (
    build_export_predictor,
    build_predictor,
    checkpoint_config,
    export_config,
    export_metadata,
    find_checkpoint,
    resolve_device,
)
from .features import (
    ExtractionSummary,
    FeatureExtractor,
    VideoFeatures,
    extract_videos,
    failed_report_path,
    output_stems,
)
from .onnx_model import OnnxModel
from .predictor import Label, Prediction, Predictor, topk_labels, window_record
from .visualize import ENCODERS, format_table, plot_timeline, render_panel, write_annotated_video
from .windows import Window, sliding_windows, window_clip_indices

__all__ = [
    "OnnxModel",
    "build_export_predictor",
    "export_config",
    "export_metadata",
    "ENCODERS",
    "ExtractionSummary",
    "FeatureExtractor",
    "Label",
    "Prediction",
    "Predictor",
    "VideoFeatures",
    "Window",
    "build_predictor",
    "checkpoint_config",
    "extract_videos",
    "failed_report_path",
    "find_checkpoint",
    "format_table",
    "output_stems",
    "plot_timeline",
    "render_panel",
    "resolve_device",
    "sliding_windows",
    "topk_labels",
    "window_clip_indices",
    "window_record",
    "write_annotated_video",
]
