#!/usr/bin/env python
"""Export a trained model to ONNX, TorchScript or torch.export, checked against eager PyTorch.

    python tools/export.py --checkpoint output/synthetic_regionvit/checkpoints/checkpoint_best.pyth --out model.onnx
    python tools/export.py --checkpoint CKPT --out model.pt --format torchscript --batch 1 --video clip.mp4
    python tools/export.py --checkpoint CKPT --out model.onnx --benchmark 10 --threads 2
    python tools/demo.py video.mp4 --model model.onnx

The export takes the normalised clip, float32 (B, 3, T, H, W), and returns logits (B, K); the class
names, the preprocessing and the demo's settings are stored in it (the demo needs nothing else).
It is checked on a random clip and on a decoded one (of --video, else of a generated synthetic
video): the largest absolute difference of the logits from eager PyTorch is printed, and above
1e-3 the export is removed and the command fails. Without --cfg the model is built from the config
saved in the checkpoint; config overrides go at the end (KEY VALUE ...).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import torch

from videoregion.config import load_config
from videoregion.data.batch import normalize
from videoregion.data.build import build_clip_reader
from videoregion.errors import ConfigError, OutputError, VideoRegionError, one_line
from videoregion.inference.build import (
    checkpoint_config,
    class_names_for,
    export_config,
    export_metadata,
    find_checkpoint,
)
from videoregion.inference.export import (
    FORMATS,
    TOLERANCE,
    export_model,
    format_of,
    load_export,
    max_abs_difference,
    require_onnx,
    time_interleaved,
)
from videoregion.models.build import build_eval_model, check_clip_input
from videoregion.models.registry import model_info

DEFAULT_CFG = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                                            "synthetic_regionvit.yaml"))


def batch_size(text: str) -> int | None:
    if text == "dynamic":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'dynamic', got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Export a trained videoregion model, checked against eager PyTorch (README: Export).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + __doc__.split("\n\n")[1] + "\n\n" + __doc__.split("\n\n")[2],
    )
    parser.add_argument("--checkpoint", metavar="CKPT", help="checkpoint file (default: the main job's best, "
                        "as for tools/demo.py)")
    parser.add_argument("--out", required=True, metavar="FILE", help="the export: .onnx, .pt (TorchScript), "
                        ".pt2 (torch.export)")
    parser.add_argument("--cfg", dest="cfg_files", action="append", default=[], metavar="CFG",
                        help="config YAML (repeat to merge); default: the checkpoint's own config")
    parser.add_argument("--format", choices=FORMATS, help="default: from --out's extension")
    parser.add_argument("--frames", type=int, metavar="T", help="frames per clip (default DATA.NUM_FRAMES)")
    parser.add_argument("--size", type=int, metavar="S", help="crop size in pixels (default DATA.TEST_CROP_SIZE)")
    parser.add_argument("--batch", type=batch_size, default=None, metavar="N|dynamic",
                        help="batch size the export takes (default: dynamic, any)")
    parser.add_argument("--video", metavar="PATH", help="check on a clip of this video (default: a generated one)")
    parser.add_argument("--benchmark", type=int, default=0, metavar="ROUNDS",
                        help="time the export against eager PyTorch on the CPU, ROUNDS interleaved rounds")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads for PyTorch and onnxruntime (default: their own choice)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides")
    return parser.parse_args(argv)


def resolve(args: argparse.Namespace):
    """(config, checkpoint path, checkpoint state): --cfg wins; else the checkpoint's saved config."""
    locating = load_config(args.cfg_files or [DEFAULT_CFG], args.opts, freeze=False)
    checkpoint, state = find_checkpoint(locating, explicit=args.checkpoint or "")
    cfg = locating if args.cfg_files else (checkpoint_config(state, checkpoint, args.opts) or locating)
    cfg.freeze()
    return cfg, checkpoint, state


def check_output(path: str) -> None:
    """An OutputError now, before minutes of work, when ``path`` cannot be written."""
    if os.path.isdir(path):
        raise OutputError(f"--out {path}: is a directory")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as e:
        raise OutputError(f"--out {path}: cannot create its folder ({e.strerror or e})") from None
    if not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        raise OutputError(f"--out {path}: its folder is not writable")


def generated_video(folder: str, size: int) -> str:
    """A synthetic video of the built-in dataset's first class (64 px or more, 32 frames at 30 fps)."""
    from videoregion.synthetic.classes import CLASSES
    from videoregion.synthetic.encode import encode_video
    from videoregion.synthetic.params import sample_params, video_rng
    from videoregion.synthetic.render import render_frames

    side = max(64, size + size % 2)
    params = sample_params(video_rng(0, 0, 0), motion=CLASSES[0].motion, size=side, num_frames=32)
    path = os.path.join(folder, f"synthetic_{CLASSES[0].name}.mp4")
    encode_video(np.ascontiguousarray(render_frames(0, params)), path, fps=30)
    return path


def decoded_clip(metadata: dict, out: str, video: str) -> torch.Tensor:
    """The first test clip of ``video``, first crop, as the demo cuts it from the export's metadata: (1, 3, T, S, S)."""
    cfg = export_config(metadata, out)
    clips = build_clip_reader(cfg, "test")
    frames = clips.test_clips(video, 1)[0]
    return normalize(clips.views(frames)[0][None], cfg.DATA.MEAN, cfg.DATA.STD)


def run(args: argparse.Namespace) -> None:
    fmt = args.format or format_of(args.out)
    if fmt == "onnx":
        require_onnx("--format onnx")
    check_output(args.out)
    cfg, checkpoint, state = resolve(args)
    if not model_info(cfg.MODEL.NAME).takes_clips:
        raise ConfigError(f"{cfg.MODEL.NAME} is an image model; tools/export.py exports clip models")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_eval_model(cfg, checkpoint, state)
    frames, size = args.frames or cfg.DATA.NUM_FRAMES, args.size or cfg.DATA.TEST_CROP_SIZE
    step = getattr(model, "tubelet_size", 1) * getattr(model, "region_steps", 1)  # RegionViT's, ViT's tubelets
    if frames < 1 or frames % step or size < 1:
        raise ConfigError(f"--frames {frames} --size {size}: {cfg.MODEL.NAME} takes a positive multiple of {step} "
                          "frames and a positive size")
    check_clip_input(cfg, frames, size, what=f"--frames {frames} --size {size}")  # a peer's limits
    metadata = export_metadata(cfg, checkpoint, class_names_for(cfg, checkpoint, state, model.num_classes),
                               fmt=fmt, num_frames=frames, size=size, batch=args.batch)
    shape = f"({args.batch or 'B'}, 3, {frames}, {size}, {size})"
    print(f"exporting {cfg.MODEL.NAME} from {checkpoint} to {args.out} ({fmt}, clips {shape})", flush=True)
    export_model(model, args.out, fmt, num_frames=frames, size=size, batch=args.batch, metadata=metadata)
    exported, metadata = load_export(args.out, fmt, threads=args.threads)

    generator = torch.Generator().manual_seed(0)
    random = torch.randn(args.batch or 2, 3, frames, size, size, generator=generator)
    with tempfile.TemporaryDirectory() as folder:
        video = args.video or generated_video(folder, size)
        real = decoded_clip(metadata, args.out, video)
    real = real.expand(args.batch or 1, -1, -1, -1, -1).contiguous()
    what = f"decoded clip of {args.video}" if args.video else "decoded clip of a generated synthetic video"
    for name, clips in [("random clip", random), (what, real)]:
        diff = max_abs_difference(model, exported, clips)
        print(f"{name} {tuple(clips.shape)}: max |export - eager| = {diff:.3g}", flush=True)
        if not diff <= TOLERANCE:
            os.remove(args.out)
            raise OutputError(f"{args.out}: differs from eager PyTorch by {diff:.3g} (> {TOLERANCE:g}) on the "
                              f"{name}; removed")
    if args.benchmark:
        benchmark(model, exported, fmt, random[:1] if args.batch is None else random, args.benchmark)
    print(f"wrote {args.out}")


def benchmark(model: torch.nn.Module, exported, fmt: str, clips: torch.Tensor, rounds: int) -> None:
    name = "onnxruntime" if fmt == "onnx" else fmt
    times = time_interleaved({"eager": model, name: exported}, clips, rounds)
    batch = clips.shape[0]
    print(f"CPU, {torch.get_num_threads()} threads, batch {batch}, median of {rounds} interleaved rounds:")
    for key, seconds in times.items():
        print(f"  {key:12s} {batch / seconds:8.2f} clips/s  ({seconds * 1000:.1f} ms per call)")
    print(f"  {name} / eager: {times['eager'] / times[name]:.2f}x")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (VideoRegionError, OSError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
