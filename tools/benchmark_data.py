"""Clips per second of our data pipeline against pytorchvideo's Kinetics dataset (decord backend).

    python tools/benchmark_data.py [--num-videos 8] [--train-clips 64] [--workers 0 2] [--out DIR] \
        [--backends decord pyav torchcodec]

Generates Kinetics-like videos (10 s, 340x256, 30 fps, h264 with B-frames, moving texture and
noise), then times both pipelines doing the same work, for each worker count:

- train: a random 16-frame clip at stride 4 (64 frames at 30 fps), random short-side scale in
  [256, 320], random 224 crop, random flip, then float conversion and mean/std normalisation.
- test: TEST_VIEWS evenly spaced clips per video, short side scaled to 224, 3 crops of 224
  (left, centre, right), normalised.
- repeated: ours alone, the train pipeline with repeated augmentation (AUG.NUM_SAMPLE K: one
  decode, K crops) against K = 1, both at BATCH_SIZE x K clips per batch; clips/s of augmented clips.

Ours: build_loader + build_batch_transform on the CPU, with each of --backends (DATA.DECODING_BACKEND:
decord by default; pyav; torchcodec when installed) in its own column. pytorchvideo: pytorchvideo.data.Kinetics
(decoder="decord") with its usual clip samplers and the same operations written out the way
pytorchvideo.transforms implements them (videoregion.benchmark.data_pipeline, which holds the
measurements). Rates count clips after the first batch (worker start-up excluded). Prints markdown
tables; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from videoregion.benchmark.data_pipeline import make_dataset, time_pipelines, time_repeated_augmentation
from videoregion.data.readers import READERS


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
    parser.add_argument("--pipelines", nargs="+", choices=["train", "test", "repeated"],
                        default=["train", "test", "repeated"])
    parser.add_argument("--num-sample", type=int, default=2, help="K of the repeated-augmentation row")
    parser.add_argument("--backends", nargs="+", choices=sorted(READERS), default=["decord"],
                        help="our decoding backends to time (DATA.DECODING_BACKEND), each in its own column")
    parser.add_argument("--skip-pytorchvideo", action="store_true", help="time ours only")
    args = parser.parse_args(argv)
    if args.num_sample < 2:
        parser.error(f"--num-sample must be at least 2, got {args.num_sample}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    root = args.out or tempfile.mkdtemp(prefix="videoregion-bench-")
    try:
        make_dataset(root, args.num_videos, args.seconds)
        rows = time_pipelines(
            root, pipelines=[p for p in args.pipelines if p != "repeated"], workers=args.workers,
            batch_size=args.batch_size, train_clips=args.train_clips, test_clips=args.test_clips,
            test_views=args.test_views, test_crops=args.test_crops, backends=tuple(args.backends),
            skip_pytorchvideo=args.skip_pytorchvideo,
        )
        repeated = time_repeated_augmentation(root, workers=args.workers, batch_size=args.batch_size,
                                              clips=args.train_clips, num_samples=args.num_sample,
                                              ) if "repeated" in args.pipelines else []
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)
    views = f"{args.test_views} clips x {args.test_crops} crops"
    print(f"\n{args.num_videos} videos of {args.seconds:g} s, 340x256, 30 fps h264; train 16x4, 224 crop; "
          f"test {views}, 224; {os.cpu_count()} CPUs\n")
    first = args.backends[0]
    if rows:
        print("| pipeline | workers | " + " | ".join(f"ours, {b} (clips/s)" for b in args.backends)
              + f" | pytorchvideo (clips/s) | ours, {first} / pytorchvideo |")
        print("| --- " * (len(args.backends) + 4) + "|")
    for pipeline, workers, ours, theirs in rows:
        print(f"| {pipeline} | {workers} | " + " | ".join(f"{ours[b]:.1f}" for b in args.backends)
              + f" | {theirs:.1f} | {ours[first] / theirs:.2f}x |")
    if repeated:
        k = args.num_sample
        print(f"\nRepeated augmentation (train, ours, {args.batch_size * k} clips per batch; "
              "clips/s of augmented clips)\n")
        print(f"| pipeline | workers | AUG.NUM_SAMPLE 1 (clips/s) | AUG.NUM_SAMPLE {k} (clips/s) | {k} / 1 |")
        print("| --- | --- | --- | --- | --- |")
        for workers, single, multi in repeated:
            print(f"| repeated | {workers} | {single:.1f} | {multi:.1f} | {multi / single:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
