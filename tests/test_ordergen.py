"""The second order-only dataset (videoregion.ordergen): classes, frames, files, and the tool."""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest

import videoregion.ordergen as O
from videoregion.config import load_config
from videoregion.data import build_dataset
from videoregion.errors import ConfigError
from videoregion.synthetic.build import ensure_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(size=32, num_frames=8)  # decord handles width 32 (not 16, 24 or 48)
NAMES = [c.name for c in O.CLASSES]


def params_of(class_index, seed=0, video_index=0, **kwargs):
    return O.sample_params(O.video_rng(seed, class_index, video_index), action=O.CLASSES[class_index].action,
                           **{**TINY, **kwargs})


def decode(path):
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


# ----------------------------------------------------------------------------- classes and frames

def test_ten_classes_in_time_reversed_pairs():
    assert len(O.CLASSES) == 10 and len(set(NAMES)) == 10
    assert set(O.ACTIONS) == {c.action for c in O.CLASSES}
    for i, cls in enumerate(O.CLASSES):
        other = O.CLASSES[O.partner(i)]
        assert O.partner(O.partner(i)) == i != O.partner(i)
        assert other.action == cls.action and other.forward != cls.forward
    with pytest.raises(ValueError, match="out of range"):
        O.partner(10)


@pytest.mark.parametrize("class_index", range(len(O.CLASSES)))
def test_a_class_played_backwards_is_its_partner(class_index):
    params = params_of(class_index)
    frames = O.render_frames(class_index, params)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    backwards = O.render_frames(O.partner(class_index), params)
    np.testing.assert_array_equal(backwards, frames[::-1])
    # The same set of frames: no single frame tells the two classes apart ...
    assert sorted(f.tobytes() for f in backwards) == sorted(f.tobytes() for f in frames)
    # ... while their order does.
    assert not np.array_equal(backwards, frames)


def test_render_is_a_pure_function_of_seed_class_and_index():
    frames = O.render_frames(4, params_of(4))
    np.testing.assert_array_equal(O.render_frames(4, params_of(4)), frames)
    assert not np.array_equal(O.render_frames(4, params_of(4, seed=1)), frames)
    assert not np.array_equal(O.render_frames(4, params_of(4, video_index=1)), frames)
    # each class draws its own videos: a partner's video i is not video i played backwards
    assert params_of(5) != params_of(4)


@pytest.mark.parametrize("action", O.ACTIONS)
def test_culling_draws_the_same_frames(action):
    class_index = [c.action for c in O.CLASSES].index(action)
    for video_index in range(3):
        for kwargs in (TINY, dict(size=64, num_frames=32)):
            params = params_of(class_index, video_index=video_index, **kwargs)
            np.testing.assert_array_equal(O.render_phases(params), O.render_phases(params, cull=False))


def test_timing_runs_from_start_to_end_and_never_back():
    t = np.linspace(0, 1, 101)
    for video_index in range(20):
        timing = params_of(0, video_index=video_index).timing
        phase = O.action_phase(timing, t)
        assert phase[0] == 0.0 and phase[-1] == pytest.approx(1.0)
        assert np.all(np.diff(phase) >= -1e-12)


# ----------------------------------------------------------------------------- what the classes show

def quiet(params, keep=("actor",)):
    """The video without noise and flicker, and with only the sprites of the roles in ``keep``."""
    return dataclasses.replace(params, noise_std=0.0, flicker_std=0.0,
                               sprites=tuple(s for s in params.sprites if s.role in keep))


def actor_weight(class_index, params):
    """(T, H, W): how much the actors change each pixel, in the class's frame order."""
    frames = O.render_frames(class_index, quiet(params)).astype(float)
    empty = O.render_frames(class_index, quiet(params, keep=())).astype(float)
    return np.abs(frames - empty).sum(-1)


def centroid(weight):
    yy, xx = np.mgrid[0 : weight.shape[1], 0 : weight.shape[2]]
    mass = weight.sum((1, 2))
    return (weight * xx).sum((1, 2)) / mass, (weight * yy).sum((1, 2)) / mass


def spin_turn(class_index, params):
    """Total turn (radians, clockwise on screen positive) of the actors' mass centre about the hub."""
    hub = params.sprites[-1].pivot[0]
    cx, cy = centroid(actor_weight(class_index, params))
    return float(np.unwrap(np.arctan2(cy - hub[1], cx - hub[0]))[[0, -1]] @ [-1, 1])


def spread(class_index, params):
    """Change (last - first) of the actors' RMS distance from their mass centre."""
    weight = actor_weight(class_index, params)
    cx, cy = centroid(weight)
    yy, xx = np.mgrid[0 : weight.shape[1], 0 : weight.shape[2]]
    rms = np.sqrt((weight * ((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2)).sum((1, 2))
                  / weight.sum((1, 2)))
    return float(rms[-1] - rms[0])


def liquid(class_index, params):
    """Change (last - first) of the area the actors cover."""
    area = (actor_weight(class_index, params) > 30).sum((1, 2))
    return float(area[-1] - area[0])


def pan_shift(class_index, params):
    """The horizontal shift (pixels) that best maps the first frame onto the last."""
    frames = O.render_frames(class_index, quiet(params, keep=("scenery",))).astype(float)
    first, last = frames[0], frames[-1]
    width = first.shape[1]

    def error(dx):  # last[x] ~ first[x - dx] where both exist
        a, b = (first[:, : width - dx], last[:, dx:]) if dx >= 0 else (first[:, -dx:], last[:, : width + dx])
        return np.mean((a - b) ** 2)

    return float(min(range(-width // 2, width // 2 + 1), key=error))


def sharpness(class_index, params):
    """Change (last - first) of the mean absolute gradient: zooming in enlarges, and so smooths, the scene."""
    frames = O.render_frames(class_index, quiet(params, keep=("scenery",))).astype(float).mean(-1)
    grad = np.abs(np.diff(frames, axis=1)).mean((1, 2)) + np.abs(np.diff(frames, axis=2)).mean((1, 2))
    return float(grad[-1] - grad[0])


@pytest.mark.parametrize("name, measure, sign", [
    ("spin_clockwise", spin_turn, 1), ("spin_anticlockwise", spin_turn, -1),
    ("come_together", spread, -1), ("move_apart", spread, 1),
    ("fill", liquid, 1), ("drain", liquid, -1),
    ("pan_right", pan_shift, -1), ("pan_left", pan_shift, 1),  # the camera goes right: the scene moves left
    ("zoom_in", sharpness, -1), ("zoom_out", sharpness, 1),
])
def test_class_names_say_what_the_frames_do(name, measure, sign):
    class_index = NAMES.index(name)
    for video_index in range(4):
        params = params_of(class_index, video_index=video_index, size=64, num_frames=8)
        assert sign * measure(class_index, params) > 0, (name, video_index)


def test_spin_turns_about_a_fixed_hub_with_unequal_blades():
    for video_index in range(10):
        params = params_of(0, video_index=video_index, num_frames=16)
        hub = params.sprites[-1]
        assert hub.role == "actor" and hub.pivot[0] == hub.pivot[1]
        blades = [s for s in params.sprites if s.role == "actor" and s.kind != "rect" and s is not hub]
        assert len(blades) == 3 and len({s.half_size[0][0] for s in blades}) == 3
        turns = np.array([s.angle[1] - s.angle[0] for s in blades])
        assert np.allclose(turns, turns[0]) and 0.5 * np.pi < turns[0] < np.pi  # rigid, 90-180 degrees
        assert all(s.pivot[0] == s.pivot[1] == hub.pivot[0] for s in blades)  # no net displacement


def test_gathering_shapes_close_by_at_least_45_percent_of_the_frame():
    for video_index in range(10):
        params = params_of(2, video_index=video_index, size=64)
        centres = O.sprite_centres(params)  # (T, 2 shapes, xy), phase order
        gap = np.linalg.norm(centres[:, 0] - centres[:, 1], axis=-1)
        assert np.all(np.diff(gap) <= 1e-9) and gap[0] - gap[-1] >= 0.45 * 64
        assert np.all((centres > 0) & (centres < 64))


def test_actors_are_light_on_dark_backdrops():
    for class_index in (0, 2, 4):
        for video_index in range(5):
            params = params_of(class_index, video_index=video_index)
            floor = np.mean(params.backdrop.high) + 0.4
            assert all(np.mean(s.colour) >= floor for s in params.sprites if s.role == "actor")


def test_every_video_has_distractors_that_follow_plain_time():
    for class_index in range(0, 10, 2):
        params = params_of(class_index)
        distractors = [s for s in params.sprites if s.role == "distractor"]
        assert 1 <= len(distractors) <= 2 and all(s.clock == "time" for s in distractors)


# ----------------------------------------------------------------------------- datasets on disk

@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three full-size videos per class, as the tool writes them by default (shared, read-only)."""
    out = str(tmp_path_factory.mktemp("ordergen") / "data")
    return out, O.generate_dataset(out, seed=0, videos_per_class=3)


def test_kinetics_layout_files(dataset):
    out, summary = dataset
    assert json.loads(open(os.path.join(out, "classnames.json")).read()) == {n: i for i, n in enumerate(NAMES)}
    assert summary["num_videos"] == {"train": 10, "val": 10, "test": 10}
    assert json.loads(open(os.path.join(out, O.SUMMARY_FILE)).read()) == summary
    seen = set()
    for split in ("train", "val", "test"):
        for line in open(os.path.join(out, f"{split}.csv")).read().splitlines():
            rel, label = line.split(" ")
            assert rel.endswith(".mp4") and rel.split("/")[0] == NAMES[int(label)]
            seen.add(rel)
    assert len(seen) == 30
    path = os.path.join(out, "videos", "fill", "fill_0000.mp4")
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == 30
    frames = decode(path)
    assert frames.shape == (32, 64, 64, 3)
    rendered = O.render_frames(4, O.sample_params(O.video_rng(0, 4, 0), action="fill"))
    assert np.abs(frames.astype(float) - rendered).mean() < 6  # h264 at crf 20


def test_split_is_70_15_15():
    from videoregion.synthetic.generate import split_counts

    assert split_counts(300, (0.7, 0.15, 0.15)) == (210, 45, 45)


def test_the_main_jobs_recipe_reads_it(dataset):
    """configs/synthetic_regionvit.yaml with only the class count and paths changed."""
    out, summary = dataset
    cfg = load_config([os.path.join(REPO, "configs", "synthetic_regionvit.yaml")], [
        "MODEL.NUM_CLASSES", "10", "DATA.PATH_TO_DATA_DIR", out, "DATA.PATH_PREFIX", os.path.join(out, "videos"),
        "SYNTHETIC.GENERATE", "False", "DATA_LOADER.NUM_WORKERS", "0"])
    ensure_dataset(cfg, main_process=True)  # there: taken as it is
    for split in ("train", "val", "test"):
        ds = build_dataset(cfg, split)
        assert ds.class_names == NAMES and ds.num_videos == summary["num_videos"][split]
        assert [r.label for r in ds.records] == list(range(10))
        assert all(os.path.basename(os.path.dirname(r.path)) == NAMES[r.label] for r in ds.records)
    item = build_dataset(cfg, "train")[7]
    assert item["label"] == 7 and tuple(item["clip"].shape) == (3, 8, 56, 56)


def generate(out, seed=0, workers=1):
    return O.generate_dataset(str(out), seed=seed, videos_per_class=3, workers=workers, **TINY)


def test_same_seed_same_files_with_any_number_of_workers(tmp_path):
    generate(tmp_path / "a")
    generate(tmp_path / "b", workers=2)
    generate(tmp_path / "c", seed=1)
    files = sorted(os.path.relpath(os.path.join(root, name), tmp_path / "a")
                   for root, _, names in os.walk(tmp_path / "a") for name in names)
    assert len(files) == 30 + 5
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    video = os.path.join("videos", "zoom_in", "zoom_in_0001.mp4")
    assert (tmp_path / "a" / video).read_bytes() != (tmp_path / "c" / video).read_bytes()


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="videos_per_class=2"):
        O.generate_dataset(str(tmp_path), videos_per_class=2)
    with pytest.raises(ConfigError, match="even"):
        O.generate_dataset(str(tmp_path), videos_per_class=3, size=33)
    with pytest.raises(ConfigError, match="num_frames"):
        O.generate_dataset(str(tmp_path), videos_per_class=3, num_frames=1)
    with pytest.raises(ConfigError, match="preview frames"):
        O.write_preview(str(tmp_path / "p.png"), frames=40)
    with pytest.raises(ValueError, match="unknown action"):
        O.sample_params(np.random.default_rng(0), action="jump")


# ----------------------------------------------------------------------------- the tool

def run_tool(*args):
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_order_dataset.py"), *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_tool_writes_a_tiny_dataset_and_a_preview(tmp_path):
    out, sheet = tmp_path / "data", tmp_path / "preview.png"
    result = run_tool("--out", str(out), "--videos-per-class", "3", "--size", "32", "--frames", "8",
                      "--seed", "5", "--workers", "1", "--preview", str(sheet), "--preview-videos", "1",
                      "--preview-frames", "4")
    assert result.returncode == 0, result.stderr
    assert "wrote 10 classes (train 10, val 10, test 10 videos)" in result.stdout
    assert all(len((out / f"{s}.csv").read_text().splitlines()) == 10 for s in ("train", "val", "test"))
    assert json.loads((out / O.SUMMARY_FILE).read_text())["seed"] == 5
    from PIL import Image

    with Image.open(sheet) as image:  # 10 rows of 4 frames, each enlarged twice
        width, height = image.size
    assert width > 4 * 64 and height > 10 * 64


def load_tool():
    path = os.path.join(REPO, "tools", "make_order_dataset.py")
    spec = importlib.util.spec_from_file_location("make_order_dataset", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_tool_errors_are_one_line(tmp_path, capsys):
    tool = load_tool()
    assert tool.main(["--out", str(tmp_path / "bad"), "--videos-per-class", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "videos_per_class=2" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        tool.main(["--seed", "1"])
    assert exit_info.value.code == 2 and "nothing to do" in capsys.readouterr().err
