"""Config -> synthetic dataset: the one module of :mod:`videoregion.synthetic` that reads the config."""

from __future__ import annotations

import logging
import os
import time

from fvcore.common.config import CfgNode

from videoregion.errors import ConfigError

from .generate import generate_dataset, mismatches

__all__ = ["ensure_dataset"]

logger = logging.getLogger(__name__)

# Videos that pay for one more generating process: a spawned worker takes seconds to start (it imports
# torch), a tiny video tens of milliseconds to render and encode; the files do not depend on the count.
VIDEOS_PER_WORKER = 64


def _check_synthetic(cfg: CfgNode, folder: str) -> None:
    """Refuse a generated dataset that the SYNTHETIC keys (or this generator version) would not write."""
    found = mismatches(
        folder, format=cfg.DATA.DATASET, seed=cfg.SYNTHETIC.SEED, videos_per_class=cfg.SYNTHETIC.VIDEOS_PER_CLASS,
        size=cfg.SYNTHETIC.SIZE, num_frames=cfg.SYNTHETIC.NUM_FRAMES, num_classes=cfg.MODEL.NUM_CLASSES,
    )
    if found:
        raise ConfigError(
            f"DATA.PATH_TO_DATA_DIR {folder!r} holds a dataset that SYNTHETIC.GENERATE would not write now ("
            + "; ".join(found) + "). Delete the folder to have it generated again, or set "
            "SYNTHETIC.GENERATE False to train on it as it is."
        )


def ensure_dataset(cfg: CfgNode, *, main_process: bool) -> None:
    """Stop with directions when DATA.PATH_TO_DATA_DIR is missing, or generate it (SYNTHETIC.GENERATE).

    Only the main process generates (into ``<folder>.partial``, then renamed, so an interrupted
    generation leaves no half dataset behind); the other processes of a distributed run must wait
    for it before reading the data.
    """
    folder = cfg.DATA.PATH_TO_DATA_DIR
    if folder and os.path.isdir(folder):
        if cfg.SYNTHETIC.GENERATE:
            _check_synthetic(cfg, folder)
        return
    if not cfg.SYNTHETIC.GENERATE:
        raise ConfigError(
            f"DATA.PATH_TO_DATA_DIR {folder!r} does not exist. Prepare the dataset as README.md "
            "('Datasets') describes and point DATA.PATH_TO_DATA_DIR and DATA.PATH_PREFIX at it, or use "
            "configs/synthetic_regionvit.yaml, which generates its own data."
        )
    if not main_process:
        return
    logger.info("generating the synthetic dataset in %s (SYNTHETIC.GENERATE)", folder)
    start = time.perf_counter()
    tmp = folder.rstrip("/") + ".partial"
    num_videos = cfg.SYNTHETIC.VIDEOS_PER_CLASS * cfg.MODEL.NUM_CLASSES
    summary = generate_dataset(
        tmp, cfg.DATA.DATASET, cfg.SYNTHETIC.SEED, cfg.SYNTHETIC.VIDEOS_PER_CLASS, size=cfg.SYNTHETIC.SIZE,
        num_frames=cfg.SYNTHETIC.NUM_FRAMES, num_classes=cfg.MODEL.NUM_CLASSES, progress=True,
        workers=min(os.cpu_count() or 1, 8, -(-num_videos // VIDEOS_PER_WORKER)),
    )
    os.replace(tmp, folder)
    logger.info("synthetic dataset: %s videos in %.1f s", summary["num_videos"], time.perf_counter() - start)
