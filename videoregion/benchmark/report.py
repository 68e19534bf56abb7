"""The speed benchmark's report: markdown tables of the rows and a plot of time and memory over frames."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

from .measure import EAGER, MODES, ONNX_MODES, ONNXRUNTIME, TRAIN_FLOPS_PER_FORWARD, Settings

__all__ = [
    "cpu_heading", "end_to_end_report", "find", "machine_lines", "main_table", "mode_label", "onnx_table", "plot",
    "report", "sweep_table",
]


def find(rows: list[dict[str, Any]], model: str, frames: int, mode: str, backend: str = EAGER) -> dict[str, Any] | None:
    for row in rows:
        if ((row["model"], row["frames"], row["mode"], row.get("backend", EAGER)) == (model, frames, mode, backend)
                and "error" not in row):
            return row
    return None


def fmt_rate(row: dict[str, Any] | None, key: str = "clips_per_s") -> str:
    if row is None:
        return "-"
    return f"{row[key]:.3g} ±{100 * row['seconds']['spread']:.0f}%"


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main_table(rows: list[dict[str, Any]], settings: Settings) -> list[str]:
    b = settings.batch
    lines = [
        f"| model | params (M) | GFLOPs/clip | infer b1 clips/s | infer b{b} clips/s | train b{b} clips/s "
        f"| peak MiB infer b1 | peak MiB infer b{b} | peak MiB train b{b} "
        f"| matmul-peak fraction infer b1 / b{b} / train |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in settings.models:
        cells = {mode: find(rows, model, settings.clip_frames, mode) for mode in MODES}
        errors = [r.get("error") for r in rows if r["model"] == model and r["frames"] == settings.clip_frames
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


def onnx_table(rows: list[dict[str, Any]], settings: Settings) -> list[str]:
    """onnxruntime beside eager PyTorch, per model and batch, with the largest logit difference."""
    lines = [
        "| model | batch | eager clips/s | onnxruntime clips/s | onnxruntime / eager | max abs logit difference "
        "| peak MiB eager | peak MiB onnxruntime |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in settings.models:
        for mode in ONNX_MODES:
            ours = find(rows, model, settings.clip_frames, mode, ONNXRUNTIME)
            if ours is None:
                continue
            eager = find(rows, model, settings.clip_frames, mode)
            speedup = eager and eager["seconds"]["median"] / ours["seconds"]["median"]
            difference = ours.get("max_abs_diff_vs_eager")
            lines.append(
                f"| {model} | {ours['batch']} | {fmt_rate(eager)} | {fmt_rate(ours)} | {fmt(speedup, '.2f')}x "
                f"| {fmt(difference, '.2e')} | {fmt(eager and eager['peak_memory_mib'], ',.0f')} "
                f"| {ours['peak_memory_mib']:,.0f} |"
            )
    return lines


def reference_frames(settings: Settings) -> int:
    return settings.clip_frames if settings.clip_frames in settings.frames else min(settings.frames)


def sweep_table(rows: list[dict[str, Any]], settings: Settings) -> list[str]:
    ref = reference_frames(settings)
    lines = [
        f"| model | mode | frames | GFLOPs/clip | s/call | time vs {ref} frames | peak MiB | memory vs {ref} frames |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in settings.sweep_models:
        for mode in settings.sweep_modes:
            base = find(rows, model, ref, mode)
            for frames in settings.frames:
                row = find(rows, model, frames, mode)
                if row is None:
                    lines.append(f"| {model} | {mode} | {frames} | failed |||||")
                    continue
                time_ratio = row["seconds"]["median"] / base["seconds"]["median"] if base else None
                mem_ratio = row["peak_memory_mib"] / base["peak_memory_mib"] if base else None
                lines.append(
                    f"| {model} | {mode_label(mode, settings.batch)} | {frames} | {fmt(row['gflops_per_clip'], '.1f')} "
                    f"| {row['seconds']['median']:.3g} ±{100 * row['seconds']['spread']:.0f}% "
                    f"| {fmt(time_ratio, '.2f')}x (frames {frames / ref:.2g}x) "
                    f"| {row['peak_memory_mib']:,.0f} | {fmt(mem_ratio, '.2f')}x |"
                )
    return lines


def mode_label(mode: str, batch: int) -> str:
    return {"infer1": "infer b1", "inferB": f"infer b{batch}", "train": f"train b{batch}"}[mode]


def cpu_heading(machine: dict[str, Any]) -> str:
    """The markdown heading the README files a table under: the CPU kind and the threads used."""
    cores = f", {machine['physical_cores']} cores" if machine.get("physical_cores") else ""
    where = f"; {machine['gpu']}" if "gpu" in machine else ""
    return (f"### CPU: {machine['cpu']}, {machine['torch_threads']} torch threads of "
            f"{machine.get('usable_cpus', machine['cores'])} usable CPUs{cores}{where}")


def machine_lines(machine: dict[str, Any]) -> list[str]:
    """:func:`cpu_heading`, then the device, the library versions and the load when the run started."""
    m = machine
    return [
        cpu_heading(m),
        "",
        f"Device {m['device']}" + (f" ({m['gpu']}, CUDA {m['cuda']})" if "gpu" in m else "")
        + f", torch {m['torch']}, Python {m['python']}"
        + (f", load average at start {m['load_average'][0]}" if "load_average" in m else ""),
    ]


def report(result: dict[str, Any], settings: Settings) -> str:
    """The run as markdown: machine, matmul peak, the main table, the sweep table and notes."""
    m, mm = result["machine"], result["matmul"]
    lines = [
        *machine_lines(m),
        f"Dense matmul {mm['n']}x{mm['n']} {mm['dtype']}: {mm['flops_per_s'] / 1e9:.1f} GFLOP/s "
        f"(n^3 multiply-adds = FLOPs as fvcore counts them) ±{100 * mm['seconds']['spread']:.0f}%",
        "",
        f"### {settings.clip_frames}x{settings.size}, amp={settings.amp}, compile={settings.compile}: median over "
        f"{settings.repeats} interleaved rounds ±spread (half the range over the median)",
        "",
        *main_table(result["rows"], settings),
        "",
        "Peak MiB: " + ("torch.cuda.max_memory_allocated in a fresh process."
                        if settings.device == "cuda" else
                        "peak RSS of a fresh process above its size after imports (model, optimizer, inputs, "
                        "activations)."),
        "Matmul-peak fraction: fvcore FLOPs x batch / time over the dense matmul's FLOP/s; a training step "
        f"is counted as {TRAIN_FLOPS_PER_FORWARD} forwards.",
    ]
    if any(row.get("backend") == ONNXRUNTIME for row in result["rows"]):
        lines += ["", f"### onnxruntime beside eager PyTorch, {settings.clip_frames}x{settings.size}, "
                      f"{settings.threads} threads (float32 logits; eager with amp={settings.amp})", "",
                  *onnx_table(result["rows"], settings)]
    if settings.sweep_models:
        title = f"### Growth with frames at {settings.size}x{settings.size}"
        lines += ["", title, "", *sweep_table(result["rows"], settings)]
    if result["notes"]:
        lines += ["", *[f"Note: {n}" for n in result["notes"]]]
    return "\n".join(lines)


WORKLOAD_LABELS = {
    "model": "model-only training step (random clips)",
    "engine": "engine loop on a batch held in memory",
    "end_to_end": "end-to-end: loader + engine loop",
}


def end_to_end_report(result: dict[str, Any]) -> str:
    """The end-to-end run as markdown: machine, setup, one row per variant and workload, the headline ratio."""
    s = result["setup"]
    lines = [
        *machine_lines(result["machine"]),
        "",
        f"### End-to-end training: {result['config']} ({s['model']}, {s['frames']}x{s['size']}, batch {s['batch']}, "
        f"{s['precision']}, {s['optimizer']}, {s['device']}): median over {result['rounds']} interleaved rounds "
        f"of {result['iters']} iterations ±spread",
        "",
        "| torch threads | loader workers | workload | clips/s | s/iteration | vs model-only | per round |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        rounds = ", ".join(f"{r:.0%}" for r in row["ratio_to_model_rounds"])
        lines.append(
            f"| {row['threads']} | {row['workers']} | {WORKLOAD_LABELS[row['workload']]} "
            f"| {row['clips_per_s']:.3g} ±{100 * row['seconds']['spread']:.0f}% | {row['seconds']['median']:.3g} "
            f"| {row['ratio_to_model']:.0%} | {rounds} |"
        )
    lines += [
        "",
        f"Dataset: {s['train_videos']} training clips listed from {s['data_dir']}; the loader's first "
        f"{s['prefetch_factor']} x workers batches of each end-to-end block (prefetched meanwhile) are not timed.",
    ]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], settings: Settings, path: str) -> None:
    """Write time and memory of the sweep against frames, log-log, to the image file ``path``."""
    fig = Figure(figsize=(11, 4.2))  # no pyplot: no global backend or figure registry to touch
    ax_time, ax_mem = fig.subplots(1, 2)
    ref = reference_frames(settings)
    for model in settings.sweep_models:
        for mode in settings.sweep_modes:
            points = [(f, r) for f in settings.frames if (r := find(rows, model, f, mode))]
            if not points:
                continue
            frames = [f for f, _ in points]
            label = f"{model} {mode_label(mode, settings.batch)}"
            line, = ax_time.plot(frames, [r["seconds"]["median"] for _, r in points], "o-", label=label)
            ax_mem.plot(frames, [r["peak_memory_mib"] for _, r in points], "o-", label=label, color=line.get_color())
            base = find(rows, model, ref, mode)
            if base:
                ax_time.plot(frames, [base["seconds"]["median"] * f / ref for f in frames], ":",
                             color=line.get_color(), label=f"linear from {ref} frames")
    for ax, ylabel in ((ax_time, "seconds per call (median)"), (ax_mem, "peak memory (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(settings.frames, [str(f) for f in settings.frames])
        ax.set_xlabel(f"frames (at {settings.size}x{settings.size})")
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.grid(True, which="both", alpha=0.3)
    ax_time.legend(fontsize=7)
    setting = f"{settings.threads} threads" if settings.device == "cpu" else f"amp={settings.amp}"
    fig.suptitle(f"Time and memory against clip length ({settings.device}, {setting})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
