#!/usr/bin/env python
"""Train and/or test a video model from a config (SlowFast's command line).

    python tools/run_net.py --cfg configs/synthetic_regionvit.yaml
    python tools/run_net.py --cfg configs/k400_regionvit.yaml NUM_GPUS 8 TRAIN.BATCH_SIZE 64
    python tools/run_net.py --cfg configs/k400_regionvit.yaml --init_method tcp://host0:9999 \\
        --num_shards 2 --shard_id 0          # on machine 0 of 2 (shard_id 1 on the other)
    torchrun --nproc_per_node 8 tools/run_net.py --cfg configs/k400_regionvit.yaml

Trains when TRAIN.ENABLE, then tests when TEST.ENABLE. Overrides are trailing KEY VALUE pairs
(or ``--opts KEY VALUE ...``).
"""

from __future__ import annotations

import argparse
import os
import sys

from videoregion.config import load_config
from videoregion.engine.distributed import DistributedSettings, launch, launched_by_torchrun, resolve_num_gpus
from videoregion.engine.run import run
from videoregion.errors import ConfigError, VideoRegionError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train and test a video model (videoregion). See README: Training and evaluation.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + __doc__.split("\n\n")[1],
    )
    parser.add_argument("--cfg", dest="cfg_files", action="append", default=[], metavar="FILE",
                        help="config YAML; repeat to merge several in order")
    parser.add_argument("--init_method", default="tcp://localhost:9999",
                        help="rendezvous of a multi-process run without torchrun (default %(default)s)")
    parser.add_argument("--num_shards", type=int, default=None, help="machines in the run (NUM_SHARDS)")
    parser.add_argument("--shard_id", type=int, default=None, help="index of this machine (SHARD_ID)")
    parser.add_argument("--opts", dest="flag_opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE",
                        help="config overrides, as the trailing KEY VALUE pairs")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides")
    return parser.parse_args(argv)


def resolved_config(args: argparse.Namespace):
    if not args.cfg_files:
        raise ConfigError("command line: give at least one --cfg FILE (e.g. configs/synthetic_regionvit.yaml)")
    cfg = load_config(args.cfg_files, list(args.opts) + list(args.flag_opts), freeze=False)
    if args.num_shards is not None:
        cfg.NUM_SHARDS = args.num_shards
    if args.shard_id is not None:
        cfg.SHARD_ID = args.shard_id
    cfg.NUM_GPUS = resolve_num_gpus(cfg.NUM_GPUS)
    cfg.freeze()
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = resolved_config(args)
        if int(os.environ.get("RANK", "0")) == 0 and cfg.SHARD_ID == 0:
            os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
            with open(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), "w") as f:
                f.write(cfg.dump())
            saved = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
            print(f"resolved config (saved to {saved}):\n{cfg.dump()}", flush=True)
        settings = DistributedSettings(
            num_gpus=cfg.NUM_GPUS, num_shards=cfg.NUM_SHARDS, shard_id=cfg.SHARD_ID, init_method=args.init_method
        )
        if not launched_by_torchrun() and settings.world_size > 1:
            print(f"starting {settings.procs_per_machine} process(es) on this machine, "
                  f"{settings.world_size} in all, rendezvous {args.init_method}", flush=True)
        launch(run, settings, cfg)
    except VideoRegionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
