#!/usr/bin/env python
"""Pooled pre-logit features of every window of whole videos, one .npy and one .json per video.

    python tools/extract_features.py --checkpoint CKPT --out features/ a.mp4 b.mkv
    python tools/extract_features.py --checkpoint CKPT --out feats/ --list v.txt --window-frames 16 --stride-frames 4
    python tools/extract_features.py --cfg configs/k400_regionvit.yaml --split test --out features/ --workers 4
    torchrun --nproc_per_node 8 tools/extract_features.py --checkpoint CKPT --out features/ --list videos.txt

Writes OUT/<video stem>.npy, float32 (windows, features), and OUT/<video stem>.json (each window's
start and end in seconds and frames, the video, the model, checkpoint and settings). Videos already
done are skipped, so a killed run continues where it stopped; unreadable videos are listed in
OUT/failed.tsv (failed_rank<R>.tsv per process under torchrun) and the others done. Under torchrun
each process takes every WORLD_SIZE-th video. The checkpoint and config follow the demo's rules
(README: Demo). Exit status: 0 all done, 1 some videos failed, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import torch

from videoregion.config import get_cfg, load_config
from videoregion.data.layouts import load_annotations
from videoregion.errors import ConfigError, VideoRegionError, one_line
from videoregion.inference import (
    FeatureExtractor,
    build_predictor,
    checkpoint_config,
    extract_videos,
    find_checkpoint,
)

DEFAULT_CFG = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                                            "synthetic_regionvit.yaml"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Extract per-window features of videos for downstream models "
                    "(README: Features for downstream work).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + __doc__.split("\n\n")[1] + "\n\n" + __doc__.split("\n\n")[2],
    )
    parser.add_argument("videos", nargs="*", metavar="VIDEO",
                        help="video files; config overrides may follow as KEY VALUE pairs")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--list", metavar="FILE", help="video paths, one per line (# comments; relative paths "
                        "are relative to FILE's folder)")
    parser.add_argument("--split", metavar="S", help="the videos of split S (train, val, test) of the dataset of --cfg")
    parser.add_argument("--cfg", dest="cfg_files", action="append", default=[], metavar="CFG",
                        help="config YAML (repeat to merge); default: the checkpoint's own config")
    parser.add_argument("--checkpoint", metavar="PATH", help="checkpoint file (default: the demo's rule: "
                        "DEMO.CHECKPOINT_FILE_PATH, else the best, else the newest checkpoint of OUTPUT_DIR)")
    parser.add_argument("--window-seconds", type=float, metavar="W", help="window length (default one clip)")
    parser.add_argument("--stride-seconds", type=float, metavar="S",
                        help="step between windows (default half a window)")
    parser.add_argument("--window-frames", type=int, metavar="F", help="window length in frames of the video")
    parser.add_argument("--stride-frames", type=int, metavar="G", help="step in frames (default half a window)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="processes decoding ahead of the model (0: decode in this one; default %(default)s)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available (under torchrun "
                        "cuda:LOCAL_RANK)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is loaded and each failed video")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE",
                        help="config overrides, e.g. --opts DEMO.BATCH_SIZE 32 TEST.NUM_SPATIAL_CROPS 3")
    return parser.parse_args(argv)


def split_overrides(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(videos, KEY VALUE overrides): the overrides start at the first token that is a config key."""
    defaults = get_cfg()

    def is_key(token: str) -> bool:
        node = defaults
        for part in token.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    for i, token in enumerate(tokens):
        if is_key(token):
            return tokens[:i], tokens[i:]
    return tokens, []


def check_windows(args: argparse.Namespace) -> None:
    seconds = args.window_seconds is not None or args.stride_seconds is not None
    frames = args.window_frames is not None or args.stride_frames is not None
    if seconds and frames:
        raise ConfigError("give the windows in seconds (--window-seconds/--stride-seconds) or in frames "
                          "(--window-frames/--stride-frames), not both")
    for flag in ("window_seconds", "stride_seconds", "window_frames", "stride_frames"):
        value = getattr(args, flag)
        if value is not None and not value > 0:
            raise ConfigError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    if args.stride_frames is not None and args.window_frames is None:
        raise ConfigError("--stride-frames needs --window-frames")


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    try:
        rank, size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
    if not (size >= 1 and 0 <= rank < size):
        raise ConfigError(f"RANK {rank} is outside WORLD_SIZE {size}")
    return rank, size, local


def read_list(path: str) -> list[str]:
    try:
        with open(path) as f:
            lines = [line.strip() for line in f]
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the list of videos ({e.strerror or e})") from None
    folder = os.path.dirname(os.path.abspath(path))
    videos = [os.path.join(folder, line) for line in lines if line and not line.startswith("#")]
    if not videos:
        raise ConfigError(f"{path}: lists no videos")
    return videos


def resolve(args: argparse.Namespace, opts: list[str]):
    """(config, checkpoint path, state, videos): --cfg wins, else the checkpoint's saved config (the demo's rule)."""
    check_windows(args)
    sources = sum([bool(args.videos), args.list is not None, args.split is not None])
    if sources != 1:
        raise ConfigError("give the videos one way: VIDEO ..., --list FILE, or --cfg CFG --split S")
    if args.split is not None and not args.cfg_files:
        raise ConfigError("--split reads the dataset of a config: give --cfg CFG too")
    locating = load_config(args.cfg_files or [DEFAULT_CFG], opts, freeze=False)
    if args.split is not None:
        records, _ = load_annotations(
            locating.DATA.DATASET, locating.DATA.PATH_TO_DATA_DIR, args.split, path_prefix=locating.DATA.PATH_PREFIX,
            class_names_file=locating.DATA.CLASS_NAMES_FILE, num_classes=locating.MODEL.NUM_CLASSES,
            fold=locating.DATA.SPLIT,
        )
        videos = [r.path for r in records]
    else:
        videos = read_list(args.list) if args.list is not None else list(args.videos)
    checkpoint, state = find_checkpoint(locating, explicit=args.checkpoint or "")
    cfg = locating if args.cfg_files else (checkpoint_config(state, checkpoint, opts) or locating)
    if args.window_seconds is not None:
        cfg.DEMO.WINDOW_SECONDS = args.window_seconds
    if args.stride_seconds is not None:
        cfg.DEMO.STRIDE_SECONDS = args.stride_seconds
    if args.device is not None:
        cfg.DEMO.DEVICE = args.device
    cfg.freeze()
    return cfg, checkpoint, state, videos


def settings(cfg, extractor: FeatureExtractor) -> dict:
    """What the features depend on, written to every JSON (a resumed run must match it)."""
    return {
        "feature": "pre_logits, mean over the views of each window",
        "window_seconds": cfg.DEMO.WINDOW_SECONDS,  # 0: one clip's span
        "stride_seconds": cfg.DEMO.STRIDE_SECONDS,  # 0: half a window
        "window_frames": extractor.window_frames,  # 0: windows in seconds
        "stride_frames": extractor.stride_frames if extractor.window_frames else 0,
        "clips_per_window": cfg.DEMO.CLIPS_PER_WINDOW,
        "spatial_crops": cfg.TEST.NUM_SPATIAL_CROPS,
        "dataset_layout": cfg.DATA.DATASET,
        "num_frames": cfg.DATA.NUM_FRAMES,
        "sampling_rate": cfg.DATA.SAMPLING_RATE,
        "target_fps": cfg.DATA.TARGET_FPS,
        "crop_size": cfg.DATA.TEST_CROP_SIZE,
        "mean": list(cfg.DATA.MEAN),
        "std": list(cfg.DATA.STD),
        "use_ema": cfg.TEST.USE_EMA,
    }


def run(args: argparse.Namespace) -> int:
    videos, trailing = split_overrides(args.videos)
    args.videos = videos
    rank, world_size, local_rank = world()
    cfg, checkpoint, state, videos = resolve(args, trailing + list(args.opts))
    if world_size > 1 and cfg.DEMO.DEVICE in ("", "cuda") and torch.cuda.is_available():
        cfg.defrost()
        cfg.DEMO.DEVICE = f"cuda:{local_rank % torch.cuda.device_count()}"
        cfg.freeze()
    extractor = FeatureExtractor(build_predictor(cfg, checkpoint, state=state), window_frames=args.window_frames or 0,
                                 stride_frames=args.stride_frames or 0)
    meta = {"model": cfg.MODEL.NAME, "checkpoint": os.path.abspath(checkpoint),
            "settings": settings(cfg, extractor)}
    share = len(range(rank, len(videos), world_size))
    who = f" (rank {rank} of {world_size}: {share})" if world_size > 1 else ""
    print(f"{cfg.MODEL.NAME} ({extractor.feature_dim} features) from {checkpoint} on {extractor.predictor.device}: "
          f"{len(videos)} videos{who} -> {args.out}", flush=True)
    summary = extract_videos(extractor, videos, args.out, meta=meta, rank=rank, world_size=world_size,
                             workers=args.workers, progress=True)
    line = f"wrote {len(summary.written)}, skipped {len(summary.skipped)} (done before), failed {len(summary.failed)}"
    if summary.failed:
        named = ", ".join(f"{path} ({reason})" for path, reason in summary.failed[:3])
        more = f" and {len(summary.failed) - 3} more" if len(summary.failed) > 3 else ""
        line += f": {named}{more}; listed in {summary.report}"
    print(line, flush=True)
    return 1 if summary.failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if args.verbose else logging.ERROR)
    try:
        return run(args)
    except (VideoRegionError, OSError) as e:  # OSError: an output folder that cannot be written
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (finished videos are kept; run again to continue)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
