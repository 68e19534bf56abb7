"""Config -> data objects. The only module of :mod:`videoregion.data` that reads the config.

    dataset = build_dataset(cfg, "train")
    loader = build_loader(cfg, "train", dataset)
    to_device = build_batch_transform(cfg, "train", num_classes=dataset.num_classes)
    for epoch in range(epochs):
        set_epoch(loader, epoch)
        for batch in loader:
            clips, targets = to_device(batch, device)
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable

import torch
import torch.distributed as dist
import torchvision.transforms.v2 as T
from fvcore.common.config import CfgNode
from torch.utils.data import DistributedSampler

from videoregion.errors import ConfigError

from .annotations import SPLITS
from .batch import BatchTransform, Mixup
from .clips import ClipReader, DecodeSettings
from .dataset import VideoDataset
from .layouts import SamplingSettings, get_layout, load_annotations
from .loader import EpochSampler, SkipReport, VideoLoader, WorkerContiguousOrder, collate_items, seed_worker
from .readers import check_backend
from .sampling import FrameSampler
from .transforms import TestTransform, TrainTransform

logger = logging.getLogger(__name__)

__all__ = [
    "build_batch_transform", "build_clip_frames", "build_clip_reader", "build_dataset", "build_loader", "build_sampler",
    "build_transform", "set_epoch",
]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS}")


def _world() -> tuple[int, int]:
    """(world size, rank) of torch.distributed, (1, 0) when it is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _sampling_settings(cfg: CfgNode) -> SamplingSettings:
    return SamplingSettings(num_frames=cfg.DATA.NUM_FRAMES, sampling_rate=cfg.DATA.SAMPLING_RATE,
                            target_fps=cfg.DATA.TARGET_FPS)


def build_clip_frames(cfg: CfgNode) -> Callable[[float], float]:
    """``fps -> frames one clip spans`` for the configured dataset layout (the dataset check's minimum
    length, the demo's default window)."""
    return get_layout(cfg.DATA.DATASET).sampling.clip_frames(_sampling_settings(cfg))


def build_sampler(cfg: CfgNode) -> FrameSampler:
    """The frame sampler of the configured dataset layout (dense or segments)."""
    return get_layout(cfg.DATA.DATASET).sampling.sampler(_sampling_settings(cfg))


@functools.cache
def _warn_no_flip(dataset: str) -> None:
    logger.warning("DATA.RANDOM_FLIP is on, but the %s layout forbids flipping (a mirror image changes "
                   "its labels): training without flips", dataset)


def _flip(cfg: CfgNode) -> bool:
    """Flip when DATA.RANDOM_FLIP asks for it and the dataset layout allows it (warned once if not)."""
    if not cfg.DATA.RANDOM_FLIP:
        return False
    if not get_layout(cfg.DATA.DATASET).allows_flip:
        _warn_no_flip(cfg.DATA.DATASET)
        return False
    return True


def build_transform(cfg: CfgNode, split: str) -> TrainTransform | TestTransform:
    """The clip transform of a split (train: augmentation; val: centre crop; test: N crops)."""
    _check_split(split)
    if split != "train":
        num_crops = cfg.TEST.NUM_SPATIAL_CROPS if split == "test" else 1
        return TestTransform(crop_size=cfg.DATA.TEST_CROP_SIZE, num_crops=num_crops)
    aug = cfg.AUG
    rand_augment = random_erasing = None
    if aug.ENABLE and aug.NUM_OPS > 0:
        rand_augment = T.RandAugment(num_ops=aug.NUM_OPS, magnitude=aug.MAGNITUDE,
                                     num_magnitude_bins=aug.NUM_MAGNITUDE_BINS)
    if aug.ENABLE and aug.RE_PROB > 0:
        random_erasing = T.RandomErasing(p=aug.RE_PROB, value="random")
    return TrainTransform(
        crop_size=cfg.DATA.TRAIN_CROP_SIZE,
        jitter_scales=tuple(cfg.DATA.TRAIN_JITTER_SCALES),
        crop_mode=cfg.DATA.TRAIN_CROP_MODE,
        rrc_scale=tuple(cfg.DATA.TRAIN_RRC_SCALE),
        rrc_ratio=tuple(cfg.DATA.TRAIN_RRC_RATIO),
        flip=_flip(cfg),
        rand_augment=rand_augment,
        random_erasing=random_erasing,
    )


def build_clip_reader(cfg: CfgNode, split: str) -> ClipReader:
    """The clips of ``split``: its frame sampler and transform, decoded as DATA.DECODING_BACKEND,
    DATA.DECODING_THREADS and DATA.DECODE_TIMEOUT say."""
    check_backend(cfg.DATA.DECODING_BACKEND)
    decode = DecodeSettings(backend=cfg.DATA.DECODING_BACKEND, threads=cfg.DATA.DECODING_THREADS,
                            timeout=cfg.DATA.DECODE_TIMEOUT)
    return ClipReader(build_sampler(cfg), build_transform(cfg, split), decode)


def _num_samples(cfg: CfgNode, split: str) -> int:
    """Clips per decoded training video (AUG.NUM_SAMPLE, repeated augmentation); 1 outside training."""
    if cfg.AUG.NUM_SAMPLE < 1:
        raise ConfigError(f"AUG.NUM_SAMPLE must be >= 1, got {cfg.AUG.NUM_SAMPLE}")
    return cfg.AUG.NUM_SAMPLE if split == "train" else 1


def build_dataset(cfg: CfgNode, split: str) -> VideoDataset:
    """The map-style dataset of ``split`` (items and attributes: :class:`~.dataset.VideoDataset`)."""
    _check_split(split)
    clips = build_clip_reader(cfg, split)
    records, class_names = load_annotations(
        cfg.DATA.DATASET, cfg.DATA.PATH_TO_DATA_DIR, split, path_prefix=cfg.DATA.PATH_PREFIX,
        class_names_file=cfg.DATA.CLASS_NAMES_FILE, num_classes=cfg.MODEL.NUM_CLASSES, fold=cfg.DATA.SPLIT,
    )
    return VideoDataset(
        records, class_names,
        clips=clips,
        train=split == "train",
        num_temporal_views=cfg.TEST.NUM_ENSEMBLE_VIEWS if split == "test" else 1,
        max_retries=cfg.DATA.MAX_RETRIES,
        seed=cfg.RNG_SEED,
        num_samples=_num_samples(cfg, split),
    )


def skip_report_path(cfg: CfgNode, split: str) -> str:
    """Where the skipped videos of ``split`` are listed (one file per process when distributed)."""
    world, rank = _world()
    suffix = f"_rank{rank}" if world > 1 else ""
    return os.path.join(cfg.OUTPUT_DIR, f"skipped_videos_{split}{suffix}.tsv")


def build_loader(cfg: CfgNode, split: str, dataset: VideoDataset | None = None) -> VideoLoader:
    """A loader over ``dataset`` (built from ``cfg`` when None) with per-process batches.

    Train shuffles (seeded by RNG_SEED and the epoch) and drops the last incomplete batch unless
    the data holds less than one batch, and yields every batch, empty ones too (the trainer keeps
    the processes in step and checks DATA.MAX_BAD_FRACTION per epoch over all of them); val/test
    keep every item, each worker taking a contiguous share (:class:`~.loader.WorkerContiguousOrder`).
    Every process gets its share through a DistributedSampler (one replica when not distributed).

    Batch sizes count clips. With repeated augmentation (AUG.NUM_SAMPLE K > 1) each training
    item is K clips of one video, so the loader takes TRAIN.BATCH_SIZE / K videos per batch: the
    model, the LR scaling and the memory see TRAIN.BATCH_SIZE clips per step as with K = 1, and
    an epoch, one pass over the videos, has K times the steps.
    """
    _check_split(split)
    dataset = build_dataset(cfg, split) if dataset is None else dataset
    world, rank = _world()
    train = split == "train"
    global_batch = cfg.TRAIN.BATCH_SIZE if train else cfg.TEST.BATCH_SIZE
    key = "TRAIN.BATCH_SIZE" if train else "TEST.BATCH_SIZE"
    samples = dataset.num_samples  # AUG.NUM_SAMPLE in training, else 1
    if global_batch < world * samples or global_batch % (world * samples):
        per = f"the {world} processes" + (f" x AUG.NUM_SAMPLE {samples}" if samples > 1 else "")
        raise ConfigError(f"{key} {global_batch} must be a positive multiple of {per}")
    batch_size = global_batch // (world * samples)  # items (videos) per batch
    index_sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=train,
                                       seed=cfg.RNG_SEED, drop_last=False)
    workers = cfg.DATA_LOADER.NUM_WORKERS
    # the workers' base seed comes from this generator, not the global one: creating an iterator
    # (once with persistent workers, again in a resumed run) leaves the training random streams alone
    generator = torch.Generator().manual_seed(cfg.RNG_SEED * 1000 + rank)
    if not train and workers > 1:
        index_sampler = WorkerContiguousOrder(index_sampler, batch_size, workers)
    return VideoLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(index_sampler),
        num_workers=workers,
        collate_fn=collate_items,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY and cfg.NUM_GPUS > 0 and torch.cuda.is_available(),
        drop_last=train and len(index_sampler) >= batch_size,
        worker_init_fn=seed_worker,
        generator=generator,
        persistent_workers=workers > 0,
        prefetch_factor=cfg.DATA_LOADER.PREFETCH_FACTOR if workers > 0 else None,
        timeout=cfg.DATA_LOADER.TIMEOUT if workers > 0 else 0,
        skip_report=SkipReport(split, skip_report_path(cfg, split), max_bad_fraction=cfg.DATA.MAX_BAD_FRACTION,
                               min_reads=min(32, len(dataset)), check_locally=not train or world == 1),
        yield_empty=train,  # the trainer checks failures per epoch over all processes, and skips in step
    )


def build_batch_transform(cfg: CfgNode, split: str, num_classes: int | None = None) -> BatchTransform:
    """``(batch, device) -> (clips, targets)``; mixup/cutmix + label smoothing in train when enabled.

    ``num_classes`` (for the soft targets) defaults to MODEL.NUM_CLASSES; pass the dataset's.
    """
    _check_split(split)
    mixup = None
    if split == "train" and cfg.MIXUP.ENABLE:
        mixup = Mixup(mixup_alpha=cfg.MIXUP.ALPHA, cutmix_alpha=cfg.MIXUP.CUTMIX_ALPHA, prob=cfg.MIXUP.PROB,
                      switch_prob=cfg.MIXUP.SWITCH_PROB, smoothing=cfg.MIXUP.LABEL_SMOOTH_VALUE)
    _, rank = _world()
    return BatchTransform(cfg.DATA.MEAN, cfg.DATA.STD, num_classes or cfg.MODEL.NUM_CLASSES,
                          mixup=mixup, seed=cfg.RNG_SEED * 1000 + rank)


def set_epoch(loader: torch.utils.data.DataLoader, epoch: int, start: int = 0) -> None:
    """Tell the loader's sampler the epoch (reshuffles; reseeds every item's augmentation); ``start``
    batches of the epoch are left out (a run resumed mid-epoch)."""
    if start:
        loader.sampler.set_epoch(epoch, start * loader.batch_size)
    elif hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
