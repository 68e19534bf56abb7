"""Training checkpoints: atomic writes, the last N plus the best kept, resume from the newest readable,
and which checkpoint an evaluation takes (:func:`checkpoint_to_evaluate`).

A checkpoint is a plain dict of tensors, numbers and strings: "model", "optimizer", "scheduler",
"scaler", "ema", "epoch", "cfg" (YAML), "rng", "class_names", "best_metric". It is read by
``videoregion.models.weights.load_checkpoint`` (``weights_only=True``: loading one never runs code).
Turning one into a model is ``videoregion.models.load_pretrained`` (initialise a run) or
``videoregion.models.build.build_eval_model`` (evaluate it).
"""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
from typing import Any

import numpy as np
import torch

from videoregion.errors import CheckpointError, ConfigError
from videoregion.models.weights import load_checkpoint

logger = logging.getLogger(__name__)

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "atomic_save",
    "capture_rng_state",
    "checkpoint_to_evaluate",
    "restore_rng_state",
]

EPOCH_PATTERN = re.compile(r"^checkpoint_epoch_(\d+)\.pyth$")
BEST_NAME = "checkpoint_best.pyth"


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some file systems do not open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save(obj, path)`` such that ``path`` is either the old file or the complete new one.

    The data goes to a temporary file in the same folder, is flushed to disk, then renamed over
    ``path`` (``os.replace`` is atomic on POSIX and Windows). A failure removes the temporary file.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _non_finite_tensors(state_dict: dict) -> list[str]:
    return [k for k, v in state_dict.items()
            if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]


def capture_rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) generator states, as tensors and numbers only."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointManager:
    """Epoch checkpoints in one folder: ``checkpoint_epoch_00005.pyth`` ..., plus ``checkpoint_best.pyth``.

    ``save`` keeps the ``keep_last`` newest epoch files and replaces the best one when asked.
    """

    def __init__(self, folder: str, *, keep_last: int = 3) -> None:
        if keep_last < 1:
            raise ConfigError(f"TRAIN.CHECKPOINT_KEEP must be at least 1, got {keep_last}")
        self.folder = folder
        self.keep_last = keep_last

    def epoch_path(self, epoch: int) -> str:
        return os.path.join(self.folder, f"checkpoint_epoch_{epoch:05d}.pyth")

    @property
    def best_path(self) -> str:
        return os.path.join(self.folder, BEST_NAME)

    def epoch_checkpoints(self) -> list[tuple[int, str]]:
        """(epoch, path) of the epoch checkpoints on disk, oldest first."""
        if not os.path.isdir(self.folder):
            return []
        found = []
        for name in os.listdir(self.folder):
            match = EPOCH_PATTERN.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.folder, name)))
        return sorted(found)

    def save(self, state: dict, *, epoch: int, is_best: bool = False) -> str:
        """Write ``state`` as the checkpoint of ``epoch`` (1-based: epochs completed); returns its path.

        Refuses a state whose model weights are not all finite.
        """
        bad = _non_finite_tensors(state["model"])
        if bad:
            raise CheckpointError(f"not saving epoch {epoch}: non-finite weights in {bad[:5]}")
        path = self.epoch_path(epoch)
        atomic_save(state, path)
        if is_best:
            self._replace_best(path)
        self._prune()
        logger.info("saved checkpoint %s%s", path, " (best so far)" if is_best else "")
        return path

    def _replace_best(self, source: str) -> None:
        tmp = self.best_path + ".link.tmp"
        if os.path.exists(tmp):
            os.unlink(tmp)
        try:
            os.link(source, tmp)  # same bytes, no second copy on disk
            os.replace(tmp, self.best_path)
        except OSError:
            if os.path.exists(tmp):
                os.unlink(tmp)
            atomic_save(load_checkpoint(source), self.best_path)

    def _prune(self) -> None:
        for _, path in self.epoch_checkpoints()[: -self.keep_last]:
            os.unlink(path)

    def latest_readable(self) -> tuple[str, dict] | None:
        """The newest epoch checkpoint that loads, and its state; unreadable ones are logged and skipped."""
        for _, path in reversed(self.epoch_checkpoints()):
            try:
                return path, load_checkpoint(path)
            except CheckpointError as e:
                logger.warning("skipping unreadable checkpoint: %s", e)
        return None


def checkpoint_to_evaluate(folder: str, *, explicit: str = "", fallback: str = "", remedy: str) -> tuple[str, dict]:
    """The checkpoint an evaluation (a test-only run, the demo) takes, and its loaded state.

    In order: ``explicit`` when given (it must load); ``checkpoint_best.pyth`` of ``folder`` when it
    exists (a run that validated); the newest readable epoch checkpoint of ``folder``; ``fallback``
    when given. Else a CheckpointError "no checkpoint in ``folder``: ``remedy``". The chosen file is
    read once, here.
    """
    if explicit:
        return explicit, load_checkpoint(explicit)
    manager = CheckpointManager(folder)
    if os.path.isfile(manager.best_path):
        return manager.best_path, load_checkpoint(manager.best_path)
    newest = manager.latest_readable()
    if newest is not None:
        logger.info("no %s in %s: taking the newest epoch checkpoint", BEST_NAME, folder)
        return newest
    if fallback:
        return fallback, load_checkpoint(fallback)
    raise CheckpointError(f"no checkpoint in {folder}: {remedy}")
