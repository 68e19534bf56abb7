"""Exports (tools/export.py, videoregion.inference.export) and the demo through onnxruntime (--model FILE.onnx).

The model is the demo tests' randomly initialised regionvit3d_nano checkpoint (4 frames, 28 px), exported
once per format for the module, each with a dynamic batch.
"""

import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile

import pytest
import torch

from videoregion.inference.build import export_config
from videoregion.inference.export import METADATA_KEY, export_model, load_export, read_metadata
from videoregion.models import create_model
from videoregion.models.build import build_eval_model

from .test_demo import CLASSES, ROOT, make_video, trained  # noqa: F401  (trained: the checkpoint fixture)

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

FILES = {"onnx": "model.onnx", "torchscript": "model.pt", "exported": "model.pt2"}


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(name: str, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of tools/<name>.py main(args), run in this process (no second torch import)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = load_tool(name).main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def exports(trained):  # noqa: F811
    """{format: (path, what tools/export.py printed, the export loaded)}, each taking any batch size."""
    folder = trained["root"] / "exports"
    made = {}
    for fmt, name in FILES.items():
        path = str(folder / name)
        code, out, err = run_tool("export", "--checkpoint", trained["checkpoint"], "--out", path)
        assert code == 0, err
        made[fmt] = (path, out, load_export(path)[0])
    return made


@pytest.fixture(scope="module")
def eager(trained):  # noqa: F811
    return build_eval_model(trained["config"], trained["checkpoint"])


@pytest.mark.parametrize("fmt", list(FILES))
def test_each_format_matches_eager_at_batch_1_and_3(exports, eager, fmt):
    _, printed, model = exports[fmt]
    assert "random clip (2, 3, 4, 28, 28): max |export - eager| = " in printed
    assert "decoded clip of a generated synthetic video (1, 3, 4, 28, 28): max |export - eager| = " in printed
    generator = torch.Generator().manual_seed(1)
    for batch in (1, 3):
        clips = torch.randn(batch, 3, 4, 28, 28, generator=generator)
        with torch.no_grad():
            expected, got = eager(clips), torch.as_tensor(model(clips))
        assert got.shape == (batch, len(CLASSES))
        torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)


def test_onnx_window_partition_copies_whole_channel_rows():
    """The window partition reaches ONNX as transposes that keep the channels innermost (onnxruntime copies
    whole runs of them); an 8-D transpose that moves the channels has no fast path there (1.09x at 16x224)."""
    import onnx

    model = create_model("regionvit3d_nano", num_frames=4, num_classes=3).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "nano.onnx")
        export_model(model, path, "onnx", num_frames=4, size=56, batch=None, metadata={})
        graph = onnx.load(path).graph
    perms = [list(a.ints) for n in graph.node if n.op_type == "Transpose" for a in n.attribute if a.name == "perm"]
    windows = [p for p in perms if len(p) > 5]
    assert windows and all(p[-1] == len(p) - 1 for p in windows), windows


@pytest.mark.parametrize("fmt", list(FILES))
def test_metadata_round_trip(exports, trained, fmt):  # noqa: F811
    path = exports[fmt][0]
    meta = read_metadata(path)
    cfg = trained["config"]
    assert meta["model"] == "regionvit3d_nano" and meta["format"] == fmt
    assert meta["checkpoint"] == os.path.abspath(trained["checkpoint"]) and meta["class_names"] == CLASSES
    assert meta["input"]["shape"] == ["batch", 3, 4, 28, 28]
    assert ("opset" in meta) == (fmt == "onnx")
    pre = meta["preprocess"]
    assert (pre["decode_short_side"], pre["crop_size"], pre["num_frames"], pre["sampling"]) == (28, 28, 4, "dense")
    assert (pre["sampling_rate"], pre["test_clips"], pre["test_crops"]) == (4, 2, 1)
    restored = export_config(meta, path)
    for key in ("NUM_FRAMES", "SAMPLING_RATE", "TARGET_FPS", "TEST_CROP_SIZE", "MEAN", "STD", "DATASET"):
        assert restored.DATA[key] == cfg.DATA[key], key
    assert restored.TEST.NUM_SPATIAL_CROPS == cfg.TEST.NUM_SPATIAL_CROPS
    assert restored.DEMO.CLIPS_PER_WINDOW == cfg.DEMO.CLIPS_PER_WINDOW


def test_demo_through_onnxruntime_equals_the_demo_with_the_checkpoint(exports, trained, tmp_path):  # noqa: F811
    video = make_video(tmp_path / "clip.mp4", num_frames=40)
    runs = {}
    sources = [("onnx", ["--model", exports["onnx"][0]]), ("checkpoint", ["--checkpoint", trained["checkpoint"]])]
    for name, args in sources:
        out = tmp_path / name / "clip.mp4"
        code, printed, err = run_tool("demo", video, *args, "--output", str(out), "--topk", "3")
        assert code == 0, err
        assert "whole video" in printed and out.exists() and (tmp_path / name / "clip_timeline.png").exists()
        runs[name] = json.loads((tmp_path / name / "clip.json").read_text())
    onnx, checkpoint = runs["onnx"], runs["checkpoint"]
    assert onnx["class_names"] == checkpoint["class_names"] == CLASSES
    assert len(onnx["windows"]) == len(checkpoint["windows"]) > 1
    for a, b in zip([onnx] + onnx["windows"], [checkpoint] + checkpoint["windows"]):
        assert [t["label"] for t in a["topk"]] == [t["label"] for t in b["topk"]]
        assert [t["score"] for t in a["topk"]] == pytest.approx([t["score"] for t in b["topk"]], abs=1e-3)


def test_an_export_without_metadata_is_one_line(exports, trained, tmp_path):  # noqa: F811
    import onnx

    proto = onnx.load(exports["onnx"][0])
    del proto.metadata_props[:]
    bare = str(tmp_path / "bare.onnx")
    onnx.save(proto, bare)
    code, _, err = run_tool("demo", make_video(tmp_path / "clip.mp4"), "--model", bare)
    assert code == 1 and err.strip() == (f"error: {bare}: holds no videoregion metadata ({METADATA_KEY}); "
                                         "export the model with tools/export.py")


@pytest.mark.parametrize("case", ["missing checkpoint", "another model", "unwritable out", "no onnx"])
def test_bad_input_is_one_line_and_an_exit_code(trained, tmp_path, monkeypatch, case):  # noqa: F811
    args = ["--checkpoint", trained["checkpoint"], "--out", str(tmp_path / "model.onnx")]
    expected = {
        "missing checkpoint": "no_such.pyth",
        "another model": "does not fit",
        "unwritable out": "cannot create its folder",
        "no onnx": 'pip install -e ".[export]"',
    }[case]
    if case == "missing checkpoint":
        args[1] = str(tmp_path / "no_such.pyth")
    elif case == "another model":
        args += ["--cfg", trained["cfg"], "MODEL.NAME", "regionvit3d_tiny"]
    elif case == "unwritable out":
        (tmp_path / "a_file").write_text("")
        args[3] = str(tmp_path / "a_file" / "model.pt")
    else:
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the export extra were not installed
    code, _, err = run_tool("export", *args)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert not (tmp_path / "model.onnx").exists()


def test_the_demo_without_onnxruntime_names_the_install_command(exports, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    code, _, err = run_tool("demo", make_video(tmp_path / "clip.mp4"), "--model", exports["onnx"][0])
    assert code == 1 and len(err.strip().splitlines()) == 1 and 'pip install -e ".[export]"' in err
