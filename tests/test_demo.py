"""The demo: sliding windows, the Predictor (the test pipeline over a whole video), what it writes, tools/demo.py.

The checkpoint is a randomly initialised regionvit3d_nano saved by the engine's CheckpointManager
(the format a training run writes, config and class names included); no training runs here.
"""

import json
import os
import re
import subprocess
import sys
import time
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from videoregion.config import load_config
from videoregion.data.annotations import VideoRecord
from videoregion.data.batch import normalize
from videoregion.data.build import build_clip_reader, build_sampler
from videoregion.data.dataset import VideoDataset
from videoregion.engine import build
from videoregion.engine.checkpoint import CheckpointError, CheckpointManager
from videoregion.engine.trainer import TrainState
from videoregion.errors import ConfigError
from videoregion.inference import (
    build_predictor,
    find_checkpoint,
    format_table,
    plot_timeline,
    sliding_windows,
    window_clip_indices,
    write_annotated_video,
)
from videoregion.inference.windows import MAX_WINDOWS, check_window_settings
from videoregion.models import build_model

from .data.videos import H264, VP9, ramp_frames, write_video

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "tools", "demo.py")
CLASSES = ["wave", "clap", "spin"]

# 4 frames every 4th at 30 fps: one clip spans 13 frames of a 30 fps video (0.43 s).
TINY_CFG = """
_BASE_: {base}
MODEL:
  NAME: regionvit3d_nano
  NUM_CLASSES: 3
DATA:
  NUM_FRAMES: 4
  SAMPLING_RATE: 4
  TRAIN_CROP_SIZE: 28
  TEST_CROP_SIZE: 28
DEMO:
  OUTPUT_SHORT_SIDE: 96
  BATCH_SIZE: 16
OUTPUT_DIR: {output}
NUM_GPUS: 0
"""

# (file name, encoder settings, frame size): the containers and codecs people bring.
CODECS = [
    ("h264.mp4", H264, (48, 64)),
    ("vp9.webm", VP9, (48, 64)),
    ("mpeg4.avi", dict(codec="mpeg4", pix_fmt="yuv420p", options={"qscale": "4"}), (48, 64)),
    ("h264_odd.mkv", dict(codec="libx264", pix_fmt="yuv444p"), (61, 97)),  # yuv420p cannot be 97 x 61
    ("h265.mp4", dict(codec="libx265", pix_fmt="yuv420p", options={"x265-params": "log-level=none"}), (48, 64)),
]


def run_demo(*args: str, cwd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, DEMO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A config file and the best checkpoint of its OUTPUT_DIR, as the engine writes them."""
    root = tmp_path_factory.mktemp("demo")
    cfg_path = root / "tiny.yaml"
    cfg_path.write_text(TINY_CFG.format(base=os.path.join(ROOT, "configs", "synthetic_regionvit.yaml"),
                                        output=root / "run"))
    cfg = load_config([str(cfg_path)])
    torch.manual_seed(0)
    model = build_model(cfg)
    optimizer = build.make_optimizer(cfg, model)
    state = TrainState(model=model, optimizer=optimizer, scheduler=build.make_scheduler(cfg, optimizer, 1),
                       extra={"cfg": cfg.dump(), "class_names": CLASSES})
    manager = CheckpointManager(os.path.join(cfg.OUTPUT_DIR, "checkpoints"))
    manager.save(state.state_dict(), epoch=1, is_best=True)
    return {"root": root, "cfg": str(cfg_path), "checkpoint": manager.best_path, "config": cfg}


@pytest.fixture(scope="module")
def predictor(trained):
    return build_predictor(trained["config"], trained["checkpoint"])


def make_video(path, num_frames=24, size=(48, 64), fps=30, **codec):
    return write_video(str(path), np.ascontiguousarray(ramp_frames(num_frames, *size)), fps=fps, **(codec or H264))


def decoded(path):
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return len(frames), frames[0].shape[:2]


# ----------------------------------------------------------------------------- windows
def test_windows_cover_the_video_and_end_at_its_end():
    windows = sliding_windows(100, 25.0, window_seconds=0.8, stride_seconds=0.4)
    assert [w.first for w in windows] == [0, 10, 20, 30, 40, 50, 60, 70, 80]
    assert all(w.length == 20 for w in windows)
    assert windows[-1].first + windows[-1].length == 100
    assert windows[1].start == pytest.approx(0.4) and windows[-1].end == pytest.approx(4.0)
    uneven = sliding_windows(95, 25.0, window_seconds=0.8, stride_seconds=0.4)
    assert [w.first for w in uneven][-2:] == [70, 75]  # the last one moved back to end at the last frame


def test_video_shorter_than_a_window_is_one_window():
    (window,) = sliding_windows(7, 30.0, window_seconds=2.0, stride_seconds=1.0)
    assert (window.first, window.length) == (0, 7)
    with pytest.raises(ValueError, match="positive"):
        sliding_windows(7, 30.0, window_seconds=0.0, stride_seconds=1.0)
    with pytest.raises(ValueError, match="0 frames"):
        sliding_windows(0, 30.0, window_seconds=1.0, stride_seconds=1.0)


@pytest.mark.parametrize("stride", [float("inf"), float("nan"), -1.0, 0.0])
def test_a_stride_or_window_that_is_not_a_positive_finite_number_is_refused(stride):
    with pytest.raises(ConfigError, match="the stride must be a positive finite number of seconds"):
        sliding_windows(300, 30.0, window_seconds=1.0, stride_seconds=stride)
    with pytest.raises(ConfigError, match="the window must be a positive finite number of seconds"):
        sliding_windows(300, 30.0, window_seconds=stride, stride_seconds=1.0)
    if stride != 0.0:  # 0 is the config's "default" for both
        with pytest.raises(ConfigError, match="--stride-seconds / DEMO.STRIDE_SECONDS"):
            check_window_settings(0.0, stride)
        with pytest.raises(ConfigError, match="--window-seconds / DEMO.WINDOW_SECONDS"):
            check_window_settings(stride, 0.0)
    check_window_settings(0.0, 0.0)
    check_window_settings(2.0, 0.5)


def test_a_tiny_stride_ends_and_the_window_count_is_capped():
    start = time.monotonic()
    windows = sliding_windows(300, 30.0, window_seconds=1.0, stride_seconds=1e-9)  # looped for ever before
    assert [w.first for w in windows] == list(range(271))  # every start frame once
    assert time.monotonic() - start < 1.0
    with pytest.raises(ConfigError, match=r"into 271 windows, more than 100; use a longer stride \(--stride-seconds"):
        sliding_windows(300, 30.0, window_seconds=1.0, stride_seconds=1e-9, max_windows=100)
    with pytest.raises(ConfigError, match=f"more than {MAX_WINDOWS}"):
        sliding_windows(10**8, 30.0, window_seconds=1.0, stride_seconds=0.01)
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("stride", ["inf", "nan"])
def test_the_demo_refuses_a_bad_stride_in_one_line(trained, tmp_path, stride):
    video = make_video(tmp_path / "ok.mp4", num_frames=8)
    result = run_demo(video, "--checkpoint", trained["checkpoint"], "--stride-seconds", stride, cwd=str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--stride-seconds / DEMO.STRIDE_SECONDS must be a positive finite number of seconds" \
        in lines[0], result.stderr


def test_window_clips_are_test_views_inside_the_window(trained):
    sampler = build_sampler(trained["config"])
    (window,) = sliding_windows(200, 30.0, 2.0, 10.0)[1:2]
    clips = window_clip_indices(window, sampler, num_clips=3)
    assert clips.shape == (3, 4)
    assert clips.min() >= window.first and clips.max() < window.first + window.length
    assert clips[0, 0] == window.first and clips[2, -1] == window.first + window.length - 1  # first and last view


# ----------------------------------------------------------------------------- predictor
def test_a_short_video_is_scored_exactly_like_one_test_view(trained, predictor, tmp_path):
    """Frames repeated as a short test video's: the window's scores are the test pipeline's softmax."""
    path = make_video(tmp_path / "short.mp4", num_frames=5)
    prediction = predictor.predict(path)
    assert len(prediction.windows) == 1 and prediction.windows[0].length == 5
    cfg = trained["config"]
    dataset = VideoDataset([VideoRecord(path, 0)], CLASSES, clips=build_clip_reader(cfg, "test"), train=False)
    clip = dataset[0]["clip"]  # (C, T, H, W) uint8
    with torch.no_grad():
        expected = predictor.model(normalize(clip[None], cfg.DATA.MEAN, cfg.DATA.STD)).softmax(-1)[0]
    torch.testing.assert_close(prediction.window_scores[0], expected)
    torch.testing.assert_close(prediction.video_scores, expected)


@pytest.mark.parametrize("name, codec, size", CODECS, ids=[c[0] for c in CODECS])
def test_codecs_containers_and_sizes(predictor, tmp_path, name, codec, size):
    try:
        av.codec.Codec(codec["codec"], "w")
    except Exception:
        pytest.skip(f"this PyAV has no {codec['codec']} encoder")
    path = make_video(tmp_path / name, num_frames=30, size=size, fps=25, **codec)
    prediction = predictor.predict(path)
    assert prediction.num_frames == 30 and prediction.fps == pytest.approx(25)
    assert prediction.size == size
    assert len(prediction.windows) >= 3 and prediction.windows[-1].first + prediction.windows[-1].length == 30
    assert prediction.window_scores.shape == (len(prediction.windows), 3)
    torch.testing.assert_close(prediction.window_scores.sum(1), torch.ones(len(prediction.windows)))
    top = prediction.video_topk
    assert [label.name for label in top] == [CLASSES[i] for i in prediction.video_scores.argsort(descending=True)]
    assert top[0].score >= top[1].score >= top[2].score


def test_any_frame_rate_and_a_large_video_scaled_as_decoded(predictor, tmp_path):
    path = make_video(tmp_path / "large_60fps.mp4", num_frames=40, size=(360, 640), fps=60)
    prediction = predictor.predict(path)
    assert prediction.size == (360, 640)
    # at 60 fps a clip spans twice as many frames: 4 frames every 8th = 25 frames
    assert prediction.windows[0].length == 25


def test_outputs_in_every_container(predictor, tmp_path):
    path = make_video(tmp_path / "odd.mkv", num_frames=20, size=(61, 97), fps=20, codec="libx264", pix_fmt="yuv444p")
    prediction = predictor.predict(path)
    table = format_table(prediction)
    assert "whole video" in table and len(table.splitlines()) == 3 + len(prediction.windows) + 2 + 3
    for ext in (".mp4", ".webm", ".avi", ".mkv"):
        out = tmp_path / f"annotated{ext}"
        written = write_annotated_video(prediction, predictor.open(path, 64), str(out), short_side=64)
        assert written == (20, 64, 102)  # 97 x 61 scaled to 101.8 x 64, then even
        assert decoded(out) == (20, (64, 102))
    plot_timeline(prediction, str(tmp_path / "timeline.png"))
    import matplotlib.image

    assert matplotlib.image.imread(str(tmp_path / "timeline.png")).ndim == 3


def test_annotation_is_drawn_on_the_frames(predictor, tmp_path):
    """The panel darkens the top of the frame and leaves the bottom as it was."""
    path = make_video(tmp_path / "plain.mp4", num_frames=10, size=(64, 64), codec="libx264rgb", pix_fmt="rgb24",
                      options={"crf": "0"})
    prediction = predictor.predict(path)
    out = tmp_path / "annotated.mkv"
    write_annotated_video(prediction, predictor.open(path, None), str(out), short_side=0)
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    original = ramp_frames(10, 64, 64)[0].astype(float)
    assert frame.shape == original.shape
    assert np.abs(frame[-8:] - original[-8:]).mean() < 6  # yuv420p round trip only
    assert np.abs(frame[:12] - original[:12]).mean() > 30  # the panel


def test_a_phone_clip_is_shown_upright_and_timed_in_real_seconds(predictor, tmp_path):
    """Stored landscape with a 90-degree display matrix, 25 fps for 1 s then 5 fps: the
    prediction, its windows and the annotated video follow what a player shows."""
    path = str(tmp_path / "phone.mp4")
    frames = ramp_frames(35, 48, 64)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 100)
        stream.set_display_rotation(90)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = 4 * i if i < 25 else 100 + 20 * (i - 25)  # 0.04 s steps for 1 s, then 10 x 0.2 s
            frame.time_base = stream.time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    prediction = predictor.predict(path)
    assert prediction.size == (64, 48)  # portrait, as displayed
    # the last picture shows at 2.8 s, for the 0.04 s the encoder gave every packet: 2.84 s in all
    assert prediction.num_frames / prediction.fps == pytest.approx(2.84, abs=1 / prediction.fps)
    assert prediction.windows[-1].end == pytest.approx(prediction.num_frames / prediction.fps)
    out = tmp_path / "annotated.mp4"
    written = write_annotated_video(prediction, predictor.open(path, 64), str(out), short_side=64)
    assert written[1:] == (84, 64) and decoded(out)[1] == (84, 64)  # 64 x 48 -> 85.3 x 64, then even


def test_which_checkpoint_without_one_named(tmp_path):
    """The policy of a test-only run: best if validated, else the newest readable epoch, else an error."""
    cfg = load_config([], ["OUTPUT_DIR", str(tmp_path)], freeze=False)
    with pytest.raises(CheckpointError, match="train the model first"):
        find_checkpoint(cfg)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for epoch in (2, 3):
        torch.save({"epoch": epoch}, folder / f"checkpoint_epoch_{epoch:05d}.pyth")
    (folder / "checkpoint_epoch_00004.pyth").write_bytes(b"")  # unreadable: skipped
    path, state = find_checkpoint(cfg)
    assert (path, state["epoch"]) == (str(folder / "checkpoint_epoch_00003.pyth"), 3)  # no best: the newest readable
    torch.save({"epoch": 2}, folder / "checkpoint_best.pyth")
    assert find_checkpoint(cfg)[0] == str(folder / "checkpoint_best.pyth")
    torch.save({"epoch": 9}, tmp_path / "mine.pyth")
    cfg.DEMO.CHECKPOINT_FILE_PATH = str(tmp_path / "mine.pyth")
    assert find_checkpoint(cfg)[1]["epoch"] == 9
    assert find_checkpoint(cfg, explicit=str(folder / "checkpoint_epoch_00002.pyth"))[1]["epoch"] == 2


@pytest.mark.parametrize("use_ema", [False, True])
def test_a_checkpoint_of_another_shape_is_a_checkpoint_error(trained, tmp_path, use_ema):
    """A head of another class count is refused, not re-initialised, from the model or the EMA weights."""
    state = torch.load(trained["checkpoint"], weights_only=True)
    if use_ema:
        state["ema"] = state["model"]
    torch.save(state, tmp_path / "three.pyth")
    cfg = load_config([trained["cfg"]], ["MODEL.NUM_CLASSES", "5", "TEST.USE_EMA", str(use_ema)])
    with pytest.raises(CheckpointError, match=r"three\.pyth does not fit RegionViT: wrong shape: head\.bias"):
        build_predictor(cfg, str(tmp_path / "three.pyth"))


def test_importing_inference_imports_no_training_code():
    code = ("import sys, videoregion.inference; "
            "print(sorted(m for m in sys.modules if m.startswith('videoregion.engine')))")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": ROOT},
                            capture_output=True, text=True, timeout=120, check=True)
    loaded = result.stdout
    for training in ("trainer", "optimizer", "scheduler", "ema", "build", "run", "evaluator"):
        assert f"videoregion.engine.{training}'" not in loaded, loaded


# ----------------------------------------------------------------------------- tools/demo.py
def test_end_to_end_with_the_main_jobs_best_checkpoint(trained, tmp_path):
    """Only --cfg: the best checkpoint of its OUTPUT_DIR and the class names saved there."""
    video = make_video(tmp_path / "clip.mp4", num_frames=45, size=(48, 64), fps=30)
    result = run_demo(video, "--cfg", trained["cfg"], "--topk", "2", "--device", "cpu", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert trained["checkpoint"] in result.stdout and "whole video (top-2)" in result.stdout

    out = tmp_path / "demo_output"
    report = json.loads((out / "clip.json").read_text())
    assert report["num_frames"] == 45 and report["checkpoint"] == trained["checkpoint"]
    assert len(report["topk"]) == 2 and {t["label"] for t in report["topk"]} <= set(CLASSES)
    windows = report["windows"]
    assert len(windows) >= 5 and windows[-1]["end_seconds"] == pytest.approx(1.5)
    assert all(len(w["topk"]) == 2 and w["topk"][0]["score"] >= w["topk"][1]["score"] for w in windows)
    for w in windows:  # the table shows every window's best label
        assert f"{w['start_seconds']:.2f}-" in result.stdout and w["topk"][0]["label"] in result.stdout
    assert decoded(out / "clip.mp4") == (45, (96, 128))
    import matplotlib.image

    assert matplotlib.image.imread(str(out / "clip_timeline.png")).shape[2] in (3, 4)


def test_end_to_end_with_a_checkpoint_its_config_and_a_label_file(trained, tmp_path):
    """--checkpoint alone: the model comes from the config saved in it; --labels renames the classes."""
    video = make_video(tmp_path / "clip.webm", num_frames=20, fps=24, **VP9)
    labels = tmp_path / "labels.txt"
    labels.write_text("one\ntwo\nthree\n")
    result = run_demo(video, "--checkpoint", trained["checkpoint"], "--labels", str(labels), "--window-seconds", "0.5",
                      "--stride-seconds", "0.25", "--output", "out/annotated.avi", "--json", "out/result.json",
                      cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "result.json").read_text())
    assert report["model"] == "regionvit3d_nano" and report["class_names"] == ["one", "two", "three"]
    assert [w["num_frames"] for w in report["windows"]] == [12] * 3
    assert decoded(tmp_path / "out" / "annotated.avi") == (20, (96, 128))
    assert (tmp_path / "out" / "annotated_timeline.png").is_file()


def _no_frames(path):
    with av.open(str(path), "w") as container:  # a video stream, never a frame
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
        container.mux(stream.encode())
    return str(path)


@pytest.mark.parametrize("case", ["missing video", "not a video", "no frames", "unreadable checkpoint",
                                  "missing checkpoint", "labels do not match", "no checkpoint at all",
                                  "checkpoint does not fit the config", "unknown output format"])
def test_bad_input_is_one_line_and_an_exit_code(trained, tmp_path, case):
    video = make_video(tmp_path / "ok.mp4", num_frames=8)
    checkpoint = trained["checkpoint"]
    args, expected = [], ""
    if case == "missing video":
        video, expected = str(tmp_path / "nowhere.mp4"), "nowhere.mp4: missing file"
    elif case == "not a video":
        (tmp_path / "notes.mp4").write_text("not a video\n")
        video, expected = str(tmp_path / "notes.mp4"), "notes.mp4: cannot open"
    elif case == "no frames":
        video, expected = _no_frames(tmp_path / "empty.mp4"), "empty.mp4: no (frames|video stream)"
    elif case == "unreadable checkpoint":
        (tmp_path / "broken.pyth").write_bytes(b"\x80\x04garbage" * 10)
        checkpoint, expected = str(tmp_path / "broken.pyth"), "broken.pyth: not a readable checkpoint"
    elif case == "missing checkpoint":
        checkpoint, expected = str(tmp_path / "gone.pyth"), "gone.pyth: checkpoint file not found"
    elif case == "labels do not match":
        (tmp_path / "labels.txt").write_text("a\nb\n")
        args, expected = ["--labels", str(tmp_path / "labels.txt")], "labels.txt: names 2 classes but .* has 3"
    elif case == "no checkpoint at all":
        checkpoint = None
        args = ["--cfg", trained["cfg"], "--opts", "OUTPUT_DIR", str(tmp_path / "untrained")]
        expected = r"no checkpoint in .*untrained/checkpoints: train the model first \(python tools/run_net.py"
    elif case == "checkpoint does not fit the config":  # the main job: 14 classes, 8 frames; the checkpoint 3, 4
        args = ["--cfg", os.path.join(ROOT, "configs", "synthetic_regionvit.yaml")]
        expected = "checkpoint_best.pyth does not fit RegionViT: (missing|unexpected|wrong shape)"
    elif case == "unknown output format":
        args, expected = ["--output", "out.gif"], "out.gif: cannot write .gif"
    if checkpoint is not None:
        args = ["--checkpoint", checkpoint, *args]
    result = run_demo(video, *args, cwd=str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert re.search(expected, lines[0]), lines[0]
