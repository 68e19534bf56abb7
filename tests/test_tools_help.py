"""Every tools/*.py runs as shipped: ``python tools/<tool>.py --help`` in a process of its own.

The runs go a few at a time (most of each is importing torch, one core's work): the suite waits for
the slowest few, not for fifteen imports in a row. Each tool's end-to-end test lives with its module's tests.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")

# tool -> what its --help must name
HELP = {
    "benchmark.py": ("--frames", "--json", "--quick"),
    "benchmark_data.py": ("usage:",),
    "browse_dataset.py": ("usage:",),
    "check_dataset.py": ("usage:",),
    "compare_models.py": ("--budget-steps", "--budget-minutes", "--models", "--json", "--plot", "--rerun"),
    "count_flops.py": ("--frames", "--json"),
    "demo.py": ("--cfg", "--checkpoint", "--labels", "--topk", "--output", "--json", "--window-seconds",
                "--stride-seconds", "--device"),
    "export.py": ("--checkpoint", "--out", "--cfg", "--format", "--frames", "--size", "--batch", "--video",
                  "--benchmark", "KEY VALUE"),
    "extract_features.py": ("--checkpoint", "--out", "--list", "--cfg", "--split", "--window-seconds",
                            "--stride-seconds", "--window-frames", "--stride-frames", "--workers"),
    "gpu_check.py": ("--dry-run", "--budget-seconds", "sdpa"),
    "make_order_dataset.py": ("--out", "--videos-per-class", "--seed", "--workers", "--preview"),
    "make_synthetic_dataset.py": ("--videos-per-class", "--format"),
    "probe_synthetic.py": ("--model-kwargs",),
    "run_net.py": ("--cfg", "--init_method", "--num_shards", "--shard_id", "--opts", "torchrun"),
    "submit.py": ("--cfg", "--nodes", "--gpus-per-node", "--partition", "--timeout", "--account", "KEY VALUE"),
}


def test_every_tool_is_here():
    assert sorted(HELP) == sorted(name for name in os.listdir(TOOLS) if name.endswith(".py"))


def run_help(tool: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(TOOLS, tool), "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as pool:
        return dict(zip(HELP, pool.map(run_help, HELP), strict=True))


@pytest.mark.parametrize("tool", sorted(HELP))
def test_help(helps, tool):
    result = helps[tool]
    assert result.returncode == 0, result.stderr
    missing = [word for word in HELP[tool] if word not in result.stdout]
    assert not missing, f"{tool} --help does not name {missing}:\n{result.stdout}"
