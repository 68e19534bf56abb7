"""Several models, one recipe: each trained and tested by ``tools/run_net.py``, their results side by side.

    job = ModelJob(cfg, model="regionvit3d_nano", budget=Budget("steps", 300), cfg_files=[...], overrides=[...])
    result = run_model(job, launcher=[sys.executable, "tools/run_net.py"], report=print)
    print(markdown_table([result, ...]))

Every model runs the engine's normal training and test in a process of its own (a crash of one model
does not take the others down) with the same config and overrides, MODEL.NAME set and OUTPUT_DIR
``<OUTPUT_DIR>/compare/<model>``. What the table shows is read back from that folder, as the run wrote it
(``engine.stats``: the "train" and "test_final" records of stats.jsonl; ``engine.evaluator``: the confusion
matrix and per-class accuracies), plus parameters and FLOPs counted here (``utils.flops``).

Budgets (:class:`Budget`): "steps" trains every model exactly N optimizer steps (SOLVER.MAX_STEPS: the
cosine ends on step N and the warmup keeps its fraction, so every model gets the same schedule shape);
"minutes" first times a few steps of each model (:func:`seconds_per_step`) and turns the minutes into
that model's step count (:func:`steps_for_minutes`), so its schedule is still complete; "config" keeps
the config's own schedule.

A finished model leaves ``compare_result.json`` in its folder with the fingerprint of its job (config and
budget); the same job later reuses it instead of training again (:func:`reusable_result`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import IO, Literal

import torch
from fvcore.common.config import CfgNode

from videoregion.errors import ConfigError, OutputError, VideoRegionError, one_line
from videoregion.models import build_model, list_models, model_info
from videoregion.synthetic.classes import CLASSES
from videoregion.utils.flops import count_flops, count_params

from .runlock import LOCK_NAME, acquire_run_lock
from .stats import read_stats

logger = logging.getLogger(__name__)

__all__ = [
    "Budget",
    "ModelJob",
    "ModelResult",
    "PAIR_DEFINITION",
    "markdown_table",
    "model_cost",
    "pair_accuracies",
    "pair_label",
    "plot_accuracy_vs_flops",
    "reusable_result",
    "run_model",
    "seconds_per_step",
    "steps_for_minutes",
    "stop_process",
    "time_reversed_pairs",
    "train_summary",
]

RESULT_FILE = "compare_result.json"
JOB_FILE = "compare_job.json"  # marks a folder as a compare run's, so clearing it for a new run is safe
PROBE_DIR = "probe"
STOP_WAIT_S = 30.0  # how long a stopped run_net may take to exit before it is killed

PAIR_DEFINITION = (
    "a/b: percent of the test videos of classes a and b (each other's reversal in time) predicted as their "
    "own class; 'reversed' is the percent predicted as the partner class (the time-direction mistake)"
)


# ----------------------------------------------------------------------------- budgets
@dataclass(frozen=True)
class Budget:
    """How long each model trains: "config" (its schedule), "steps" (``value`` optimizer steps) or
    "minutes" (``value`` minutes of training, turned into steps after timing ``probe_steps`` steps)."""

    kind: Literal["config", "steps", "minutes"] = "config"
    value: float = 0.0
    probe_steps: int = 5

    def __post_init__(self) -> None:
        if self.kind not in ("config", "steps", "minutes"):
            raise ValueError(f"budget kind must be config, steps or minutes, got {self.kind!r}")
        if self.kind != "config" and self.value <= 0:
            raise ValueError(f"a {self.kind} budget must be > 0, got {self.value}")
        if self.kind == "steps" and self.value != int(self.value):
            raise ValueError(f"a steps budget is a whole number of optimizer steps, got {self.value}")

    def describe(self) -> str:
        if self.kind == "steps":
            return f"{int(self.value)} optimizer steps per model"
        if self.kind == "minutes":
            return f"{self.value:g} minutes of training per model (steps from a {self.probe_steps}-step timing)"
        return "the config's own schedule"


def seconds_per_step(records: Sequence[dict], *, batch_size: int, accum_iters: int) -> float:
    """Median seconds per optimizer step from a run's "train_iter" records (LOG_PERIOD 1).

    Each record's ``clips_per_s`` is one iteration's global batch over its time; the first iteration of
    an epoch (loader start-up) is left out when later ones exist. Raises ValueError without records.
    """
    iters = [r for r in records if r.get("split") == "train_iter" and (r.get("clips_per_s") or 0) > 0]
    steady = [r for r in iters if r.get("iter", 0) > 1] or iters
    if not steady:
        raise ValueError("no train_iter records with clips_per_s to time the steps by")
    return statistics.median(batch_size / r["clips_per_s"] for r in steady) * accum_iters


def steps_for_minutes(minutes: float, step_seconds: float) -> int:
    """Optimizer steps that fill ``minutes`` of training at ``step_seconds`` a step (at least one)."""
    if minutes <= 0 or step_seconds <= 0:
        raise ValueError(f"minutes ({minutes}) and seconds per step ({step_seconds}) must be > 0")
    return max(1, math.floor(minutes * 60.0 / step_seconds))


# ----------------------------------------------------------------------------- reading a run's results
def train_summary(records: Sequence[dict]) -> dict:
    """Training epochs, time and clips/s of a run from its "train" records (the loop's time only:
    validation and checkpoints excluded)."""
    train = [r for r in records if r.get("split") == "train" and r.get("time_s")]
    time_s = sum(r["time_s"] for r in train)
    clips = sum((r.get("clips_per_s") or 0.0) * r["time_s"] for r in train)
    return {
        "train_epochs": len(train),
        "train_time_s": time_s if train else None,
        "train_clips_per_s": clips / time_s if time_s > 0 else None,
    }


def test_summary(records: Sequence[dict]) -> dict:
    """Accuracies of a run's last "test_final" record (None each without one)."""
    tests = [r for r in records if r.get("split") == "test_final"]
    last = tests[-1] if tests else {}
    return {"test_top1": last.get("top1_acc"), "test_top5": last.get("top5_acc"),
            "mean_class_acc": last.get("mean_class_acc"), "test_videos": last.get("num_videos")}


def read_confusion(path: str) -> tuple[list[str], torch.Tensor] | None:
    """(class names, confusion (K, K): rows true, columns predicted) of a test's confusion_matrix.csv."""
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    counts = [[int(float(v)) for v in row[1:]] for row in rows[1:]]
    return names, torch.tensor(counts, dtype=torch.long).reshape(len(names), len(names))


def time_reversed_pairs(class_names: Sequence[str]) -> list[tuple[int, int]]:
    """The (2k, 2k+1) class pairs that are each other's reversal in time, when ``class_names`` are the
    synthetic dataset's (``synthetic.classes.CLASSES``, in order); [] for any other dataset."""
    catalogue = [c.name for c in CLASSES]
    if not class_names or list(class_names) != catalogue[: len(class_names)]:
        return []
    return [(k, k + 1) for k in range(0, len(class_names) - 1, 2)]


def pair_label(a: str, b: str) -> str:
    """A column name for a pair: the shared leading words once, e.g. rotate_cw, rotate_ccw -> rotate_cw/ccw."""
    wa, wb = a.split("_"), b.split("_")
    shared = 0
    while shared < min(len(wa), len(wb)) - 1 and wa[shared] == wb[shared]:
        shared += 1
    return f"{a}/{'_'.join(wb[shared:])}"


def pair_accuracies(confusion: torch.Tensor, class_names: Sequence[str]) -> dict[str, dict]:
    """Per time-reversed pair (see :data:`PAIR_DEFINITION`): accuracy and reversed rate in percent, videos."""
    out = {}
    for a, b in time_reversed_pairs(class_names):
        videos = int(confusion[a].sum() + confusion[b].sum())
        right = int(confusion[a, a] + confusion[b, b])
        swapped = int(confusion[a, b] + confusion[b, a])
        out[pair_label(class_names[a], class_names[b])] = {
            "classes": [class_names[a], class_names[b]],
            "videos": videos,
            "accuracy": 100.0 * right / videos if videos else None,
            "reversed": 100.0 * swapped / videos if videos else None,
        }
    return out


def per_class(confusion: torch.Tensor, class_names: Sequence[str]) -> dict[str, dict]:
    """Per class: test videos and accuracy in percent (None without videos)."""
    support = confusion.sum(dim=1).tolist()
    return {name: {"videos": int(n), "accuracy": 100.0 * int(confusion[k, k]) / n if n else None}
            for k, (name, n) in enumerate(zip(class_names, support))}


# ----------------------------------------------------------------------------- one model
@dataclass
class ModelResult:
    """One row of the comparison; ``status`` is "ok", "failed" or "interrupted" (``error`` says why)."""

    model: str
    status: str = "ok"
    error: str = ""
    output_dir: str = ""
    reused: bool = False
    params: int | None = None
    gflops_per_view: float | None = None
    input_shape: list[int] | None = None  # (C, T, H, W) of one view
    test_views: int | None = None
    budget_steps: int | None = None  # optimizer steps trained under a steps or minutes budget
    seconds_per_step: float | None = None  # the timing a minutes budget was turned into steps by
    train_epochs: int | None = None
    train_time_s: float | None = None
    train_clips_per_s: float | None = None
    run_time_s: float | None = None  # the whole run_net process (data, training, validation, test)
    test_top1: float | None = None
    test_top5: float | None = None
    mean_class_acc: float | None = None
    test_videos: int | None = None
    per_class: dict[str, dict] = field(default_factory=dict)
    pairs: dict[str, dict] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> ModelResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ModelJob:
    """What one model of the comparison runs: ``cfg`` is the shared config (after overrides), which
    ``cfg_files`` and ``overrides`` give to run_net again."""

    cfg: CfgNode
    model: str
    budget: Budget
    cfg_files: Sequence[str]
    overrides: Sequence[str] = ()
    timeout_minutes: float = 0.0  # 0: no limit

    @property
    def output_dir(self) -> str:
        return os.path.join(self.cfg.OUTPUT_DIR, "compare", self.model)

    def config(self) -> CfgNode:
        """The model's config: the shared one with MODEL.NAME and OUTPUT_DIR set."""
        cfg = self.cfg.clone()
        cfg.defrost()
        cfg.MODEL.NAME, cfg.OUTPUT_DIR = self.model, self.output_dir
        cfg.freeze()
        return cfg

    def fingerprint(self) -> str:
        """Changes when the model's config or the budget does."""
        text = json.dumps({"config": self.config().dump(), "budget": asdict(self.budget)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def command(self, launcher: Sequence[str], extra: Sequence[str] = (), output_dir: str = "") -> list[str]:
        """The run_net command line: config files, the shared overrides, then this model's."""
        cfgs = [arg for path in self.cfg_files for arg in ("--cfg", path)]
        return [*launcher, *cfgs, *self.overrides, "MODEL.NAME", self.model,
                "OUTPUT_DIR", output_dir or self.output_dir, *extra]


def model_cost(cfg: CfgNode) -> tuple[int, float | None, list[int]]:
    """(parameters, GFLOPs of one test view or None when fvcore cannot trace it, view shape (C, [T,] H, W))
    of ``cfg``'s model at the job's input: DATA.NUM_FRAMES x TEST_CROP_SIZE^2 (as tools/count_flops.py)."""
    model = build_model(cfg)
    size = cfg.DATA.TEST_CROP_SIZE
    shape = [3, cfg.DATA.NUM_FRAMES, size, size] if model_info(cfg.MODEL.NAME).takes_clips else [3, size, size]
    try:
        flops: float | None = count_flops(model, torch.zeros(1, *shape)) / 1e9
    except Exception as e:  # a model fvcore cannot trace still trains; its FLOPs stay unknown
        logger.warning("%s: FLOPs not counted (%s)", cfg.MODEL.NAME, one_line(e))
        flops = None
    return count_params(model), flops, shape


def reusable_result(job: ModelJob) -> ModelResult | None:
    """The finished result in the model's folder when it was made by the same job (config and budget)."""
    path = os.path.join(job.output_dir, RESULT_FILE)
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    if saved.get("fingerprint") != job.fingerprint() or saved.get("result", {}).get("status") != "ok":
        return None
    result = ModelResult.from_dict(saved["result"])
    result.reused = True
    return result


def _clear_folder(job: ModelJob) -> None:
    """Empty the model's folder for a fresh run (holding its run lock meanwhile); refuse a folder that
    is not a compare run's."""
    folder = job.output_dir
    if os.path.isdir(folder):
        entries = set(os.listdir(folder)) - {LOCK_NAME}
        if entries and JOB_FILE not in entries:
            raise OutputError(f"{folder} exists and was not written by a model comparison; move it away or "
                              "choose another OUTPUT_DIR")
    with acquire_run_lock(folder, stale_minutes=job.cfg.DIST.LOCK_STALE_MINUTES):
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if name == LOCK_NAME:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        with open(os.path.join(folder, JOB_FILE), "w") as f:
            json.dump({"model": job.model, "fingerprint": job.fingerprint(), "budget": asdict(job.budget)}, f)


# ----------------------------------------------------------------------------- running run_net
class RunFailed(VideoRegionError):
    """A run_net process that did not finish; the message is its error line."""


def error_line(stderr: str, returncode: int) -> str:
    """Why a run_net process failed, in one line: its ``error:`` line, else the exception line of its
    traceback, else its last line, else the exit status."""
    lines = [line.strip() for line in re.split(r"[\r\n]+", stderr) if line.strip()]
    for line in reversed(lines):
        # run_net's error line, also where it follows an unfinished progress bar on the same line ("...]error: ")
        at = line.rfind("error: ")
        if at == 0 or (at > 0 and line[at - 1] == "]"):
            return line[at + len("error: "):]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line):
            return line
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}" + (" (out of memory?)" if returncode == -signal.SIGKILL else "")
    return lines[-1] if lines else f"exit status {returncode}"


def stop_process(proc: subprocess.Popen, *, grace_s: float = 0.0, wait_s: float = STOP_WAIT_S) -> None:
    """Interrupt ``proc`` (SIGINT: run_net leaves its lock and log in order) unless it exits within
    ``grace_s`` (a Ctrl-C in the terminal reached it too); kill it when it has not exited ``wait_s`` later.

    A child started while this process ignores SIGINT (a job put in the background by a script) ignores
    it too: it gets SIGTERM instead, on which run_net saves a checkpoint and stops as when preempted.
    """
    if grace_s > 0:
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else signal.SIGINT)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=wait_s)


def _pump(stream: IO[str], sink: IO[str], on_record: Callable[[dict], None]) -> None:
    """Copy the child's stdout to ``sink``, handing each ``json_stats`` record to ``on_record``."""
    for line in stream:
        sink.write(line)
        sink.flush()
        if "json_stats: " in line:
            try:
                on_record(json.loads(line.split("json_stats: ", 1)[1]))
            except (json.JSONDecodeError, ValueError):
                pass


def run_logged(command: Sequence[str], folder: str, name: str, *, timeout_minutes: float = 0.0,
               on_record: Callable[[dict], None] = lambda r: None) -> float:
    """Run ``command`` with stdout in ``folder/<name>.out`` and stderr in ``<name>.err``; returns its wall
    time. RunFailed (its error line) when it fails or outlives ``timeout_minutes`` (0: no limit); a
    KeyboardInterrupt stops it (:func:`stop_process`) and goes on up."""
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    with open(os.path.join(folder, f"{name}.out"), "w") as out, open(os.path.join(folder, f"{name}.err"), "w+") as err:
        proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        reader = threading.Thread(target=_pump, args=(proc.stdout, out, on_record), daemon=True)
        try:  # from the first moment the child runs: a Ctrl-C at any point below stops it
            reader.start()
            proc.wait(timeout=timeout_minutes * 60.0 if timeout_minutes > 0 else None)
        except subprocess.TimeoutExpired:
            stop_process(proc)
            raise RunFailed(f"stopped after the --timeout-minutes limit of {timeout_minutes:g} min") from None
        except BaseException:  # Ctrl-C, which the terminal also sent to run_net
            stop_process(proc, grace_s=2.0)
            raise
        finally:
            if reader.is_alive():
                reader.join(timeout=10.0)
        if proc.returncode != 0:
            err.seek(0)
            raise RunFailed(error_line(err.read(), proc.returncode))
    return time.perf_counter() - start


def _probe(job: ModelJob, launcher: Sequence[str], report: Callable[[str], None]) -> tuple[int, float]:
    """(steps, seconds per step) that fill the minutes budget, timed on ``budget.probe_steps`` steps."""
    folder = os.path.join(job.output_dir, PROBE_DIR)
    steps = job.budget.probe_steps
    extra = ["SOLVER.MAX_STEPS", str(steps), "TEST.ENABLE", "False", "TRAIN.EVAL_PERIOD", "0", "LOG_PERIOD", "1"]
    run_logged(job.command(launcher, extra, output_dir=folder), folder, "run_net",
               timeout_minutes=job.timeout_minutes)
    cfg = job.cfg
    try:
        step_s = seconds_per_step(read_stats(os.path.join(folder, "stats.jsonl")), batch_size=cfg.TRAIN.BATCH_SIZE,
                                  accum_iters=cfg.SOLVER.ACCUM_ITERS)
    except ValueError as e:
        raise RunFailed(f"timing run in {folder}: {e}") from None
    total = steps_for_minutes(job.budget.value, step_s)
    report(f"{step_s:.3g} s per step over {steps} steps -> {total} step(s) for {job.budget.value:g} min")
    return total, step_s


def _describe_record(record: dict) -> str | None:
    """A progress line for a train / val / test record of the child, None for others."""
    split = record.get("split")
    if split == "train":
        return (f"epoch {record.get('epoch')}: loss {record.get('loss', float('nan')):.4f}, "
                f"{record.get('clips_per_s') or 0:.1f} clips/s")
    if split in ("val", "test_final"):
        where = "test" if split == "test_final" else f"val epoch {record.get('epoch')}"
        return f"{where}: top-1 {record.get('top1_acc', float('nan')):.1f}%"
    return None


def _read_results(job: ModelJob, result: ModelResult) -> None:
    records = read_stats(os.path.join(job.output_dir, "stats.jsonl"))
    for key, value in {**train_summary(records), **test_summary(records)}.items():
        setattr(result, key, value)
    found = read_confusion(os.path.join(job.output_dir, "confusion_matrix.csv"))
    if found is not None:
        names, confusion = found
        result.per_class = per_class(confusion, names)
        result.pairs = pair_accuracies(confusion, names)


def run_model(job: ModelJob, *, launcher: Sequence[str], report: Callable[[str], None] = logger.info,
              rerun: bool = False) -> ModelResult:
    """Train and test ``job``'s model with run_net (or reuse its finished result unless ``rerun``).

    Every failure becomes the result's one-line ``error``; a KeyboardInterrupt stops the run and goes on up.
    ``report`` gets progress lines.
    """
    result = ModelResult(model=job.model, output_dir=job.output_dir)
    if not rerun:
        reused = reusable_result(job)
        if reused is not None:
            return reused
    try:
        if job.model not in list_models():
            raise ConfigError(f"unknown model {job.model!r}: not registered (tools/count_flops.py --list lists them)")
        cfg = job.config()
        result.params, result.gflops_per_view, result.input_shape = model_cost(cfg)
        result.test_views = cfg.TEST.NUM_ENSEMBLE_VIEWS * cfg.TEST.NUM_SPATIAL_CROPS
        _clear_folder(job)
        extra: list[str] = []
        if job.budget.kind == "minutes":
            result.budget_steps, result.seconds_per_step = _probe(job, launcher, report)
        elif job.budget.kind == "steps":
            result.budget_steps = int(job.budget.value)
        if result.budget_steps is not None:
            extra = ["SOLVER.MAX_STEPS", str(result.budget_steps)]
        result.command = job.command(launcher, extra)

        def on_record(record: dict) -> None:
            line = _describe_record(record)
            if line:
                report(line)

        result.run_time_s = run_logged(result.command, job.output_dir, "run_net",
                                       timeout_minutes=job.timeout_minutes, on_record=on_record)
        _read_results(job, result)
    except Exception as e:  # any failure of one model is its row; the others go on
        result.status, result.error = "failed", one_line(e, limit=200)
        return result
    try:
        with open(os.path.join(job.output_dir, RESULT_FILE), "w") as f:
            json.dump({"fingerprint": job.fingerprint(), "result": asdict(result)}, f, indent=1)
    except OSError as e:  # the result stands; only its reuse by a later comparison is lost
        logger.warning("%s: cannot save the result for reuse (%s)", job.output_dir, e.strerror or e)
    return result


# ----------------------------------------------------------------------------- the table and the plot
def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def format_duration(seconds: float | None) -> str:
    """12.3 s, 4 min 05 s, 1 h 02 min."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def pair_columns(results: Sequence[ModelResult]) -> list[str]:
    """The pair columns of the table: those of the first finished model that has them."""
    for result in results:
        if result.status == "ok" and result.pairs:
            return list(result.pairs)
    return []


def markdown_table(results: Sequence[ModelResult]) -> str:
    """The comparison as a Markdown table; a failed model's row says why in a last "note" column."""
    pairs = pair_columns(results)
    header = ["model", "params (M)", "GFLOPs/view", "train clips/s", "train time", "test top-1 (%)",
              "mean class acc (%)", *pairs]
    noted = any(r.status != "ok" for r in results)
    if noted:
        header.append("note")
    rows = []
    for r in results:
        row = [r.model, _fmt(None if r.params is None else r.params / 1e6, ".2f"), _fmt(r.gflops_per_view, ".3g"),
               _fmt(r.train_clips_per_s, ".1f"), format_duration(r.train_time_s), _fmt(r.test_top1, ".1f"),
               _fmt(r.mean_class_acc, ".1f"), *(_fmt(r.pairs.get(p, {}).get("accuracy"), ".1f") for p in pairs)]
        if noted:
            row.append("" if r.status == "ok" else f"{r.status}: {r.error}".replace("|", "\\|"))
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def plot_backend() -> str:
    """"matplotlib" or "pil", whichever is installed (matplotlib first); OutputError when neither is."""
    for module, name in (("matplotlib", "matplotlib"), ("PIL", "pil")):
        try:
            __import__(module)
            return name
        except ImportError:
            continue
    raise OutputError("--plot needs matplotlib or Pillow, and neither is installed: pip install matplotlib")


def _points(results: Sequence[ModelResult]) -> list[tuple[str, float, float]]:
    return [(r.model, r.gflops_per_view, r.test_top1) for r in results
            if r.status == "ok" and r.gflops_per_view is not None and r.test_top1 is not None]


def plot_accuracy_vs_flops(results: Sequence[ModelResult], path: str, *,
                           title: str = "test top-1 against compute") -> int:
    """A PNG of test top-1 against GFLOPs per view, one labelled point per finished model; returns the
    number of points. matplotlib when installed, else a plain Pillow drawing (:func:`plot_backend`)."""
    points = _points(results)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        if plot_backend() == "matplotlib":
            _plot_matplotlib(points, path, title)
        else:
            _plot_pil(points, path, title)
    except OSError as e:
        raise OutputError(f"{path}: cannot write the plot ({e.strerror or e})") from None
    return len(points)


def _plot_matplotlib(points: list[tuple[str, float, float]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, x, y in points:
        ax.scatter([x], [y], s=40)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    xs = [x for _, x, _ in points if x > 0]
    if xs and max(xs) > 10 * min(xs):  # models an order of magnitude apart in compute
        ax.set_xscale("log")
    ax.margins(x=0.2, y=0.15)  # room for the labels
    ax.set_xlabel("GFLOPs per view")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if not points:
        ax.text(0.5, 0.5, "no finished model", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_pil(points: list[tuple[str, float, float]], path: str, title: str) -> None:
    from PIL import Image, ImageDraw

    width, height, margin = 650, 450, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = margin, height - margin, width - 150, 45  # the right margin leaves room for labels
    draw.line([(x0, y1), (x0, y0), (x1, y0)], fill="black")
    draw.text((width // 2 - 50, height - 25), "GFLOPs per view", fill="black")
    draw.text((5, 25), "test top-1 (%)", fill="black")
    draw.text((margin, 5), title, fill="black")
    if points:
        xmax = max(x for _, x, _ in points) * 1.1 or 1.0
        draw.text((x1 - 30, y0 + 5), f"{xmax:.3g}", fill="black")
        draw.text((x0 - 30, y1), "100", fill="black")
        draw.text((x0 - 15, y0 - 5), "0", fill="black")
        for name, x, y in points:
            px, py = x0 + (x1 - x0) * x / xmax, y0 - (y0 - y1) * y / 100.0
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill="blue")
            draw.text((px + 6, py - 12), name, fill="black")
    image.save(path, format="PNG")
