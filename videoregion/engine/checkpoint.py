"""Training checkpoints: atomic writes, the last N plus the best kept, resume from the newest readable,
and which checkpoint an evaluation takes (:func:`checkpoint_to_evaluate`).

A checkpoint is a plain dict of tensors, numbers and strings: "model", "optimizer", "scheduler",
"scaler", "ema", "epoch", "cfg" (YAML), "rng", "class_names", "best_metric", and what a mid-epoch
resume needs (``videoregion.engine.trainer.TrainState``: "step_in_epoch", "rank_states", ...). It is read by
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
import uuid
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

EPOCH_PATTERN = re.compile(r"^checkpoint_epoch_(\d+)(?:_iter_(\d+))?\.pyth$")
BEST_NAME = "checkpoint_best.pyth"
TEMPORARY_PATTERN = re.compile(r"^\.checkpoint_.*\.tmp$|^checkpoint_best\.pyth\.link\.tmp$")


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
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; checkpoints are read like the other outputs
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    """Checkpoints in one folder: ``checkpoint_epoch_00005.pyth`` after 5 epochs,
    ``checkpoint_epoch_00005_iter_000040.pyth`` 40 iterations into epoch 6, and ``checkpoint_best.pyth``.

    Retention touches only the files of this run: every checkpoint records the run's id and the
    names of the checkpoints the run has written (``"checkpoint_run"``), a resumed run takes that
    record over (:meth:`adopt`), and ``save`` deletes from it alone: the epoch files beyond the
    ``keep_last`` newest, and every mid-epoch file but the newest checkpoint. Files of other runs
    in the folder are never deleted here.
    """

    def __init__(self, folder: str, *, keep_last: int = 3) -> None:
        if keep_last < 1:
            raise ConfigError(f"TRAIN.CHECKPOINT_KEEP must be at least 1, got {keep_last}")
        self.folder = folder
        self.keep_last = keep_last
        self.run_id = uuid.uuid4().hex
        self.written: list[str] = []  # names of this run's checkpoints, oldest first

    def epoch_path(self, epoch: int, iteration: int = 0) -> str:
        suffix = f"_iter_{iteration:06d}" if iteration else ""
        return os.path.join(self.folder, f"checkpoint_epoch_{epoch:05d}{suffix}.pyth")

    @property
    def best_path(self) -> str:
        return os.path.join(self.folder, BEST_NAME)

    def checkpoints(self) -> list[tuple[int, int, str]]:
        """(epochs completed, iterations into the next epoch, path) of the checkpoints on disk, oldest first."""
        if not os.path.isdir(self.folder):
            return []
        found = []
        for name in os.listdir(self.folder):
            match = EPOCH_PATTERN.match(name)
            if match:
                found.append((int(match.group(1)), int(match.group(2) or 0), os.path.join(self.folder, name)))
        return sorted(found)

    def epoch_checkpoints(self) -> list[tuple[int, str]]:
        """(epoch, path) of the end-of-epoch checkpoints on disk, oldest first."""
        return [(epoch, path) for epoch, iteration, path in self.checkpoints() if iteration == 0]

    def sweep_temporary(self) -> list[str]:
        """Delete the temporary files of interrupted writes (``.checkpoint_*.tmp``); returns their paths."""
        if not os.path.isdir(self.folder):
            return []
        swept = []
        for name in os.listdir(self.folder):
            if TEMPORARY_PATTERN.match(name):
                path = os.path.join(self.folder, name)
                _unlink(path)
                swept.append(path)
        if swept:
            logger.info("removed %d temporary file(s) of interrupted checkpoint writes in %s", len(swept), self.folder)
        return swept

    def adopt(self, state: dict) -> None:
        """Continue the run that wrote ``state`` (a checkpoint): its id and the files it wrote."""
        record = state.get("checkpoint_run") or {}
        if record:
            self.run_id = str(record["id"])
            self.written = [str(name) for name in record["written"]]

    def save(self, state: dict, *, epoch: int, iteration: int = 0, is_best: bool = False) -> str:
        """Write ``state`` as the checkpoint after ``epoch`` epochs (and ``iteration`` iterations into the
        next one); returns its path. Refuses a state whose model weights are not all finite.
        """
        bad = _non_finite_tensors(state["model"])
        where = f"epoch {epoch}" + (f", iteration {iteration}" if iteration else "")
        if bad:
            raise CheckpointError(f"not saving {where}: non-finite weights in {bad[:5]}")
        path = self.epoch_path(epoch, iteration)
        name = os.path.basename(path)
        written = [n for n in self.written if n != name] + [name]
        atomic_save({**state, "checkpoint_run": {"id": self.run_id, "written": written}}, path)
        self.written = written
        if is_best:
            self._replace_best(path)
        self._prune()
        logger.info("saved checkpoint %s%s", path, " (best so far)" if is_best else "")
        return path

    def save_best(self, state: dict) -> str:
        """Write ``state`` as ``checkpoint_best.pyth`` alone (an epoch that is best but not a checkpoint epoch)."""
        bad = _non_finite_tensors(state["model"])
        if bad:
            raise CheckpointError(f"not saving the best checkpoint: non-finite weights in {bad[:5]}")
        atomic_save({**state, "checkpoint_run": {"id": self.run_id, "written": list(self.written)}}, self.best_path)
        logger.info("saved checkpoint %s (best so far)", self.best_path)
        return self.best_path

    def _replace_best(self, source: str) -> None:
        tmp = self.best_path + ".link.tmp"
        _unlink(tmp)
        try:
            os.link(source, tmp)  # same bytes, no second copy on disk
            os.replace(tmp, self.best_path)
        except OSError:
            _unlink(tmp)
            atomic_save(load_checkpoint(source), self.best_path)

    def _prune(self) -> None:
        """Delete this run's epoch files beyond the ``keep_last`` newest and its mid-epoch files but the newest."""
        newest = self.written[-1:]
        mine = [EPOCH_PATTERN.match(name) for name in self.written]
        epochs = [m.group(0) for m in mine if m and not m.group(2)]
        doomed = set(epochs[: -self.keep_last]) | {m.group(0) for m in mine if m and m.group(2)}
        doomed -= set(newest)
        for name in doomed:
            _unlink(os.path.join(self.folder, name))
        self.written = [name for name in self.written if name not in doomed]

    def latest_readable(self) -> tuple[str, dict] | None:
        """The newest checkpoint that loads, and its state; unreadable ones are logged and skipped."""
        for _, _, path in reversed(self.checkpoints()):
            try:
                return path, load_checkpoint(path)
            except CheckpointError as e:
                logger.warning("skipping unreadable checkpoint: %s", e)
        return None

    def remove_all(self) -> list[str]:
        """Delete every checkpoint of the folder (epoch, mid-epoch and best); returns their paths."""
        paths = [path for _, _, path in self.checkpoints()]
        if os.path.isfile(self.best_path):
            paths.append(self.best_path)
        for path in paths:
            _unlink(path)
        return paths


def _unlink(path: str) -> None:
    """Remove ``path`` if it is there (another process may have removed it first)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def checkpoint_to_evaluate(folder: str, *, explicit: str = "", fallback: str = "", remedy: str) -> tuple[str, dict]:
    """The checkpoint an evaluation (a test-only run, the demo) takes, and its loaded state.

    In order: ``explicit`` when given (it must load); ``checkpoint_best.pyth`` of ``folder`` when it
    exists (a run that validated); the newest readable checkpoint of ``folder`` (end of epoch or
    mid-epoch); ``fallback`` when given. Else a CheckpointError "no checkpoint in ``folder``:
    ``remedy``". The chosen file is read once, here.
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
