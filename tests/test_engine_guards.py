"""Guards of a run: OUTPUT_DIR's lock, strict resume checks, missing test videos, one-line failures,
bounded waits (stalled decoders, collective timeout). Every wait here is bounded."""

import errno
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta

import pytest
import torch
import torch.multiprocessing as mp

from tests.engine_testing import TinyVideoNet
from videoregion.config import get_cfg, load_config
from videoregion.data import readers
from videoregion.data.readers import run_with_timeout
from videoregion.engine import distributed
from videoregion.engine import run as run_module
from videoregion.engine import stats as stats_module
from videoregion.engine.compat import (
    check_optimizer_fits,
    check_resume_config,
    check_state_dict_fits,
    config_changes,
    save_run_config,
)
from videoregion.engine.distributed import DistributedSettings, launch
from videoregion.engine.evaluator import check_missing_videos, missing_videos
from videoregion.engine.failures import friendly_error
from videoregion.engine.metrics import VideoResults
from videoregion.engine.run import lock_output_dir
from videoregion.engine.runlock import LOCK_NAME, RunLockError, acquire_run_lock
from videoregion.engine.stats import StatsWriter, append_to_log
from videoregion.errors import CheckpointError, ConfigError, DataError, OutputError, VideoError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_NET = os.path.join(ROOT, "tools", "run_net.py")


def run_net(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    return subprocess.run([sys.executable, RUN_NET, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def live_process():
    """A process of this host that stays alive during the test (a lock holder)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def write_lock(folder, **holder) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_NAME)
    with open(path, "w") as f:
        f.write(json.dumps({"started": "earlier", "token": "theirs", **holder}) + "\n")
    return path


# ----------------------------------------------------------------------------- one run per OUTPUT_DIR
def test_a_second_lock_on_one_folder_fails_fast_naming_folder_host_and_pid(tmp_path):
    first = acquire_run_lock(str(tmp_path))
    try:
        start = time.monotonic()
        with pytest.raises(RunLockError) as e:
            acquire_run_lock(str(tmp_path))
        assert time.monotonic() - start < 1.0
        message = str(e.value)
        assert str(tmp_path) in message and socket.gethostname() in message and f"PID {os.getpid()}" in message
        assert "\n" not in message and "DIST.BREAK_LOCK" in message
    finally:
        first.release()
    assert not (tmp_path / LOCK_NAME).exists()
    acquire_run_lock(str(tmp_path)).release()  # free again


def test_a_live_holder_refuses_a_dead_one_is_taken_over(tmp_path, live_process):
    write_lock(tmp_path, host=socket.gethostname(), pid=live_process.pid)
    with pytest.raises(RunLockError, match=f"PID {live_process.pid}"):
        acquire_run_lock(str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    write_lock(tmp_path, host=socket.gethostname(), pid=dead.pid)
    lock = acquire_run_lock(str(tmp_path))
    assert f"process {dead.pid} on this host is gone" in lock.took_over
    holder = json.loads((tmp_path / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    lock.release()


def test_a_reused_pid_counts_as_dead(tmp_path, live_process):
    write_lock(tmp_path, host=socket.gethostname(), pid=live_process.pid, pid_start="1")
    lock = acquire_run_lock(str(tmp_path))
    assert "is gone" in lock.took_over
    lock.release()


def test_another_hosts_lock_is_refused_until_stale_or_broken(tmp_path):
    path = write_lock(tmp_path, host="some-other-node", pid=1)
    with pytest.raises(RunLockError, match="some-other-node"):
        acquire_run_lock(str(tmp_path), stale_minutes=30)
    lock = acquire_run_lock(str(tmp_path), force=True)
    assert "DIST.BREAK_LOCK" in lock.took_over
    lock.release()
    path = write_lock(tmp_path, host="some-other-node", pid=1)
    old = time.time() - 3600
    os.utime(path, (old, old))
    lock = acquire_run_lock(str(tmp_path), stale_minutes=30)
    assert "last touched 60 minutes ago" in lock.took_over
    lock.release()


def test_release_leaves_a_lock_another_run_took_over(tmp_path):
    lock = acquire_run_lock(str(tmp_path))
    write_lock(tmp_path, host="some-other-node", pid=1)
    lock.release()
    assert (tmp_path / LOCK_NAME).exists()


def test_output_dir_under_a_file_is_one_output_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot create the folder") as e:
        acquire_run_lock(str(tmp_path / "file" / "out"))
    assert str(tmp_path / "file" / "out") in str(e.value)


def _lock_in_group(rank: int, folder: str, init: str, results: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2,
                                         timeout=timedelta(seconds=30))
    cfg = load_config([], ["OUTPUT_DIR", folder, "NUM_GPUS", "0"])
    try:
        lock_output_dir(cfg, main=rank == 0)
        outcome = "locked"
    except OutputError as e:
        outcome = f"{type(e).__name__}: {e}"
    with open(os.path.join(results, f"rank{rank}.txt"), "w") as f:
        f.write(outcome)
    torch.distributed.destroy_process_group()


def test_every_rank_stops_when_rank_0_cannot_lock(tmp_path, live_process):
    folder = tmp_path / "out"
    write_lock(folder, host=socket.gethostname(), pid=live_process.pid)
    init = f"file://{tempfile.mktemp(dir=tmp_path)}"
    context = mp.start_processes(_lock_in_group, args=(str(folder), init, str(tmp_path)), nprocs=2, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + 90
    while not context.join(timeout=max(deadline - time.monotonic(), 0.1)):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail("ranks did not finish")
    for rank in (0, 1):
        text = (tmp_path / f"rank{rank}.txt").read_text()
        assert text.startswith("RunLockError") and f"PID {live_process.pid}" in text, text


def test_run_net_refuses_a_held_folder_in_one_line_and_leaves_it_alone(tmp_path, live_process):
    out = tmp_path / "out"
    write_lock(out, host=socket.gethostname(), pid=live_process.pid)
    (out / "log.txt").write_text("the other run's log\n")
    proc = run_net(["--cfg", os.path.join(ROOT, "configs", "synthetic_regionvit.yaml"), "OUTPUT_DIR", str(out),
                    "NUM_GPUS", "0", "DATA.PATH_TO_DATA_DIR", str(tmp_path / "nodata")])
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and f"PID {live_process.pid}" in lines[0]
    assert (out / "log.txt").read_text() == "the other run's log\n"
    assert not (out / "config.yaml").exists()
    assert not (tmp_path / "nodata").exists()  # nothing generated: the run stopped first


# ----------------------------------------------------------------------------- strict resume
def dumped(*opts) -> str:
    return load_config([], ["NUM_GPUS", "0", *opts]).dump()


def test_a_changed_config_is_refused_with_its_differences_and_the_override():
    saved = dumped("SOLVER.BASE_LR", "0.001")
    now = dumped("SOLVER.BASE_LR", "0.5", "MIXUP.ENABLE", "True", "OUTPUT_DIR", "/elsewhere")
    with pytest.raises(ConfigError) as e:
        check_resume_config(saved, now, "ckpt.pyth")
    message = str(e.value)
    assert "ckpt.pyth" in message and "SOLVER.BASE_LR: 0.001 -> 0.5" in message
    assert "MIXUP.ENABLE: False -> True" in message and "TRAIN.ALLOW_CONFIG_CHANGE True" in message
    assert "/elsewhere" not in message and "\n" not in message
    changes = check_resume_config(saved, now, "ckpt.pyth", allow_change=True)
    assert {key for key, _, _ in changes} == {"SOLVER.BASE_LR", "MIXUP.ENABLE", "OUTPUT_DIR"}


def test_resources_logging_and_test_settings_may_change():
    saved = dumped()
    now = dumped("OUTPUT_DIR", "/b", "LOG_PERIOD", "3", "DATA_LOADER.NUM_WORKERS", "9", "TEST.NUM_SPATIAL_CROPS", "1",
                 "SOLVER.MAX_EPOCH", "60", "TRAIN.CHECKPOINT_PERIOD", "5", "DIST.TIMEOUT_MINUTES", "5",
                 "TRAIN.EVAL_PERIOD", "2", "DATA.PATH_TO_DATA_DIR", "/scratch/k400")
    assert len(check_resume_config(saved, now, "ckpt.pyth")) == 9


def test_a_key_the_checkpoint_predates_counts_with_its_default():
    saved = dumped().replace("  MAX_MISSING_FRACTION: 0.01\n", "")
    assert "MAX_MISSING_FRACTION" not in saved
    assert config_changes(saved, dumped()) == []
    assert config_changes(saved, dumped("SOLVER.LAYER_DECAY", "0.75")) == [("SOLVER.LAYER_DECAY", 1.0, 0.75)]


def test_a_checkpoint_without_config_is_refused_unless_allowed():
    with pytest.raises(ConfigError, match="holds no config"):
        check_resume_config(None, dumped(), "old.pyth")
    assert check_resume_config(None, dumped(), "old.pyth", allow_change=True) == []


def test_another_models_weights_are_one_checkpoint_error_naming_the_file():
    state = TinyVideoNet(num_classes=5).state_dict()
    with pytest.raises(CheckpointError) as e:
        check_state_dict_fits(TinyVideoNet(num_classes=4), state, "/runs/a/checkpoint_epoch_00003.pyth")
    message = str(e.value)
    assert message.startswith("/runs/a/checkpoint_epoch_00003.pyth does not fit") and "\n" not in message
    assert "head.weight (5, 8) vs (4, 8)" in message and "head.bias" in message
    del state["stem.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="1 weights missing: stem.bias; 1 weights unexpected: extra.weight"):
        check_state_dict_fits(TinyVideoNet(num_classes=5), state, "x.pyth")
    check_state_dict_fits(TinyVideoNet(num_classes=5), TinyVideoNet(num_classes=5).state_dict(), "x.pyth")


def test_other_optimizer_groups_name_layer_decay():
    model = TinyVideoNet()
    two = torch.optim.AdamW([{"params": [model.stem.weight]}, {"params": [model.head.weight, model.head.bias]}])
    three = torch.optim.AdamW([{"params": [model.stem.weight]}, {"params": [model.head.weight]},
                               {"params": [model.head.bias]}])
    check_optimizer_fits(two, two.state_dict(), "c.pyth")
    with pytest.raises(ConfigError, match="c.pyth: its optimizer has 2 parameter groups .* SOLVER.LAYER_DECAY"):
        check_optimizer_fits(three, two.state_dict(), "c.pyth")


def test_config_yaml_keeps_the_config_of_the_weights(tmp_path):
    assert save_run_config(str(tmp_path), "a: 1\n", fresh=False) == str(tmp_path / "config.yaml")
    assert save_run_config(str(tmp_path), "a: 1\n", fresh=False) == str(tmp_path / "config.yaml")
    assert save_run_config(str(tmp_path), "a: 2\n", fresh=False) == str(tmp_path / "config_1.yaml")
    assert save_run_config(str(tmp_path), "a: 3\n", fresh=False) == str(tmp_path / "config_2.yaml")
    assert save_run_config(str(tmp_path), "a: 2\n", fresh=False) == str(tmp_path / "config_1.yaml")
    assert (tmp_path / "config.yaml").read_text() == "a: 1\n"
    save_run_config(str(tmp_path), "a: 4\n", fresh=True)  # a run from scratch: its own weights
    assert (tmp_path / "config.yaml").read_text() == "a: 4\n"


# ----------------------------------------------------------------------------- missing test videos
def test_missing_test_videos_are_listed_and_fail_past_the_threshold():
    results = VideoResults(videos=torch.tensor([0, 2, 3]), scores=torch.zeros(3, 2), labels=torch.zeros(3),
                           paths=["a", "c", "d"], num_views=3)
    missing = missing_videos(["a", "b", "c", "d"], results)
    assert missing == ["b"]
    check_missing_videos(missing, 4, 0.25)
    with pytest.raises(DataError) as e:
        check_missing_videos(missing, 4, 0.01)
    assert "1 of 4 videos (25.0%)" in str(e.value) and "TEST.MAX_MISSING_FRACTION 0.01" in str(e.value)
    assert "missing: b" in str(e.value)
    check_missing_videos([], 4, 0.0)
    assert get_cfg().TEST.MAX_MISSING_FRACTION == 0.01


# ----------------------------------------------------------------------------- one-line failures
def test_stats_on_a_full_disk_warn_once_and_training_goes_on(tmp_path, monkeypatch, caplog):
    writer = StatsWriter(str(tmp_path), tensorboard=False)
    writer.write({"split": "train", "loss": 1.0})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stats_module, "open", full, raising=False)
    writer.write({"split": "train", "loss": 2.0})
    writer.write({"split": "train", "loss": 3.0})
    assert sum("cannot write stats" in r.message for r in caplog.records) == 1
    monkeypatch.undo()
    writer.write({"split": "train", "loss": 4.0})
    assert [json.loads(line)["loss"] for line in (tmp_path / "stats.jsonl").read_text().splitlines()] == [1.0, 4.0]


def test_append_to_log_only_when_the_run_has_a_log(tmp_path):
    assert not append_to_log(str(tmp_path), "error: x")
    (tmp_path / "log.txt").write_text("[10:00:00][INFO] started\n")
    assert append_to_log(str(tmp_path), "error: disk full")
    assert (tmp_path / "log.txt").read_text().splitlines()[-1].endswith("[ERROR] run_net: error: disk full")


def test_machine_failures_become_one_line(tmp_path):
    full = friendly_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "ckpt.pyth")), str(tmp_path))
    assert isinstance(full, OutputError) and str(tmp_path / "ckpt.pyth") in str(full) and "MiB free" in str(full)
    torch_full = friendly_error(RuntimeError("[enforce fail at inline_container.cc:595] . PytorchStreamWriter "
                                             "failed writing file data/0: file write failed"), str(tmp_path))
    assert isinstance(torch_full, OutputError) and str(tmp_path) in str(torch_full)
    killed = friendly_error(RuntimeError("DataLoader worker (pid 4242) is killed by signal: Killed. "), str(tmp_path))
    assert isinstance(killed, DataError) and "pid 4242" in str(killed) and "DATA_LOADER.NUM_WORKERS" in str(killed)
    stopped = friendly_error(RuntimeError("DataLoader worker (pid 4243) is killed by signal: Terminated. "),
                             str(tmp_path))
    assert "signal Terminated: something outside the run stopped it" in str(stopped) and "memory" not in str(stopped)
    exited = friendly_error(RuntimeError("DataLoader worker (pid(s) 7, 8) exited unexpectedly"), str(tmp_path))
    assert isinstance(exited, DataError) and "pid 7, 8" in str(exited)
    in_worker = DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
                          "last):\n  File \"x.py\", line 1\nvideoregion.errors.DataError: the video decoder hangs: 8")
    unwrapped = friendly_error(in_worker, str(tmp_path))
    assert isinstance(unwrapped, DataError) and str(unwrapped) == "the video decoder hangs: 8"
    assert friendly_error(ValueError("a bug"), str(tmp_path)) is None
    assert friendly_error(ConfigError("one line"), str(tmp_path)) is None  # already one line: as it is


def _raise_config_error(rank: int) -> None:
    raise ConfigError("MODEL.NAME foo: unknown model")


def test_an_error_in_a_spawned_process_is_the_same_one_line_error(monkeypatch):
    with pytest.raises(mp.ProcessRaisedException) as raised:
        mp.spawn(_raise_config_error, nprocs=1, join=True)
    error = distributed._our_error(raised.value)
    assert type(error) is ConfigError and str(error) == "MODEL.NAME foo: unknown model"

    def spawn(*args, **kwargs):
        raise raised.value

    monkeypatch.setattr(distributed.mp, "spawn", spawn)
    monkeypatch.setattr(DistributedSettings, "world_size", property(lambda self: 2))
    with pytest.raises(ConfigError, match="^MODEL.NAME foo: unknown model$"):
        launch(_raise_config_error, DistributedSettings(num_gpus=0))


def test_num_gpus_beyond_the_machine_is_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without GPUs")
    proc = run_net(["--cfg", os.path.join(ROOT, "configs", "synthetic_regionvit.yaml"), "NUM_GPUS", "4",
                    "OUTPUT_DIR", str(tmp_path / "out")])
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: NUM_GPUS is 4 but this machine has 0 usable GPU(s); set NUM_GPUS 0 to run on the CPU or -1 to take "
        "what is there"
    ]


def test_an_output_dir_under_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out"
    proc = run_net(["--cfg", os.path.join(ROOT, "configs", "synthetic_regionvit.yaml"), "NUM_GPUS", "0",
                    "OUTPUT_DIR", str(out)])
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and "Not a directory" in lines[0], proc.stderr


# ----------------------------------------------------------------------------- bounded waits
def test_stalled_decoders_are_bounded_and_a_returned_one_is_retried(monkeypatch):
    monkeypatch.setattr(readers, "_stalled", {})
    release = threading.Event()
    calls = []

    def hang():
        calls.append(1)
        release.wait(30)
        return "frames"

    try:
        for name in ("v0.mp4", "v0.mp4", "v1.mp4"):
            with pytest.raises(VideoError, match="decoder stalled"):
                run_with_timeout(hang, 0.05, name, max_stalled=3)
        with pytest.raises(VideoError, match="still stalled"):  # no new thread for a file that hangs twice
            run_with_timeout(hang, 0.05, "v0.mp4", max_stalled=3)
        assert len(calls) == 3
        with pytest.raises(DataError, match="the video decoder hangs: 3 decodes"):
            run_with_timeout(lambda: "frames", 0.05, "v9.mp4", max_stalled=3)
    finally:
        release.set()
    deadline = time.monotonic() + 10
    while any(t.is_alive() for ts in readers._stalled.values() for t in ts) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run_with_timeout(lambda: "frames", 0.05, "v0.mp4", max_stalled=3) == "frames"  # transient: read again
    assert readers._stalled == {}


def test_timeouts_are_finite_config_keys(monkeypatch):
    cfg = get_cfg()
    assert cfg.DATA_LOADER.TIMEOUT > 0 and cfg.DIST.TIMEOUT_MINUTES > 0
    seen = {}
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kwargs: seen.update(kwargs))
    distributed._init_group("gloo", "env://", 2, 0, 0, DistributedSettings(num_gpus=0, timeout_minutes=2.5))
    assert seen["timeout"] == timedelta(minutes=2.5)


@pytest.fixture
def restored_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_a_run_holds_the_lock_while_it_runs_and_a_full_disk_is_one_line(tmp_path, monkeypatch, restored_logging):
    cfg = load_config([], ["OUTPUT_DIR", str(tmp_path), "NUM_GPUS", "0", "TEST.ENABLE", "False"])
    seen = {}

    def train_net(cfg, ctx, stats):
        seen["holder"] = json.loads((tmp_path / LOCK_NAME).read_text())
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "checkpoints" / "x.pyth"))

    monkeypatch.setattr(run_module, "train_net", train_net)
    monkeypatch.setattr(run_module, "ensure_dataset", lambda cfg, main_process: None)
    with pytest.raises(OutputError, match="x.pyth: no space left on the device .* MiB free"):
        run_module.run(0, cfg)
    assert seen["holder"]["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()  # released on the way out
