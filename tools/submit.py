#!/usr/bin/env python
"""Submit a training run (tools/run_net.py) to SLURM through submitit, requeued on preemption and timeout.

    python tools/submit.py --cfg configs/k400_regionvit.yaml --nodes 2 --gpus-per-node 8 \\
        --partition gpu --timeout 2880 --account myproject OUTPUT_DIR runs/k400

One task per GPU (one per node on the CPU), joined with env:// like torchrun. Before the time limit
(and on preemption) SLURM sends the preemption signal (submitit's, USR2 unless SUBMITIT_PREEMPT_SIGNAL
says otherwise): every rank finishes its step, one checkpoint is written, submitit requeues the job,
and the requeued job resumes from that checkpoint (TRAIN.AUTO_RESUME). Needs ``pip install submitit``
(the ``slurm`` extra). submitit's logs go to OUTPUT_DIR/submitit unless --job-dir says otherwise.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys

from videoregion.config import load_config
from videoregion.errors import ConfigError, VideoRegionError

RUN_NET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_net.py")


class TrainJob:
    """What each SLURM task runs: tools/run_net.py's ``main`` with the run's arguments, as one rank.

    ``checkpoint`` is submitit's requeue protocol: called on the preemption signal, after the stop
    checkpoint is written (``videoregion.engine.preemption``), it resubmits the same command.
    """

    def __call__(self, argv: list[str]) -> int:
        import submitit

        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        code = runpy.run_path(RUN_NET)["main"](argv)
        if code:
            raise RuntimeError(f"tools/run_net.py {' '.join(argv)} failed with exit code {code} (see the log above)")
        return code

    def checkpoint(self, argv: list[str]):
        import submitit

        return submitit.helpers.DelayedSubmission(TrainJob(), argv)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Submit a videoregion training run to SLURM (submitit), requeued on preemption and timeout.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n" + __doc__.split("\n\n")[1],
    )
    parser.add_argument("--cfg", dest="cfg_files", action="append", default=[], metavar="FILE",
                        help="config YAML; repeat to merge several in order")
    parser.add_argument("--nodes", type=int, default=1, help="machines (default %(default)s)")
    parser.add_argument("--gpus-per-node", type=int, default=8,
                        help="GPUs per machine, 0 for CPU (default %(default)s)")
    parser.add_argument("--partition", default=None, help="SLURM partition")
    parser.add_argument("--account", default=None, help="SLURM account")
    parser.add_argument("--timeout", type=int, default=60 * 24, help="minutes per job (default %(default)s)")
    parser.add_argument("--cpus-per-task", type=int, default=10, help="CPU cores per task (default %(default)s)")
    parser.add_argument("--signal-delay", type=int, default=120,
                        help="seconds between the preemption signal and the time limit (default %(default)s)")
    parser.add_argument("--job-dir", default="", help="submitit's folder (default OUTPUT_DIR/submitit)")
    parser.add_argument("--cluster", default=None, choices=("slurm", "local", "debug"),
                        help="submitit cluster (default: SLURM when sbatch is there, else local)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides")
    return parser.parse_args(argv)


def run_net_argv(args: argparse.Namespace) -> list[str]:
    """tools/run_net.py's arguments for the run: the configs, NUM_GPUS, then the overrides."""
    argv = [item for cfg in args.cfg_files for item in ("--cfg", cfg)]
    return argv + ["NUM_GPUS", str(args.gpus_per_node), *args.opts]


def make_executor(args: argparse.Namespace, output_dir: str):
    """A submitit executor for the job's shape: one task per GPU on each node."""
    import cloudpickle
    import submitit

    if TrainJob.__module__ != "__main__":  # imported (not run as a script): the job unpickles it by value
        cloudpickle.register_pickle_by_value(sys.modules[TrainJob.__module__])
    folder = args.job_dir or os.path.join(output_dir, "submitit")
    executor = submitit.AutoExecutor(folder=folder, cluster=args.cluster)
    executor.update_parameters(
        name="videoregion", nodes=args.nodes, tasks_per_node=max(args.gpus_per_node, 1),
        gpus_per_node=args.gpus_per_node, cpus_per_task=args.cpus_per_task, timeout_min=args.timeout,
        slurm_partition=args.partition, slurm_account=args.account, slurm_signal_delay_s=args.signal_delay,
    )
    return executor


def submit(args: argparse.Namespace):
    """Check the config, then submit; returns the submitit job."""
    if not args.cfg_files:
        raise ConfigError("command line: give at least one --cfg FILE (e.g. configs/k400_regionvit.yaml)")
    if args.nodes < 1 or args.gpus_per_node < 0 or args.timeout < 1:
        raise ConfigError(f"--nodes ({args.nodes}) and --timeout ({args.timeout}) must be >= 1, "
                          f"--gpus-per-node ({args.gpus_per_node}) >= 0")
    cfg = load_config(args.cfg_files, list(args.opts))
    if not cfg.TRAIN.AUTO_RESUME:
        raise ConfigError("TRAIN.AUTO_RESUME is False: a requeued job would not continue from its checkpoint")
    return make_executor(args, cfg.OUTPUT_DIR).submit(TrainJob(), run_net_argv(args))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import submitit  # noqa: F401
    except ImportError:
        print("error: tools/submit.py needs submitit: pip install -e '.[slurm]'", file=sys.stderr)
        return 1
    try:
        job = submit(args)
    except VideoRegionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"submitted job {job.job_id}; logs: {job.paths.stdout}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
