"""Scan a dataset's videos before a long run and list the unreadable and suspicious ones.

    python tools/check_dataset.py --cfg configs/k400_regionvit.yaml [--split train [--split val]] \
        [--workers 8] [--out problems.tsv] [KEY VALUE ...]

Every video of each split is opened with the configured backend (DATA.DECODING_BACKEND) and its
first, middle and last frames are decoded, in several worker processes. Unreadable: missing,
empty, not a video, truncated, no frames, a decoder that stalls past DATA.DECODE_TIMEOUT.
Suspicious: shorter than one clip (DATA.NUM_FRAMES x DATA.SAMPLING_RATE at DATA.TARGET_FPS for
Kinetics, DATA.NUM_FRAMES for SSv2), or a zero frame rate. Exit status: 0 when every video is
readable, 1 when some are not, 2 when the config or the annotations are broken.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from videoregion.config import load_config
from videoregion.data.annotations import SPLITS
from videoregion.data.build import build_clip_frames
from videoregion.data.check import VideoCheck, check_video
from videoregion.data.layouts import load_annotations
from videoregion.errors import AnnotationError, VideoRegionError


class _Checks(Dataset):
    """Video paths -> :class:`VideoCheck`, so a DataLoader can spread them over workers."""

    def __init__(self, paths: list[str], **check_kwargs):
        self.paths, self.check_kwargs = paths, check_kwargs

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> VideoCheck:
        return check_video(self.paths[index], **self.check_kwargs)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--cfg", required=True, help="YAML config naming the dataset (DATA.*)")
    parser.add_argument("--split", action="append", choices=SPLITS, default=None,
                        help="split to scan, may be repeated (default: every split with an annotation file)")
    parser.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)),
                        help="worker processes (default: up to 8)")
    parser.add_argument("--out", default="", help="also write the problems to this tab-separated file")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return parser.parse_args(argv)


def scan(paths: list[str], workers: int, desc: str, **check_kwargs) -> list[VideoCheck]:
    loader = DataLoader(_Checks(paths, **check_kwargs), batch_size=None, num_workers=workers,
                        collate_fn=lambda check: check)
    return list(tqdm(loader, total=len(paths), desc=desc, unit="video", file=sys.stderr))


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config([args.cfg], args.opts)
        clip_frames = build_clip_frames(cfg)
    except VideoRegionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    problems: list[tuple[str, VideoCheck]] = []
    for split in args.split or SPLITS:
        try:
            records, _ = load_annotations(cfg.DATA.DATASET, cfg.DATA.PATH_TO_DATA_DIR, split,
                                          cfg.DATA.PATH_PREFIX, cfg.DATA.CLASS_NAMES_FILE, cfg.MODEL.NUM_CLASSES,
                                          fold=cfg.DATA.SPLIT)
        except VideoRegionError as e:
            if (args.split is None and isinstance(e, AnnotationError)
                    and "missing" in e.problem and "split file" in e.problem):
                print(f"{split}: no annotation file, skipped ({e})")
                continue
            print(f"error: {e}", file=sys.stderr)
            return 2
        paths = sorted({r.path for r in records})
        checks = scan(paths, args.workers, split, backend=cfg.DATA.DECODING_BACKEND,
                      threads=cfg.DATA.DECODING_THREADS, min_frames=clip_frames, timeout=cfg.DATA.DECODE_TIMEOUT)
        counts = Counter(c.status for c in checks)
        print(f"{split}: {len(checks)} videos: {counts['ok']} ok, {counts['unreadable']} unreadable, "
              f"{counts['suspicious']} suspicious")
        problems += [(split, c) for c in checks if c.status != "ok"]
    for split, check in problems:
        print(f"{split}\t{check.status}\t{check.path}\t{check.reason}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("split\tstatus\tpath\treason\n")
            f.writelines(f"{s}\t{c.status}\t{c.path}\t{c.reason}\n" for s, c in problems)
        print(f"problems written to {args.out}")
    return 1 if any(c.status == "unreadable" for _, c in problems) else 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
