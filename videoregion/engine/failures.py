"""Failures of the machine or of torch's machinery, said as one line of ours.

    raise output_error(path, e)                      # an OSError of an output write -> OutputError
    error = friendly_error(e, output_dir)            # a loader worker killed, a full disk, ... or None

A run (``engine.run.run``) passes whatever escapes it through :func:`friendly_error`: an exception
it recognises becomes the :class:`~videoregion.errors.VideoRegionError` a user sees as one line
(with the original chained for the traceback in log.txt); anything else keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import re
import shutil

from videoregion.errors import DataError, OutputError, VideoRegionError

__all__ = ["free_space", "friendly_error", "output_error"]

_WORKER_KILLED = re.compile(
    r"DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\) (?:is killed by signal: (\w+)|exited unexpectedly)"
)
_LOADER_TIMEOUT = re.compile(r"DataLoader timed out after (\d+) seconds")
_WORKER_CAUGHT = re.compile(r"^Caught (\w+) in DataLoader worker process \d+\.")


def free_space(path: str) -> str:
    """Free space on the file system holding ``path`` (or its nearest existing parent), e.g. "12.0 MiB"."""
    folder = os.path.abspath(path)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB"
    except OSError:
        return "unknown"


def output_error(path: str, e: OSError) -> OutputError:
    """An OutputError naming ``path`` and why it cannot be written (with the free space when the disk is full)."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        why = f"no space left on the device ({free_space(path)} free); free some or point OUTPUT_DIR elsewhere"
    elif e.errno == errno.EROFS:
        why = "the file system is read-only; point OUTPUT_DIR at a writable folder"
    elif e.errno == errno.ENOTDIR:
        why = "a part of the path is a file, not a folder"
    elif e.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    else:
        why = e.strerror or str(e)
    return OutputError(f"cannot write {path}: {why}")


def friendly_error(error: BaseException, output_dir: str) -> VideoRegionError | None:
    """The one-line error for a failure this run recognises, None for anything else (a bug keeps its traceback).

    Recognised: an OSError writing under ``output_dir``; torch's "file write failed" of a checkpoint on a
    full disk; a loader worker killed (for memory) or timed out; an error of ours raised in a loader
    worker (torch re-raises it with the worker's traceback in the message).
    """
    if isinstance(error, VideoRegionError):
        text = str(error)
        if _WORKER_CAUGHT.match(text) and "\n" in text:
            last = text.strip().splitlines()[-1]
            cls = type(error)
            inner = cls.__new__(cls)
            Exception.__init__(inner, last.split(": ", 1)[1] if ": " in last else last)
            return inner
        return None
    if isinstance(error, OSError) and error.filename and os.path.abspath(str(error.filename)).startswith(
            os.path.abspath(output_dir)):
        return output_error(str(error.filename), error)
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return output_error(output_dir, error)
    text = str(error)
    if isinstance(error, RuntimeError) and ("file write failed" in text or "PytorchStreamWriter failed" in text):
        return OutputError(f"cannot write a checkpoint under {output_dir}: the write failed "
                           f"({free_space(output_dir)} free); free some space or point OUTPUT_DIR elsewhere")
    killed = _WORKER_KILLED.search(text) if isinstance(error, RuntimeError) else None
    if killed:
        how = f"was killed by signal {killed.group(2)}" if killed.group(2) else "exited unexpectedly"
        if killed.group(2) and killed.group(2) != "Killed":  # SIGTERM, SIGINT...: sent, not the memory killer
            return DataError(f"a data loader worker (pid {killed.group(1).strip()}) {how}: something outside "
                             "the run stopped it")
        return DataError(f"a data loader worker (pid {killed.group(1).strip()}) {how}, most likely for using "
                         "too much memory: lower DATA_LOADER.NUM_WORKERS (or DATA_LOADER.PREFETCH_FACTOR, "
                         "TRAIN.BATCH_SIZE), or give the job more memory")
    timed_out = _LOADER_TIMEOUT.search(text) if isinstance(error, RuntimeError) else None
    if timed_out:
        return DataError(f"no batch from the data loader workers for {timed_out.group(1)} s (DATA_LOADER.TIMEOUT): "
                         "a worker hangs; check the data with tools/check_dataset.py or raise the key")
    return None
