"""Parameters and FLOPs of a model (fvcore; one multiply-add = one FLOP; attention counted).

    python tools/count_flops.py --model regionvit3d_small --frames 16 --size 224
    python tools/count_flops.py --cfg configs/k400_regionvit.yaml      # also FLOPs x test views
    python tools/count_flops.py --model regionvit_small_224 --json
    python tools/count_flops.py --model swin3d_t --frames 16 --size 224       # a video peer (random weights)
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from videoregion.config import ConfigError, load_config
from videoregion.errors import VideoRegionError
from videoregion.models import build_model, create_model, list_models, model_info
from videoregion.utils.flops import count_flops, count_params


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="registered model name (see --list)")
    source.add_argument("--cfg", help="run config: its model, clip length, test crop and test views")
    source.add_argument("--list", action="store_true", help="list registered models and exit")
    parser.add_argument("--frames", type=int, help="clip length for video models (default: the model's)")
    parser.add_argument("--size", type=int, help="input height and width in pixels (default: the model's, 224)")
    parser.add_argument("--num-classes", type=int, default=None, help="classifier size (default: the model's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides (with --cfg)")
    return parser.parse_args(argv)


def build(args: argparse.Namespace, parser_error) -> tuple[torch.nn.Module, torch.Tensor, int, str]:
    """The model, a dummy input for it, the number of test views and a name."""
    if args.cfg:
        try:
            cfg = load_config([args.cfg], args.opts)
        except ConfigError as e:
            parser_error(str(e))
        model = build_model(cfg)
        frames, size = cfg.DATA.NUM_FRAMES, cfg.DATA.TEST_CROP_SIZE
        views = cfg.TEST.NUM_ENSEMBLE_VIEWS * cfg.TEST.NUM_SPATIAL_CROPS
        name = cfg.MODEL.NAME
    else:
        if args.model not in list_models():
            parser_error(f"unknown model {args.model!r}; choose from: {', '.join(list_models())}")
        info = model_info(args.model)
        if args.frames is not None and not info.takes_clips:
            parser_error(f"{args.model} is an image model: --frames does not apply")
        size = info.input_size if args.size is None else args.size
        kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
        if args.frames is not None:
            kwargs["num_frames"] = args.frames
        if "input_size" in info.options:  # built for one clip shape
            kwargs["input_size"] = size
        frames = args.frames if args.frames is not None else info.num_frames
        problem = info.input_problem(frames, size)  # the builder checks tubelets, knowing their size
        if problem:
            parser_error(f"--frames {frames} --size {size}: {problem}")
        try:
            model = create_model(args.model, **kwargs)
        except VideoRegionError as e:
            parser_error(str(e))
        frames, views, name = getattr(model, "num_frames", None), 1, args.model
    shape = (1, 3, frames, size, size) if frames else (1, 3, size, size)
    return model, torch.zeros(shape), views, name


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(list_models()))
        return 0
    model, inputs, views, name = build(args, lambda msg: sys.exit(f"count_flops.py: error: {msg}"))
    params, flops = count_params(model), count_flops(model, inputs)
    result = {
        "model": name,
        "input": list(inputs.shape[1:]),
        "params": params,
        "gflops": round(flops / 1e9, 4),
        "views": views,
        "total_gflops": round(flops * views / 1e9, 4),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"model        {name}")
        print(f"input        {' x '.join(map(str, result['input']))}  (C x [T x] H x W)")
        print(f"parameters   {params:,}  ({params / 1e6:.2f} M)")
        print(f"GFLOPs/view  {flops / 1e9:.2f}  (fvcore: 1 multiply-add = 1 FLOP, attention included)")
        if args.cfg:
            print(f"test views   {views}  ->  {flops * views / 1e9:.1f} GFLOPs per video")
    return 0


if __name__ == "__main__":
    sys.exit(main())
