"""Features for downstream work: FeatureExtractor, extract_videos and tools/extract_features.py.

The checkpoint is test_demo's: a randomly initialised regionvit3d_nano (4 frames, 28-pixel crops)
saved as a training run saves it.
"""

import json
import os
import re
import subprocess
import sys
from importlib.util import module_from_spec, spec_from_file_location

import numpy as np
import pytest
import torch

from videoregion.config import load_config
from videoregion.data.annotations import VideoRecord
from videoregion.data.batch import normalize
from videoregion.data.build import build_clip_reader
from videoregion.data.dataset import VideoDataset
from videoregion.errors import ConfigError
from videoregion.inference import FeatureExtractor, build_predictor, extract_videos, output_stems

from .test_demo import CLASSES, make_video, trained  # noqa: F401  (trained: the checkpoint fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "extract_features.py")
META = {"model": "regionvit3d_nano", "checkpoint": "ckpt", "settings": {"window_frames": 8}}


def run_tool(*args: str, cwd: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.run([sys.executable, TOOL, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def load_tool():
    spec = spec_from_file_location("extract_features_tool", TOOL)
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extractor(trained):  # noqa: F811
    return FeatureExtractor(build_predictor(trained["config"], trained["checkpoint"]), window_frames=8,
                            stride_frames=4)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three short videos in two folders and a file that is not a video."""
    root = tmp_path_factory.mktemp("videos")
    (root / "b").mkdir()
    paths = [make_video(root / "one.mp4", num_frames=20), make_video(root / "b" / "two.mp4", num_frames=12),
             make_video(root / "three.mp4", num_frames=16, fps=25)]
    bad = root / "broken.mp4"
    bad.write_text("not a video\n")
    return {"good": paths, "bad": str(bad)}


def read_outputs(out, stem):
    with open(out / f"{stem}.json") as f:
        return np.load(out / f"{stem}.npy"), json.load(f)


# ----------------------------------------------------------------------------- library
def test_window_features_are_the_predictors(trained, extractor, videos):  # noqa: F811
    """The head applied to a window's features gives the Predictor's score of that window (one view)."""
    path = videos["good"][0]
    features = extractor.extract(path)
    model = extractor.predictor.model
    assert features.features.dtype == np.float32 and features.features.shape == (4, model.num_features)
    assert [(w.first, w.length) for w in features.windows] == [(0, 8), (4, 8), (8, 8), (12, 8)]
    cfg = load_config([trained["cfg"]], ["DEMO.WINDOW_SECONDS", str(8 / 30), "DEMO.STRIDE_SECONDS", str(4 / 30)])
    predictor = build_predictor(cfg, trained["checkpoint"])
    prediction = predictor.predict(path)
    assert prediction.windows == features.windows
    with torch.no_grad():
        scores = model.head(torch.from_numpy(features.features)).softmax(-1)
    torch.testing.assert_close(scores, prediction.window_scores)


def test_features_average_the_test_views(trained, videos):  # noqa: F811
    """2 clips x 3 crops of one window over a short video: the mean pre-logit feature of the test dataset's views."""
    cfg = load_config([trained["cfg"]], ["TEST.NUM_SPATIAL_CROPS", "3", "DEMO.CLIPS_PER_WINDOW", "2",
                                         "TEST.NUM_ENSEMBLE_VIEWS", "2"])
    extractor = FeatureExtractor(build_predictor(cfg, trained["checkpoint"]), window_frames=64)
    path = videos["good"][1]
    (window,) = extractor.extract(path).windows
    features = extractor.extract(path).features
    assert (window.first, window.length) == (0, 12)
    dataset = VideoDataset([VideoRecord(path, 0)], CLASSES, clips=build_clip_reader(cfg, "test"), train=False,
                           num_temporal_views=2)
    views = torch.stack([dataset[i]["clip"] for i in range(len(dataset))])  # (6, C, T, H, W)
    assert len(views) == 6 and not torch.equal(views[0], views[1])
    model = extractor.predictor.model
    with torch.no_grad():
        expected = model.forward_head(model.forward_features(normalize(views, cfg.DATA.MEAN, cfg.DATA.STD)),
                                      pre_logits=True).mean(0)
    torch.testing.assert_close(torch.from_numpy(features[0]), expected)


def test_resume_skips_done_videos_and_completes_a_partial_run(extractor, videos, tmp_path):
    out = tmp_path / "out"
    first = extract_videos(extractor, videos["good"], str(out), meta=META)
    assert len(first.written) == 3 and not first.skipped and not first.failed
    features, record = read_outputs(out, "one")
    assert features.shape == (4, extractor.feature_dim)
    assert [w["first_frame"] for w in record["windows"]] == [0, 4, 8, 12]
    assert record["windows"][1] == {"index": 1, "start_seconds": round(4 / 30, 4), "end_seconds": 0.4,
                                    "first_frame": 4, "num_frames": 8}
    assert record["settings"] == META["settings"] and record["checkpoint"] == "ckpt"
    np.testing.assert_allclose(features, extractor.extract(videos["good"][0]).features)

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    os.remove(out / "two.json")  # killed after two.npy: two is not done
    again = extract_videos(extractor, videos["good"], str(out), meta=META)
    assert again.written == [videos["good"][1]] and len(again.skipped) == 2
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith("two")} == \
        {k: v for k, v in mtimes.items() if not k.startswith("two")}
    assert read_outputs(out, "two")[0].shape == (2, extractor.feature_dim)
    assert sorted(p.name for p in out.iterdir()) == sorted(mtimes)  # no temporary files left

    with pytest.raises(ConfigError, match=r"one\.json was written with other settings"):
        extract_videos(extractor, videos["good"], str(out), meta={**META, "settings": {"window_frames": 16}})
    (tmp_path / "elsewhere").mkdir()
    namesake = make_video(tmp_path / "elsewhere" / "one.mp4", num_frames=8)
    with pytest.raises(ConfigError, match=r"one\.json holds the features of .*/one\.mp4, not of .*elsewhere/one\.mp4"):
        extract_videos(extractor, [namesake], str(out), meta=META)


def test_an_unreadable_video_is_reported_and_the_others_done(extractor, videos, tmp_path):
    out = tmp_path / "out"
    listed = [videos["good"][0], videos["bad"], videos["good"][2]]
    summary = extract_videos(extractor, listed, str(out), meta=META, workers=1)
    assert summary.written == [listed[0], listed[2]]
    assert [path for path, _ in summary.failed] == [videos["bad"]]
    assert summary.report == str(out / "failed.tsv")
    (line,) = (out / "failed.tsv").read_text().splitlines()
    path, reason = line.split("\t")
    assert path == videos["bad"] and reason
    assert not (out / "broken.npy").exists() and not (out / "broken.json").exists()


def test_ranks_write_disjoint_shares_that_cover_the_list(extractor, videos, tmp_path):
    listed = [*videos["good"], videos["good"][0]]  # a file listed twice is done once
    shares = [extract_videos(extractor, listed, str(tmp_path), meta=META, rank=r, world_size=2).written
              for r in (0, 1)]
    assert shares == [[videos["good"][0], videos["good"][2]], [videos["good"][1]]]
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["one.npy", "three.npy", "two.npy"]


def test_same_stem_in_two_folders_is_refused(tmp_path):
    assert output_stems(["a/x.mp4", "b/y.mkv", "a/x.mp4"]) == ["x", "y", "x"]  # the same file twice is fine
    with pytest.raises(ConfigError, match=r"a/x\.mp4 and b/x\.mkv would both write x\.npy"):
        output_stems(["a/x.mp4", "b/x.mkv"])


# ----------------------------------------------------------------------------- tools/extract_features.py
def test_end_to_end_with_a_list_an_unreadable_video_and_a_rerun(trained, videos, tmp_path, capsys):  # noqa: F811
    listing = tmp_path / "videos.txt"
    listing.write_text("# videos\n" + "\n".join([*videos["good"], videos["bad"]]) + "\n")
    args = ["--checkpoint", trained["checkpoint"], "--out", "feats", "--list", str(listing), "--window-seconds", "0.4",
            "--stride-seconds", "0.2", "--workers", "1", "DEMO.BATCH_SIZE", "2"]
    result = run_tool(*args, cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"wrote 3, skipped 0 \(done before\), failed 1: .*broken\.mp4 \(.+\); listed in feats/failed\.tsv",
                     result.stdout), result.stdout
    out = tmp_path / "feats"
    features, record = read_outputs(out, "one")
    assert features.dtype == np.float32 and features.shape == (len(record["windows"]), record["feature_dim"])
    assert [w["num_frames"] for w in record["windows"]] == [12, 12, 12]
    assert record["windows"][-1]["end_seconds"] == pytest.approx(20 / 30, abs=1e-4)
    assert record["model"] == "regionvit3d_nano" and record["checkpoint"] == trained["checkpoint"]
    assert record["settings"]["window_seconds"] == 0.4 and record["video"] == videos["good"][0]
    assert read_outputs(out, "three")[1]["fps"] == pytest.approx(25)

    args[args.index("feats")] = str(out)
    assert load_tool().main(args) == 1  # the rerun, in this process: the same outputs, nothing rewritten
    assert "wrote 0, skipped 3 (done before), failed 1" in capsys.readouterr().out


def test_a_split_of_the_configs_dataset_with_trailing_overrides(trained, tmp_path, capsys):  # noqa: F811
    """--cfg CFG --split test: the videos of the layout's test split (here the folder layout)."""
    for split, name in [("train", "wave/w0.mp4"), ("train", "clap/c0.mp4"), ("test", "wave/w1.mp4"),
                        ("test", "clap/c1.mp4")]:
        (tmp_path / "data" / split / name).parent.mkdir(parents=True, exist_ok=True)
        make_video(tmp_path / "data" / split / name, num_frames=10)
    out = tmp_path / "out"
    code = load_tool().main(["--cfg", trained["cfg"], "--split", "test", "--checkpoint", trained["checkpoint"],
                             "--out", str(out), "--workers", "0", "DATA.DATASET", "folder",
                             "DATA.PATH_TO_DATA_DIR", str(tmp_path / "data")])
    assert code == 0, capsys.readouterr()
    assert "wrote 2, skipped 0 (done before), failed 0" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.npy")) == ["c1.npy", "w1.npy"]


def test_torchrun_ranks_share_the_list(trained, videos, tmp_path):  # noqa: F811
    args = [TOOL, "--checkpoint", trained["checkpoint"], "--out", "feats", *videos["good"], "--workers", "0"]
    env = {**os.environ, "PYTHONPATH": ROOT, "WORLD_SIZE": "2"}
    procs = [subprocess.Popen([sys.executable, *args], cwd=str(tmp_path), env={**env, "RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert "wrote 2, skipped 0" in outputs[0][0] and "wrote 1, skipped 0" in outputs[1][0]
    assert sorted(p.name for p in (tmp_path / "feats").iterdir()) == sorted(
        f"{stem}.{ext}" for stem in ("one", "two", "three") for ext in ("json", "npy"))


@pytest.mark.parametrize("case", ["missing checkpoint", "unknown split", "seconds and frames", "negative window",
                                  "no videos", "same stem", "split without cfg", "missing list"])
def test_bad_input_is_one_line_and_exit_2(trained, videos, tmp_path, capsys, case):  # noqa: F811
    args = ["--checkpoint", trained["checkpoint"], "--out", str(tmp_path / "out")]
    video = videos["good"][0]
    expected = {
        "missing checkpoint": "gone.pyth: checkpoint file not found",
        "unknown split": "unknown split 'dev'",
        "seconds and frames": "in seconds .* or in frames .*, not both",
        "negative window": "--window-frames must be positive, got -4",
        "no videos": "give the videos one way",
        "same stem": "one.mp4 and .*one.mp4 would both write one.npy",
        "split without cfg": "--split reads the dataset of a config: give --cfg CFG too",
        "missing list": "nowhere.txt: cannot read the list of videos",
    }[case]
    if case == "missing checkpoint":
        args = ["--checkpoint", str(tmp_path / "gone.pyth"), "--out", str(tmp_path / "out"), video]
    elif case == "unknown split":
        args = ["--cfg", trained["cfg"], "--split", "dev", "--out", str(tmp_path / "out")]
    elif case == "seconds and frames":
        args += [video, "--window-seconds", "1", "--stride-frames", "4"]
    elif case == "negative window":
        args += [video, "--window-frames", "-4"]
    elif case == "same stem":
        (tmp_path / "copy").mkdir()
        other = make_video(tmp_path / "copy" / "one.mp4", num_frames=8)
        args += [video, other]
    elif case == "split without cfg":
        args += ["--split", "test"]
    elif case == "missing list":
        args += ["--list", str(tmp_path / "nowhere.txt")]
    assert load_tool().main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(expected, lines[0]), lines
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_input_exit_status_from_the_command_line(trained, videos, tmp_path):  # noqa: F811
    result = run_tool("--checkpoint", trained["checkpoint"], "--out", "out", videos["good"][0], "--window-seconds",
                      "1", "--window-frames", "8", cwd=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: give the windows in seconds (--window-seconds/--stride-seconds) "
        "or in frames (--window-frames/--stride-frames), not both"]
