"""One-command GPU check: the speed benchmark with and without torch.compile, the attention kernels, the main job.

    python tools/gpu_check.py                  # all steps, about 8 minutes on one GPU
    python tools/gpu_check.py --dry-run        # print the plan (works without a GPU)
    tools/gpu_check.sh --out gpu_check_out     # the same through the shell wrapper

Steps, each in its own process with a time limit (all of them within --budget-seconds):

1. sdpa: regionvit3d_small at 16x224, bf16 autocast, forward and backward, first with the fused
   kernels only (torch.nn.attention.sdpa_kernel([FLASH_ATTENTION, EFFICIENT_ATTENTION])): it fails
   when any attention call would fall back to the math kernel; then unforced, counting which
   kernels ran (torch.profiler).
2. main job: tools/run_net.py --cfg configs/synthetic_regionvit.yaml NUM_GPUS 1 SOLVER.MAX_EPOCH 2
   TRAIN.MIXED_PRECISION bf16, the synthetic dataset generated under --out (or read from --data-dir).
3. benchmark: tools/benchmark.py --device cuda --amp bf16 over our models and the peers.
4. benchmark --compile: the same for regionvit3d_small with torch.compile.

Prints one table at the end (step, result, seconds, what it measured) and writes OUT/gpu_check.json.
Without a CUDA device it stops at once with one line (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

SDPA_MODEL, SDPA_FRAMES, SDPA_SIZE = "regionvit3d_small", 16, 224
BENCH_MODELS = "regionvit3d_tiny,regionvit3d_small,mvit_base_16x4,x3d_m,videomae_vit_b"
COMPILE_MODELS = "regionvit3d_small"
MATH_KERNEL = "_scaled_dot_product_attention_math"


@dataclass(frozen=True)
class Step:
    """One process of the check: its command and its time limit."""

    name: str
    command: list[str]
    timeout: int  # seconds
    what: str


def plan(args: argparse.Namespace) -> list[Step]:
    """The steps of the check, in the order they run (the cheapest and most telling first)."""
    py, out = sys.executable, args.out
    data = args.data_dir or os.path.join(out, "synthetic")
    bench = [py, os.path.join(ROOT, "tools", "benchmark.py"), "--device", "cuda", "--amp", "bf16",
             "--batch", str(args.batch), "--sweep-models", "", "--matmul-size", "8192"]
    config = os.path.join(ROOT, "configs", "synthetic_regionvit.yaml")
    main_job = [
        py, os.path.join(ROOT, "tools", "run_net.py"), "--cfg", config,
        "NUM_GPUS", "1", "SOLVER.MAX_EPOCH", "2", "TRAIN.MIXED_PRECISION", "bf16",
        "OUTPUT_DIR", os.path.join(out, "main_job"), "DATA.PATH_TO_DATA_DIR", data,
        "DATA.PATH_PREFIX", os.path.join(data, "videos"), "SYNTHETIC.VIDEOS_PER_CLASS", str(args.videos_per_class),
        "TRAIN.AUTO_RESUME", "False", "TRAIN.OVERWRITE", "True",
    ]
    return [
        Step("sdpa", [py, os.path.abspath(__file__), "--step", "sdpa", "--out", out], 60,
             f"fused attention kernels only, {SDPA_MODEL} {SDPA_FRAMES}x{SDPA_SIZE} bf16, forward + backward"),
        Step("main job", main_job, 150, "run_net, configs/synthetic_regionvit.yaml, 2 epochs, bf16, 1 GPU"),
        Step("benchmark", [*bench, "--models", BENCH_MODELS, "--json", os.path.join(out, "benchmark.json")], 120,
             "tools/benchmark.py --device cuda --amp bf16"),
        Step("benchmark compile", [*bench, "--compile", "--models", COMPILE_MODELS,
                                   "--json", os.path.join(out, "benchmark_compile.json")], 150,
             "tools/benchmark.py --device cuda --amp bf16 --compile"),
    ]


# ----------------------------------------------------------------------------- the sdpa step
def sdpa_kernels(model: torch.nn.Module, clips: torch.Tensor, *, dtype: torch.dtype | None) -> Counter:
    """How often each scaled-dot-product-attention kernel ran in one forward and backward (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:  # the CPU side names the aten op of every call
        _forward_backward(model, clips, dtype)
    return Counter({e.key.removeprefix("aten::"): e.count for e in prof.key_averages()
                    if "scaled_dot_product" in e.key and e.key != "aten::scaled_dot_product_attention"})


def _forward_backward(model: torch.nn.Module, clips: torch.Tensor, dtype: torch.dtype | None) -> None:
    with torch.autocast(clips.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        loss = model(clips).float().logsumexp(-1).mean()
    loss.backward()


def fused_only_error(model: torch.nn.Module, clips: torch.Tensor, *, dtype: torch.dtype | None) -> str | None:
    """None when a forward and backward run with only the flash and memory-efficient kernels allowed, else
    why not (torch's error, one line)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    try:
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
            _forward_backward(model, clips, dtype)
    except RuntimeError as e:
        return " ".join(str(e).split())[:300]
    return None


def inspect_sdpa(model: torch.nn.Module, clips: torch.Tensor, dtype: torch.dtype | None) -> dict:
    """``fused_only_error`` and ``sdpa_kernels`` of a training step's forward and backward; ``ok`` when the
    fused-only run succeeded and no call went to the math kernel."""
    error = fused_only_error(model, clips, dtype=dtype)
    counts = sdpa_kernels(model, clips, dtype=dtype)
    return dict(fused_only_error=error, kernels=dict(counts), ok=error is None and counts[MATH_KERNEL] == 0)


def check_sdpa(model_name: str, frames: int, size: int, device: str, dtype: torch.dtype | None,
               batch: int = 2) -> dict:
    """:func:`inspect_sdpa` of the registered ``model_name`` at ``frames`` x ``size`` (random weights)."""
    from videoregion.models import create_model

    torch.manual_seed(0)
    model = create_model(model_name, num_frames=frames, num_classes=400).to(device).train()
    clips = torch.randn(batch, 3, frames, size, size, device=device)
    return dict(model=model_name, frames=frames, size=size, device=device, dtype=str(dtype),
                **inspect_sdpa(model, clips, dtype))


def sdpa_step(out: str) -> int:
    result = check_sdpa(SDPA_MODEL, SDPA_FRAMES, SDPA_SIZE, "cuda", torch.bfloat16)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "sdpa.json"), "w") as f:
        json.dump(result, f, indent=1)
    kernels = ", ".join(f"{k} x{n}" for k, n in sorted(result["kernels"].items()))
    print(f"kernels: {kernels}")
    if result["fused_only_error"]:
        print(f"fused kernels only: FAILED ({result['fused_only_error']})")
    return 0 if result["ok"] else 1


# ----------------------------------------------------------------------------- running the steps
def summary_of(step: Step, out: str, output: str) -> str:
    """The step's headline number, read from what it wrote."""
    try:
        if step.name == "sdpa":
            with open(os.path.join(out, "sdpa.json")) as f:
                result = json.load(f)
            kernels = ", ".join(f"{k.replace('_scaled_dot_product_', '')} x{n}"
                                for k, n in sorted(result["kernels"].items()))
            error = result["fused_only_error"]
            return kernels + (f"; fused kernels only: {error}" if error else "; fused kernels only: ran")
        if step.name == "main job":
            return _main_job_summary(os.path.join(out, "main_job", "stats.jsonl"))
        path = step.command[step.command.index("--json") + 1]
        with open(path) as f:
            rows = json.load(f)["rows"]
        return "; ".join(f"{r['model']} {r['mode']} {r['clips_per_s']:.0f} clips/s" for r in rows if "clips_per_s" in r)
    except (OSError, KeyError, ValueError, IndexError):
        lines = [line for line in output.strip().splitlines() if line.strip()]
        return lines[-1][:200] if lines else ""


def _main_job_summary(stats_path: str) -> str:
    records = [json.loads(line) for line in open(stats_path) if line.strip()]
    train = [f"{r['clips_per_s']:.0f}" for r in records if r.get("split") == "train"]
    val = [f"{r['top1_acc']:.1f}" for r in records if r.get("split") == "val"]
    test = [f"{r['top1_acc']:.1f}" for r in records if r.get("split") == "test_final"]
    return f"train clips/s per epoch {'/'.join(train)}; val top-1 {'/'.join(val)}; test top-1 {'/'.join(test)}"


def run_step(step: Step, out: str, timeout: float) -> dict:
    """Run ``step`` in its own process group (a timeout ends its workers too); its output goes to OUT/<step>.log."""
    start = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen(step.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=ROOT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        status = "ok" if process.returncode == 0 else f"failed (exit {process.returncode})"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        status = f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - start
    with open(os.path.join(out, f"{step.name.replace(' ', '_')}.log"), "w") as f:
        f.write(output)
    return dict(step=step.name, status=status, seconds=round(seconds, 1), summary=summary_of(step, out, output))


def table(results: list[dict]) -> str:
    lines = ["| step | result | seconds | measured |", "|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['status']} | {r['seconds']:.0f} | {r['summary']} |" for r in results]
    return "\n".join(lines)


def no_cuda_reason() -> str | None:
    """Why this machine cannot run the check, or None."""
    if torch.cuda.is_available():
        return None
    return (f"gpu_check: no CUDA device is available to torch {torch.__version__} "
            f"(CUDA build {torch.version.cuda or 'none'}); run it on a machine with a GPU")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--out", default="gpu_check_out", help="folder for logs, JSON and the main job's run")
    parser.add_argument("--data-dir", help="the main job's synthetic dataset (default: OUT/synthetic, generated)")
    parser.add_argument("--videos-per-class", type=int, default=250,
                        help="videos per class of a generated dataset (default: the main job's %(default)s)")
    parser.add_argument("--batch", type=int, default=8, help="benchmark inference and training batch")
    parser.add_argument("--budget-seconds", type=int, default=480, help="all steps together stop within this")
    parser.add_argument("--skip", nargs="+", default=[], metavar="STEP",
                        help="steps to leave out: sdpa, main_job, benchmark, benchmark_compile")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit (no GPU needed)")
    parser.add_argument("--step", choices=["sdpa"], help=argparse.SUPPRESS)  # one step, in this process
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = os.path.abspath(args.out)
    steps = [s for s in plan(args) if s.name.replace(" ", "_") not in args.skip]
    if args.dry_run:
        print(f"gpu_check plan ({args.budget_seconds} s budget), output in {args.out}:")
        for i, step in enumerate(steps, 1):
            print(f"{i}. {step.name} (at most {step.timeout} s): {step.what}\n   {shlex.join(step.command)}")
        return 0
    reason = no_cuda_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    if args.step == "sdpa":
        return sdpa_step(args.out)
    os.makedirs(args.out, exist_ok=True)
    deadline = time.perf_counter() + args.budget_seconds
    results = []
    for step in steps:
        left = deadline - time.perf_counter()
        if left < 10:
            results.append(dict(step=step.name, status="not run: budget spent", seconds=0.0, summary=""))
            continue
        print(f"{step.name}: {step.what} (at most {min(step.timeout, left):.0f} s)", flush=True)
        results.append(run_step(step, args.out, min(step.timeout, left)))
    gpu = torch.cuda.get_device_name(0)
    print(f"\n### GPU check: {gpu}, torch {torch.__version__}, CUDA {torch.version.cuda}\n")
    print(table(results))
    with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
        json.dump(dict(gpu=gpu, torch=torch.__version__, results=results), f, indent=1)
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
