"""Dataset layouts: one registered entry per way a dataset is laid out on disk.

A :class:`DatasetLayout` says everything the package needs to know about a layout: how to read its
annotation files into records, how its clips are sampled (:data:`DENSE` or :data:`SEGMENTS`),
whether a horizontal flip keeps its labels true, and how to write its annotation files and name its
videos for generated data (:mod:`videoregion.synthetic`). ``DATA.DATASET`` names the entry.

Registered: ``kinetics``, ``ssv2``, ``folder`` (:mod:`.annotations`), ``ucf101`` and ``hmdb51``
(:mod:`.released_splits`). To add a layout, write its reader and writer and register one entry::

    register_layout(DatasetLayout(name="ucf101", load=load_ucf101, sampling=DENSE, allows_flip=True,
                                  write=write_ucf101, video_stem=_ucf101_name, video_suffix=".avi"))
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from videoregion.errors import AnnotationError, ConfigError

from .annotations import (
    SPLITS,
    SSV2_VIDEO_SUFFIX,
    AnnotatedClass,
    AnnotatedVideo,
    VideoRecord,
    load_folder,
    load_kinetics,
    load_ssv2,
    write_folder,
    write_kinetics_csv,
    write_ssv2_json,
)
from .released_splits import check_fold, load_hmdb51, load_ucf101, write_hmdb51, write_ucf101
from .sampling import FrameSampler, clip_span, dense_indices, segment_indices

__all__ = [
    "DENSE",
    "LAYOUTS",
    "SEGMENTS",
    "ClipSampling",
    "DatasetLayout",
    "SamplingSettings",
    "get_layout",
    "load_annotations",
    "register_layout",
]


@dataclass(frozen=True)
class SamplingSettings:
    """What a clip is made of: ``num_frames`` frames, ``sampling_rate`` apart at ``target_fps``
    (the last two matter to dense sampling only)."""

    num_frames: int
    sampling_rate: int = 1
    target_fps: float = 30.0


@dataclass(frozen=True)
class ClipSampling:
    """How a layout's clips are drawn from a video.

    ``sampler(settings)`` is the :data:`~.sampling.FrameSampler`; ``clip_frames(settings)`` is
    ``video fps -> video frames one clip spans`` (a shorter video repeats frames).
    """

    name: str
    sampler: Callable[[SamplingSettings], FrameSampler]
    clip_frames: Callable[[SamplingSettings], Callable[[float], float]]


def _dense_sampler(s: SamplingSettings) -> FrameSampler:
    return functools.partial(dense_indices, num_frames=s.num_frames, sampling_rate=s.sampling_rate,
                             target_fps=s.target_fps)


def _dense_span(s: SamplingSettings) -> Callable[[float], float]:
    return functools.partial(clip_span, num_frames=s.num_frames, sampling_rate=s.sampling_rate,
                             target_fps=s.target_fps)


def _segment_sampler(s: SamplingSettings) -> FrameSampler:
    return functools.partial(segment_indices, num_frames=s.num_frames)


def _frames_per_segment_clip(video_fps: float, *, num_frames: int) -> float:
    return num_frames  # one frame from each of num_frames segments, whatever the frame rate


def _segment_span(s: SamplingSettings) -> Callable[[float], float]:
    return functools.partial(_frames_per_segment_clip, num_frames=s.num_frames)


# Kinetics-style: consecutive frames at a fixed stride in time (:func:`~.sampling.dense_indices`).
DENSE = ClipSampling("dense", _dense_sampler, _dense_span)
# SSv2-style: the whole video cut into equal segments, one frame each (:func:`~.sampling.segment_indices`).
SEGMENTS = ClipSampling("segments", _segment_sampler, _segment_span)

# (data_dir, split, path_prefix, class_names_file=..., num_classes=..., fold=...) -> (records, class names)
AnnotationLoader = Callable[..., "tuple[list[VideoRecord], list[str]]"]
# (data_dir, classes, {split: videos}) -> None: writes the layout's annotation files in data_dir.
AnnotationWriter = Callable[[str, Sequence[AnnotatedClass], Mapping[str, Sequence[AnnotatedVideo]]], None]


@dataclass(frozen=True)
class DatasetLayout:
    """One dataset layout (``DATA.DATASET``).

    ``load``: its annotation files -> (records, class names), a reader of :mod:`.annotations`.
    ``sampling``: how its clips are drawn. ``allows_flip``: False when a mirror image changes the
    label (left / right in the class names). ``write``: its annotation files for generated videos.
    ``video_stem(class_name, index_in_class, number)``: a generated video's path relative to the
    video folder, without ``video_suffix`` (``number`` counts the videos of the dataset from 1).
    """

    name: str
    load: AnnotationLoader
    sampling: ClipSampling
    allows_flip: bool
    write: AnnotationWriter
    video_stem: Callable[[str, int, int], str]
    video_suffix: str

    def video_path(self, class_name: str, index_in_class: int, number: int) -> str:
        """A generated video's path relative to the video folder."""
        return self.video_stem(class_name, index_in_class, number) + self.video_suffix


LAYOUTS: dict[str, DatasetLayout] = {}


def register_layout(layout: DatasetLayout) -> DatasetLayout:
    if layout.name in LAYOUTS:
        raise ValueError(f"dataset layout {layout.name!r} is already registered")
    LAYOUTS[layout.name] = layout
    return layout


def get_layout(name: str) -> DatasetLayout:
    """The registered layout ``name``; a :class:`ConfigError` listing the registered ones if none."""
    if name not in LAYOUTS:
        raise ConfigError(f"DATA.DATASET {name!r} unknown; registered layouts: {sorted(LAYOUTS)}")
    return LAYOUTS[name]


def _per_class_folder(class_name: str, index_in_class: int, number: int) -> str:
    return os.path.join(class_name, f"{class_name}_{index_in_class:04d}")


def _numbered(class_name: str, index_in_class: int, number: int) -> str:
    return str(number)


def _ucf101_name(class_name: str, index_in_class: int, number: int) -> str:
    """UCF101's ``<Class>/v_<Class>_g<group>_c<clip>``, one group per video."""
    return f"{class_name}/v_{class_name}_g{index_in_class + 1:02d}_c01"


register_layout(DatasetLayout(
    name="kinetics",
    load=load_kinetics,
    sampling=DENSE,
    allows_flip=True,
    write=write_kinetics_csv,
    video_stem=_per_class_folder,
    video_suffix=".mp4",
))
register_layout(DatasetLayout(
    name="ssv2",
    load=load_ssv2,
    sampling=SEGMENTS,
    allows_flip=False,  # "from left to right" and "from right to left" are classes
    write=write_ssv2_json,
    video_stem=_numbered,
    video_suffix=SSV2_VIDEO_SUFFIX,
))
register_layout(DatasetLayout(
    name="folder",  # train/<class>/<video>, val/..., test/...: no annotation file
    load=load_folder,
    sampling=DENSE,
    allows_flip=True,
    write=write_folder,
    video_stem=_per_class_folder,
    video_suffix=".mp4",
))
register_layout(DatasetLayout(
    name="ucf101",
    load=load_ucf101,
    sampling=DENSE,
    allows_flip=True,
    write=write_ucf101,
    video_stem=_ucf101_name,
    video_suffix=".avi",
))
register_layout(DatasetLayout(
    name="hmdb51",
    load=load_hmdb51,
    sampling=DENSE,
    allows_flip=True,
    write=write_hmdb51,
    video_stem=_per_class_folder,
    video_suffix=".avi",
))


def load_annotations(
    dataset: str, data_dir: str, split: str, path_prefix: str = "", class_names_file: str = "",
    num_classes: int = 400, fold: int = 1,
) -> tuple[list[VideoRecord], list[str]]:
    """(records, class names) of ``split`` for the registered layout ``dataset``; ``fold`` (DATA.SPLIT,
    1, 2 or 3) picks one of the released train/test splits of UCF101 and HMDB51."""
    layout = get_layout(dataset)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS}")
    check_fold(fold)
    if not os.path.isdir(data_dir):
        raise AnnotationError(data_dir, "annotation folder not found (DATA.PATH_TO_DATA_DIR)")
    records, class_names = layout.load(
        data_dir, split, path_prefix, class_names_file=class_names_file, num_classes=num_classes, fold=fold
    )
    if not records:
        raise AnnotationError(data_dir, f"no videos in the {split} split")
    return records, class_names
