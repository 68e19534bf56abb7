#!/usr/bin/env python
"""Train and test several models with one recipe and one budget, and print them side by side.

    python tools/compare_models.py --cfg configs/synthetic_regionvit.yaml \\
        --models regionvit3d_nano,regionvit3d_tiny --budget-steps 300 --json compare.json --plot compare.png
    python tools/compare_models.py --cfg configs/synthetic_regionvit.yaml \\
        --models regionvit3d_nano,regionvit3d_tiny --budget-minutes 20
    python tools/compare_models.py --cfg configs/synthetic_regionvit.yaml --models a,b SOLVER.BASE_LR 1e-3

Each model is trained and tested by tools/run_net.py with the config and the KEY VALUE overrides, its
MODEL.NAME, and OUTPUT_DIR <OUTPUT_DIR>/compare/<model> (logs of each run there: run_net.out / .err).
--budget-steps N trains every model exactly N optimizer steps (SOLVER.MAX_STEPS: the same warmup fraction
and a cosine that ends on step N); --budget-minutes M times a few steps of each model first and trains it
as many steps as fit in M minutes; without either, each model follows the config's own schedule. The
table is Markdown: parameters, GFLOPs per view at the job's input, training clips/s and time (the
training loop only), test top-1, mean class accuracy and, on the synthetic dataset, the accuracy on each
pair of classes that are each other's reversal in time. A model that fails gets a row saying why; the
others still run. Running the same command again reuses the models that finished (unless --rerun);
Ctrl-C stops the current model. Exit status 0 when every model finished, 1 otherwise, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

from videoregion.config import load_config
from videoregion.engine.compare import (
    PAIR_DEFINITION,
    Budget,
    ModelJob,
    ModelResult,
    markdown_table,
    plot_accuracy_vs_flops,
    plot_backend,
    run_model,
)
from videoregion.errors import OutputError, VideoRegionError, one_line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_NET = os.path.join(ROOT, "tools", "run_net.py")
INTERRUPTED_EXIT_CODE = 130


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", dest="cfg_files", action="append", default=[], metavar="FILE", required=True,
                        help="config YAML; repeat to merge several in order (as run_net.py)")
    parser.add_argument("--models", required=True, metavar="A,B,...",
                        help="comma-separated MODEL.NAME values (tools/count_flops.py --list shows them)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget-steps", type=positive_int, metavar="N", help="optimizer steps per model")
    budget.add_argument("--budget-minutes", type=positive_float, metavar="M", help="minutes of training per model")
    parser.add_argument("--probe-steps", type=positive_int, default=5, metavar="K",
                        help="steps timed per model to turn --budget-minutes into steps (default %(default)s)")
    parser.add_argument("--json", metavar="OUT", help="write every number (per-class accuracies too) to OUT")
    parser.add_argument("--plot", metavar="OUT.png", help="PNG of test top-1 against GFLOPs per view")
    parser.add_argument("--rerun", action="store_true", help="train again the models that already finished")
    parser.add_argument("--timeout-minutes", type=positive_float, default=None, metavar="T",
                        help="stop a model's run after T minutes (its row says so); default: no limit")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides")
    args = parser.parse_args(argv)
    args.models = list(dict.fromkeys(name.strip() for name in args.models.split(",") if name.strip()))
    if not args.models:
        parser.error("--models: give at least one model name")
    if len(args.opts) % 2:
        parser.error(f"overrides come in KEY VALUE pairs, got an odd number: {' '.join(args.opts)}")
    return args


def make_budget(args: argparse.Namespace) -> Budget:
    if args.budget_steps is not None:
        return Budget("steps", args.budget_steps)
    if args.budget_minutes is not None:
        return Budget("minutes", args.budget_minutes, probe_steps=args.probe_steps)
    return Budget()


def finished_line(result: ModelResult) -> str:
    if result.status != "ok":
        return f"{result.status}: {result.error}"
    accuracy = ("no test (TEST.ENABLE False)" if result.test_top1 is None else
                f"test top-1 {result.test_top1:.1f}%, mean class accuracy {result.mean_class_acc:.1f}%")
    if result.reused:
        return f"reusing the finished run in {result.output_dir} ({accuracy}; --rerun trains it again)"
    return f"finished in {result.run_time_s:.1f} s: {accuracy}"


def run_all(jobs: list[ModelJob], *, rerun: bool) -> tuple[list[ModelResult], bool]:
    """Every job in turn with progress lines; (results, interrupted). Ctrl-C ends the current model."""
    results: list[ModelResult] = []
    for i, job in enumerate(jobs, start=1):
        prefix = f"[{i}/{len(jobs)}] {job.model}:"
        print(f"{prefix} started, output in {job.output_dir}", flush=True)
        try:
            result = run_model(job, launcher=[sys.executable, RUN_NET], rerun=rerun,
                               report=lambda line, p=prefix: print(f"{p}   {line}", flush=True))
        except KeyboardInterrupt:
            results.append(ModelResult(model=job.model, status="interrupted", error="Ctrl-C",
                                       output_dir=job.output_dir))
            print(f"{prefix} interrupted", flush=True)
            return results, True
        results.append(result)
        print(f"{prefix} {finished_line(result)}", flush=True)
    return results, False


def write_json(path: str, payload: dict) -> None:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(payload, f, indent=1)
    except OSError as e:
        raise OutputError(f"--json {path}: cannot write ({e.strerror or e})") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.cfg_files, args.opts)
        if args.plot:
            plot_backend()  # before hours of training, not after
        budget = make_budget(args)
        jobs = [ModelJob(cfg, model=name, budget=budget, cfg_files=args.cfg_files, overrides=args.opts,
                         timeout_minutes=args.timeout_minutes or 0.0) for name in args.models]
        print(f"comparing {len(jobs)} model(s) with {' + '.join(args.cfg_files)}"
              f"{' ' + ' '.join(args.opts) if args.opts else ''}: {budget.describe()}", flush=True)
        results, interrupted = run_all(jobs, rerun=args.rerun)
        print("\n" + markdown_table(results))
        if interrupted:
            done = sum(r.status == "ok" for r in results)
            print(f"\ninterrupted: {done} finished model(s) are kept under {os.path.join(cfg.OUTPUT_DIR, 'compare')}; "
                  "the same command reuses them and trains the rest", file=sys.stderr)
            return INTERRUPTED_EXIT_CODE
        if any(r.pairs for r in results):
            print(f"\npair columns: {PAIR_DEFINITION}")
        if args.json:
            write_json(args.json, {
                "config_files": args.cfg_files, "overrides": args.opts, "output_dir": cfg.OUTPUT_DIR,
                "budget": {**asdict(budget), "description": budget.describe()}, "pair_definition": PAIR_DEFINITION,
                "models": [asdict(r) for r in results],
            })
            print(f"wrote {args.json}")
        if args.plot:
            title = f"test top-1 against compute: {budget.describe()}"
            points = plot_accuracy_vs_flops(results, args.plot, title=title)
            print(f"wrote {args.plot} ({points} model(s))")
    except VideoRegionError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
