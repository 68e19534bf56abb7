import dataclasses
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from videoregion.benchmark import (
    NUM_CLASSES,
    Cell,
    Settings,
    build_benchmark_model,
    missing_requirement,
    plan_cells,
    skip_missing_peers,
    skip_unavailable_onnx,
)
from videoregion.benchmark.end_to_end import long_enough
from videoregion.benchmark.report import cpu_heading
from videoregion.benchmark.timing import (
    cpu_info,
    current_rss_bytes,
    machine_info,
    matmul_workload,
    peak_rss_bytes,
    run_interleaved,
    summarize,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), *args],
        capture_output=True, text=True, env=env, timeout=timeout,
    )


# ------------------------------------------------------------------------------------ timing helpers

def test_summarize_gives_median_and_half_range_over_median():
    s = summarize([3.0, 1.0, 2.0])
    assert (s["median"], s["min"], s["max"]) == (2.0, 1.0, 3.0)
    assert s["spread"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        summarize([])


def test_workloads_are_measured_round_robin_after_their_warmup():
    calls = []
    workloads = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = run_interleaved(workloads, repeats=3, warmup=2, min_seconds=0.0, device="cpu")
    assert calls == list("aabbcc") + list("abc") * 3
    assert all(len(t) == 3 and min(t) >= 0 for t in times.values())


def test_fast_workloads_are_repeated_within_a_measurement():
    calls = []
    run_interleaved({"fast": lambda: calls.append(1)}, repeats=2, warmup=1, min_seconds=0.01, device="cpu")
    assert len(calls) > 3  # one warm-up call, then two measurements of many calls each


def test_matmul_workload_multiplies_and_counts_n_cubed_multiply_adds():
    step, multiply_adds = matmul_workload(16, "cpu")
    out = step()
    assert multiply_adds == 16**3
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 16, generator=g), torch.randn(16, 16, generator=g)
    torch.testing.assert_close(out, a @ b)


def test_memory_and_machine_probes():
    assert peak_rss_bytes() >= current_rss_bytes() > 10 * 2**20  # torch alone is larger than 10 MiB
    info = machine_info("cpu")
    assert info["cores"] >= 1 and info["torch"] == torch.__version__ and info["cpu"]
    assert 1 <= info["usable_cpus"] <= info["logical_cpus"] and info["cpu_capability"] in info["cpu"]


CPUINFO = """processor\t: {n}
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
physical id\t: 0
core id\t\t: {core}
"""


def test_cpu_kind_names_model_family_and_vector_instructions(tmp_path):
    # a generic model name ("AMD EPYC" in a VM) is told apart by family and model; two threads of one core
    path = tmp_path / "cpuinfo"
    path.write_text("\n".join(CPUINFO.format(n=n, core=core) for n, core in enumerate([0, 0, 1])))
    info = cpu_info(str(path))
    capability = torch.backends.cpu.get_cpu_capability()
    assert info["cpu"] == f"AMD EPYC (family 25, model 17, {capability})"
    assert info["physical_cores"] == 2 and info["cpu_model_name"] == "AMD EPYC"
    assert cpu_info(str(tmp_path / "absent"))["cpu"]  # no /proc: platform's name
    heading = cpu_heading({**info, "torch_threads": 2, "cores": 3})
    assert heading.startswith(f"### CPU: AMD EPYC (family 25, model 17, {capability}), 2 torch threads of ")


# ------------------------------------------------------------------------------------------- peers

def test_peers_build_without_downloading(monkeypatch):
    import pytorchvideo.models.hub.utils as hub_utils
    import pytorchvideo.models.hub.x3d as hub_x3d

    def refuse(*args, **kwargs):
        raise AssertionError("a peer tried to download weights")

    monkeypatch.setattr(hub_utils, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(hub_x3d, "load_state_dict_from_url", refuse)
    x = torch.randn(1, 3, 4, 56, 56)
    for name in ("mvit_base_16x4", "x3d_m"):
        model = build_benchmark_model(name, 4, 56).eval()
        with torch.no_grad():
            assert model(x).shape == (1, NUM_CLASSES)


def test_x3d_m_builder_is_the_hub_model_at_16x224():
    from pytorchvideo.models.hub import x3d_m

    ours = build_benchmark_model("x3d_m", 16, 224).state_dict()
    hub = x3d_m(pretrained=False).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in hub.items()}


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")
def test_joint_attention_vit_takes_our_clip_layout():
    model = build_benchmark_model("videomae_vit_b", 4, 32)
    assert model.model.config._attn_implementation == "sdpa"
    assert model(torch.randn(2, 3, 4, 32, 32)).shape == (2, NUM_CLASSES)


def test_missing_optional_peer_is_skipped_with_a_note(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "transformers" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert "pip install transformers" in missing_requirement("videomae_vit_b")
    assert missing_requirement("regionvit3d_small") is None
    settings = Settings(models=["regionvit3d_small", "videomae_vit_b", "x3d_m"], sweep_models=["videomae_vit_b"],
                        frames=[8], clip_frames=8, size=56, batch=2, sweep_modes=["infer1"])
    kept, notes = skip_missing_peers(settings)
    assert (kept.models, kept.sweep_models) == (["regionvit3d_small", "x3d_m"], [])
    assert "pip install transformers" in notes[0] and any(n.startswith("x3d_m: ") for n in notes)


def test_cells_cover_every_mode_of_the_main_table_then_the_sweep_once():
    settings = Settings(models=["regionvit3d_tiny", "x3d_m"], sweep_models=["regionvit3d_tiny"],
                        frames=[8, 16], clip_frames=16, size=56, batch=2, sweep_modes=["infer1"])
    assert plan_cells(settings) == [
        *(Cell(m, 16, mode) for m in ("regionvit3d_tiny", "x3d_m") for mode in ("infer1", "inferB", "train")),
        Cell("regionvit3d_tiny", 8, "infer1"),
    ]


def test_onnx_rows_are_planned_for_our_models_only():
    settings = Settings(models=["regionvit3d_tiny", "x3d_m"], sweep_models=[], frames=[8], clip_frames=8, size=56,
                        batch=2, sweep_modes=["infer1"], onnx=True)
    onnx = [c for c in plan_cells(settings) if c.backend == "onnxruntime"]
    assert onnx == [Cell("regionvit3d_tiny", 8, mode, "onnxruntime") for mode in ("infer1", "inferB")]
    assert onnx[0].key == "regionvit3d_tiny@8:infer1/onnxruntime"


def test_onnx_rows_are_skipped_with_a_note_without_onnxruntime(monkeypatch):
    settings = Settings(models=["regionvit3d_tiny"], sweep_models=[], frames=[8], clip_frames=8, size=56, batch=2,
                        sweep_modes=["infer1"], onnx=True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnxruntime" else real(name, *args))
    kept, notes = skip_unavailable_onnx(settings)
    assert not kept.onnx and "onnxruntime not installed" in notes[0]
    assert not any(c.backend == "onnxruntime" for c in plan_cells(kept))
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert skip_unavailable_onnx(settings) == (settings, [])
    on_gpu, notes = skip_unavailable_onnx(dataclasses.replace(settings, device="cuda"))
    assert not on_gpu.onnx and "CPU only" in notes[0]


def test_a_short_dataset_is_listed_again_to_fill_one_long_epoch():
    class Short:  # what long_enough reads of a VideoDataset
        records, class_names, clips, max_retries, seed, num_samples = ["a", "b", "c"], ["x"], None, 0, 0, 1

        def __len__(self):
            return 3

    assert long_enough(Short(), batches=1, batch_size=2) is not None
    filled = long_enough(Short(), batches=4, batch_size=2)  # 8 clips from 3 videos: listed 3 times
    assert filled.records == ["a", "b", "c"] * 3 and len(filled) >= 8


# ---------------------------------------------------------------------------------------------- CLI

def test_unknown_model_is_a_clear_error():
    result = run_tool("--models", "regionvit3d_small,resnet50")
    assert result.returncode == 2
    assert "unknown model(s) resnet50" in result.stderr and "mvit_base_16x4" in result.stderr


def test_smoke_run_end_to_end(tmp_path):
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    result = run_tool(
        "--models", "regionvit3d_nano", "--frames", "4", "--clip-frames", "4", "--size", "56", "--batch", "2",
        "--repeats", "1", "--warmup", "1", "--min-seconds", "0", "--matmul-size", "128",
        "--json", str(out_json), "--plot", str(out_png), "--onnx", "--threads", "1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| regionvit3d_nano | 1.7 |" in result.stdout
    assert "### CPU: " in result.stdout
    assert "Dense matmul 128x128 float32" in result.stdout
    assert "target" not in result.stdout.lower()  # the targets live in the README, next to the table

    data = json.loads(out_json.read_text())
    assert data["machine"]["cores"] >= 1 and data["matmul"]["flops_per_s"] > 0
    assert data["machine"]["cpu_capability"] in data["machine"]["cpu"] and data["machine"]["torch_threads"] == 1
    onnx = {r["mode"]: r for r in data["rows"] if r["backend"] == "onnxruntime"}
    assert set(onnx) == {"infer1", "inferB"} and "| regionvit3d_nano | 2 | " in result.stdout
    for r in onnx.values():  # the export agrees with eager PyTorch and is timed in the same rounds
        assert r["max_abs_diff_vs_eager"] < 1e-3 and r["clips_per_s"] > 0 and r["peak_memory_mib"] > 0
    rows = {r["mode"]: r for r in data["rows"] if r["backend"] == "torch"}
    assert set(rows) == {"infer1", "inferB", "train"}
    assert [rows[m]["batch"] for m in ("infer1", "inferB", "train")] == [1, 2, 2]
    for r in rows.values():
        assert "error" not in r, r
        assert r["clips_per_s"] > 0 and r["peak_memory_mib"] > 0 and r["gflops_per_clip"] > 0
        assert 0 < r["matmul_fraction"] and r["seconds"]["min"] <= r["seconds"]["median"] <= r["seconds"]["max"]
    # A training step holds gradients and AdamW state: more memory than inference of one clip.
    assert rows["train"]["peak_memory_mib"] > rows["infer1"]["peak_memory_mib"]

    import matplotlib.image

    image = matplotlib.image.imread(out_png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_end_to_end_row_times_loader_engine_and_model_only(tmp_path):
    out_json, data_dir = tmp_path / "e2e.json", tmp_path / "synthetic"
    result = run_tool(
        "--end-to-end", "--data-dir", str(data_dir), "--videos-per-class", "4", "--iters", "1", "--repeats", "2",
        "--warmup", "1", "--e2e-threads", "1,2", "--json", str(out_json),
        "--opts", "MODEL.NUM_CLASSES", "2", "TRAIN.BATCH_SIZE", "2", "DATA.NUM_FRAMES", "4",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (data_dir / "train.csv").is_file()  # generated on first use, kept in the given folder
    assert "### CPU: " in result.stdout and "end-to-end: loader + engine loop" in result.stdout
    data = json.loads(out_json.read_text())
    assert data["setup"]["model"] == "regionvit3d_nano" and data["setup"]["batch"] == 2
    assert data["setup"]["train_videos"] >= 2 * (1 + 2 * (1 + 2 * 2 + 2))  # listed again: one long epoch
    rows = {(r["threads"], r["workload"]): r for r in data["rows"]}
    assert set(rows) == {(t, w) for t in (1, 2) for w in ("model", "engine", "end_to_end")}
    for (_, workload), r in rows.items():
        assert r["workers"] == 1 and r["clips_per_s"] > 0 and len(r["seconds"]["all"]) == 2
        assert len(r["ratio_to_model_rounds"]) == 2
        if workload == "model":
            assert r["ratio_to_model"] == 1.0
