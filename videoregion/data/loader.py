"""Items -> batches: sampler with epochs, collate, worker seeding and the skipped-video report.

:class:`VideoLoader` is a ``torch.utils.data.DataLoader`` whose iterator takes the ``skipped``
entries out of each batch and hands them to a :class:`SkipReport` in the main process: it logs
each bad path once, writes it with its reason to a file in the output folder, counts the videos
left out, and stops the run with a :class:`DataError` when most reads fail. Batches that reach
the caller hold ``clip`` (B, C, T, H, W) uint8, ``label`` (B,) int64, ``video_index`` (B,),
``view_index`` (B,) and ``path`` (list of B str), one row per clip (with repeated augmentation,
K rows per video: B = videos x K). A batch whose every item failed is not yielded, except by a
training loader (``yield_empty``), which yields every batch with ``num_reads`` and ``num_failed``
so that every process takes the same number of steps and the trainer can count failures over all
processes (``videoregion.engine.trainer.train_one_epoch``).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from videoregion.errors import DataError

__all__ = [
    "DataError", "EpochSampler", "SkipReport", "VideoLoader", "WorkerContiguousOrder", "collate_items", "seed_worker",
]

logger = logging.getLogger(__name__)


class EpochSampler(Sampler):
    """Wraps an index sampler and yields ``(index, epoch)``, so items can seed from the epoch.

    ``set_epoch`` reaches the wrapped sampler too (a DistributedSampler reshuffles with it);
    ``set_epoch(epoch, start)`` leaves out the epoch's first ``start`` indices (a run resumed
    mid-epoch continues the same order). Workers see the epoch through the indices even when they
    persist across epochs.
    """

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.epoch, self.start = epoch, start
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((int(index), epoch) for index in itertools.islice(self.sampler, self.start, None))

    def __len__(self) -> int:
        return max(len(self.sampler) - self.start, 0)


class WorkerContiguousOrder(Sampler):
    """A sampler's indices reordered so that each loader worker gets one contiguous share.

    The DataLoader hands batch ``p`` to worker ``p % num_workers``. Cut into batches, the
    indices are dealt so that worker ``w`` receives the ``w``-th contiguous share: the views of a
    test video then stay in one worker, which decodes the video once
    (:meth:`~.clips.ClipReader.test_clips`) instead of once per worker. Only the order
    changes (results are keyed by video and view index); the last, partial batch stays last.
    """

    def __init__(self, sampler: Sampler, batch_size: int, num_workers: int):
        self.sampler, self.batch_size, self.num_workers = sampler, batch_size, num_workers

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        indices = list(self.sampler)
        batches = [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        full, extra = divmod(len(batches), self.num_workers)
        sizes = [full] * (self.num_workers - extra) + [full + 1] * extra  # longer shares last
        shares, start = [], 0
        for size in sizes:
            shares.append(batches[start : start + size])
            start += size
        for round_ in range(full + 1):
            for share in shares:
                if round_ < len(share):
                    yield from share[round_]

    def __len__(self) -> int:
        return len(self.sampler)


def collate_items(items: list[dict]) -> dict:
    """Stack the items that have a clip; gather every item's skipped (path, reason) pairs.

    An item's ``clip`` is (C, T, H, W), or (K, C, T, H, W) for K augmentations of one clip
    (repeated augmentation): those become K consecutive rows of the batch, each with the item's
    label, indices and path. ``num_loaded`` counts items (video reads), not rows.
    """
    batch: dict = {"skipped": [entry for item in items for entry in item["skipped"]]}
    loaded = [item for item in items if "clip" in item]
    batch["num_loaded"] = len(loaded)
    if loaded:
        clips = [item["clip"] if item["clip"].dim() == 5 else item["clip"].unsqueeze(0) for item in loaded]
        rows = [clip.shape[0] for clip in clips]
        batch["clip"] = torch.cat(clips)  # (sum of rows, C, T, H, W) uint8
        for key in ("label", "video_index", "view_index"):
            values = torch.tensor([item[key] for item in loaded], dtype=torch.int64)
            batch[key] = values.repeat_interleave(torch.tensor(rows))
        batch["path"] = [item["path"] for item, n in zip(loaded, rows) for _ in range(n)]
    return batch


def seed_worker(worker_id: int) -> None:
    """Seed Python's and numpy's generators in a worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class SkipReport:
    """Skipped videos of one split in this process: log once, list in a file, stop when most fail.

    ``path`` (the listing) is created on the first skip; each line is ``<video path>\\t<reason>``.
    Reads are counted per attempt: once ``min_reads`` reads have been made and more than
    ``max_bad_fraction`` of them failed, :meth:`add` raises a :class:`DataError`. With
    ``check_locally`` False, :meth:`add` only records, and the caller checks counts of all
    processes with :meth:`check_totals` (every process then stops together).
    """

    def __init__(self, split: str, path: str | None, max_bad_fraction: float = 0.5, min_reads: int = 32,
                 check_locally: bool = True):
        self.split = split
        self.check_locally = check_locally
        self.path = path
        self.max_bad_fraction = max_bad_fraction
        self.min_reads = min_reads
        self.reasons: dict[str, str] = {}
        self.num_reads = 0
        self.num_failed_reads = 0
        self._file_started = False

    @property
    def num_skipped(self) -> int:
        """Distinct videos skipped so far."""
        return len(self.reasons)

    def add(self, skipped: list[tuple[str, str]], num_loaded: int) -> None:
        self.num_reads += num_loaded + len(skipped)
        self.num_failed_reads += len(skipped)
        for path, reason in skipped:
            if path not in self.reasons:
                self.reasons[path] = reason
                logger.warning("%s: skipping %s: %s", self.split, path, reason)
                self._write(path, reason)
        if self.check_locally:
            self.check()

    def check(self) -> None:
        self.check_totals(self.num_reads, self.num_failed_reads)

    def check_totals(self, num_reads: int, num_failed: int, where: str = "") -> None:
        """A DataError when ``num_failed`` of ``num_reads`` (at least ``min_reads``) exceed the fraction."""
        if num_reads >= self.min_reads and num_failed > self.max_bad_fraction * num_reads:
            listing = f"; the list is in {self.path}" if self.path else ""
            first = f" First: {next(iter(self.reasons.items()))}." if self.reasons else ""
            where = f" {where}" if where else ""
            raise DataError(
                f"{self.split} data is mostly unreadable: {num_failed} of {num_reads} video reads failed{where} "
                f"({self.num_skipped} distinct videos in this process){listing}.{first} "
                "Check DATA.PATH_TO_DATA_DIR / DATA.PATH_PREFIX, or run tools/check_dataset.py."
            )

    def _write(self, path: str, reason: str) -> None:
        if self.path is None:
            return
        if not self._file_started:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "a" if self._file_started else "w", encoding="utf-8") as f:
            f.write(f"{path}\t{reason}\n")
        self._file_started = True

    def summary(self) -> str:
        return (f"{self.split}: {self.num_skipped} videos skipped, "
                f"{self.num_failed_reads} of {self.num_reads} reads failed")


class VideoLoader(DataLoader):
    """A DataLoader that reports skipped videos (see the module doc); it yields only real batches, or
    with ``yield_empty`` every batch, with ``num_reads`` and ``num_failed`` (video reads) in it."""

    def __init__(self, *args, skip_report: SkipReport, yield_empty: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.skip_report = skip_report
        self.yield_empty = yield_empty

    def __iter__(self):
        for batch in super().__iter__():
            skipped, loaded = batch.pop("skipped"), batch.pop("num_loaded")
            self.skip_report.add(skipped, loaded)
            if self.yield_empty:
                batch.update(num_reads=loaded + len(skipped), num_failed=len(skipped))
                yield batch
            elif "clip" in batch:
                yield batch
