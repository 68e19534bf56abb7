import dataclasses
import json
import logging
import os
import subprocess
import sys

import av
import decord
import numpy as np
import pytest

import videoregion.synthetic as S
from videoregion.config import get_cfg
from videoregion.data.layouts import LAYOUTS
from videoregion.errors import ConfigError
from videoregion.synthetic.build import ensure_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(size=32, num_frames=8)  # decord handles width 32 (not 16, 24 or 48)


def tiny_video(class_index, seed=0, **kwargs):
    rng = S.video_rng(seed, class_index, 0)
    params = S.sample_params(rng, motion=S.CLASSES[class_index].motion, **{**TINY, **kwargs})
    return params, S.render_frames(class_index, params)


def decode_decord(path):
    reader = decord.VideoReader(path, num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def decode_pyav(path):
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


# ----------------------------------------------------------------------------- classes and frames

def test_at_least_ten_classes_in_time_reversed_pairs():
    assert len(S.CLASSES) >= 10 and len(S.CLASSES) % 2 == 0
    assert len({c.name for c in S.CLASSES}) == len(S.CLASSES)
    for i, cls in enumerate(S.CLASSES):
        other = S.CLASSES[S.partner(i)]
        assert S.partner(S.partner(i)) == i != S.partner(i)
        assert other.motion == cls.motion and other.forward != cls.forward


@pytest.mark.parametrize("class_index", range(len(S.CLASSES)))
def test_a_class_played_backwards_is_its_partner(class_index):
    params, frames = tiny_video(class_index)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    other, reversed_params = S.reverse_params(class_index, params)
    assert other == S.partner(class_index)
    backwards = S.render_frames(other, reversed_params)
    np.testing.assert_array_equal(backwards, frames[::-1])
    # The same set of frames: no single frame tells the two classes apart.
    assert sorted(f.tobytes() for f in backwards) == sorted(f.tobytes() for f in frames)
    # ... while their order does: the partner with the same parameters is not the same video.
    assert not np.array_equal(S.render_frames(other, params), frames)


def test_render_is_a_pure_function_of_its_arguments():
    params, frames = tiny_video(4)
    np.testing.assert_array_equal(S.render_frames(4, params), frames)
    _, other_seed = tiny_video(4, seed=1)
    assert not np.array_equal(other_seed, frames)


def object_stats(class_index, size=64, num_frames=16):
    """Per frame: object centroid (x, y), object area and mean brightness, without noise."""
    rng = S.video_rng(7, class_index, 0)
    params = S.sample_params(rng, motion=S.CLASSES[class_index].motion, size=size,
                             num_frames=num_frames)
    params = dataclasses.replace(params, noise_std=0.0)
    frames = S.render_frames(class_index, params).astype(float)
    empty = S.render_frames(class_index, dataclasses.replace(params, alpha=(0.0, 0.0)))
    weight = np.abs(frames - empty.astype(float)).sum(-1)  # (T, H, W): where the object shows
    yy, xx = np.mgrid[0:size, 0:size]
    mass = weight.sum((1, 2)) + 1e-9
    return dict(x=(weight * xx).sum((1, 2)) / mass, y=(weight * yy).sum((1, 2)) / mass,
                area=(weight > 30).sum((1, 2)), strength=mass, brightness=frames.mean((1, 2, 3)))


@pytest.mark.parametrize("name, key, sign", [
    ("move_right", "x", 1), ("move_left", "x", -1), ("move_down", "y", 1), ("move_up", "y", -1),
    ("move_down_right", "x", 1), ("move_down_right", "y", 1), ("move_up_left", "x", -1),
    ("move_up_left", "y", -1),
    ("grow", "area", 1), ("shrink", "area", -1), ("brighten", "brightness", 1),
    ("darken", "brightness", -1), ("appear", "strength", 1), ("disappear", "strength", -1),
])
def test_class_names_say_what_the_frames_do(name, key, sign):
    class_index = [c.name for c in S.CLASSES].index(name)
    values = object_stats(class_index)[key]
    assert sign * (values[-1] - values[0]) > 0.25 * np.abs(values).max()


def test_rotation_turns_the_object_half_a_turn_or_so():
    for name, sign in [("rotate_cw", 1), ("rotate_ccw", -1)]:
        class_index = [c.name for c in S.CLASSES].index(name)
        params, _ = tiny_video(class_index)
        turn = (params.angle[1] - params.angle[0]) * (1 if S.CLASSES[class_index].forward else -1)
        assert sign * turn > 0.5 * np.pi


# ----------------------------------------------------------------------------- datasets on disk

def generate(out, fmt, seed=0, workers=1):
    return S.generate_dataset(str(out), fmt, seed=seed, videos_per_class=3, workers=workers, **TINY)


def test_kinetics_layout_decodes_with_decord_and_pyav(tmp_path):
    summary = generate(tmp_path, "kinetics")
    names = json.loads((tmp_path / "classnames.json").read_text())
    assert names == {c.name: i for i, c in enumerate(S.CLASSES)}
    assert summary["num_videos"] == {"train": 14, "val": 14, "test": 14}
    seen = set()
    for split in ("train", "val", "test"):
        for line in (tmp_path / f"{split}.csv").read_text().splitlines():
            rel, label = line.split(" ")
            assert rel.endswith(".mp4") and rel.split("/")[0] == S.CLASSES[int(label)].name
            seen.add(rel)
    assert len(seen) == 42
    for rel in sorted(seen)[::9]:
        path = str(tmp_path / "videos" / rel)
        with av.open(path) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        frames = decode_decord(path)
        assert frames.shape == (8, 32, 32, 3)
        np.testing.assert_array_equal(frames, decode_pyav(path))


def test_a_dataset_knows_the_arguments_and_generator_that_made_it(tmp_path):
    summary = generate(tmp_path, "kinetics")
    expected = dict(format="kinetics", seed=0, videos_per_class=3, num_classes=len(S.CLASSES), **TINY)
    assert summary["generator_version"] == S.GENERATOR_VERSION
    assert S.mismatches(str(tmp_path), **expected) == []
    assert S.mismatches(str(tmp_path), **dict(expected, videos_per_class=4, seed=1)) == [
        "seed: found 0, expected 1", "videos_per_class: found 3, expected 4"]
    # a dataset written before the generator had versions
    del summary["generator_version"]
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    assert S.mismatches(str(tmp_path), **expected) == [
        f"generator_version: found None, expected {S.GENERATOR_VERSION}"]
    (tmp_path / "synthetic.json").unlink()
    [line] = S.mismatches(str(tmp_path), **expected)
    assert "synthetic.json: no generator summary" in line


def test_one_contrast_polarity_light_objects_on_dark_backgrounds():
    for class_index in range(len(S.CLASSES)):
        for seed in range(5):
            params, _ = tiny_video(class_index, seed=seed)
            assert np.mean(params.colour) - np.mean(params.background) > 0.4


def test_ssv2_layout_decodes_with_decord_and_pyav(tmp_path):
    generate(tmp_path, "ssv2")
    labels = json.loads((tmp_path / "something-something-v2-labels.json").read_text())
    assert sorted(int(v) for v in labels.values()) == list(range(len(S.CLASSES)))
    ids = []
    for name in ("train", "validation", "test"):
        entries = json.loads((tmp_path / f"something-something-v2-{name}.json").read_text())
        assert len(entries) == 14
        for e in entries:
            assert set(e) == {"id", "label", "template", "placeholders"}
            index = int(labels[e["template"].replace("[", "").replace("]", "")])
            assert e["label"] == e["template"].replace("[something]", e["placeholders"][0]).lower()
            assert S.CLASSES[index].template == e["template"]
            ids.append(e["id"])
    assert len(set(ids)) == 42
    path = str(tmp_path / "videos" / f"{ids[0]}.webm")
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
    frames = decode_decord(path)
    assert frames.shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(frames, decode_pyav(path))


@pytest.mark.parametrize("fmt", ["kinetics", "ssv2", "folder", "ucf101"])  # (hmdb51 writes as ucf101 does)
def test_same_seed_same_files_and_frames_with_any_number_of_workers(tmp_path, fmt):
    generate(tmp_path / "a", fmt)
    generate(tmp_path / "b", fmt, workers=2)
    generate(tmp_path / "c", fmt, seed=1)
    for root, _, files in os.walk(tmp_path / "a"):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), tmp_path / "a")
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    suffix = LAYOUTS[fmt].video_suffix
    video = min(os.path.relpath(os.path.join(root, name), tmp_path / "a")
                for root, _, files in os.walk(tmp_path / "a") for name in files if name.endswith(suffix))
    a, b, c = (decode_decord(str(tmp_path / d / video)) for d in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="format"):
        S.generate_dataset(str(tmp_path), "ucf", videos_per_class=3)
    with pytest.raises(ConfigError, match="videos_per_class=2"):
        S.generate_dataset(str(tmp_path), videos_per_class=2)
    with pytest.raises(ConfigError, match="num_classes"):
        S.generate_dataset(str(tmp_path), videos_per_class=3, num_classes=3)
    with pytest.raises(ConfigError, match="even"):
        S.generate_dataset(str(tmp_path), videos_per_class=3, size=33)
    with pytest.raises(ConfigError, match="num_frames"):
        S.generate_dataset(str(tmp_path), videos_per_class=3, num_frames=1)
    assert S.split_counts(60, (0.7, 0.15, 0.15)) == (42, 9, 9)


# ----------------------------------------------------------------------------- the tool

def run_tool(*args):
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_synthetic_dataset.py"),
                           *args], env=env, capture_output=True, text=True, timeout=120)


def test_tool_writes_a_tiny_dataset(tmp_path):
    # one worker: no pool of spawned processes to start for 12 tiny videos (test_same_seed_... tests the pools)
    result = run_tool("--out", str(tmp_path), "--format", "ssv2", "--videos-per-class", "3",
                      "--num-classes", "4", "--size", "32", "--frames", "8", "--seed", "5", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "wrote 4 classes" in result.stdout
    train = json.loads((tmp_path / "something-something-v2-train.json").read_text())
    assert len(train) == 4 and all((tmp_path / "videos" / f"{e['id']}.webm").is_file()
                                   for e in train)
    bad = run_tool("--out", str(tmp_path / "bad"), "--videos-per-class", "2")
    assert bad.returncode == 2 and "videos_per_class=2" in bad.stderr


# ----------------------------------------------------------------------------- config -> dataset

def synthetic_cfg(folder, generate=True):
    cfg = get_cfg()
    cfg.DATA.PATH_TO_DATA_DIR = str(folder)
    cfg.MODEL.NUM_CLASSES = 2
    cfg.SYNTHETIC.GENERATE = generate
    cfg.SYNTHETIC.VIDEOS_PER_CLASS, cfg.SYNTHETIC.SIZE, cfg.SYNTHETIC.NUM_FRAMES = 3, 32, 8
    return cfg


def test_ensure_dataset_generates_once_then_checks(tmp_path, caplog):
    folder = tmp_path / "data"
    cfg = synthetic_cfg(folder)
    ensure_dataset(cfg, main_process=False)  # only the main process generates
    assert not folder.exists()
    with caplog.at_level(logging.INFO):
        ensure_dataset(cfg, main_process=True)
    assert "generating the synthetic dataset" in caplog.text and "synthetic dataset: " in caplog.text
    assert not (tmp_path / "data.partial").exists()
    assert S.mismatches(str(folder), format="kinetics", seed=0, videos_per_class=3, size=32, num_frames=8,
                        num_classes=2) == []
    ensure_dataset(cfg, main_process=True)  # there and as configured: kept
    cfg.SYNTHETIC.SEED = 1
    with pytest.raises(ConfigError, match=r"would not write now \(seed: found 0, expected 1\)"):
        ensure_dataset(cfg, main_process=True)
    cfg.SYNTHETIC.GENERATE = False  # taken as it is
    ensure_dataset(cfg, main_process=True)


def test_ensure_dataset_without_generate_needs_the_folder(tmp_path):
    with pytest.raises(ConfigError, match="does not exist. Prepare the dataset"):
        ensure_dataset(synthetic_cfg(tmp_path / "none", generate=False), main_process=True)
