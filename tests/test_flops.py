import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from videoregion.models import create_model
from videoregion.utils.flops import count_flops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "count_flops.py"), *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


class TwoAttentions(torch.nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v) + F.scaled_dot_product_attention(q, k, v)


def test_attention_is_counted():
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    assert count_flops(TwoAttentions(), (q, k, v)) == 2 * (2 * 3 * 5 * 7 * (8 + 4))


def test_small_2d_flops_match_the_paper_within_one_percent():
    gflops = count_flops(create_model("regionvit_small_224"), torch.zeros(1, 3, 224, 224)) / 1e9
    assert gflops == pytest.approx(5.36, rel=0.01)


def test_json_for_the_tiny_2d_model():
    result = run_tool("--model", "regionvit_tiny_224", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["params"] == 13_842_676
    assert data["gflops"] == pytest.approx(2.43, rel=0.01)
    assert data["views"] == 1


def test_video_model_and_config_views(tmp_path):
    result = run_tool("--model", "regionvit3d_tiny", "--frames", "4", "--size", "56", "--json")
    assert result.returncode == 0, result.stderr
    one_tube = json.loads(result.stdout)
    assert one_tube["input"] == [3, 4, 56, 56] and one_tube["gflops"] > 0

    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "MODEL:\n  NAME: regionvit3d_tiny\nDATA:\n  NUM_FRAMES: 4\n  TEST_CROP_SIZE: 56\n"
        "TEST:\n  NUM_ENSEMBLE_VIEWS: 2\n  NUM_SPATIAL_CROPS: 3\n"
    )
    result = run_tool("--cfg", str(cfg), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["views"] == 6
    assert data["total_gflops"] == pytest.approx(6 * data["gflops"], rel=1e-3)


def test_bad_arguments_are_one_clear_line():
    result = run_tool("--model", "regionvit_nope")
    assert result.returncode != 0 and "unknown model 'regionvit_nope'" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_tool("--model", "regionvit_tiny_224", "--frames", "8")
    assert result.returncode != 0 and "image model" in result.stderr


def test_a_video_peer_at_the_main_jobs_clips_and_one_it_cannot_take():
    result = run_tool("--model", "x3d_m", "--frames", "8", "--size", "56", "--num-classes", "14", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # x3d_m is built for the asked shape (its head pools a fixed window)
    assert data["input"] == [3, 8, 56, 56] and data["gflops"] == pytest.approx(0.1803, rel=1e-3)
    result = run_tool("--model", "s3d", "--frames", "8", "--size", "56")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--frames 8 --size 56: s3d takes clips of at least 13 frames" in result.stderr
