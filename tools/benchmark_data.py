"""Clips per second of our data pipeline against pytorchvideo's Kinetics dataset (decord backend).

    python tools/benchmark_data.py [--num-videos 8] [--train-clips 64] [--workers 0 2] [--out DIR]

Generates Kinetics-like videos (10 s, 340x256, 30 fps, h264 with B-frames, moving texture and
noise), then times both pipelines doing the same work, for each worker count:

- train: a random 16-frame clip at stride 4 (64 frames at 30 fps), random short-side scale in
  [256, 320], random 224 crop, random flip, then float conversion and mean/std normalisation.
- test: TEST_VIEWS evenly spaced clips per video, short side scaled to 224, 3 crops of 224
  (left, centre, right), normalised.

Ours: build_loader + build_batch_transform on the CPU. pytorchvideo: pytorchvideo.data.Kinetics
(decoder="decord") with its usual clip samplers and the same operations written out the way
pytorchvideo.transforms implements them (videoregion.benchmark.data_pipeline, which holds the
measurements). Rates count clips after the first batch (worker start-up excluded). Prints a markdown
table; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from videoregion.benchmark.data_pipeline import make_dataset, time_pipelines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--out", default="", help="folder for the generated videos (default: a temporary one, removed)")
    parser.add_argument("--num-videos", type=int, default=8, help="videos to generate")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each video")
    parser.add_argument("--train-clips", type=int, default=64, help="train clips timed per setting")
    parser.add_argument("--test-clips", type=int, default=120, help="test clips (views) timed per setting")
    parser.add_argument("--test-views", type=int, default=10, help="temporal views per test video")
    parser.add_argument("--test-crops", type=int, choices=[1, 3], default=3, help="spatial crops per test clip")
    parser.add_argument("--batch-size", type=int, default=4, help="train batch size (test: this times the crops)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="loader worker counts to time")
    parser.add_argument("--pipelines", nargs="+", choices=["train", "test"], default=["train", "test"])
    parser.add_argument("--skip-pytorchvideo", action="store_true", help="time ours only")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    root = args.out or tempfile.mkdtemp(prefix="videoregion-bench-")
    try:
        make_dataset(root, args.num_videos, args.seconds)
        rows = time_pipelines(
            root, pipelines=args.pipelines, workers=args.workers, batch_size=args.batch_size,
            train_clips=args.train_clips, test_clips=args.test_clips, test_views=args.test_views,
            test_crops=args.test_crops, skip_pytorchvideo=args.skip_pytorchvideo,
        )
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)
    views = f"{args.test_views} clips x {args.test_crops} crops"
    print(f"\n{args.num_videos} videos of {args.seconds:g} s, 340x256, 30 fps h264; train 16x4, 224 crop; "
          f"test {views}, 224; {os.cpu_count()} CPUs\n")
    print("| pipeline | workers | ours (clips/s) | pytorchvideo (clips/s) | ours / pytorchvideo |")
    print("| --- | --- | --- | --- | --- |")
    for pipeline, workers, ours, theirs in rows:
        print(f"| {pipeline} | {workers} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
