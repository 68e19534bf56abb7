"""See what the model sees: a dataset's clips after decoding and augmentation, with labels and paths.

    python tools/browse_dataset.py --cfg configs/k400_regionvit.yaml [--split train] [--num 8] [--seed 0] \
        --out clips.png|clips.gif|clips.mp4 [--batch-transform] [--fps 8] [KEY VALUE ...]

Loads NUM clips of the split the way training and testing do (build_dataset: the configured
decoder, sampler, transform and AUG settings; --seed picks the videos and the augmentation draws,
as in epoch SEED). A .png is a grid (a row per clip, its frames left to right); a .gif or .mp4 is
an animation, a tile per clip playing its frames. Each clip is captioned with its class name,
label and path. --batch-transform shows the model input instead: normalised (DATA.MEAN/STD), in
training mixed (MIXUP.*), then de-normalised back to pixels, with the mixed labels' weights.
Look for flipped colour channels, crops that miss the action, upside-down or stretched videos.
Exit status 1 with one line on stderr for a bad option, config, dataset or output.
"""

from __future__ import annotations

import argparse
import sys

import torch

from videoregion.config import load_config
from videoregion.data.annotations import SPLITS
from videoregion.data.browse import FORMATS, check_output, sample_items, shown_clips, write_browse
from videoregion.data.build import build_batch_transform, build_dataset
from videoregion.errors import ConfigError, VideoRegionError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--cfg", required=True, help="YAML config naming the dataset (DATA.*) and augmentation")
    parser.add_argument("--split", default="train", help=f"one of {', '.join(SPLITS)} (default: train)")
    parser.add_argument("--num", type=int, default=8, help="clips to show (default: 8)")
    parser.add_argument("--seed", type=int, default=0, help="which videos, and the augmentation draws (default: 0)")
    parser.add_argument("--out", required=True, help=f"output file: {', '.join(FORMATS)}")
    parser.add_argument("--batch-transform", action="store_true",
                        help="show the model input: normalised, mixed in training, de-normalised")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of a .gif or .mp4 (default: 8)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.split not in SPLITS:
            raise ConfigError(f"--split {args.split!r} unknown; expected one of {', '.join(SPLITS)}")
        if args.num < 1 or args.fps <= 0:
            raise ConfigError(f"--num must be >= 1 and --fps > 0, got {args.num} and {args.fps:g}")
        check_output(args.out)
        cfg = load_config([args.cfg], args.opts)
        dataset = build_dataset(cfg, args.split)
        transform = build_batch_transform(cfg, args.split, dataset.num_classes) if args.batch_transform else None
        items = sample_items(dataset, args.num, args.seed)
        for path, reason in sorted({entry for item in items for entry in item["skipped"]}):
            print(f"skipped {path}: {reason}")
        shown = shown_clips(items, dataset.class_names, transform)
        written = write_browse(shown, args.out, fps=args.fps)
    except VideoRegionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    _, frames, height, width = shown[0].clip.shape
    what = "model input (de-normalised)" if args.batch_transform else "clips"
    print(f"{args.split}: {len(shown)} {what} of {frames} frames, {height}x{width}, from {dataset.num_videos} videos")
    print(f"wrote {written.path} ({written.width}x{written.height} px, {written.num_frames} frame(s))")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
