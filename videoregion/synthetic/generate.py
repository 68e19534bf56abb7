"""A synthetic dataset on disk: videos, the annotation files of a layout, and a generator summary."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from videoregion.data.annotations import (
    GENERATED_VIDEO_DIR,
    AnnotatedClass,
    AnnotatedVideo,
    write_class_names,
    write_json,
)
from videoregion.data.layouts import LAYOUTS
from videoregion.errors import ConfigError

from .classes import CLASSES
from .encode import ENCODERS, check_encoder, encode_video
from .params import VideoParams, sample_params, video_rng
from .render import render_frames

__all__ = ["FORMATS", "GENERATOR_VERSION", "VideoJob", "generate_dataset", "mismatches", "process_pool", "split_counts"]

logger = logging.getLogger(__name__)

# Bumped whenever the same arguments start to give different videos, so that a dataset generated
# by an older version is recognised (see :func:`mismatches`; the versions are listed in the README).
GENERATOR_VERSION = 2

# The dataset layouts (videoregion.data.layouts) whose videos this generator can encode.
FORMATS = tuple(name for name, layout in LAYOUTS.items() if layout.video_suffix in ENCODERS)

SPLIT_NAMES = ("train", "val", "test")


def split_counts(videos_per_class: int, split: Sequence[float]) -> tuple[int, int, int]:
    """Videos per class in (train, val, test): val and test rounded (at least one), train the rest."""
    if len(split) != 3 or min(split) <= 0:
        raise ConfigError(f"split must be three positive fractions (train, val, test), got {split}")
    total = float(sum(split))
    n_val = max(1, int(round(videos_per_class * split[1] / total)))
    n_test = max(1, int(round(videos_per_class * split[2] / total)))
    n_train = videos_per_class - n_val - n_test
    if n_train < 1:
        raise ConfigError(f"videos_per_class={videos_per_class} is too few for a train, val and test "
                          f"split (fractions {tuple(split)}); use at least 3")
    return n_train, n_val, n_test


def _describe(params: VideoParams) -> str:
    """What a video shows, in words (SSv2's placeholder)."""
    texture = {"plain": "plain", "stripes": "striped", "checker": "checked"}[params.texture]
    return f"{texture} {params.shape}"


class VideoJob(NamedTuple):
    """One video to render and encode (picklable, for worker processes); also the second generator's."""

    path: str
    seed: int
    class_index: int
    video_index: int
    size: int
    num_frames: int
    fps: int
    crf: int


def _write_video(job: VideoJob) -> VideoParams:
    """Render and encode one video; returns its parameters."""
    codec, options = ENCODERS[os.path.splitext(job.path)[1]]
    params = sample_params(video_rng(job.seed, job.class_index, job.video_index),
                           motion=CLASSES[job.class_index].motion, size=job.size, num_frames=job.num_frames)
    encode_video(render_frames(job.class_index, params), job.path, codec=codec, fps=job.fps, crf=job.crf,
                 options=options)
    return params


@contextlib.contextmanager
def process_pool(workers: int):
    """A process pool of ``workers`` processes, or None to work in this process (``workers <= 1``)."""
    if workers <= 1:
        yield None
        return
    # spawn, not fork: the caller may hold threads (torch, data loaders) that fork would copy mid-state
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield pool


def generate_dataset(
    out_dir: str,
    fmt: str = "kinetics",
    seed: int = 0,
    videos_per_class: int = 60,
    *,
    size: int = 64,
    num_frames: int = 32,
    fps: int = 30,
    crf: int = 20,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    num_classes: int = len(CLASSES),
    progress: bool = False,
    workers: int = 1,
) -> dict:
    """Write a ready synthetic dataset under ``out_dir`` in the layout ``fmt``; return a summary dict.

    ``fmt="kinetics"``: ``{train,val,test}.csv`` (SlowFast ``relative/path.mp4 label`` lines),
    ``classnames.json`` (name -> index) and h264 videos ``videos/<class>/<class>_<i>.mp4``.
    ``fmt="ssv2"``: ``something-something-v2-labels.json`` (template -> index as a string),
    ``something-something-v2-{train,validation,test}.json`` (id, label, template, placeholders;
    the test file keeps its labels, unlike the released one), ``classnames.json`` and VP9 videos
    ``videos/<id>.webm``. ``fmt="folder"``: h264 videos ``{train,val,test}/<class>/<class>_<i>.mp4``
    and no annotation file. ``fmt="ucf101"`` / ``"hmdb51"``: the released split files of split 1 and
    h264 videos ``videos/<class>/*.avi``. Point ``DATA.PATH_TO_DATA_DIR`` at ``out_dir`` and
    ``DATA.PATH_PREFIX`` at ``out_dir/videos``. ``synthetic.json`` holds the summary.

    The same arguments give the same files (and the same decoded frames), whatever ``workers``
    (processes that render and encode in parallel; 1 works in this process). ``num_classes``
    (even, at most 14) keeps the first pairs only (the main job takes all 14; tiny test datasets fewer).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown dataset format {fmt!r}; expected one of {FORMATS}")
    if num_classes % 2 or not 2 <= num_classes <= len(CLASSES):
        raise ConfigError(f"num_classes must be even and in [2, {len(CLASSES)}], got {num_classes}")
    if size % 2 or size < 16:
        raise ConfigError(f"size must be even and >= 16 (yuv420p), got {size}")
    counts = split_counts(videos_per_class, split)
    layout = LAYOUTS[fmt]
    check_encoder(ENCODERS[layout.video_suffix][0])
    video_dir = os.path.join(out_dir, GENERATED_VIDEO_DIR)
    classes = CLASSES[:num_classes]

    # Each video's path, from the layout; numbers count the videos of the dataset from 1.
    paths = {(c, i): layout.video_path(cls.name, i, c * videos_per_class + i + 1)
             for c, cls in enumerate(classes) for i in range(videos_per_class)}
    for folder in sorted({os.path.dirname(rel) for rel in paths.values()}):
        os.makedirs(os.path.join(video_dir, folder), exist_ok=True)
    jobs = [VideoJob(os.path.join(video_dir, paths[c, i]), seed, c, i, size, num_frames, fps, crf)
            for c in range(num_classes) for i in range(videos_per_class)]
    videos: dict[str, list[AnnotatedVideo]] = {name: [] for name in SPLIT_NAMES}
    with process_pool(workers) as pool:
        # imap keeps the job order, so the annotation files do not depend on the worker count
        done = pool.imap(_write_video, jobs, chunksize=8) if pool else map(_write_video, jobs)
        done = tqdm(done, total=len(jobs), desc=f"synthetic {fmt}", unit="video", disable=not progress)
        for job, params in zip(jobs, done):
            split_name = SPLIT_NAMES[int(np.searchsorted(np.cumsum(counts), job.video_index, "right"))]
            videos[split_name].append(
                AnnotatedVideo(paths[job.class_index, job.video_index], job.class_index, _describe(params)))

    names = [cls.name for cls in classes]
    write_class_names(os.path.join(out_dir, "classnames.json"), names)
    layout.write(out_dir, [AnnotatedClass(cls.name, cls.template) for cls in classes], videos)
    summary = {"generator_version": GENERATOR_VERSION, "format": fmt, "seed": seed,
               "videos_per_class": videos_per_class,
               "class_names": names, "num_videos": {k: len(v) for k, v in videos.items()},
               "size": size, "num_frames": num_frames, "fps": fps, "crf": crf}
    write_json(os.path.join(out_dir, "synthetic.json"), summary)
    logger.info("wrote synthetic %s dataset to %s: %s", fmt, out_dir, summary["num_videos"])
    return summary


def mismatches(out_dir: str, **expected) -> list[str]:
    """How the dataset in ``out_dir`` differs from what :func:`generate_dataset` would write now.

    ``expected`` holds summary fields (``format``, ``seed``, ``videos_per_class``, ``size``,
    ``num_frames``, ``num_classes``); the generator version is always compared. Returns one
    ``"field: found X, expected Y"`` line per difference, or a single line when ``out_dir`` has no
    readable ``synthetic.json``; an empty list means the dataset is what these arguments give.
    """
    path = os.path.join(out_dir, "synthetic.json")
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError) as err:
        return [f"{path}: no generator summary ({err})"]
    if not isinstance(summary, dict):
        return [f"{path}: not a generator summary"]
    found = dict(summary, num_classes=len(summary.get("class_names", [])))
    expected = dict(expected, generator_version=GENERATOR_VERSION)
    return [f"{key}: found {found.get(key)!r}, expected {value!r}"
            for key, value in expected.items() if found.get(key) != value]
