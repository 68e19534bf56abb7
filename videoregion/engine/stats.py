"""Run logs: logging setup, ``json_stats`` lines (stdout and OUTPUT_DIR/stats.jsonl), TensorBoard, curves.

Every stats record is a flat dict with a ``split`` ("train", "train_iter", "val", "test_final", ...)
and numbers. The main process writes them; the others stay quiet. A record that cannot be written
(a full disk, a vanished folder) is logged once and training goes on: the checkpoints are what a
run must write, and they fail loudly on their own.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["StatsWriter", "append_to_log", "plot_curves", "read_stats", "setup_logging"]

LOG_FORMAT = "[%(asctime)s][%(levelname)s] %(name)s: %(message)s"


def setup_logging(output_dir: str | None, *, main_process: bool) -> None:
    """INFO to stdout (and OUTPUT_DIR/log.txt) on the main process; warnings only elsewhere."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.INFO if main_process else logging.WARNING)
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S")
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(formatter)
    root.addHandler(stream)
    if main_process and output_dir:
        os.makedirs(output_dir, exist_ok=True)
        file_handler = logging.FileHandler(os.path.join(output_dir, "log.txt"))
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)


def append_to_log(output_dir: str, text: str, *, source: str = "run_net") -> bool:
    """Append ``text`` (an error line, or a traceback) to OUTPUT_DIR/log.txt as an ERROR record, when that
    file exists (a run that got as far as logging); True when written. Never raises."""
    path = os.path.join(output_dir, "log.txt")
    if not os.path.isfile(path):
        return False
    stamp = time.strftime("%H:%M:%S")
    try:
        with open(path, "a") as f:
            f.write(f"[{stamp}][ERROR] {source}: {text.rstrip()}\n")
    except OSError:
        return False
    return True


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


class StatsWriter:
    """Writes stats records to the log, to ``stats.jsonl`` and to TensorBoard (main process only)."""

    def __init__(self, output_dir: str, *, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = os.path.join(output_dir, "stats.jsonl")
        self._tb = None
        self._warned = False
        if enabled:
            os.makedirs(output_dir, exist_ok=True)
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(os.path.join(output_dir, "tensorboard"))

    def write(self, record: dict, *, step: int | None = None, echo: bool = True) -> None:
        """Append ``record`` to stats.jsonl, log it as a ``json_stats:`` line when ``echo``, and
        send its numbers to TensorBoard at ``step``."""
        if not self.enabled:
            return
        record = {k: _clean(v) for k, v in record.items()}
        line = json.dumps(record, sort_keys=False)
        if echo:
            logger.info("json_stats: %s", line)
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
            if self._tb is not None and step is not None:
                split = record.get("split", "stats")
                for key, value in record.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("epoch", "iter"):
                        self._tb.add_scalar(f"{split}/{key}", value, step)
                self._tb.flush()
        except OSError as e:
            if not self._warned:
                logger.warning("cannot write stats to %s (%s); training goes on, later failures are not logged",
                               self.path, e.strerror or e)
                self._warned = True

    def close(self) -> None:
        if self._tb is not None:
            try:
                self._tb.close()
            except OSError:
                pass
            self._tb = None


def read_stats(path: str) -> list[dict]:
    """The records of a ``stats.jsonl`` file (lines that do not parse are skipped)."""
    records = []
    if not os.path.isfile(path):
        return records
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def plot_curves(stats_path: str, out_path: str) -> bool:
    """PNG of training loss and accuracies per epoch from ``stats.jsonl``; False when nothing to plot.

    With several runs appended to one file (resumes), the last record of each epoch wins.
    """
    by_split: dict[str, dict[float, dict]] = {}
    for record in read_stats(stats_path):
        if "epoch" in record and record.get("split") in ("train", "val"):
            by_split.setdefault(record["split"], {})[record["epoch"]] = record
    if not by_split:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for split, style in (("train", "-o"), ("val", "-s")):
        points = sorted(by_split.get(split, {}).items())
        for key, axis in (("loss", ax_loss), ("top1_acc", ax_acc), ("top5_acc", ax_acc), ("ema_top1_acc", ax_acc)):
            xs = [e for e, r in points if r.get(key) is not None]
            if xs:
                axis.plot(xs, [r[key] for e, r in points if r.get(key) is not None], style, label=f"{split} {key}")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("accuracy")
    for axis in (ax_loss, ax_acc):
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return True
