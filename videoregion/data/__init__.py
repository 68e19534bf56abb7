"""Video data: annotation files -> records -> decode -> sample indices -> frames -> transform -> batch.

One module per arrow: :mod:`.annotations` and :mod:`.released_splits` (files -> records; :mod:`.layouts`
has one registered entry per dataset layout: its reader, sampling, flip rule and writer), :mod:`.timeline`
(what frame i of a file means), :mod:`.readers` (decode), :mod:`.sampling`
(frame indices), :mod:`.transforms` (frames -> clip), :mod:`.clips` (those three as one clip reader,
the path from a video file to views that the dataset and the demo share), :mod:`.dataset` (items,
decode failures), :mod:`.loader` (batches, skip report), :mod:`.batch` (device-side normalisation
and mixup), :mod:`.browse` (clips as the model sees them, for tools/browse_dataset.py).
:mod:`.build` turns the config into all of these.
"""

from .annotations import AnnotationError, VideoRecord
from .batch import BatchTransform, Mixup
from .build import build_batch_transform, build_clip_reader, build_dataset, build_loader, build_transform, set_epoch
from .clips import ClipReader, DecodeSettings
from .dataset import VideoDataset
from .layouts import load_annotations
from .loader import DataError, SkipReport, VideoLoader
from .readers import VideoError, open_video

__all__ = [
    "AnnotationError",
    "BatchTransform",
    "ClipReader",
    "DataError",
    "DecodeSettings",
    "Mixup",
    "SkipReport",
    "VideoDataset",
    "VideoError",
    "VideoLoader",
    "VideoRecord",
    "build_batch_transform",
    "build_clip_reader",
    "build_dataset",
    "build_loader",
    "build_transform",
    "load_annotations",
    "open_video",
    "set_epoch",
]
