"""tools/compare_models.py and videoregion.engine.compare: several models, one recipe, one table.

The end-to-end test trains two tiny models with the real run_net on a generated dataset; the others run
a stand-in for run_net (FAKE_RUN_NET below) that writes what a run writes, in a fraction of a second.
"""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from PIL import Image

from tests.engine_testing import write_tiny_run
from videoregion.config import get_cfg
from videoregion.engine import compare
from videoregion.engine.compare import Budget, ModelJob, ModelResult
from videoregion.errors import OutputError
from videoregion.synthetic.classes import CLASSES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "compare_models.py")

# Stands in for tools/run_net.py: reads OUTPUT_DIR and the other overrides from its KEY VALUE arguments and
# writes the files a run writes. FAKE_RUN_NET=crash fails like a run with a bug, =sleep hangs.
FAKE_RUN_NET = r'''
import csv, json, os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops it, as run_net, even where SIGINT came ignored
args = sys.argv[1:]
opts = dict(zip(args[::2], args[1::2]))  # "--cfg FILE" pairs up like KEY VALUE
out = opts["OUTPUT_DIR"]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "argv.json"), "w") as f:
    json.dump(args, f)
mode = os.environ.get("FAKE_RUN_NET", "ok")
if mode == "crash":
    print("Traceback (most recent call last):\n  File x\nRuntimeError: boom in the fake run", file=sys.stderr)
    sys.exit(1)
if mode == "sleep":
    time.sleep(300)
if opts.get("TEST.ENABLE") == "False":  # the timing run: iteration 1 slow, then 0.25 s an iteration of 2 clips
    records = [{"split": "train_iter", "epoch": 1, "iter": i, "clips_per_s": 8.0 if i > 1 else 0.5}
               for i in range(1, 6)]
else:
    records = [{"split": "train", "epoch": 1, "loss": 0.7, "clips_per_s": 10.0, "time_s": 2.0},
               {"split": "train", "epoch": 2, "loss": 0.5, "clips_per_s": 30.0, "time_s": 2.0},
               {"split": "test_final", "top1_acc": 75.0, "top5_acc": 100.0, "mean_class_acc": 75.0, "num_videos": 4}]
    with open(os.path.join(out, "confusion_matrix.csv"), "w", newline="") as f:
        csv.writer(f).writerows([["true \\ predicted", "move_right", "move_left"], ["move_right", 2, 0],
                                 ["move_left", 1, 1]])
with open(os.path.join(out, "stats.jsonl"), "w") as f:
    for r in records:
        f.write(json.dumps(r) + "\n")
        print("[00:00:00][INFO] videoregion.engine.stats: json_stats: " + json.dumps(r), flush=True)
'''


def load_tool():
    spec = importlib.util.spec_from_file_location("compare_models_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_launcher(tmp_path):
    path = tmp_path / "fake_run_net.py"
    path.write_text(FAKE_RUN_NET)
    return [sys.executable, str(path)]


def small_cfg(out_dir):
    cfg = get_cfg()
    cfg.MODEL.NUM_CLASSES = 2
    cfg.DATA.NUM_FRAMES, cfg.DATA.TEST_CROP_SIZE = 4, 28
    cfg.TRAIN.BATCH_SIZE, cfg.SOLVER.ACCUM_ITERS = 2, 1
    cfg.OUTPUT_DIR = str(out_dir)
    cfg.freeze()
    return cfg


STEPS_3 = Budget("steps", 3)


def job_for(tmp_path, budget=STEPS_3, model="regionvit3d_nano", **kwargs):
    return ModelJob(small_cfg(tmp_path / "out"), model=model, budget=budget, cfg_files=["job.yaml"],
                    overrides=["SOLVER.BASE_LR", "0.001"], **kwargs)


# ----------------------------------------------------------------------------- the tool, end to end
def test_two_models_at_an_equal_step_budget_and_a_failing_one(tmp_path, monkeypatch, capsys):
    cfg_path = write_tiny_run(  # 8 training videos
        tmp_path / "tiny.yaml", tmp_path / "data", SYNTHETIC__VIDEOS_PER_CLASS=6, SYNTHETIC__NUM_FRAMES=8,
        DATA__SAMPLING_RATE=1, SOLVER__BASE_BATCH_SIZE=2, SOLVER__MAX_EPOCH=3, SOLVER__WARMUP_EPOCHS=1.0,
        TRAIN__BATCH_SIZE=2, TRAIN__EVAL_PERIOD=0, TEST__ENABLE=True, TEST__BATCH_SIZE=2, TEST__NUM_ENSEMBLE_VIEWS=1,
        TEST__NUM_SPATIAL_CROPS=1, OUTPUT_DIR=tmp_path / "out")
    monkeypatch.setenv("PYTHONPATH", ROOT)  # the run_net processes import this checkout
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    argv = ["--cfg", str(cfg_path), "--models", "regionvit3d_nano,no_such_model,regionvit3d_tiny",
            "--budget-steps", "2", "--json", str(tmp_path / "cmp.json"), "--plot", str(tmp_path / "cmp.png")]
    tool = load_tool()
    assert tool.main(argv) == 1  # one model failed
    printed = capsys.readouterr().out

    table = [line for line in printed.splitlines() if line.startswith("|")]
    assert table[0].split(" | ")[:7] == ["| model", "params (M)", "GFLOPs/view", "train clips/s", "train time",
                                         "test top-1 (%)", "mean class acc (%)"]
    assert "move_right/left" in table[0] and table[0].endswith("| note |")
    assert [row.split(" | ")[0] for row in table[2:]] == ["| regionvit3d_nano", "| no_such_model", "| regionvit3d_tiny"]
    assert "failed: unknown model 'no_such_model'" in table[3]
    assert "[1/3] regionvit3d_nano: finished" in printed and "test top-1" in printed

    report = json.loads((tmp_path / "cmp.json").read_text())
    assert report["budget"]["kind"] == "steps" and report["budget"]["value"] == 2
    nano, failed, tiny = report["models"]
    assert failed["status"] == "failed" and "no_such_model" in failed["error"]
    for row in (nano, tiny):
        assert row["status"] == "ok" and row["budget_steps"] == 2 and row["input_shape"] == [3, 4, 28, 28]
        assert row["params"] > 0 and row["gflops_per_view"] > 0 and row["train_clips_per_s"] > 0
        assert row["train_time_s"] > 0 and 0 <= row["test_top1"] <= 100 and row["mean_class_acc"] is not None
        assert set(row["per_class"]) == {"move_right", "move_left"}
        assert row["pairs"]["move_right/left"]["videos"] == 2
        # exactly two optimizer steps: half of the 4-step epoch, the cosine ending on step 2
        saved = torch.load(os.path.join(row["output_dir"], "checkpoints", "checkpoint_epoch_00001.pyth"),
                           map_location="cpu", weights_only=False)
        assert saved["scheduler"]["steps_taken"] == saved["scheduler"]["total_steps"] == 2
        assert row["output_dir"] == str(tmp_path / "out" / "compare" / row["model"])
    assert tiny["params"] > nano["params"]
    with Image.open(tmp_path / "cmp.png") as image:
        assert image.format == "PNG" and image.size[0] > 100

    # the same command again reuses both finished models
    assert tool.main(argv) == 1
    printed = capsys.readouterr().out
    assert printed.count("reusing the finished run") == 2


def test_the_tool_stops_cleanly_on_ctrl_c(tmp_path, monkeypatch, capsys):
    tool = load_tool()
    cfg_path = tmp_path / "job.yaml"
    cfg_path.write_text(f"OUTPUT_DIR: {tmp_path / 'out'}\n")
    calls = []

    def fake_run_model(job, **kwargs):
        calls.append(job.model)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return ModelResult(model=job.model, output_dir=job.output_dir, run_time_s=1.0, test_top1=50.0,
                           mean_class_acc=50.0)

    monkeypatch.setattr(tool, "run_model", fake_run_model)
    code = tool.main(["--cfg", str(cfg_path), "--models", "a,b,c", "--json", str(tmp_path / "c.json")])
    assert code == tool.INTERRUPTED_EXIT_CODE and calls == ["a", "b"]
    out, err = capsys.readouterr()
    assert "[2/3] b: interrupted" in out and "| b |" in out and "interrupted: Ctrl-C" in out
    assert "the same command reuses them" in err
    assert not (tmp_path / "c.json").exists()


# ----------------------------------------------------------------------------- budgets
def test_minutes_turn_into_steps_by_the_timed_step_rate():
    records = [{"split": "train_iter", "iter": 1, "clips_per_s": 0.5},  # loader start-up: left out
               {"split": "train_iter", "iter": 2, "clips_per_s": 8.0},
               {"split": "train_iter", "iter": 3, "clips_per_s": 4.0},
               {"split": "train_iter", "iter": 4, "clips_per_s": 8.0},
               {"split": "train", "clips_per_s": 1.0, "time_s": 9.0}]
    assert compare.seconds_per_step(records, batch_size=4, accum_iters=1) == pytest.approx(0.5)
    assert compare.seconds_per_step(records, batch_size=4, accum_iters=3) == pytest.approx(1.5)
    assert compare.seconds_per_step(records[:1], batch_size=4, accum_iters=1) == pytest.approx(8.0)
    assert compare.steps_for_minutes(2.0, 0.5) == 240
    assert compare.steps_for_minutes(0.001, 10.0) == 1  # always at least one step
    with pytest.raises(ValueError):
        compare.seconds_per_step([{"split": "train"}], batch_size=4, accum_iters=1)
    with pytest.raises(ValueError):
        compare.steps_for_minutes(1.0, 0.0)
    with pytest.raises(ValueError):
        Budget("steps", 2.5)


def test_a_minutes_budget_times_the_model_then_trains_that_many_steps(tmp_path, fake_launcher):
    lines = []
    job = job_for(tmp_path, budget=Budget("minutes", 0.5, probe_steps=5))
    result = compare.run_model(job, launcher=fake_launcher, report=lines.append)
    assert result.status == "ok", result.error
    # the timing run: 2 clips at 8 clips/s = 0.25 s a step -> 0.5 min = 120 steps
    probe_argv = json.loads((tmp_path / "out" / "compare" / "regionvit3d_nano" / "probe" / "argv.json").read_text())
    assert probe_argv[probe_argv.index("SOLVER.MAX_STEPS") + 1] == "5" and "TEST.ENABLE" in probe_argv
    assert result.seconds_per_step == pytest.approx(0.25) and result.budget_steps == 120
    argv = json.loads((tmp_path / "out" / "compare" / "regionvit3d_nano" / "argv.json").read_text())
    assert argv[-2:] == ["SOLVER.MAX_STEPS", "120"] and argv[:2] == ["--cfg", "job.yaml"]
    assert argv[argv.index("MODEL.NAME") + 1] == "regionvit3d_nano" and "SOLVER.BASE_LR" in argv
    assert any("-> 120 step(s) for 0.5 min" in line for line in lines)
    # the numbers come from the run's stats records and confusion matrix
    assert result.train_time_s == pytest.approx(4.0) and result.train_clips_per_s == pytest.approx(20.0)
    assert result.train_epochs == 2 and result.test_top1 == 75.0
    assert result.pairs["move_right/left"] == {"classes": ["move_right", "move_left"], "videos": 4,
                                               "accuracy": 75.0, "reversed": 25.0}
    assert result.per_class["move_left"] == {"videos": 2, "accuracy": 50.0}


# ----------------------------------------------------------------------------- robustness
def test_a_crashing_run_is_a_row_with_its_error_line(tmp_path, fake_launcher, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_NET", "crash")
    result = compare.run_model(job_for(tmp_path), launcher=fake_launcher)
    assert result.status == "failed" and result.error == "RuntimeError: boom in the fake run"
    assert result.params > 0  # counted before the run
    assert compare.reusable_result(job_for(tmp_path)) is None  # a failed model runs again next time
    table = compare.markdown_table([result, ModelResult(model="ok_one", test_top1=50.0)])
    assert "| failed: RuntimeError: boom in the fake run |" in table


def test_error_lines():
    assert compare.error_line("progress\r 50%\rerror: DATA.PATH_TO_DATA_DIR 'x' does not exist\n", 1) == \
        "DATA.PATH_TO_DATA_DIR 'x' does not exist"
    assert compare.error_line("Traceback\n  File\nValueError: bad\nwarning after\n", 1) == "ValueError: bad"
    # the error printed right after an unfinished progress bar, on its line
    assert compare.error_line("epoch 1:  64%| 98/152 [04:33, loss=2.4]error: a loader worker died\n", 1) == \
        "a loader worker died"
    assert compare.error_line("Traceback\nOSError: disk error: full\n", 1) == "OSError: disk error: full"
    assert compare.error_line("", -signal.SIGKILL) == "killed by signal SIGKILL (out of memory?)"
    assert compare.error_line("", 3) == "exit status 3"


def test_a_run_past_its_time_limit_is_stopped(tmp_path, fake_launcher, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_NET", "sleep")
    start = time.perf_counter()
    result = compare.run_model(job_for(tmp_path, timeout_minutes=0.02), launcher=fake_launcher)
    assert result.status == "failed" and "--timeout-minutes" in result.error
    assert time.perf_counter() - start < 150  # stopped: the fake run would sleep 300 s (a bound that load cannot break)


def test_ctrl_c_stops_the_run_and_goes_up(tmp_path, fake_launcher, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_NET", "sleep")
    started = []
    main = threading.main_thread().ident  # to the main thread: a signal another thread takes does not break its wait
    timer = threading.Timer(2.0, lambda: signal.pthread_kill(main, signal.SIGINT))  # Ctrl-C while the run goes on
    original = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(original(*args, **kwargs))
        timer.start()
        return started[-1]

    monkeypatch.setattr(compare.subprocess, "Popen", popen)
    # Python's own Ctrl-C handler, also where the suite was started with SIGINT ignored (`pytest &` in a script)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            compare.run_model(job_for(tmp_path), launcher=fake_launcher)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert started and started[0].poll() is not None  # the child is gone


def test_a_finished_model_is_reused_only_for_the_same_job(tmp_path, fake_launcher):
    first = compare.run_model(job_for(tmp_path), launcher=fake_launcher)
    assert first.status == "ok" and not first.reused
    again = compare.run_model(job_for(tmp_path), launcher=[sys.executable, "-c", "raise SystemExit(1)"])
    assert again.reused and again.test_top1 == 75.0
    assert compare.reusable_result(job_for(tmp_path, budget=Budget("steps", 4))) is None
    rerun = compare.run_model(job_for(tmp_path), launcher=fake_launcher, rerun=True)
    assert rerun.status == "ok" and not rerun.reused


def test_a_folder_the_comparison_did_not_write_is_left_alone(tmp_path, fake_launcher):
    folder = tmp_path / "out" / "compare" / "regionvit3d_nano"
    folder.mkdir(parents=True)
    (folder / "precious.txt").write_text("mine")
    result = compare.run_model(job_for(tmp_path), launcher=fake_launcher)
    assert result.status == "failed" and "not written by a model comparison" in result.error
    assert (folder / "precious.txt").read_text() == "mine"


# ----------------------------------------------------------------------------- pairs, table, plot
def test_time_reversed_pairs_only_on_the_synthetic_classes():
    names = [c.name for c in CLASSES]
    assert compare.time_reversed_pairs(names) == [(k, k + 1) for k in range(0, 14, 2)]
    assert compare.time_reversed_pairs(names[:3]) == [(0, 1)]  # an odd class out has no column
    assert compare.time_reversed_pairs(["walk", "run"]) == []
    assert compare.time_reversed_pairs(names[2:6]) == []  # not the catalogue's order
    labels = [compare.pair_label(names[k], names[k + 1]) for k in range(0, 14, 2)]
    assert labels == ["move_right/left", "move_down/up", "move_down_right/up_left", "grow/shrink",
                      "brighten/darken", "appear/disappear", "rotate_cw/ccw"]


def test_the_table_formats_every_column():
    ok = ModelResult(model="m1", params=1_570_000, gflops_per_view=0.137, train_clips_per_s=9.06,
                     train_time_s=125.0, test_top1=62.5, mean_class_acc=61.25,
                     pairs={"move_right/left": {"accuracy": 50.0}})
    table = compare.markdown_table([ok]).splitlines()
    assert table[0] == ("| model | params (M) | GFLOPs/view | train clips/s | train time | test top-1 (%) | "
                        "mean class acc (%) | move_right/left |")
    assert table[2] == "| m1 | 1.57 | 0.137 | 9.1 | 2 min 05 s | 62.5 | 61.2 | 50.0 |"


def test_the_plot_falls_back_to_pillow_and_fails_clearly_without_either(tmp_path, monkeypatch):
    results = [ModelResult(model="a", gflops_per_view=0.1, test_top1=60.0),
               ModelResult(model="b", gflops_per_view=1.0, test_top1=70.0),
               ModelResult(model="c", status="failed", error="x")]
    assert compare.plot_accuracy_vs_flops(results, str(tmp_path / "mpl.png")) == 2
    monkeypatch.setattr(compare, "plot_backend", lambda: "pil")
    assert compare.plot_accuracy_vs_flops(results, str(tmp_path / "pil.png")) == 2
    with Image.open(tmp_path / "pil.png") as image:
        assert image.format == "PNG"
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(OutputError, match="matplotlib or Pillow"):
        compare.plot_backend()


@pytest.mark.parametrize("parent_ignores_sigint", [False, True], ids=["sigint", "sigint_ignored"])
def test_a_stopped_child_gets_a_signal_it_hears(monkeypatch, parent_ignores_sigint):
    """A child started while the comparison ignores SIGINT (a script's background job) ignores it too:
    stop_process sends SIGTERM then, and the child stops at once instead of being killed after STOP_WAIT_S."""
    child = ("import signal, sys, time\n"
             "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\n"
             "print('ready', flush=True)\n"
             "try:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    sys.exit(2)\n")
    monkeypatch.setattr(signal, "getsignal", lambda s: signal.SIG_IGN if parent_ignores_sigint else signal.SIG_DFL)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN if parent_ignores_sigint else signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert proc.stdout.readline().strip() == "ready"
        start = time.monotonic()
        compare.stop_process(proc, wait_s=20)
        assert proc.returncode == (3 if parent_ignores_sigint else 2)
        assert time.monotonic() - start < 15
    finally:
        proc.kill()
        proc.wait(timeout=10)
