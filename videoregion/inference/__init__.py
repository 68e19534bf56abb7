"""Whole videos through a trained model: sliding windows -> scores -> table, JSON, timeline, annotated video.

:mod:`.windows` (where the clips go), :mod:`.predictor` (scoring), :mod:`.visualize` (what people
see), :mod:`.build` (config + checkpoint -> predictor). ``tools/demo.py`` is the command line.
"""

from .build import build_predictor, checkpoint_config, find_checkpoint, resolve_device
from .predictor import Label, Prediction, Predictor, topk_labels
from .visualize import ENCODERS, format_table, plot_timeline, render_panel, write_annotated_video
from .windows import Window, sliding_windows, window_clip_indices

__all__ = [
    "ENCODERS",
    "Label",
    "Prediction",
    "Predictor",
    "Window",
    "build_predictor",
    "checkpoint_config",
    "find_checkpoint",
    "format_table",
    "plot_timeline",
    "render_panel",
    "resolve_device",
    "sliding_windows",
    "topk_labels",
    "window_clip_indices",
    "write_annotated_video",
]
