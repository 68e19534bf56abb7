import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "gpu_check.py")


def load_tool():
    spec = importlib.util.spec_from_file_location("gpu_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run(*command, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHON=sys.executable)
    return subprocess.run(list(command), capture_output=True, text=True, env=env, timeout=timeout)


def test_dry_run_prints_the_plan_without_a_gpu(tmp_path):
    result = run(os.path.join(ROOT, "tools", "gpu_check.sh"), "--dry-run", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert [line.split(" (")[0] for line in out.splitlines() if line[:2] in ("1.", "2.", "3.", "4.")] == [
        "1. sdpa", "2. main job", "3. benchmark", "4. benchmark compile"]
    assert "NUM_GPUS 1 SOLVER.MAX_EPOCH 2 TRAIN.MIXED_PRECISION bf16" in out
    assert out.count("benchmark.py --device cuda --amp bf16 --batch") == 2 and out.count("--compile --models") == 1
    assert "480 s budget" in out and not list(tmp_path.iterdir())  # a plan, nothing run or written


def test_steps_fit_the_budget_and_can_be_left_out():
    tool = load_tool()
    args = tool.parse_args(["--out", "x"])
    assert sum(s.timeout for s in tool.plan(args)) <= args.budget_seconds <= 8 * 60
    result = run(sys.executable, TOOL, "--dry-run", "--skip", "main_job", "benchmark_compile")
    assert "main job" not in result.stdout and "compile" not in result.stdout and "2. benchmark" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_stops_at_once_with_one_line(tmp_path):
    start = time.perf_counter()
    result = run(sys.executable, TOOL, "--out", str(tmp_path / "out"), timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("gpu_check: no CUDA device is available to torch")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert time.perf_counter() - start < 60 and not (tmp_path / "out").exists()


class ToyAttention(nn.Module):
    """Attention over (B, 2 heads, L, 8); ``five_d`` adds a window dimension, as the padding-mask path does."""

    def __init__(self, five_d: bool):
        super().__init__()
        self.five_d = five_d
        self.proj = nn.Linear(16, 16)

    def forward(self, x):  # x (B, C, T, H, W) -> (B, 16)
        tokens = self.proj(x.flatten(2).transpose(1, 2)[..., :1].expand(-1, -1, 16))  # (B, L, 16)
        q = tokens.unflatten(-1, (2, 8)).transpose(1, 2)  # (B, 2, L, 8)
        if self.five_d:
            q = q.unsqueeze(1)
        return F.scaled_dot_product_attention(q, q, q).flatten(1, -2).mean(1)


@pytest.mark.filterwarnings("ignore:.*kernel.*:UserWarning")  # torch says why each kernel was passed over
def test_sdpa_check_passes_fused_kernels_and_catches_a_math_fallback():
    tool = load_tool()
    clips = torch.randn(2, 3, 2, 4, 4)
    fused = tool.inspect_sdpa(ToyAttention(five_d=False), clips, None)
    assert fused["ok"] and fused["fused_only_error"] is None and tool.MATH_KERNEL not in fused["kernels"]
    math = tool.inspect_sdpa(ToyAttention(five_d=True), clips, None)  # fused kernels need 4-D q, k, v
    assert not math["ok"] and math["kernels"][tool.MATH_KERNEL] == 1 and math["fused_only_error"]


def test_the_final_table_reads_each_steps_output(tmp_path):
    tool = load_tool()
    args = tool.parse_args(["--out", str(tmp_path)])
    steps = {s.name: s for s in tool.plan(args)}
    (tmp_path / "main_job").mkdir()
    records = [{"split": "train", "epoch": 1, "clips_per_s": 812.3}, {"split": "val", "epoch": 1, "top1_acc": 40.0},
               {"split": "train", "epoch": 2, "clips_per_s": 901.0}, {"split": "test_final", "top1_acc": 55.5}]
    (tmp_path / "main_job" / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "sdpa.json").write_text(json.dumps({"kernels": {"_scaled_dot_product_efficient_attention": 12},
                                                    "fused_only_error": None}))
    (tmp_path / "benchmark.json").write_text(json.dumps(
        {"rows": [{"model": "regionvit3d_small", "mode": "train", "clips_per_s": 123.4}]}))
    assert tool.summary_of(steps["main job"], str(tmp_path), "") == (
        "train clips/s per epoch 812/901; val top-1 40.0; test top-1 55.5")
    assert tool.summary_of(steps["sdpa"], str(tmp_path), "") == "efficient_attention x12; fused kernels only: ran"
    assert tool.summary_of(steps["benchmark"], str(tmp_path), "") == "regionvit3d_small train 123 clips/s"
    assert tool.summary_of(steps["benchmark compile"], str(tmp_path), "one\nlast line\n") == "last line"
    table = tool.table([dict(step="sdpa", status="ok", seconds=3.2, summary="x")])
    assert table.splitlines()[2] == "| sdpa | ok | 3 | x |"


def test_a_step_past_its_time_is_ended_with_its_children(tmp_path):
    tool = load_tool()
    sleeper = [sys.executable, "-c", "import subprocess, sys, time; "
               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"]
    start = time.perf_counter()
    result = tool.run_step(tool.Step("slow", sleeper, 1, "sleeps"), str(tmp_path), timeout=1)
    assert result["status"] == "timed out after 1 s" and time.perf_counter() - start < 30
    assert (tmp_path / "slow.log").is_file()
