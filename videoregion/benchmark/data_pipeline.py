"""Clips per second of our data pipeline against pytorchvideo's Kinetics dataset (decord backend).

:func:`make_dataset` writes Kinetics-like videos (h264 with B-frames, moving texture and noise);
:func:`time_pipelines` times both pipelines doing the same work, for each worker count:

- train: a random 16-frame clip at stride 4 (64 frames at 30 fps), random short-side scale in
  [256, 320], random 224 crop, random flip, then float conversion and mean/std normalisation.
- test: ``test_views`` evenly spaced clips per video, short side scaled to 224, 3 crops of 224
  (left, centre, right), normalised.

:func:`time_repeated_augmentation` times ours alone on the train pipeline with repeated
augmentation (AUG.NUM_SAMPLE K: one decode, K crops) against K = 1, at the same clips per batch
(as a training run that only turns AUG.NUM_SAMPLE on); both rates count augmented clips.

Ours: build_loader + build_batch_transform on the CPU (on a GPU the normalisation would move to
the device). pytorchvideo: pytorchvideo.data.Kinetics(decoder="decord") with its usual clip
samplers; its transforms package does not import on this torchvision, so the same operations
(UniformTemporalSubsample, Normalize, short_side_scale, crops, flip) are written out below the
way pytorchvideo.transforms implements them. Rates count clips after the first batch (worker
start-up excluded).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time

import av
import numpy as np
import torch
from tqdm import tqdm

from videoregion.config import get_cfg
from videoregion.data import build_batch_transform, build_dataset, build_loader, set_epoch

__all__ = [
    "make_dataset", "time_ours", "time_pipelines", "time_pytorchvideo", "time_repeated_augmentation",
    "write_kinetics_like",
]

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


# ----------------------------------------------------------------------------- videos
def write_kinetics_like(path: str, seed: int, seconds: float = 10.0, fps: int = 30,
                        width: int = 340, height: int = 256) -> None:
    """An h264 video whose texture drifts and carries fresh noise every frame."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height * 2, width * 2, 3), dtype=np.uint8)
    texture = ((texture.astype(np.uint16) + np.roll(texture, 1, 0) + np.roll(texture, 1, 1)) // 3).astype(np.uint8)
    velocity = rng.uniform(-3, 3, 2)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "bf": "2"}
        for i in range(int(seconds * fps)):
            y, x = (np.array([height, width]) / 2 + velocity * i).astype(int) % np.array([height, width])
            frame = texture[y : y + height, x : x + width]
            noise = rng.integers(-12, 13, frame.shape, dtype=np.int16)
            frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def make_dataset(root: str, num_videos: int, seconds: float) -> None:
    os.makedirs(os.path.join(root, "videos"), exist_ok=True)
    for i in tqdm(range(num_videos), desc="generating videos", unit="video", file=sys.stderr):
        write_kinetics_like(os.path.join(root, "videos", f"{i}.mp4"), seed=i, seconds=seconds)
    # "path label" lines: SlowFast's format, which pytorchvideo's Kinetics reads too
    lines = "".join(f"{os.path.join(root, 'videos', f'{i}.mp4')} {i % 4}\n" for i in range(num_videos))
    for split in ("train", "val", "test"):
        with open(os.path.join(root, f"{split}.csv"), "w") as f:
            f.write(lines)


# ----------------------------------------------------------------------------- ours
def our_config(root: str, workers: int, batch_size: int, test_views: int, test_crops: int,
               backend: str = "decord"):
    cfg = get_cfg()
    cfg.DATA.DECODING_BACKEND = backend
    cfg.DATA.PATH_TO_DATA_DIR = root
    cfg.DATA.PATH_PREFIX = ""
    cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE, cfg.DATA.TARGET_FPS = 16, 4, 30
    cfg.DATA.TRAIN_JITTER_SCALES, cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE = [256, 320], 224, 224
    cfg.MODEL.NUM_CLASSES = 4
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = test_views, test_crops
    cfg.TRAIN.BATCH_SIZE = batch_size
    cfg.TEST.BATCH_SIZE = batch_size * test_crops
    cfg.DATA_LOADER.NUM_WORKERS = workers
    cfg.NUM_GPUS = 0
    cfg.OUTPUT_DIR = os.path.join(root, "output")
    return cfg


def time_ours(cfg, split: str, clips: int) -> float:
    loader = build_loader(cfg, split, build_dataset(cfg, split))
    to_device = build_batch_transform(cfg, split)

    def batches():
        for epoch in range(10**6):
            set_epoch(loader, epoch)
            for batch in loader:
                inputs, _ = to_device(batch, "cpu")
                yield inputs.shape[0]

    return _rate(batches(), clips)


# ----------------------------------------------------------------------------- pytorchvideo
def _subsample(video: torch.Tensor, num_frames: int) -> torch.Tensor:
    """pytorchvideo.transforms.UniformTemporalSubsample on (C, T, H, W)."""
    idx = torch.linspace(0, video.shape[1] - 1, num_frames).clamp(0, video.shape[1] - 1).long()
    return video.index_select(1, idx)


def _normalize(video: torch.Tensor) -> torch.Tensor:
    """Div255 + Normalize (per channel) on (C, T, H, W) float, as pytorchvideo's recipe does."""
    mean, std = torch.tensor(MEAN).view(3, 1, 1, 1), torch.tensor(STD).view(3, 1, 1, 1)
    return (video / 255.0 - mean) / std


def _short_side_scale(video: torch.Tensor, size: int) -> torch.Tensor:
    """pytorchvideo.transforms.functional.short_side_scale (bilinear interpolate, (C, T, H, W))."""
    _, _, h, w = video.shape
    new_h, new_w = (int(math.floor(h / w * size)), size) if w < h else (size, int(math.floor(w / h * size)))
    return torch.nn.functional.interpolate(video, size=(new_h, new_w), mode="bilinear", align_corners=False)


def _crop(video: torch.Tensor, size: int, top: int, left: int) -> torch.Tensor:
    return video[..., top : top + size, left : left + size]


def pv_train(sample: dict) -> dict:
    video = _normalize(_subsample(sample["video"], 16))
    video = _short_side_scale(video, int(torch.randint(256, 321, ())))
    h, w = video.shape[-2:]
    video = _crop(video, 224, int(torch.randint(0, h - 223, ())), int(torch.randint(0, w - 223, ())))
    if float(torch.rand(())) < 0.5:
        video = video.flip(-1)
    return {"video": video, "label": sample["label"]}


def pv_test(sample: dict, crops: int) -> dict:
    video = _short_side_scale(_normalize(_subsample(sample["video"], 16)), 224)
    h, w = video.shape[-2:]
    lefts = [(w - 224) // 2] if crops == 1 else [0, (w - 224) // 2, w - 224]
    return {"video": torch.stack([_crop(video, 224, (h - 224) // 2, left) for left in lefts]),
            "label": sample["label"]}


def time_pytorchvideo(root: str, split: str, workers: int, batch_size: int, clips: int,
                      test_views: int, test_crops: int) -> float:
    from pytorchvideo.data import Kinetics, make_clip_sampler  # slow to import; only this function needs it

    duration = 16 * 4 / 30
    if split == "train":
        sampler, transform = make_clip_sampler("random", duration), pv_train
        video_sampler = torch.utils.data.RandomSampler
    else:
        sampler = make_clip_sampler("constant_clips_per_video", duration, test_views)
        transform, video_sampler = functools.partial(pv_test, crops=test_crops), torch.utils.data.SequentialSampler
    dataset = Kinetics(data_path=os.path.join(root, f"{split}.csv"), clip_sampler=sampler, video_sampler=video_sampler,
                       transform=transform, decode_audio=False, decoder="decord")
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                         persistent_workers=workers > 0)
    per_sample = 1 if split == "train" else test_crops

    def batches():
        while True:
            for batch in loader:
                yield batch["video"].shape[0] * per_sample

    return _rate(batches(), clips)


# ----------------------------------------------------------------------------- timing
def _rate(batch_sizes, clips: int) -> float:
    """Clips per second over the batches after the first one, until ``clips`` were counted."""
    next(batch_sizes)
    done, start = 0, time.perf_counter()
    while done < clips:
        done += next(batch_sizes)
    return done / (time.perf_counter() - start)


def time_pipelines(
    root: str,
    *,
    pipelines: list[str],
    workers: list[int],
    batch_size: int,
    train_clips: int,
    test_clips: int,
    test_views: int,
    test_crops: int,
    backends: tuple[str, ...] = ("decord",),
    skip_pytorchvideo: bool = False,
) -> list[tuple[str, int, dict[str, float], float]]:
    """(pipeline, workers, {backend: ours clips/s}, pytorchvideo clips/s or nan) for each pipeline and
    worker count; the settings of one row are timed one after the other (interleaved)."""
    rows = []
    settings = [(p, w) for p in pipelines for w in workers]
    for pipeline, count in tqdm(settings, desc="timing", unit="setting", file=sys.stderr):
        clips = train_clips if pipeline == "train" else test_clips
        ours = {backend: time_ours(our_config(root, count, batch_size, test_views, test_crops, backend),
                                   pipeline, clips)
                for backend in backends}
        theirs = float("nan") if skip_pytorchvideo else time_pytorchvideo(
            root, pipeline, count, batch_size, clips, test_views, test_crops)
        rows.append((pipeline, count, ours, theirs))
    return rows


def time_repeated_augmentation(root: str, *, workers: list[int], batch_size: int, clips: int,
                               num_samples: int = 2) -> list[tuple[int, float, float]]:
    """(workers, clips/s with K = 1, clips/s with K = ``num_samples``) of our train pipeline.

    Both runs take ``batch_size * num_samples`` clips per batch; with K > 1 they come from
    ``batch_size`` videos, each decoded once.
    """
    rows = []
    for count in tqdm(workers, desc="timing repeated augmentation", unit="setting", file=sys.stderr):
        rates = []
        for k in (1, num_samples):
            cfg = our_config(root, count, batch_size * num_samples, test_views=1, test_crops=1)
            cfg.AUG.NUM_SAMPLE = k
            rates.append(time_ours(cfg, "train", clips))
        rows.append((count, *rates))
    return rows
