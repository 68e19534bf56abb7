"""A dataset on disk (the Kinetics layout) and a preview sheet of the classes.

Videos are encoded and the annotation files written by the code our own synthetic dataset uses
(:func:`videoregion.synthetic.encode.encode_video`, the ``kinetics`` layout of
:mod:`videoregion.data.layouts`), so the files are what ``DATA.DATASET kinetics`` reads; only the
pictures come from this generator.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from videoregion.data.annotations import (
    GENERATED_VIDEO_DIR,
    AnnotatedClass,
    AnnotatedVideo,
    write_class_names,
    write_json,
)
from videoregion.data.browse import ShownClip, Written, write_browse
from videoregion.data.layouts import LAYOUTS
from videoregion.errors import ConfigError
from videoregion.synthetic.encode import ENCODERS, check_encoder, encode_video
from videoregion.synthetic.generate import VideoJob, process_pool, split_counts

from .classes import CLASSES
from .params import sample_params, video_rng
from .render import render_frames
from .scene import VideoParams

__all__ = ["FORMAT", "GENERATOR_VERSION", "SPLIT_NAMES", "SUMMARY_FILE", "describe", "generate_dataset",
           "write_preview"]

logger = logging.getLogger(__name__)

# Bumped whenever the same arguments start to give different videos.
GENERATOR_VERSION = 1
FORMAT = "kinetics"
SPLIT_NAMES = ("train", "val", "test")
SUMMARY_FILE = "ordergen.json"


_PLURALS = {"box": "boxes", "cross": "crosses"}


def describe(params: VideoParams) -> str:
    """What a video shows, in words (the ``[something]`` of its class template)."""
    actors = [s.kind for s in params.sprites if s.role == "actor" and s.kind not in ("rect", "cup")]
    if params.action == "spin":
        return f"three {_PLURALS.get(actors[0], actors[0] + 's')}"
    if params.action == "gather":
        return " and ".join(("an " if kind[0] in "aeiou" else "a ") + kind for kind in actors)
    if params.action == "fill":
        return "a container"
    return "a scene of shapes"


def _params(seed: int, class_index: int, video_index: int, size: int, num_frames: int) -> VideoParams:
    return sample_params(video_rng(seed, class_index, video_index), action=CLASSES[class_index].action,
                         size=size, num_frames=num_frames)


def _write_video(job: VideoJob) -> str:
    """Render and encode one video; returns what it shows."""
    codec, options = ENCODERS[os.path.splitext(job.path)[1]]
    params = _params(job.seed, job.class_index, job.video_index, job.size, job.num_frames)
    encode_video(render_frames(job.class_index, params), job.path, codec=codec, fps=job.fps, crf=job.crf,
                 options=options)
    return describe(params)


def _check(size: int, num_frames: int) -> None:
    if size % 2 or size < 16:
        raise ConfigError(f"size must be even and >= 16 (yuv420p), got {size}")
    if num_frames < 2:
        raise ConfigError(f"num_frames must be >= 2, got {num_frames}")


def generate_dataset(
    out_dir: str,
    seed: int = 0,
    videos_per_class: int = 300,
    *,
    size: int = 64,
    num_frames: int = 32,
    fps: int = 30,
    crf: int = 20,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    progress: bool = False,
    workers: int = 1,
) -> dict:
    """Write the order-only dataset under ``out_dir`` in the Kinetics layout; return a summary dict.

    ``{train,val,test}.csv`` (``videos``-relative ``path label`` lines), ``classnames.json`` (name ->
    index), h264 videos ``videos/<class>/<class>_<i>.mp4`` and ``ordergen.json`` (the summary).
    Train on it with ``DATA.DATASET kinetics``, ``DATA.PATH_TO_DATA_DIR out_dir`` and
    ``DATA.PATH_PREFIX out_dir/videos``. The same arguments give the same files whatever ``workers``
    (processes that render and encode in parallel; 1 works in this process).
    """
    _check(size, num_frames)
    counts = split_counts(videos_per_class, split)
    layout = LAYOUTS[FORMAT]
    check_encoder(ENCODERS[layout.video_suffix][0])
    video_dir = os.path.join(out_dir, GENERATED_VIDEO_DIR)
    paths = {(c, i): layout.video_path(cls.name, i, c * videos_per_class + i + 1)
             for c, cls in enumerate(CLASSES) for i in range(videos_per_class)}
    for folder in sorted({os.path.dirname(rel) for rel in paths.values()}):
        os.makedirs(os.path.join(video_dir, folder), exist_ok=True)
    jobs = [VideoJob(os.path.join(video_dir, paths[c, i]), seed, c, i, size, num_frames, fps, crf)
            for c in range(len(CLASSES)) for i in range(videos_per_class)]
    videos: dict[str, list[AnnotatedVideo]] = {name: [] for name in SPLIT_NAMES}
    with process_pool(workers) as pool:
        # imap keeps the job order, so the annotation files do not depend on the worker count
        done = pool.imap(_write_video, jobs, chunksize=8) if pool else map(_write_video, jobs)
        done = tqdm(done, total=len(jobs), desc="ordergen", unit="video", disable=not progress)
        for job, thing in zip(jobs, done):
            split_name = SPLIT_NAMES[int(np.searchsorted(np.cumsum(counts), job.video_index, "right"))]
            videos[split_name].append(AnnotatedVideo(paths[job.class_index, job.video_index], job.class_index, thing))

    names = [cls.name for cls in CLASSES]
    write_class_names(os.path.join(out_dir, "classnames.json"), names)
    layout.write(out_dir, [AnnotatedClass(cls.name, cls.template) for cls in CLASSES], videos)
    summary = {"generator": "ordergen", "generator_version": GENERATOR_VERSION, "format": FORMAT, "seed": seed,
               "videos_per_class": videos_per_class, "class_names": names,
               "num_videos": {k: len(v) for k, v in videos.items()},
               "size": size, "num_frames": num_frames, "fps": fps, "crf": crf}
    write_json(os.path.join(out_dir, SUMMARY_FILE), summary)
    logger.info("wrote the ordergen dataset to %s: %s", out_dir, summary["num_videos"])
    return summary


def write_preview(path: str, seed: int = 0, *, videos: int = 1, frames: int = 8, scale: int = 2, size: int = 64,
                  num_frames: int = 32) -> Written:
    """A sheet of ``videos`` rows per class (the first videos of each, as :func:`generate_dataset`
    draws them), each ``frames`` frames spread evenly over the video and enlarged ``scale`` times;
    .png a grid, .gif an animation (:func:`videoregion.data.browse.write_browse`)."""
    _check(size, num_frames)
    if not 2 <= frames <= num_frames:
        raise ConfigError(f"preview frames must be in [2, {num_frames}], got {frames}")
    if videos < 1 or scale < 1:
        raise ConfigError(f"preview videos and scale must be >= 1, got {videos} and {scale}")
    shown = []
    picks = np.linspace(0, num_frames - 1, frames).round().astype(int)
    for c, cls in enumerate(CLASSES):
        for i in range(videos):
            params = _params(seed, c, i, size, num_frames)
            pictures = render_frames(c, params)[picks].repeat(scale, axis=1).repeat(scale, axis=2)
            clip = torch.from_numpy(pictures).permute(3, 0, 1, 2)  # (C, T, H, W)
            shown.append(ShownClip(clip, (f"{c} {cls.name}", describe(params))))
    return write_browse(shown, path)
