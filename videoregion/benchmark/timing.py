"""Timing and memory probes for benchmarks: interleaved repeats, medians, peak memory, the matmul peak.

Timings of several workloads are taken round-robin (one measurement of each per round) so that a burst
of load on a shared machine slows all of them alike instead of one of them entirely.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = [
    "cpu_info",
    "current_rss_bytes",
    "machine_info",
    "matmul_workload",
    "peak_rss_bytes",
    "run_interleaved",
    "summarize",
    "synchronize",
    "time_calls",
]


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels so that wall-clock time covers them."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], iterations: int, device: torch.device | str) -> float:
    """Seconds per call of ``fn``, averaged over ``iterations`` back-to-back calls."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / iterations


def run_interleaved(
    workloads: dict[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int,
    min_seconds: float,
    device: torch.device | str,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each workload, ``repeats`` measurements each, taken round-robin.

    Every workload first runs ``warmup`` times (at least once); the last warm-up call sets how many
    calls one measurement averages so that it lasts about ``min_seconds`` (fast workloads would
    otherwise be timed at the resolution of scheduler noise). ``progress`` is called after each call
    or measurement with the workload's name.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    calls: dict[str, int] = {}
    for name, fn in workloads.items():
        seconds = float("inf")
        for _ in range(max(1, warmup)):
            seconds = time_calls(fn, 1, device)
            if progress:
                progress(name)
        calls[name] = max(1, round(min_seconds / max(seconds, 1e-9)))
    times: dict[str, list[float]] = {name: [] for name in workloads}
    for _ in range(repeats):
        for name, fn in workloads.items():
            times[name].append(time_calls(fn, calls[name], device))
            if progress:
                progress(name)
    return times


def summarize(seconds: Iterable[float]) -> dict[str, float]:
    """Median, min, max of per-call times, and the spread: half the range over the median."""
    values = sorted(seconds)
    if not values:
        raise ValueError("no timings to summarize")
    median = statistics.median(values)
    return {
        "median": median,
        "min": values[0],
        "max": values[-1],
        "spread": (values[-1] - values[0]) / (2 * median) if median > 0 else 0.0,
    }


def matmul_workload(
    n: int, device: torch.device | str, dtype: torch.dtype = torch.float32
) -> tuple[Callable[[], Any], int]:
    """A dense (n, n) @ (n, n) product and its multiply-adds (n^3).

    Multiply-adds, not 2 n^3 operations, because fvcore counts one multiply-add as one FLOP: the ratio
    of a model's fvcore FLOP/s to this one's is then the fraction of the machine's dense peak it reaches.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return (lambda: torch.mm(a, b, out=out)), n**3


def _proc_status_bytes(field: str) -> int | None:
    """A memory field of /proc/self/status (Linux), in bytes; None where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def current_rss_bytes() -> int:
    """Resident set size of this process now (falls back to the peak where there is no /proc)."""
    rss = _proc_status_bytes("VmRSS")
    return peak_rss_bytes() if rss is None else rss


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far.

    Linux: VmHWM, which the kernel brings up to date when read (ru_maxrss can lag the current RSS by
    a few pages); elsewhere ru_maxrss (KiB on Linux, bytes on macOS).
    """
    peak = _proc_status_bytes("VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _cpuinfo_blocks(path: str = "/proc/cpuinfo") -> list[dict[str, str]]:
    """One dict per logical CPU of /proc/cpuinfo (Linux); [] where there is none."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    blocks = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        blocks.append(fields)
    return blocks


def cpu_info(path: str = "/proc/cpuinfo") -> dict[str, Any]:
    """The CPU the numbers were measured on, as the README's per-CPU tables name it.

    ``cpu`` is the model name, with family and model numbers where the name alone is generic (a
    virtual machine's "AMD EPYC" may be any of several generations), and the vector instructions
    torch's kernels use here (``torch.backends.cpu.get_cpu_capability``: AVX2, AVX512, ...).
    ``logical_cpus`` counts the machine's CPUs, ``usable_cpus`` those this process may run on
    (a container or taskset may allow fewer), ``physical_cores`` distinct (package, core) pairs.
    """
    blocks = _cpuinfo_blocks(path)
    first = blocks[0] if blocks else {}
    name = first.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    numbers = [f"{label} {first[key]}" for key, label in (("cpu family", "family"), ("model", "model"))
               if key in first]
    capability = torch.backends.cpu.get_cpu_capability()
    cores = {(b.get("physical id", "0"), b["core id"]) for b in blocks if "core id" in b}
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": f"{name} ({', '.join([*numbers, capability])})",
        "cpu_model_name": name,
        "cpu_capability": capability,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "physical_cores": len(cores) or None,
    }


def machine_info(device: torch.device | str) -> dict[str, Any]:
    """What the numbers were measured on: CPU (:func:`cpu_info`), cores, threads, library versions, GPU if used."""
    info: dict[str, Any] = {
        **cpu_info(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info
