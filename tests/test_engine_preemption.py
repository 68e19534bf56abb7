"""Preemption end to end: a run stopped by signals mid-epoch and mid-validation, then resumed by the same
command, ends with the same weights as an uninterrupted run (1 process, and 2 gloo ranks under torchrun).

The recipe has the main job's stochastic parts: mixup/cutmix, flips, drop path, EMA, 2 loader workers.
Weights are compared exactly (torch.equal): on the CPU with one thread per process every operation
is deterministic, so any difference would be a state the checkpoint failed to carry.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.engine_testing import write_tiny_run
from videoregion.engine.preemption import PREEMPTED_EXIT_CODE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_NET = os.path.join(ROOT, "tools", "run_net.py")


TIMEOUT = 240  # seconds for any one run


def start(cfg, out, torchrun: int = 0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    launcher = [sys.executable]
    if torchrun:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", str(torchrun)]
    with open(f"{out}.log", "w") as log:  # the log of the latest run
        proc = subprocess.Popen(launcher + [RUN_NET, "--cfg", str(cfg), "OUTPUT_DIR", str(out)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    return proc


def finish(proc: subprocess.Popen, out) -> str:
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError(f"run did not end in {TIMEOUT} s:\n{read_log(out)[-5000:]}") from None
    return read_log(out)


def read_log(out) -> str:
    with open(f"{out}.log") as f:
        return f.read()


def records(out) -> list[dict]:
    path = os.path.join(out, "stats.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def training_pids(proc: subprocess.Popen, torchrun: int) -> list[int]:
    """The processes that train: the run itself, or torchrun's workers."""
    if not torchrun:
        return [proc.pid]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            pids = [int(p) for p in f.read().split()]
        if len(pids) == torchrun:
            return pids
        time.sleep(0.1)
    raise AssertionError("torchrun's workers not found")


def signal_when(proc, out, seen: int, wanted, sig, torchrun: int) -> None:
    """Send ``sig`` to one training process once a new stats record matches ``wanted``."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if any(wanted(r) for r in records(out)[seen:]):
            os.kill(training_pids(proc, torchrun)[-1], sig)  # one rank only: the others must follow
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended before the signal:\n{read_log(out)[-5000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no matching record in {TIMEOUT} s:\n{read_log(out)[-5000:]}")


def interrupted_run(cfg, out, torchrun: int) -> list[str]:
    """Stop mid-epoch 1 (SIGUSR1), resume; stop while validating epoch 1 (SIGTERM), resume to the end.

    Returns the logs of the three runs.
    """
    logs = []
    proc = start(cfg, out, torchrun)
    signal_when(proc, out, 0, lambda r: r["split"] == "train_iter" and r["iter"] == 1, signal.SIGUSR1, torchrun)
    logs.append(finish(proc, out))
    assert proc.returncode == (PREEMPTED_EXIT_CODE if not torchrun else 1), logs[-1]
    assert "stopped on SIGUSR1" in logs[-1]
    seen = len(records(out))
    proc = start(cfg, out, torchrun)
    signal_when(proc, out, seen, lambda r: r["split"] == "train" and r["epoch"] == 1, signal.SIGTERM, torchrun)
    logs.append(finish(proc, out))
    assert proc.returncode == (PREEMPTED_EXIT_CODE if not torchrun else 1), logs[-1]
    assert "stopped on SIGTERM after epoch 1, iteration 0" in logs[-1]
    proc = start(cfg, out, torchrun)
    logs.append(finish(proc, out))
    assert proc.returncode == 0, logs[-1]
    return logs


def assert_same_training(a: dict, b: dict) -> None:
    for key in ("model", "ema"):
        assert a[key].keys() == b[key].keys()
        different = [k for k in a[key] if not torch.equal(a[key][k], b[key][k])]
        assert not different, f"{key}: {different[:5]}"
    for slot, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["optimizer"]["state"][slot][name])), name
    assert a["scheduler"] == b["scheduler"] and a["best_metric"] == b["best_metric"]


@pytest.fixture(scope="module")
def tiny_cfg(tmp_path_factory):
    """The tiny run with the main job's stochastic parts. 6 iterations an epoch, so a stop lands mid-epoch;
    validation in batches of 2 (the SIGTERM must land while it runs: the longer, the surer)."""
    tmp = tmp_path_factory.mktemp("preempt")
    return write_tiny_run(tmp / "tiny.yaml", tmp / "data", MODEL__DROP_PATH_RATE=0.2, DATA__RANDOM_FLIP=True,
                          SYNTHETIC__VIDEOS_PER_CLASS=16, MIXUP__ENABLE=True, SOLVER__EMA_ENABLE=True,
                          SOLVER__EMA_DECAY=0.9, DATA_LOADER__NUM_WORKERS=2, TEST__BATCH_SIZE=2)


@pytest.mark.parametrize("torchrun", [0, 2], ids=["one_process", "two_gloo_ranks"])
def test_signals_mid_epoch_and_mid_validation_resume_to_the_same_weights(tiny_cfg, torchrun):
    tmp = tiny_cfg.parent
    reference = tmp / f"whole_{torchrun}"
    whole = start(tiny_cfg, reference, torchrun)  # runs meanwhile: the machine has a second core
    out = tmp / f"interrupted_{torchrun}"
    try:
        logs = interrupted_run(tiny_cfg, out, torchrun)
    except BaseException:
        whole.terminate()  # torchrun passes SIGTERM on to its workers
        whole.wait(timeout=60)
        raise
    log = finish(whole, reference)
    assert whole.returncode == 0, log
    assert "continuing epoch 1 at iteration" in logs[1]
    mid_epoch = [line for line in logs[0].splitlines() if "saved checkpoint" in line]
    assert len(mid_epoch) == 1 and "checkpoint_epoch_00000_iter_" in mid_epoch[0], logs[0]

    whole = torch.load(reference / "checkpoints" / "checkpoint_epoch_00002.pyth", weights_only=True)
    resumed = torch.load(out / "checkpoints" / "checkpoint_epoch_00002.pyth", weights_only=True)
    assert_same_training(whole, resumed)
    assert len(resumed["rank_states"]) == max(torchrun, 1)
    # every epoch trained and validated once, in order
    stats = records(out)
    assert [r["epoch"] for r in stats if r["split"] == "val"] == [1, 2]
    assert [r["epoch"] for r in stats if r["split"] == "train"] == [1, 2]
    # the stop checkpoint of mid-epoch 1 was pruned once newer ones existed, the epoch files stay
    names = sorted(os.listdir(out / "checkpoints"))
    assert names == ["checkpoint_best.pyth", "checkpoint_epoch_00001.pyth", "checkpoint_epoch_00002.pyth"]
    assert oct(os.stat(out / "checkpoints" / "checkpoint_epoch_00002.pyth").st_mode & 0o777) == oct(
        0o666 & ~_umask())
    if torchrun:  # drop path draws differently on each rank
        first, second = resumed["rank_states"]
        assert not torch.equal(first["rng"]["torch"], second["rng"]["torch"])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
