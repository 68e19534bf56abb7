"""Speed and memory of RegionViT-3D beside video peers, all measured in one run (issue 7).

    python tools/benchmark.py                                  # full default run (31 min on 2 shared CPU cores, ~10 GB)
    python tools/benchmark.py --quick                          # tiny settings, seconds
    python tools/benchmark.py --models regionvit3d_small,mvit_base_16x4 --frames 16,32 \\
        --json bench.json --plot bench.png

Measures, for every model of --models at --clip-frames x --size: inference clips/s at batch 1 and at
--batch, a training step (forward, backward, AdamW) at --batch, peak memory of each, and the achieved
FLOP/s as a fraction of a dense matmul's FLOP/s measured in the same run; then, for --sweep-models,
how time and memory grow over --frames. Peers have random weights and are built without downloads:
pytorchvideo's mvit_base_16x4 and x3d_m, and a joint space-time attention ViT-B (VideoMAE layout, from
`transformers` when it is installed; skipped with a note otherwise).

Timings are interleaved: each round measures every workload once, so load on a shared machine hits all
alike; tables give the median over --repeats rounds and the spread (half the range over the median).
Peak memory is taken in a fresh process per workload: on CPU the peak resident set (ru_maxrss) above
the process's footprint after imports (model, optimizer state, inputs, activations); on GPU
torch.cuda.max_memory_allocated. FLOPs are fvcore's: one multiply-add = one FLOP; the matmul peak is
counted the same way (n^3 multiply-adds for an n x n product).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

# fvcore scripts a loss at import; torch now warns about torch.jit.script, which says nothing about us.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)

from videoregion.models import create_model, list_models  # noqa: E402
from videoregion.utils.benchmark import (  # noqa: E402
    current_rss_bytes,
    machine_info,
    matmul_workload,
    peak_rss_bytes,
    run_interleaved,
    summarize,
    synchronize,
)
from videoregion.utils.flops import count_flops, count_params  # noqa: E402

NUM_CLASSES = 400
MIB = 2**20
WORKER_TAG = "BENCHMARK_WORKER_RESULT "
# Forward + backward of a training step costs about 3 forwards (backward: gradients of inputs and weights).
TRAIN_FLOPS_PER_FORWARD = 3

DEFAULT_MODELS = ["regionvit3d_tiny", "regionvit3d_small", "mvit_base_16x4", "x3d_m", "videomae_vit_b"]
DEFAULT_SWEEP_MODELS = ["regionvit3d_small", "videomae_vit_b"]
PRESETS: dict[str, dict[str, Any]] = {
    "full": dict(frames=[8, 16, 32, 64], clip_frames=16, size=224, batch=2, repeats=3, warmup=1,
                 matmul_size=2048, min_seconds=0.5),
    "quick": dict(models=["regionvit3d_tiny"], frames=[4, 8], clip_frames=4, size=56, batch=2, repeats=2,
                  warmup=1, matmul_size=256, min_seconds=0.05),
}
MODES = ("infer1", "inferB", "train")


# ---------------------------------------------------------------------------------------------- models

class JointAttentionViT(nn.Module):
    """ViT-B with joint space-time attention over 2x16x16 tubelets (VideoMAE's classifier), random weights.

    Input (B, 3, T, H, W) like every model here; transformers wants (B, T, 3, H, W).
    """

    def __init__(self, *, num_frames: int, img_size: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        from transformers import VideoMAEConfig, VideoMAEForVideoClassification

        config = VideoMAEConfig(
            image_size=img_size, num_frames=num_frames, tubelet_size=2, patch_size=16, hidden_size=768,
            num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, num_labels=num_classes,
            attn_implementation="sdpa",
        )
        self.model = VideoMAEForVideoClassification(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x.transpose(1, 2)).logits


def build_mvit(frames: int, size: int) -> nn.Module:
    from pytorchvideo.models.hub import mvit_base_16x4

    return mvit_base_16x4(pretrained=False, temporal_size=frames, spatial_size=size, head_num_classes=NUM_CLASSES)


def build_x3d_m(frames: int, size: int) -> nn.Module:
    # The hub's x3d_m is create_x3d with these two settings at 16 x 224 (its signature fixes them).
    from pytorchvideo.models.x3d import create_x3d

    return create_x3d(input_clip_length=frames, input_crop_size=size, model_num_class=NUM_CLASSES)


def build_joint_vit(frames: int, size: int) -> nn.Module:
    return JointAttentionViT(num_frames=frames, img_size=size)


@dataclass(frozen=True)
class Peer:
    build: Callable[[int, int], nn.Module]
    requires: str  # top-level package that must be importable
    note: str


PEERS: dict[str, Peer] = {
    "mvit_base_16x4": Peer(build_mvit, "pytorchvideo", "pytorchvideo hub mvit_base_16x4, pretrained=False"),
    "x3d_m": Peer(build_x3d_m, "pytorchvideo", "pytorchvideo x3d_m (create_x3d), pretrained=False"),
    "videomae_vit_b": Peer(build_joint_vit, "transformers",
                           "ViT-B joint space-time attention, transformers VideoMAEForVideoClassification"),
}


def known_models() -> list[str]:
    return [m for m in list_models() if m.startswith("regionvit3d_")] + list(PEERS)


def build_benchmark_model(name: str, frames: int, size: int) -> nn.Module:
    """A video classifier with random weights, input (B, 3, frames, size, size), output (B, 400)."""
    torch.manual_seed(0)
    if name in PEERS:
        return PEERS[name].build(frames, size)
    return create_model(name, num_frames=frames, num_classes=NUM_CLASSES)


def missing_requirement(name: str) -> str | None:
    peer = PEERS.get(name)
    if peer is not None and importlib.util.find_spec(peer.requires) is None:
        return f"{name} skipped: `{peer.requires}` is not installed (pip install {peer.requires})"
    return None


# ------------------------------------------------------------------------------------------- workloads

@dataclass(frozen=True)
class Cell:
    """One measured workload: a model at a clip length, in one mode."""

    model: str
    frames: int
    mode: str  # infer1 | inferB | train

    @property
    def key(self) -> str:
        return f"{self.model}@{self.frames}:{self.mode}"


def cell_batch(cell: Cell, batch: int) -> int:
    return 1 if cell.mode == "infer1" else batch


def make_step(model: nn.Module, mode: str, batch: int, frames: int, size: int, device: torch.device,
              amp: bool, optimizer: torch.optim.Optimizer | None = None) -> Callable[[], None]:
    """One inference call, or one training step (forward, cross-entropy, backward, AdamW), on fixed inputs."""
    generator = torch.Generator().manual_seed(0)
    clips = torch.randn(batch, 3, frames, size, size, generator=generator).to(device)  # (B, 3, T, H, W)
    labels = torch.randint(0, NUM_CLASSES, (batch,), generator=generator).to(device)
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)  # noqa: E731

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


# -------------------------------------------------------------------------------- memory (subprocess)

def measure_in_this_process(spec: dict[str, Any]) -> dict[str, Any]:
    """Peak memory of one workload (and FLOPs when asked), in a process that ran nothing else."""
    device = torch.device(spec["device"])
    torch.set_num_threads(spec["threads"])
    peer = PEERS.get(spec["model"])
    if peer is not None:  # import the peer's library before the baseline, as videoregion already is
        __import__(peer.requires)
        if spec["model"] == "videomae_vit_b":
            from transformers import VideoMAEForVideoClassification  # noqa: F401  (lazy module)
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
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(WORKER_TAG):
            return json.loads(line[len(WORKER_TAG):])
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return {"error": f"exit {done.returncode}: {lines[-1] if lines else 'no output'}"}


# ------------------------------------------------------------------------------------------------ run

def plan_cells(args: argparse.Namespace) -> list[Cell]:
    cells = [Cell(m, args.clip_frames, mode) for m in args.models for mode in MODES]
    cells += [Cell(m, f, mode) for m in args.sweep_models for f in args.frames for mode in args.sweep_modes]
    return list(dict.fromkeys(cells))  # drop repeats, keep order


def measure_memory(cells: list[Cell], args: argparse.Namespace) -> dict[Cell, dict[str, Any]]:
    results: dict[Cell, dict[str, Any]] = {}
    counted: set[tuple[str, int]] = set()
    for cell in tqdm(cells, desc="peak memory (fresh process each)", unit="workload"):
        first = (cell.model, cell.frames) not in counted
        counted.add((cell.model, cell.frames))
        spec = dict(model=cell.model, frames=cell.frames, size=args.size, mode=cell.mode,
                    batch=cell_batch(cell, args.batch), device=args.device, threads=args.threads,
                    amp=args.amp == "bf16", compile=args.compile, flops=first)
        results[cell] = measure_in_fresh_process(spec)
    return results


def measure_time(cells: list[Cell], args: argparse.Namespace) -> tuple[dict[Cell, list[float]], list[float], int]:
    """Seconds per call of every cell and of the dense matmul (interleaved round-robin); the matmul's multiply-adds."""
    device = torch.device(args.device)
    models: dict[tuple[str, int], nn.Module] = {}
    optimizers: dict[tuple[str, int], torch.optim.Optimizer] = {}
    workloads: dict[str, Callable[[], None]] = {}
    for cell in cells:
        key = (cell.model, cell.frames)
        if key not in models:
            model = build_benchmark_model(cell.model, cell.frames, args.size).to(device)
            models[key] = torch.compile(model) if args.compile else model
        if cell.mode == "train" and key not in optimizers:
            optimizers[key] = torch.optim.AdamW(models[key].parameters(), lr=1e-4, weight_decay=0.05)
        workloads[cell.key] = make_step(models[key], cell.mode, cell_batch(cell, args.batch), cell.frames,
                                        args.size, device, args.amp == "bf16", optimizers.get(key))
    dtype = torch.bfloat16 if args.amp == "bf16" else torch.float32
    workloads["matmul"], multiply_adds = matmul_workload(args.matmul_size, device, dtype)
    total = len(workloads) * (max(1, args.warmup) + args.repeats)
    with tqdm(total=total, desc="timing (interleaved)", unit="call") as bar:
        times = run_interleaved(workloads, repeats=args.repeats, warmup=args.warmup,
                                min_seconds=args.min_seconds, device=device,
                                progress=lambda name: bar.set_postfix_str(name, refresh=False) or bar.update())
    matmul = times.pop("matmul")
    return {cell: times[cell.key] for cell in cells}, matmul, multiply_adds


def collect(cells: list[Cell], memory: dict[Cell, dict[str, Any]], times: dict[Cell, list[float]],
            matmul_times: list[float], matmul_multiply_adds: int, args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    matmul = summarize(matmul_times)
    matmul_rate = matmul_multiply_adds / matmul["median"]
    flops = {(c.model, c.frames): memory[c] for c in cells if "flops" in memory.get(c, {})}
    rows = []
    for cell in cells:
        batch = cell_batch(cell, args.batch)
        row: dict[str, Any] = dict(model=cell.model, frames=cell.frames, size=args.size, mode=cell.mode,
                                   batch=batch)
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
    matmul_summary = dict(n=args.matmul_size, multiply_adds=matmul_multiply_adds, flops_per_s=matmul_rate,
                          seconds={**matmul, "all": matmul_times}, dtype="bfloat16" if args.amp == "bf16" else "float32")
    return rows, matmul_summary


# ----------------------------------------------------------------------------------------------- report

def find(rows: list[dict[str, Any]], model: str, frames: int, mode: str) -> dict[str, Any] | None:
    for row in rows:
        if (row["model"], row["frames"], row["mode"]) == (model, frames, mode) and "error" not in row:
            return row
    return None


def fmt_rate(row: dict[str, Any] | None, key: str = "clips_per_s") -> str:
    if row is None:
        return "-"
    return f"{row[key]:.3g} ±{100 * row['seconds']['spread']:.0f}%"


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    b = args.batch
    lines = [
        f"| model | params (M) | GFLOPs/clip | infer b1 clips/s | infer b{b} clips/s | train b{b} clips/s "
        f"| peak MiB infer b1 | peak MiB infer b{b} | peak MiB train b{b} "
        f"| matmul-peak fraction infer b1 / b{b} / train |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in args.models:
        cells = {mode: find(rows, model, args.clip_frames, mode) for mode in MODES}
        errors = [r.get("error") for r in rows if r["model"] == model and r["frames"] == args.clip_frames
                  and "error" in r]
        if errors:
            lines.append(f"| {model} | failed: {errors[0]} |||||||||")
            continue
        any_row = cells["infer1"] or cells["inferB"] or cells["train"]
        fractions = " / ".join(fmt(cells[m] and cells[m]["matmul_fraction"], ".0%") for m in MODES)
        lines.append(
            f"| {model} | {fmt(any_row['params'] and any_row['params'] / 1e6, '.1f')} "
            f"| {fmt(any_row['gflops_per_clip'], '.1f')} "
            f"| {fmt_rate(cells['infer1'])} | {fmt_rate(cells['inferB'])} | {fmt_rate(cells['train'])} "
            + "".join(f"| {fmt(cells[m] and cells[m]['peak_memory_mib'], ',.0f')} " for m in MODES)
            + f"| {fractions} |"
        )
    return lines


def reference_frames(args: argparse.Namespace) -> int:
    return args.clip_frames if args.clip_frames in args.frames else min(args.frames)


def sweep_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    ref = reference_frames(args)
    lines = [
        f"| model | mode | frames | GFLOPs/clip | s/call | time vs {ref} frames | peak MiB | memory vs {ref} frames |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in args.sweep_models:
        for mode in args.sweep_modes:
            base = find(rows, model, ref, mode)
            for frames in args.frames:
                row = find(rows, model, frames, mode)
                if row is None:
                    lines.append(f"| {model} | {mode} | {frames} | failed |||||")
                    continue
                time_ratio = row["seconds"]["median"] / base["seconds"]["median"] if base else None
                mem_ratio = row["peak_memory_mib"] / base["peak_memory_mib"] if base else None
                lines.append(
                    f"| {model} | {mode_label(mode, args.batch)} | {frames} | {fmt(row['gflops_per_clip'], '.1f')} "
                    f"| {row['seconds']['median']:.3g} ±{100 * row['seconds']['spread']:.0f}% "
                    f"| {fmt(time_ratio, '.2f')}x (frames {frames / ref:.2g}x) "
                    f"| {row['peak_memory_mib']:,.0f} | {fmt(mem_ratio, '.2f')}x |"
                )
    return lines


def mode_label(mode: str, batch: int) -> str:
    return {"infer1": "infer b1", "inferB": f"infer b{batch}", "train": f"train b{batch}"}[mode]


def check_targets(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Issue 7's targets for regionvit3d_small, where this run measured what they need."""
    ours, peer, t = "regionvit3d_small", "mvit_base_16x4", args.clip_frames
    targets = []

    def add(name: str, value: float | None, limit: float, higher_is_better: bool) -> None:
        if value is not None:
            met = value >= limit if higher_is_better else value <= limit
            targets.append(dict(target=name, value=value, limit=limit, met=met))

    for mode in ("infer1", "inferB"):
        a, b = find(rows, ours, t, mode), find(rows, peer, t, mode)
        if a and b:
            add(f"{ours} / {peer} inference clips/s, {mode_label(mode, args.batch)} (>= 1.5)",
                a["clips_per_s"] / b["clips_per_s"], 1.5, True)
    a, b = find(rows, ours, t, "train"), find(rows, peer, t, "train")
    if a and b:
        add(f"{ours} / {peer} peak training memory (<= 1.0)", a["peak_memory_mib"] / b["peak_memory_mib"], 1.0, False)
    for mode in args.sweep_modes:
        a, b = find(rows, ours, 64, mode), find(rows, ours, 16, mode)
        if a and b:
            add(f"{ours} time at 64 frames / at 16 frames, {mode_label(mode, args.batch)} (<= 4.4)",
                a["seconds"]["median"] / b["seconds"]["median"], 4.4, False)
    for mode in ("infer1", "inferB"):
        a = find(rows, ours, t, mode)
        if a and a["matmul_fraction"] is not None:
            add(f"{ours} forward FLOP/s / dense matmul FLOP/s, {mode_label(mode, args.batch)} (>= 0.5)",
                a["matmul_fraction"], 0.5, True)
    return targets


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    m, mm = result["machine"], result["matmul"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['torch_threads']} threads, "
        f"device {m['device']}" + (f" ({m['gpu']})" if "gpu" in m else "")
        + (f", load average at start {m['load_average'][0]}" if "load_average" in m else ""),
        f"Dense matmul {mm['n']}x{mm['n']} {mm['dtype']}: {mm['flops_per_s'] / 1e9:.1f} GFLOP/s "
        f"(n^3 multiply-adds = FLOPs as fvcore counts them) ±{100 * mm['seconds']['spread']:.0f}%",
        "",
        f"### {args.clip_frames}x{args.size}, amp={args.amp}, compile={args.compile}: median over "
        f"{args.repeats} interleaved rounds ±spread (half the range over the median)",
        "",
        *main_table(result["rows"], args),
        "",
        "Peak MiB: " + ("torch.cuda.max_memory_allocated in a fresh process."
                        if args.device == "cuda" else
                        "peak RSS of a fresh process above its size after imports (model, optimizer, inputs, "
                        "activations)."),
        "Matmul-peak fraction: fvcore FLOPs x batch / time over the dense matmul's FLOP/s; a training step "
        f"is counted as {TRAIN_FLOPS_PER_FORWARD} forwards.",
    ]
    if args.sweep_models:
        lines += ["", f"### Growth with frames at {args.size}x{args.size}", "", *sweep_table(result["rows"], args)]
    if result["targets"]:
        lines += ["", "### Issue 7 targets", ""]
        lines += [f"- {'MET' if t['met'] else 'NOT MET'}: {t['target']}: {t['value']:.2f}" for t in result["targets"]]
    if result["notes"]:
        lines += ["", *[f"Note: {n}" for n in result["notes"]]]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], args: argparse.Namespace, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.2))
    ref = reference_frames(args)
    for model in args.sweep_models:
        for mode in args.sweep_modes:
            points = [(f, r) for f in args.frames if (r := find(rows, model, f, mode))]
            if not points:
                continue
            frames = [f for f, _ in points]
            label = f"{model} {mode_label(mode, args.batch)}"
            line, = ax_time.plot(frames, [r["seconds"]["median"] for _, r in points], "o-", label=label)
            ax_mem.plot(frames, [r["peak_memory_mib"] for _, r in points], "o-", label=label, color=line.get_color())
            base = find(rows, model, ref, mode)
            if base:
                ax_time.plot(frames, [base["seconds"]["median"] * f / ref for f in frames], ":",
                             color=line.get_color(), label=f"linear from {ref} frames")
    for ax, ylabel in ((ax_time, "seconds per call (median)"), (ax_mem, "peak memory (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(args.frames, [str(f) for f in args.frames])
        ax.set_xlabel(f"frames (at {args.size}x{args.size})")
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.grid(True, which="both", alpha=0.3)
    ax_time.legend(fontsize=7)
    setting = f"{args.threads} threads" if args.device == "cpu" else f"amp={args.amp}"
    fig.suptitle(f"Time and memory against clip length ({args.device}, {setting})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------- CLI

def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def name_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=name_list,
                        help=f"comma-separated models for the main table (default: {','.join(DEFAULT_MODELS)}); "
                             f"known: {','.join(known_models())}")
    parser.add_argument("--sweep-models", type=name_list,
                        help=f"models whose growth with frames is measured (default: those of "
                             f"{','.join(DEFAULT_SWEEP_MODELS)} in --models, else the first of --models)")
    parser.add_argument("--frames", type=int_list, help="clip lengths of the sweep (default 8,16,32,64)")
    parser.add_argument("--clip-frames", type=int, help="clip length of the main table (default 16)")
    parser.add_argument("--sweep-modes", type=name_list, default=["infer1"],
                        help=f"modes measured in the sweep, of {','.join(MODES)} (default infer1; inferB and "
                             f"train use --batch)")
    parser.add_argument("--batch", type=int, help="the larger inference batch and the training batch (default 2)")
    parser.add_argument("--size", type=int, help="height and width in pixels (default 224)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", default="none", choices=["none", "bf16"], help="bf16 autocast (default none: float32)")
    parser.add_argument("--compile", action="store_true", help="torch.compile every model (compile time is in warm-up)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch CPU threads (default: torch's, %(default)s here)")
    parser.add_argument("--repeats", type=int, help="interleaved timing rounds (default 3)")
    parser.add_argument("--warmup", type=int, help="untimed calls of each workload first (default 1)")
    parser.add_argument("--min-seconds", type=float,
                        help="a measurement repeats fast calls until it lasts about this long (default 0.5)")
    parser.add_argument("--matmul-size", type=int, help="n of the n x n dense matmul peak (default 2048)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (regionvit3d_tiny, 4 and 8 frames at 56, matmul 256) for a smoke run")
    parser.add_argument("--json", metavar="OUT", help="write every measurement to this JSON file")
    parser.add_argument("--plot", metavar="OUT.png", help="write time and memory against frames to this PNG")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: measure one workload's memory
    args = parser.parse_args(argv)
    if args.worker:
        return args

    preset = {**PRESETS["full"], **(PRESETS["quick"] if args.quick else {})}
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.models is None:
        args.models = list(DEFAULT_MODELS)
    unknown = [m for m in args.models + (args.sweep_models or []) if m not in known_models()]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(known_models())}")
    bad_modes = [m for m in args.sweep_modes if m not in MODES]
    if bad_modes:
        parser.error(f"unknown --sweep-modes {', '.join(bad_modes)}; choose from {', '.join(MODES)}")
    if args.sweep_models is None:
        args.sweep_models = [m for m in DEFAULT_SWEEP_MODELS if m in args.models] or args.models[:1]
    for name in ("batch", "size", "repeats", "threads", "matmul_size", "clip_frames"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available to torch")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(WORKER_TAG + json.dumps(measure_in_this_process(json.loads(args.worker))), flush=True)
        return 0
    torch.set_num_threads(args.threads)

    notes = [n for m in dict.fromkeys(args.models + args.sweep_models) if (n := missing_requirement(m))]
    skipped = {m for m in args.models + args.sweep_models if missing_requirement(m)}
    args.models = [m for m in args.models if m not in skipped]
    args.sweep_models = [m for m in args.sweep_models if m not in skipped]
    notes += [f"{name}: {peer.note}, random weights" for name, peer in PEERS.items()
              if name in args.models + args.sweep_models]

    cells = plan_cells(args)
    machine = machine_info(args.device)
    print(f"{len(cells)} workloads + dense matmul on {machine['cpu']} ({machine['cores']} cores, "
          f"{args.threads} threads, load average {machine.get('load_average', '?')})", flush=True)
    memory = measure_memory(cells, args)
    timed = [c for c in cells if "error" not in memory[c]]
    notes += [f"{c.key} failed: {memory[c]['error']}" for c in cells if "error" in memory[c]]
    times, matmul_times, matmul_multiply_adds = measure_time(timed, args)
    rows, matmul = collect(cells, memory, times, matmul_times, matmul_multiply_adds, args)

    result = dict(machine=machine, settings={k: v for k, v in vars(args).items() if k != "worker"},
                  matmul=matmul, rows=rows, notes=notes)
    result["targets"] = check_targets(rows, args)
    if hasattr(os, "getloadavg"):
        result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print()
    print(report(result, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"\nwrote {args.json}")
    if args.plot:
        if args.sweep_models:
            plot(rows, args, args.plot)
            print(f"wrote {args.plot}")
        else:
            print("no --plot: no sweep models were measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
