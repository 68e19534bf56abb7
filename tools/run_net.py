#!/usr/bin/env python
"""Train and/or test a video model from a config (SlowFast's command line).

    python tools/run_net.py --cfg configs/synthetic_regionvit.yaml
    python tools/run_net.py --cfg configs/k400_regionvit.yaml NUM_GPUS 8 TRAIN.BATCH_SIZE 64
    python tools/run_net.py --cfg configs/k400_regionvit.yaml --init_method tcp://host0:9999 \\
        --num_shards 2 --shard_id 0          # on machine 0 of 2 (shard_id 1 on the other)
    torchrun --nproc_per_node 8 tools/run_net.py --cfg configs/k400_regionvit.yaml

Trains when TRAIN.ENABLE, then tests when TEST.ENABLE. Overrides are trailing KEY VALUE pairs
(or ``--opts KEY VALUE ...``). One run at a time holds an OUTPUT_DIR (its .lock file). An error is one
line on stderr (and in OUTPUT_DIR/log.txt, with the traceback of an unexpected one); exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from videoregion.config import load_config
from videoregion.engine.distributed import DistributedSettings, launch, launched_by_torchrun, resolve_num_gpus
from videoregion.engine.run import run
from videoregion.engine.runlock import RunLockError
from videoregion.engine.stats import append_to_log
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


def log_fatal(cfg, text: str) -> None:
    """``text`` into OUTPUT_DIR/log.txt when the run got as far as creating it (prefixed by the rank of a
    torchrun process other than 0)."""
    if cfg is None:
        return
    rank = int(os.environ.get("RANK", "0"))
    append_to_log(cfg.OUTPUT_DIR, text if rank == 0 else f"rank {rank}: {text}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = None
    try:
        cfg = resolved_config(args)
        if int(os.environ.get("RANK", "0")) == 0 and cfg.SHARD_ID == 0:
            print(f"resolved config:\n{cfg.dump()}", flush=True)
        settings = DistributedSettings(
            num_gpus=cfg.NUM_GPUS, num_shards=cfg.NUM_SHARDS, shard_id=cfg.SHARD_ID, init_method=args.init_method,
            timeout_minutes=cfg.DIST.TIMEOUT_MINUTES,
        )
        if not launched_by_torchrun() and settings.world_size > 1:
            print(f"starting {settings.procs_per_machine} process(es) on this machine, "
                  f"{settings.world_size} in all, rendezvous {args.init_method}", flush=True)
        launch(run, settings, cfg)
    except VideoRegionError as e:
        line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"error: {line}", file=sys.stderr)
        if not isinstance(e, RunLockError):  # that log.txt belongs to the run holding the folder
            log_fatal(cfg, f"error: {line}")
        return 1
    except KeyboardInterrupt:
        log_fatal(cfg, "interrupted")
        raise
    except BaseException:
        log_fatal(cfg, traceback.format_exc())
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
