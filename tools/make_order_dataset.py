#!/usr/bin/env python
"""Generate the second order-only dataset (videoregion.ordergen), made to test the main job's recipe
on data it was not tuned for.

    python tools/make_order_dataset.py --out data/ordergen --workers 2
    python tools/make_order_dataset.py --preview ordergen.png            # a sheet to look at, no dataset

Ten classes in five time-reversed pairs (spin clockwise / anticlockwise, come together / move apart,
fill / drain, pan right / left, zoom in / out), 64 x 64 px, 32 frames at 30 fps, h264. Kinetics
layout: {train,val,test}.csv (70/15/15 per class), classnames.json, videos/<class>/<class>_<i>.mp4.
Train with DATA.DATASET kinetics, DATA.PATH_TO_DATA_DIR <out>, DATA.PATH_PREFIX <out>/videos,
MODEL.NUM_CLASSES 10 and SYNTHETIC.GENERATE False.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from videoregion.errors import VideoRegionError
from videoregion.ordergen import CLASSES, generate_dataset, write_preview


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", help="dataset folder (created if absent)")
    parser.add_argument("--videos-per-class", type=int, default=300,
                        help=f"videos per class ({len(CLASSES)} classes), split 70/15/15 into train/val/test")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same videos")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8),
                        help="processes that render and encode in parallel (the files do not depend on it)")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels")
    parser.add_argument("--frames", type=int, default=32, help="frames per video")
    parser.add_argument("--preview", metavar="PNG",
                        help="also (or only) write a sheet of the classes: a row per video, a few frames "
                             "each (.png; .gif animates)")
    parser.add_argument("--preview-videos", type=int, default=2, help="preview rows per class")
    parser.add_argument("--preview-frames", type=int, default=8, help="frames per preview row")
    args = parser.parse_args(argv)
    if not args.out and not args.preview:
        parser.error("nothing to do: give --out, --preview or both")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        if args.preview:
            written = write_preview(args.preview, args.seed, videos=args.preview_videos, frames=args.preview_frames,
                                    size=args.size, num_frames=args.frames)
            print(f"wrote {written.path} ({written.width} x {written.height})")
        if args.out:
            summary = generate_dataset(args.out, args.seed, args.videos_per_class, size=args.size,
                                       num_frames=args.frames, progress=True, workers=args.workers)
            counts = ", ".join(f"{k} {v}" for k, v in summary["num_videos"].items())
            print(f"wrote {len(summary['class_names'])} classes ({counts} videos) to {args.out} "
                  f"in {time.perf_counter() - start:.1f} s")
    except VideoRegionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
