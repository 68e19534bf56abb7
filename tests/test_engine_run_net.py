"""tools/run_net.py end to end on a tiny generated dataset: generate, train, resume, test, torchrun."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from tests.engine_testing import write_tiny_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_NET = os.path.join(ROOT, "tools", "run_net.py")


def run_net(args, *, torchrun: int = 0, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    launcher = [sys.executable]
    if torchrun:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", str(torchrun)]
    proc = subprocess.run(launcher + [RUN_NET, *args], env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"run_net failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def stats_lines(stdout: str) -> list[dict]:
    return [json.loads(line.split("json_stats: ", 1)[1]) for line in stdout.splitlines() if "json_stats: " in line]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Generate the dataset and train 1 epoch (1 process), then resume to epoch 2 and test (2 processes).

    Returns (cfg path, output dir, first run, second run).
    """
    tmp = tmp_path_factory.mktemp("run_net")
    # run_net generates the dataset itself here (SYNTHETIC.GENERATE)
    cfg = write_tiny_run(tmp / "tiny.yaml", tmp / "data", generate=False, TEST__ENABLE=True, TEST__BATCH_SIZE=2,
                         TEST__NUM_ENSEMBLE_VIEWS=3, TEST__NUM_SPATIAL_CROPS=1)
    out = tmp / "out"
    first = run_net(["--cfg", str(cfg), "OUTPUT_DIR", str(out), "SOLVER.MAX_EPOCH", "1", "TEST.ENABLE", "False"])
    # the test split gets an odd number of videos, so 2 processes see a padded duplicate
    lines = (tmp / "data" / "test.csv").read_text().splitlines()
    (tmp / "data" / "test.csv").write_text("\n".join(lines[:-1]) + "\n")
    # resumed with DistributedDataParallel on 2 gloo processes: same global batch, same schedule
    second = run_net(["--cfg", str(cfg), "--opts", "OUTPUT_DIR", str(out)], torchrun=2)
    return cfg, out, first, second


def test_end_to_end_generates_trains_resumes_in_ddp_and_tests(trained):
    cfg, out, first, second = trained
    assert "generating the synthetic dataset" in first.stdout
    assert "resolved config" in first.stdout and (out / "config.yaml").is_file()
    assert "torch threads per process: " in first.stdout  # CPU_THREADS applied (tests/test_cpu_threads.py)
    assert "resumed from" in second.stdout and "checkpoint_epoch_00001.pyth" in second.stdout
    records = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["split"] == "train"] == [1, 2]
    assert [r["epoch"] for r in records if r["split"] == "val"] == [1, 2]
    final = records[-1]
    assert final["split"] == "test_final"
    assert 0.0 <= final["top1_acc"] <= final["top5_acc"] <= 100.0
    assert final == stats_lines(second.stdout)[-1]
    assert final["missing_views"] == 0 and final["num_views"] == 3 * final["num_videos"]
    checkpoints = sorted(os.listdir(out / "checkpoints"))
    assert "checkpoint_epoch_00002.pyth" in checkpoints and "checkpoint_best.pyth" in checkpoints
    state = torch.load(out / "checkpoints" / "checkpoint_epoch_00002.pyth", weights_only=True)
    assert state["epoch"] == 2 and state["scheduler"]["steps_taken"] == state["scheduler"]["total_steps"]
    assert "regionvit3d_nano" in state["cfg"] and len(state["class_names"]) == 2
    for name in ("curves.png", "confusion_matrix.png", "confusion_matrix.csv", "per_class_acc.csv",
                 "test_results.pt", "test_results.csv", "log.txt"):
        assert (out / name).is_file(), name
    assert os.listdir(out / "tensorboard")


def test_two_gloo_processes_match_one(trained):
    cfg, out, _, _ = trained
    ckpt = str(out / "checkpoints" / "checkpoint_epoch_00002.pyth")
    results = {}
    for procs in (1, 2):
        where = out.parent / f"test_{procs}"
        args = ["--cfg", str(cfg), "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", ckpt, "OUTPUT_DIR", str(where)]
        proc = run_net(args, torchrun=procs if procs > 1 else 0)
        results[procs] = (stats_lines(proc.stdout)[-1], torch.load(where / "test_results.pt", weights_only=True))
    (one, saved_one), (two, saved_two) = results[1], results[2]
    assert one["num_videos"] % 2 == 1  # one padded duplicate view in the 2-process run
    for key in ("top1_acc", "top5_acc", "mean_class_acc", "num_videos", "num_views"):
        assert one[key] == pytest.approx(two[key]), key
    assert torch.equal(saved_one["video_index"], saved_two["video_index"])
    assert torch.allclose(saved_one["scores"], saved_two["scores"], atol=1e-5)


def test_missing_dataset_says_how_to_prepare_it(tmp_path):
    cfg = tmp_path / "real.yaml"
    cfg.write_text(
        f"DATA:\n  PATH_TO_DATA_DIR: {tmp_path / 'kinetics400'}\nNUM_GPUS: 0\nOUTPUT_DIR: {tmp_path / 'out'}\n"
    )
    proc = run_net(["--cfg", str(cfg)], check=False)
    assert proc.returncode == 1
    assert "kinetics400" in proc.stderr and "README" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_stale_generated_dataset_is_refused_not_used(trained):
    cfg, out, _, _ = trained
    data = cfg.parent / "data"
    proc = run_net(["--cfg", str(cfg), "SYNTHETIC.VIDEOS_PER_CLASS", "9", "OUTPUT_DIR", str(cfg.parent / "stale")],
                   check=False)
    assert proc.returncode == 1
    assert str(data) in proc.stderr and "videos_per_class: found 8, expected 9" in proc.stderr
    assert "Delete the folder" in proc.stderr and "Traceback" not in proc.stderr
    assert (data / "synthetic.json").is_file()  # nothing deleted


def copy_of_run(trained, name: str):
    """A copy of the trained run's OUTPUT_DIR (the module's fixture stays as it is)."""
    cfg, out, _, _ = trained
    copy = cfg.parent / name
    shutil.copytree(out, copy)
    return cfg, copy


def test_a_resume_with_another_config_is_refused_then_allowed_with_the_override(trained):
    cfg, out = copy_of_run(trained, "changed")
    before = (out / "config.yaml").read_text()
    changed = ["--cfg", str(cfg), "OUTPUT_DIR", str(out), "SOLVER.BASE_LR", "0.5", "MIXUP.ENABLE", "True",
               "TEST.ENABLE", "False"]
    proc = run_net(changed, check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "checkpoint_epoch_00002.pyth was trained with another config" in line
    assert "SOLVER.BASE_LR: 0.001 -> 0.5" in line and "MIXUP.ENABLE: False -> True" in line
    assert "TRAIN.ALLOW_CONFIG_CHANGE True" in line and "resumed from" not in proc.stdout
    assert (out / "config.yaml").read_text() == before
    assert line in (out / "log.txt").read_text()  # the fatal error is in the run's log too
    assert not (out / ".lock").exists()

    proc = run_net([*changed, "TRAIN.ALLOW_CONFIG_CHANGE", "True"])
    assert "resumed from" in proc.stdout and "SOLVER.BASE_LR: 0.001 -> 0.5" in proc.stdout
    assert (out / "config.yaml").read_text() == before
    history = sorted(p.name for p in out.glob("config_*.yaml"))
    assert "BASE_LR: 0.5" in (out / history[-1]).read_text()


def test_a_resume_with_other_optimizer_groups_or_another_model_is_one_line(trained):
    cfg, out = copy_of_run(trained, "other_model")
    common = ["--cfg", str(cfg), "OUTPUT_DIR", str(out), "TEST.ENABLE", "False", "TRAIN.ALLOW_CONFIG_CHANGE", "True"]
    proc = run_net([*common, "SOLVER.LAYER_DECAY", "0.75"], check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "checkpoint_epoch_00002.pyth: its optimizer has" in line and "SOLVER.LAYER_DECAY" in line
    proc = run_net([*common, "MODEL.NAME", "regionvit3d_tiny"], check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "checkpoint_epoch_00002.pyth does not fit this model" in line and "of another shape" in line


def test_a_partial_test_set_is_reported_and_fails_past_the_threshold(trained):
    cfg, out, _, _ = trained
    data, annotations = cfg.parent / "data", cfg.parent / "partial_annotations"
    annotations.mkdir()
    for name in os.listdir(data):
        if name.endswith((".csv", ".txt", ".json")):
            shutil.copy(data / name, annotations / name)
    lines = (annotations / "test.csv").read_text().splitlines()
    first_path = re.split(r"[ ,]", lines[0])[0]
    lines.append(lines[0].replace(first_path, "gone_missing.mp4", 1))
    (annotations / "test.csv").write_text("\n".join(lines) + "\n")
    where = cfg.parent / "partial"
    proc = run_net(["--cfg", str(cfg), "TRAIN.ENABLE", "False", "SYNTHETIC.GENERATE", "False",
                    "DATA.PATH_TO_DATA_DIR", str(annotations), "DATA.PATH_PREFIX", str(data / "videos"),
                    "TEST.CHECKPOINT_FILE_PATH", str(out / "checkpoints" / "checkpoint_epoch_00002.pyth"),
                    "OUTPUT_DIR", str(where)], check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error")]  # besides the progress bars
    assert f"1 of {len(lines)} videos" in line and "TEST.MAX_MISSING_FRACTION 0.01" in line
    assert "gone_missing.mp4" in line
    final = stats_lines(proc.stdout)[-1]
    assert final["split"] == "test_final" and final["missing_videos"] == 1
    assert final["missing_fraction"] == pytest.approx(1 / len(lines), abs=1e-6)
    assert (where / "test_results.pt").is_file()  # the results are written before the run fails
    assert line in (where / "log.txt").read_text()
