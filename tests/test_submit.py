"""tools/submit.py: the SLURM launcher, run with submitit's local executor on tiny data.

A preemption signal (submitit's) mid-epoch makes the job write its stop checkpoint and requeue
itself; the requeued job resumes from that checkpoint and finishes.
"""

import importlib.util
import json
import os
import sys
import time

import pytest

from tests.engine_testing import write_tiny_run

submitit = pytest.importorskip("submitit")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBMIT = os.path.join(ROOT, "tools", "submit.py")

TIMEOUT = 300


def load_submit():
    spec = importlib.util.spec_from_file_location("videoregion_submit_tool", SUBMIT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_submit_argv_and_refusals(tmp_path):
    tool = load_submit()
    args = tool.parse_args(["--cfg", "a.yaml", "--nodes", "2", "--gpus-per-node", "8", "SOLVER.BASE_LR", "0.1"])
    assert tool.run_net_argv(args) == ["--cfg", "a.yaml", "NUM_GPUS", "8", "SOLVER.BASE_LR", "0.1"]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("NUM_GPUS: 0\n")
    with pytest.raises(tool.ConfigError, match="AUTO_RESUME"):
        tool.submit(tool.parse_args(["--cfg", str(cfg), "--cluster", "local", "TRAIN.AUTO_RESUME", "False"]))


def stats(out) -> list[dict]:
    path = out / "stats.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def test_local_job_requeues_on_preemption_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ROOT)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = write_tiny_run(tmp_path / "tiny.yaml", tmp_path / "data", SYNTHETIC__VIDEOS_PER_CLASS=12,  # 8 steps an epoch
                         SOLVER__BASE_BATCH_SIZE=2, TRAIN__BATCH_SIZE=2)
    out = tmp_path / "out"
    tool = load_submit()
    args = tool.parse_args(["--cfg", str(cfg), "--cluster", "local", "--gpus-per-node", "0", "--cpus-per-task", "1",
                            "--timeout", "10", "OUTPUT_DIR", str(out)])
    job = tool.submit(args)
    deadline = time.monotonic() + TIMEOUT
    try:
        while not any(r["split"] == "train_iter" for r in stats(out)):
            assert not job.done() and time.monotonic() < deadline, job.stdout()
            time.sleep(0.1)
        with open(f"/proc/{job._process.pid}/task/{job._process.pid}/children") as f:
            task = int(f.read().split()[0])
        os.kill(task, submitit.local.local.LocalJobEnvironment._usr_sig())
        while not job.done():
            assert time.monotonic() < deadline, job.stdout()
            time.sleep(0.2)
    finally:
        if not job.done():
            job.cancel()
    log = job.stdout()
    assert job.result() == 0, log
    assert "stopped on SIGUSR2" in log and "Requeued job" in log and "resumed from" in log, log
    assert [r["epoch"] for r in stats(out) if r["split"] == "train"] == [1, 2]
    assert (out / "checkpoints" / "checkpoint_epoch_00002.pyth").is_file()
