#!/usr/bin/env python
"""Can a model learn these synthetic classes? A few minutes' probe instead of a full run.

    python tools/probe_synthetic.py --model regionvit3d_nano --classes rotate_cw,rotate_ccw --steps 300
    python tools/probe_synthetic.py --model regionvit3d_nano --model-kwargs '{"stem_time_kernel": 3}'
    python tools/probe_synthetic.py --model r3d_nano --classes move_right,move_left --steps 150 --json r3d.json
    python tools/probe_synthetic.py --model r3d_nano --paired --steps 300    # each video also played backwards
    python tools/probe_synthetic.py --statistics --classes rotate_cw,rotate_ccw     # no model: which order tells

Renders the classes' videos into memory (no files), trains the model with the main job's recipe (8 frames
every 4th, scale jitter 56-64 px, 56 px crops, AdamW, batch 16, warmup then cosine; --lr 3e-4 by default,
the rate of the README's probe tables, where the main job now takes 6e-4) and tests 2 clips
per held-out video; prints the test accuracy as it goes. One thread by default: on a machine shared with
other jobs, two threads of one process wait for each other.

--paired also trains on every training video played backwards, labelled as its partner class (the classes'
partners must be among --classes): a model can no longer tell the classes by what the video shows, only by
the direction of its motion; one that finds no direction feature stays at loss ln 2 instead of memorising.

--statistics trains no model: for a pair of classes it fits linear classifiers on hand-made motion
statistics of second and third order (videoregion.synthetic.statistics) and prints their accuracy, which
tells whether the pair differs in where things move or only in how motion relates to the object's shape.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from videoregion.errors import VideoRegionError
from videoregion.models import create_model, model_info
from videoregion.synthetic import CLASSES
from videoregion.synthetic.probe import make_probe_data, paired, train_probe
from videoregion.synthetic.statistics import pair_statistics


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="regionvit3d_nano", help="registered clip model (MODEL.NAME)")
    parser.add_argument("--model-kwargs", default="{}", help="JSON of extra build keywords, e.g. '{\"peg\": true}'")
    parser.add_argument("--classes", default="rotate_cw,rotate_ccw",
                        help="comma-separated class names: " + ",".join(c.name for c in CLASSES))
    parser.add_argument("--steps", type=int, default=300, help="training steps (batch --batch)")
    parser.add_argument("--train-videos", type=int, default=175, help="training videos per class")
    parser.add_argument("--test-videos", type=int, default=60, help="held-out videos per class")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (the README's probes: 3e-4)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--stride", type=int, default=4, help="frames between sampled frames")
    parser.add_argument("--seed", type=int, default=0, help="data, initialisation and batches")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", help="write the result (and the arguments) to this file")
    parser.add_argument("--paired", action="store_true",
                        help="also train on each training video played backwards, labelled as its partner class")
    parser.add_argument("--statistics", action="store_true",
                        help="no model: linear classifiers on second- and third-order motion statistics (two classes)")
    return parser.parse_args(argv)


def _class_indices(names: str) -> list[int]:
    known = {c.name: i for i, c in enumerate(CLASSES)}
    picked = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in picked if n not in known]
    if unknown or len(picked) < 2:
        raise VideoRegionError(f"--classes {names!r}: give two or more of {', '.join(known)}"
                               + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    return [known[n] for n in picked]


def _statistics(args: argparse.Namespace, classes: list[int]) -> int:
    if len(classes) != 2:
        raise VideoRegionError(f"--statistics compares two classes, got --classes {args.classes!r}")
    torch.set_num_threads(args.threads)
    print(f"rendering {args.train_videos} + {args.test_videos} videos of each of {args.classes}", flush=True)
    data = make_probe_data(classes, train_videos=args.train_videos, test_videos=args.test_videos, seed=args.seed)
    results = pair_statistics(data)
    for kind, (train, test) in results.items():
        print(f"{kind:28s} train {train:5.1f}%  test {test:5.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "statistics": {k: {"train": a, "test": b} for k, (a, b) in results.items()}},
                      f, indent=1)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        classes = _class_indices(args.classes)
        if args.statistics:
            return _statistics(args, classes)
        try:
            extra = json.loads(args.model_kwargs)
        except json.JSONDecodeError as e:
            raise VideoRegionError(f"--model-kwargs is not JSON: {e}") from None
        if not model_info(args.model).takes_clips:
            raise VideoRegionError(f"--model {args.model} takes images, not clips")
        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        kwargs = {"num_classes": len(classes), "num_frames": args.frames, **extra}
        if "input_size" in model_info(args.model).options:
            kwargs.setdefault("input_size", 56)
        model = create_model(args.model, **kwargs)
        print(f"{args.model} {extra or ''}: {sum(p.numel() for p in model.parameters()):,} parameters; rendering "
              f"{args.train_videos} + {args.test_videos} videos of each of {args.classes}", flush=True)
        data = make_probe_data(classes, train_videos=args.train_videos, test_videos=args.test_videos, seed=args.seed)
        if args.paired:
            data = paired(data)
            print(f"paired: {len(data.train_videos)} training videos, each also played backwards as its partner",
                  flush=True)
        result = train_probe(model, data, steps=args.steps, lr=args.lr, batch=args.batch, frames=args.frames,
                             stride=args.stride, seed=args.seed, log=lambda line: print(line, flush=True))
    except (VideoRegionError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"final test top-1 {result.top1:.1f}% (per class {', '.join(f'{a:.1f}' for a in result.per_class)}) "
          f"after {args.steps} steps, {result.seconds:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "top1": result.top1, "per_class": result.per_class,
                       "curve": result.curve, "seconds": result.seconds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
