"""The speed benchmark's measurements: workloads, timing, peak memory and the rows of results.

For every model at ``clip_frames`` x ``size`` it measures inference clips/s at batch 1 and at
``batch``, a training step (forward, backward, AdamW) at ``batch``, the peak memory of each and the
achieved FLOP/s as a fraction of a dense matmul's FLOP/s measured in the same run; then, for the sweep
models, how time and memory grow over ``frames``.

Timings are interleaved (:func:`~videoregion.benchmark.timing.run_interleaved`): each round measures
every workload once, so load on a shared machine hits all alike. Peak memory is taken in a fresh
process per workload (``python -m videoregion.benchmark.worker``): on CPU the peak resident set above
the process's footprint after imports (model, optimizer state, inputs, activations); on GPU
torch.cuda.max_memory_allocated. FLOPs are fvcore's: one multiply-add = one FLOP; the matmul peak is
counted the same way (n^3 multiply-adds for an n x n product).

With ``Settings.onnx`` our models (not the peers) are also exported to ONNX
(:func:`videoregion.inference.export.export_model`, any batch) and run by onnxruntime
(:class:`videoregion.inference.onnx_model.OnnxModel`, ``threads`` intra-op threads) at batch 1 and
``batch``, in the same interleaved rounds as eager PyTorch, on the same clips; each such row holds the
largest absolute difference of its logits from eager float32 PyTorch's.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from videoregion.utils.flops import count_flops, count_params

from .peers import NUM_CLASSES, PEERS, build_benchmark_model, missing_requirement
from .timing import (
    current_rss_bytes,
    matmul_workload,
    peak_rss_bytes,
    run_interleaved,
    summarize,
    synchronize,
)

__all__ = [
    "EAGER",
    "MODES",
    "ONNXRUNTIME",
    "TRAIN_FLOPS_PER_FORWARD",
    "Cell",
    "Settings",
    "benchmark_clips",
    "collect",
    "export_onnx",
    "exportable",
    "make_onnx_step",
    "make_step",
    "measure_in_fresh_process",
    "measure_in_this_process",
    "measure_memory",
    "measure_time",
    "onnx_differences",
    "onnx_unavailable",
    "plan_cells",
    "run_benchmark",
    "skip_missing_peers",
    "skip_unavailable_onnx",
]

MIB = 2**20
WORKER_TAG = "BENCHMARK_WORKER_RESULT "
# Forward + backward of a training step costs about 3 forwards (backward: gradients of inputs and weights).
TRAIN_FLOPS_PER_FORWARD = 3
MODES = ("infer1", "inferB", "train")
EAGER, ONNXRUNTIME = "torch", "onnxruntime"  # backends: a Cell's ``backend``
ONNX_MODES = ("infer1", "inferB")


@dataclass(frozen=True)
class Settings:
    """What one benchmark run measures, and how."""

    models: list[str]  # the main table
    sweep_models: list[str]  # measured over ``frames``
    frames: list[int]  # clip lengths of the sweep
    clip_frames: int  # clip length of the main table
    size: int  # height and width in pixels
    batch: int  # the larger inference batch and the training batch
    sweep_modes: list[str]  # of MODES
    device: str = "cpu"
    amp: str = "none"  # "none" (float32) or "bf16" autocast
    compile: bool = False
    threads: int = 1  # torch CPU threads
    repeats: int = 3  # interleaved timing rounds
    warmup: int = 1  # untimed calls of each workload first
    min_seconds: float = 0.5  # a measurement repeats fast calls until it lasts about this long
    matmul_size: int = 2048  # n of the n x n dense matmul peak
    onnx: bool = False  # also run our models' ONNX exports in onnxruntime (CPU)


@dataclass(frozen=True)
class Cell:
    """One measured workload: a model at a clip length, in one mode."""

    model: str
    frames: int
    mode: str  # infer1 | inferB | train
    backend: str = EAGER  # or ONNXRUNTIME (inference modes only)

    @property
    def key(self) -> str:
        return f"{self.model}@{self.frames}:{self.mode}" + ("" if self.backend == EAGER else f"/{self.backend}")


def cell_batch(cell: Cell, batch: int) -> int:
    return 1 if cell.mode == "infer1" else batch


def make_step(model: nn.Module, mode: str, batch: int, frames: int, size: int, device: torch.device,
              amp: bool, optimizer: torch.optim.Optimizer | None = None,
              num_classes: int = NUM_CLASSES) -> Callable[[], None]:
    """One inference call, or one training step (forward, cross-entropy, backward, AdamW), on fixed inputs."""
    generator = torch.Generator().manual_seed(0)
    clips = torch.randn(batch, 3, frames, size, size, generator=generator).to(device)  # benchmark_clips
    labels = torch.randint(0, num_classes, (batch,), generator=generator).to(device)

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)

    if mode != "train":
        def infer() -> None:
            model.eval()
            with torch.inference_mode(), autocast():
                model(clips)
        return infer

    if optimizer is None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

    def train() -> None:
        model.train()
        with autocast():
            loss = F.cross_entropy(model(clips), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return train


def benchmark_clips(batch: int, frames: int, size: int) -> torch.Tensor:
    """The fixed random clips (B, 3, T, H, W) every inference workload of a model runs on."""
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(0))


def make_onnx_step(path: str, batch: int, frames: int, size: int, threads: int) -> Callable[[], None]:
    """One onnxruntime call of the ONNX export at ``path`` on :func:`benchmark_clips`."""
    from videoregion.inference.onnx_model import OnnxModel

    model, clips = OnnxModel(path, threads=threads), benchmark_clips(batch, frames, size)
    return lambda: model(clips)


def measure_in_this_process(spec: dict[str, Any]) -> dict[str, Any]:
    """Peak memory of one workload (and FLOPs when asked), in a process that ran nothing else."""
    device = torch.device(spec["device"])
    torch.set_num_threads(spec["threads"])
    if spec.get("onnx_path"):
        base = current_rss_bytes()
        step = make_onnx_step(spec["onnx_path"], spec["batch"], spec["frames"], spec["size"], spec["threads"])
        step()
        return dict(peak_bytes=peak_rss_bytes(), base_bytes=base)
    peer = PEERS.get(spec["model"])
    if peer is not None:  # import the peer's library before the baseline, as videoregion already is
        __import__(peer.requires)
        if spec["model"] == "videomae_vit_b":
            importlib.import_module("transformers.models.videomae")  # transformers imports it lazily
    base = current_rss_bytes()
    model = build_benchmark_model(spec["model"], spec["frames"], spec["size"]).to(device)
    if spec["compile"]:
        model = torch.compile(model)
    step = make_step(model, spec["mode"], spec["batch"], spec["frames"], spec["size"], device, spec["amp"])
    for _ in range(2 if spec["mode"] == "train" else 1):  # a second step holds the optimizer state
        step()
    synchronize(device)
    result: dict[str, Any] = {}
    if device.type == "cuda":
        result.update(peak_bytes=torch.cuda.max_memory_allocated(device), base_bytes=0)
    else:
        result.update(peak_bytes=peak_rss_bytes(), base_bytes=base)
    if spec["flops"]:
        plain = build_benchmark_model(spec["model"], spec["frames"], spec["size"]).to(device)
        clip = torch.zeros(1, 3, spec["frames"], spec["size"], spec["size"], device=device)
        result.update(flops=count_flops(plain, clip), params=count_params(plain))
    return result


def measure_in_fresh_process(spec: dict[str, Any]) -> dict[str, Any]:
    """Run measure_in_this_process in a child process; {"error": ...} when it fails."""
    command = [sys.executable, "-m", "videoregion.benchmark.worker", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(WORKER_TAG):
            return json.loads(line[len(WORKER_TAG):])
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return {"error": f"exit {done.returncode}: {lines[-1] if lines else 'no output'}"}


def exportable(model: str) -> bool:
    """Whether the benchmark exports ``model`` to ONNX: our registry's models, not the peers."""
    return model not in PEERS


def onnx_unavailable(settings: Settings) -> str | None:
    """Why the onnxruntime rows cannot be measured in this run, or None."""
    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        return (f"onnxruntime rows skipped: {' and '.join(missing)} not installed "
                '(pip install -e ".[export]")')
    if settings.device != "cpu":
        return "onnxruntime rows skipped: they run on the CPU only (OnnxModel), compare them with --device cpu"
    return None


def plan_cells(settings: Settings) -> list[Cell]:
    cells = [Cell(m, settings.clip_frames, mode) for m in settings.models for mode in MODES]
    if settings.onnx:
        cells += [Cell(m, settings.clip_frames, mode, ONNXRUNTIME) for m in settings.models if exportable(m)
                  for mode in ONNX_MODES]
    cells += [Cell(m, f, mode) for m in settings.sweep_models for f in settings.frames for mode in settings.sweep_modes]
    return list(dict.fromkeys(cells))  # drop repeats, keep order


def export_onnx(cells: list[Cell], settings: Settings, folder: str) -> tuple[dict[tuple[str, int], str], list[str]]:
    """ONNX files (any batch) of the models of the onnxruntime cells, written to ``folder``; notes on failures."""
    from videoregion.inference.export import export_model

    paths: dict[tuple[str, int], str] = {}
    notes = []
    keys = dict.fromkeys((c.model, c.frames) for c in cells if c.backend == ONNXRUNTIME)
    for model, frames in tqdm(keys, desc="ONNX export", unit="model"):
        path = os.path.join(folder, f"{model}_{frames}x{settings.size}.onnx")
        metadata = dict(model=model, class_names=[str(i) for i in range(NUM_CLASSES)], config={},
                        input={"shape": ["batch", 3, frames, settings.size, settings.size]})
        try:
            export_model(build_benchmark_model(model, frames, settings.size), path, "onnx",
                         num_frames=frames, size=settings.size, batch=None, metadata=metadata)
        except Exception as e:  # one model's failed export leaves the rest of the run alone
            notes.append(f"{model}@{frames} onnxruntime skipped: the ONNX export failed ({type(e).__name__}: {e})")
            continue
        paths[(model, frames)] = path
    return paths, notes


def onnx_differences(paths: dict[tuple[str, int], str], settings: Settings) -> dict[tuple[str, int], float]:
    """The largest absolute logit difference of each export from eager float32 PyTorch, on the batch-``batch``
    clips the timing runs on."""
    from videoregion.inference.export import max_abs_difference
    from videoregion.inference.onnx_model import OnnxModel

    differences = {}
    for (model, frames), path in paths.items():
        eager = build_benchmark_model(model, frames, settings.size).eval()
        clips = benchmark_clips(settings.batch, frames, settings.size)
        differences[(model, frames)] = max_abs_difference(eager, OnnxModel(path, threads=settings.threads), clips)
    return differences


def measure_memory(cells: list[Cell], settings: Settings,
                   onnx_paths: dict[tuple[str, int], str] | None = None) -> dict[Cell, dict[str, Any]]:
    results: dict[Cell, dict[str, Any]] = {}
    counted: set[tuple[str, int]] = set()
    for cell in tqdm(cells, desc="peak memory (fresh process each)", unit="workload"):
        first = (cell.model, cell.frames) not in counted
        counted.add((cell.model, cell.frames))
        onnx_path = (onnx_paths or {}).get((cell.model, cell.frames)) if cell.backend == ONNXRUNTIME else None
        spec = dict(model=cell.model, frames=cell.frames, size=settings.size, mode=cell.mode,
                    batch=cell_batch(cell, settings.batch), device=settings.device, threads=settings.threads,
                    amp=settings.amp == "bf16", compile=settings.compile, flops=first, onnx_path=onnx_path)
        results[cell] = measure_in_fresh_process(spec)
    return results


def measure_time(cells: list[Cell], settings: Settings, onnx_paths: dict[tuple[str, int], str] | None = None
                 ) -> tuple[dict[Cell, list[float]], list[float], int]:
    """Seconds per call of every cell and of the dense matmul (interleaved round-robin); the matmul's multiply-adds."""
    device = torch.device(settings.device)
    models: dict[tuple[str, int], nn.Module] = {}
    optimizers: dict[tuple[str, int], torch.optim.Optimizer] = {}
    workloads: dict[str, Callable[[], None]] = {}
    for cell in cells:
        key = (cell.model, cell.frames)
        if cell.backend == ONNXRUNTIME:
            workloads[cell.key] = make_onnx_step((onnx_paths or {})[key], cell_batch(cell, settings.batch),
                                                 cell.frames, settings.size, settings.threads)
            continue
        if key not in models:
            model = build_benchmark_model(cell.model, cell.frames, settings.size).to(device)
            models[key] = torch.compile(model) if settings.compile else model
        if cell.mode == "train" and key not in optimizers:
            optimizers[key] = torch.optim.AdamW(models[key].parameters(), lr=1e-4, weight_decay=0.05)
        workloads[cell.key] = make_step(models[key], cell.mode, cell_batch(cell, settings.batch), cell.frames,
                                        settings.size, device, settings.amp == "bf16", optimizers.get(key))
    dtype = torch.bfloat16 if settings.amp == "bf16" else torch.float32
    workloads["matmul"], multiply_adds = matmul_workload(settings.matmul_size, device, dtype)
    total = len(workloads) * (max(1, settings.warmup) + settings.repeats)
    with tqdm(total=total, desc="timing (interleaved)", unit="call") as bar:
        times = run_interleaved(workloads, repeats=settings.repeats, warmup=settings.warmup,
                                min_seconds=settings.min_seconds, device=device,
                                progress=lambda name: bar.set_postfix_str(name, refresh=False) or bar.update())
    matmul = times.pop("matmul")
    return {cell: times[cell.key] for cell in cells}, matmul, multiply_adds


def collect(
    cells: list[Cell],
    memory: dict[Cell, dict[str, Any]],
    times: dict[Cell, list[float]],
    matmul_times: list[float],
    matmul_multiply_adds: int,
    settings: Settings,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per cell (its rates, peak memory, FLOP/s and matmul-peak fraction) and the matmul's summary."""
    matmul = summarize(matmul_times)
    matmul_rate = matmul_multiply_adds / matmul["median"]
    flops = {(c.model, c.frames): memory[c] for c in cells if "flops" in memory.get(c, {})}
    rows = []
    for cell in cells:
        batch = cell_batch(cell, settings.batch)
        row: dict[str, Any] = dict(model=cell.model, frames=cell.frames, size=settings.size, mode=cell.mode,
                                   batch=batch, backend=cell.backend)
        if "error" in memory[cell]:
            rows.append({**row, "error": memory[cell]["error"]})
            continue
        seconds = summarize(times[cell])
        counted = flops.get((cell.model, cell.frames), {})
        forward_flops = counted.get("flops")
        work = forward_flops * batch * (TRAIN_FLOPS_PER_FORWARD if cell.mode == "train" else 1) \
            if forward_flops else None
        row.update(
            params=counted.get("params"),
            gflops_per_clip=forward_flops / 1e9 if forward_flops else None,
            seconds={**seconds, "all": times[cell]},
            clips_per_s=batch / seconds["median"],
            calls_per_s=1 / seconds["median"],
            peak_memory_mib=(memory[cell]["peak_bytes"] - memory[cell]["base_bytes"]) / MIB,
            process_peak_mib=memory[cell]["peak_bytes"] / MIB,
            process_base_mib=memory[cell]["base_bytes"] / MIB,
            flops_per_s=work / seconds["median"] if work else None,
            matmul_fraction=work / seconds["median"] / matmul_rate if work else None,
        )
        rows.append(row)
    dtype = "bfloat16" if settings.amp == "bf16" else "float32"
    matmul_summary = dict(n=settings.matmul_size, multiply_adds=matmul_multiply_adds, flops_per_s=matmul_rate,
                          seconds={**matmul, "all": matmul_times}, dtype=dtype)
    return rows, matmul_summary


def skip_unavailable_onnx(settings: Settings) -> tuple[Settings, list[str]]:
    """``settings`` without the onnxruntime rows when they cannot run here (a note says why)."""
    if not settings.onnx:
        return settings, []
    why = onnx_unavailable(settings)
    if why is None and not any(exportable(m) for m in settings.models):
        why = "onnxruntime rows skipped: --models holds none of our models to export"
    return (settings, []) if why is None else (replace(settings, onnx=False), [why])


def skip_missing_peers(settings: Settings) -> tuple[Settings, list[str]]:
    """``settings`` without the models whose optional package is absent, and notes on the peers skipped and built."""
    every = settings.models + settings.sweep_models
    notes = [n for m in dict.fromkeys(every) if (n := missing_requirement(m))]
    skipped = {m for m in every if missing_requirement(m)}
    settings = replace(
        settings,
        models=[m for m in settings.models if m not in skipped],
        sweep_models=[m for m in settings.sweep_models if m not in skipped],
    )
    notes += [f"{name}: {peer.note}, random weights" for name, peer in PEERS.items()
              if name in settings.models + settings.sweep_models]
    return settings, notes


def run_benchmark(settings: Settings, cells: list[Cell], machine: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Measure ``cells``: memory first (a fresh process each), then interleaved timing.

    ``machine`` is :func:`~videoregion.benchmark.timing.machine_info` taken at the start; the result
    holds it (with the load average at the end), the matmul's summary, the rows and the notes.
    """
    with tempfile.TemporaryDirectory(prefix="videoregion-onnx-") as folder:
        onnx_paths, export_notes = export_onnx(cells, settings, folder)
        notes = notes + export_notes
        cells = [c for c in cells if c.backend == EAGER or (c.model, c.frames) in onnx_paths]
        memory = measure_memory(cells, settings, onnx_paths)
        timed = [c for c in cells if "error" not in memory[c]]
        notes = notes + [f"{c.key} failed: {memory[c]['error']}" for c in cells if "error" in memory[c]]
        times, matmul_times, matmul_multiply_adds = measure_time(timed, settings, onnx_paths)
        differences = onnx_differences(onnx_paths, settings)
    rows, matmul = collect(cells, memory, times, matmul_times, matmul_multiply_adds, settings)
    for row in rows:
        if row["backend"] == ONNXRUNTIME:
            row["max_abs_diff_vs_eager"] = differences.get((row["model"], row["frames"]))
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return dict(machine=machine, matmul=matmul, rows=rows, notes=notes)
