"""Speed and memory of RegionViT-3D beside video peers, all measured in one run.

    python tools/benchmark.py                                  # the full default run
    python tools/benchmark.py --quick                          # tiny settings, a smoke run
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
Peak memory is taken in a fresh process per workload. The measurements live in videoregion.benchmark;
the README's "Speed and memory against peers" holds the latest table and the targets it is read against.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, fields
from typing import Any

import torch
from tqdm import tqdm

from videoregion.benchmark import (
    MODES,
    Settings,
    known_models,
    plan_cells,
    plot,
    report,
    run_benchmark,
    skip_missing_peers,
    skip_unavailable_onnx,
)
from videoregion.benchmark.end_to_end import DEFAULT_CONFIG, EndToEndSettings, Variant, run_end_to_end
from videoregion.benchmark.report import end_to_end_report
from videoregion.benchmark.timing import machine_info

DEFAULT_MODELS = ["regionvit3d_tiny", "regionvit3d_small", "mvit_base_16x4", "x3d_m", "videomae_vit_b"]
DEFAULT_SWEEP_MODELS = ["regionvit3d_small", "videomae_vit_b"]
PRESETS: dict[str, dict[str, Any]] = {
    "full": dict(frames=[8, 16, 32, 64], clip_frames=16, size=224, batch=2, repeats=3, warmup=1,
                 matmul_size=2048, min_seconds=0.5),
    "quick": dict(models=["regionvit3d_tiny"], frames=[4, 8], clip_frames=4, size=56, batch=2, repeats=2,
                  warmup=1, matmul_size=256, min_seconds=0.05),
    "end_to_end": dict(repeats=3, warmup=3),
}


def int_list(text: str, minimum: int = 1) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"expected integers >= {minimum}, got {text!r}")
    return values


def count_list(text: str) -> list[int]:
    return int_list(text, minimum=0)


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
    parser.add_argument("--onnx", action="store_true",
                        help="also export our models of --models to ONNX and time them in onnxruntime at batch 1 and "
                             "--batch beside eager PyTorch, with the largest logit difference (CPU; needs onnx and "
                             "onnxruntime, else skipped with a note)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (regionvit3d_tiny, 4 and 8 frames at 56, matmul 256) for a smoke run")
    e2e = parser.add_argument_group(
        "end-to-end", "the main job's training with its data pipeline against the model-only step "
        "(videoregion.benchmark.end_to_end); replaces the model table")
    e2e.add_argument("--end-to-end", action="store_true",
                     help="time the training loop over the real loader, on a batch in memory, and the model-only step")
    e2e.add_argument("--cfg", dest="cfg_files", action="append", metavar="FILE",
                     help=f"config of the job (repeat to merge; default {os.path.relpath(DEFAULT_CONFIG)})")
    e2e.add_argument("--data-dir", help="synthetic dataset folder, generated when missing (default: a temporary one)")
    e2e.add_argument("--videos-per-class", type=int, default=10, help="videos per class of a generated dataset")
    e2e.add_argument("--iters", type=int, default=10, help="timed iterations per block (default %(default)s)")
    e2e.add_argument("--e2e-threads", type=int_list,
                     help="torch threads of the training process to compare, e.g. 2,1 (default --threads)")
    e2e.add_argument("--e2e-workers", type=count_list,
                     help="loader worker counts to compare, e.g. 1,0 (0: in the training process; "
                          "default DATA_LOADER.NUM_WORKERS)")
    e2e.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE", help="config overrides")
    parser.add_argument("--json", metavar="OUT", help="write every measurement to this JSON file")
    parser.add_argument("--plot", metavar="OUT.png", help="write time and memory against frames to this PNG")
    args = parser.parse_args(argv)
    preset = {**PRESETS["full"], **(PRESETS["end_to_end"] if args.end_to_end else {}),
              **(PRESETS["quick"] if args.quick else {})}
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
    if min(args.iters, args.videos_per_class) < 1:
        parser.error("--iters and --videos-per-class must be at least 1")
    if len(args.opts) % 2:
        parser.error(f"--opts takes KEY VALUE pairs, got {len(args.opts)} words")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available to torch")
    return args


def write_json(path: str | None, result: dict[str, Any]) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
        print(f"\nwrote {path}")


def settings_of(args: argparse.Namespace) -> Settings:
    return Settings(**{f.name: getattr(args, f.name) for f in fields(Settings)})


def run_end_to_end_cli(args: argparse.Namespace) -> dict[str, Any]:
    """The end-to-end measurement of ``args`` (module videoregion.benchmark.end_to_end), as JSON-ready data."""
    cfg_files = args.cfg_files or [DEFAULT_CONFIG]
    variants = [Variant(t, w) for t in (args.e2e_threads or [args.threads])
                for w in (args.e2e_workers or [None])]
    with tempfile.TemporaryDirectory(prefix="videoregion-e2e-") as tmp:
        settings = EndToEndSettings(
            cfg_files=cfg_files, data_dir=args.data_dir or os.path.join(tmp, "synthetic"),
            output_dir=os.path.join(tmp, "output"), opts=args.opts, variants=variants, iters=args.iters,
            rounds=args.repeats, warmup=args.warmup, videos_per_class=args.videos_per_class, device=args.device,
        )
        machine = machine_info(args.device)
        print(f"end-to-end on {machine['cpu']} ({machine['usable_cpus']} usable CPUs, load average "
              f"{machine.get('load_average', '?')}): {', '.join(cfg_files)}", flush=True)
        with tqdm(desc="end-to-end (interleaved)", unit="block") as bar:
            measured = run_end_to_end(settings, progress=lambda name: bar.set_postfix_str(name) or bar.update())
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return dict(machine=machine, config=", ".join(os.path.relpath(f) for f in cfg_files),
                settings={k: v for k, v in vars(args).items()}, **measured)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.end_to_end:
        result = run_end_to_end_cli(args)
        print()
        print(end_to_end_report(result))
        write_json(args.json, result)
        return 0
    settings = settings_of(args)
    settings, notes = skip_missing_peers(settings)
    settings, onnx_notes = skip_unavailable_onnx(settings)
    notes += onnx_notes
    cells = plan_cells(settings)
    machine = machine_info(settings.device)
    print(f"{len(cells)} workloads + dense matmul on {machine['cpu']} ({machine['cores']} cores, "
          f"{settings.threads} threads, load average {machine.get('load_average', '?')})", flush=True)
    measured = run_benchmark(settings, cells, machine, notes)
    result = dict(machine=measured["machine"], settings={**vars(args), **asdict(settings)}, matmul=measured["matmul"],
                  rows=measured["rows"], notes=measured["notes"])
    print()
    print(report(result, settings))
    write_json(args.json, result)
    if args.plot:
        if settings.sweep_models:
            plot(result["rows"], settings, args.plot)
            print(f"wrote {args.plot}")
        else:
            print("no --plot: no sweep models were measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
