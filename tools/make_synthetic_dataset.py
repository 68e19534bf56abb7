#!/usr/bin/env python
"""Generate the built-in synthetic action dataset (classes told apart only through time).

    python tools/make_synthetic_dataset.py --out data/synthetic
    python tools/make_synthetic_dataset.py --out data/synthetic_ssv2 --format ssv2 --seed 1

Kinetics layout: {train,val,test}.csv, classnames.json, videos/<class>/<class>_<i>.mp4 (h264).
SSv2 layout: something-something-v2-{labels,train,validation,test}.json, classnames.json,
videos/<id>.webm (VP9). Then set DATA.PATH_TO_DATA_DIR to --out and DATA.PATH_PREFIX to
<out>/videos.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from videoregion.errors import VideoRegionError
from videoregion.synthetic import CLASSES, FORMATS, generate_dataset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created if absent)")
    parser.add_argument("--format", default="kinetics", choices=FORMATS,
                        help="annotation layout and codec: kinetics (csv, h264 mp4) or ssv2 "
                             "(json, VP9 webm)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same videos")
    parser.add_argument("--videos-per-class", type=int, default=60,
                        help="videos per class, split into train/val/test by --split")
    parser.add_argument("--num-classes", type=int, default=len(CLASSES),
                        help=f"classes to keep (even: whole time-reversed pairs; at most {len(CLASSES)})")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels")
    parser.add_argument("--frames", type=int, default=32, help="frames per video")
    parser.add_argument("--fps", type=int, default=30, help="frame rate of the videos")
    parser.add_argument("--crf", type=int, default=20, help="encoder quality (lower is better)")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8),
                        help="processes that render and encode in parallel (the files do not "
                             "depend on it)")
    parser.add_argument("--split", type=float, nargs=3, default=[0.7, 0.15, 0.15],
                        metavar=("TRAIN", "VAL", "TEST"), help="split fractions per class")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        summary = generate_dataset(
            args.out, args.format, args.seed, args.videos_per_class, size=args.size,
            num_frames=args.frames, fps=args.fps, crf=args.crf, split=args.split,
            num_classes=args.num_classes, progress=True,
            workers=args.workers)
    except VideoRegionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in summary["num_videos"].items())
    print(f"wrote {len(summary['class_names'])} classes ({counts} videos) to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
