"""browse_dataset: the clips training sees, written as a PNG grid or a GIF / MP4 animation."""

import importlib.util
import os

import av
import numpy as np
import pytest
import torch
from PIL import Image

from videoregion.data import build_batch_transform, build_dataset
from videoregion.data.browse import render_animation, render_grid, sample_items, shown_clips

from .conftest import tiny_cfg
from .test_tools import REPO, run_tool
from .videos import LOSSLESS, write_video

COLOURS = [(200, 40, 90), (30, 160, 220)]  # one colour per video (and class); green rises 3 a frame


@pytest.fixture(scope="module")
def constant_root(tmp_path_factory):
    """Two 24-frame 48x64 lossless videos, each frame one colour, classes "red" and "blue"."""
    root = str(tmp_path_factory.mktemp("constant"))
    for i, colour in enumerate(COLOURS):
        frames = np.full((24, 48, 64, 3), colour, np.uint8)
        frames[..., 1] += 3 * np.arange(24, dtype=np.uint8)[:, None, None]
        write_video(os.path.join(root, "videos", f"{i}.mp4"), frames, **LOSSLESS)
    for split in ("train", "val", "test"):
        with open(os.path.join(root, f"{split}.csv"), "w") as f:
            f.write("videos/0.mp4 0\nvideos/1.mp4 1\n")
    with open(os.path.join(root, "classnames.txt"), "w") as f:
        f.write("red\nblue\n")
    return root


def config_file(path, root):
    path.write_text(f"DATA:\n  PATH_TO_DATA_DIR: {root}\n  PATH_PREFIX: {root}\n  NUM_FRAMES: 8\n  SAMPLING_RATE: 2\n"
                    "  TRAIN_JITTER_SCALES: [40, 48]\n  TRAIN_CROP_SIZE: 32\n  TEST_CROP_SIZE: 32\n"
                    "MODEL:\n  NUM_CLASSES: 2\nDATA_LOADER:\n  NUM_WORKERS: 0\n")
    return str(path)


def load_tool():
    spec = importlib.util.spec_from_file_location("browse_dataset", os.path.join(REPO, "tools", "browse_dataset.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_png_is_the_clips_with_captions(kinetics_root, tmp_path):
    """The tool's PNG is, tile for tile, the dataset's augmented clips (K = 2 samples per video)."""
    out = tmp_path / "sheet.png"
    result = run_tool("browse_dataset.py", "--cfg", config_file(tmp_path / "cfg.yaml", kinetics_root), "--num", "3",
                      "--seed", "5", "--out", str(out), "AUG.NUM_SAMPLE", "2", timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout and "6 clips of 8 frames, 32x32" in result.stdout
    cfg = tiny_cfg(kinetics_root, str(tmp_path / "o"), **{"AUG.NUM_SAMPLE": 2})
    dataset = build_dataset(cfg, "train")
    items = sample_items(dataset, 3, seed=5)
    shown = shown_clips(items, dataset.class_names)
    assert len(shown) == 6 and shown[0].caption[1] == shown[1].caption[1] == items[0]["path"]
    assert shown[0].caption[0] == f"class_{items[0]['label']} ({items[0]['label']})  sample 1/2"
    expected, tiles = render_grid(shown)
    image = np.array(Image.open(out).convert("RGB"))
    assert image.shape == expected.shape and np.array_equal(image, expected)
    for row, boxes in enumerate(tiles):
        item = items[row // 2]
        clip = item["clip"][row % 2]  # (C, T, H, W) uint8, sample row % 2 of the video
        assert len(boxes) == 8
        for t, (top, left) in enumerate(boxes):
            assert np.array_equal(image[top : top + 32, left : left + 32], clip[:, t].permute(1, 2, 0).numpy())
    # the caption band above the tiles holds text (light pixels on the dark background)
    top, left = tiles[0][0]
    assert (image[:top, left : left + 8 * 34].min(-1) > 160).sum() > 20


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_animation_tiles_play_their_clip(constant_root, tmp_path, suffix, capsys):
    """The tool's main in this process (the PNG test runs it as shipped)."""
    out = tmp_path / f"clips{suffix}"
    argv = ["--cfg", config_file(tmp_path / "cfg.yaml", constant_root), "--num", "2", "--out", str(out), "--fps", "5"]
    assert load_tool().main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    dataset = build_dataset(tiny_cfg(constant_root, str(tmp_path / "o")), "train")
    shown = shown_clips(sample_items(dataset, 2, seed=0), dataset.class_names)
    expected, tiles = render_animation(shown, even=suffix == ".mp4")
    assert expected.shape[0] == 8
    if suffix == ".gif":
        gif = Image.open(out)
        assert gif.n_frames == 8 and gif.info["duration"] == 200
        frames = []
        for t in range(8):
            gif.seek(t)
            frames.append(np.array(gif.convert("RGB")))
        frames, tolerance, inset = np.stack(frames), (2, 2), 0
    else:
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == 5
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        tolerance, inset = (12, 3), 2  # h264 in yuv420p: lossy, chroma shared across 2x2 pixels (tile edges)
    assert frames.shape == expected.shape
    for item, [(top, left)] in zip(shown, tiles):
        red, _, blue = COLOURS[["red", "blue"].index(item.caption[0].split()[0])]
        clip = item.clip.permute(1, 2, 3, 0).numpy().astype(int)  # (T, H, W, 3): the clip as the dataset gave it
        assert (clip[..., 0] == red).all() and (clip[..., 2] == blue).all()
        assert len(np.unique(clip[:, 0, 0, 1])) == 8  # every frame another green
        tile = frames[:, top : top + 32, left : left + 32].astype(int)
        inner = (slice(None), slice(inset, 32 - inset), slice(inset, 32 - inset))
        error = np.abs(tile[inner] - clip[inner])
        assert error.max() <= tolerance[0] and error.mean() <= tolerance[1]


def test_model_input_denormalised_is_the_clip(kinetics_root, tmp_path):
    """Without mixing, the normalised model input brought back to pixels is the dataset's clip."""
    cfg = tiny_cfg(kinetics_root, str(tmp_path / "o"))
    dataset = build_dataset(cfg, "train")
    items = sample_items(dataset, 2, seed=1)
    plain = shown_clips(items, dataset.class_names)
    model_input = shown_clips(items, dataset.class_names, build_batch_transform(cfg, "train", 2))
    for a, b in zip(plain, model_input):
        assert torch.equal(a.clip, b.clip) and a.caption == b.caption
    mixed_cfg = tiny_cfg(kinetics_root, str(tmp_path / "o"), **{"MIXUP.ENABLE": True, "MIXUP.CUTMIX_ALPHA": 0.0})
    mixed = shown_clips(items, dataset.class_names, build_batch_transform(mixed_cfg, "train", 2))
    assert " + " in mixed[0].caption[0] and not torch.equal(mixed[0].clip, plain[0].clip)


def test_bad_input_is_one_line(kinetics_root, tmp_path, capsys):
    tool = load_tool()
    cfg = config_file(tmp_path / "cfg.yaml", kinetics_root)
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = {
        "--split 'nope' unknown": ["--split", "nope", "--out", str(tmp_path / "a.png")],
        "cannot write .jpg": ["--out", str(tmp_path / "a.jpg")],
        "cannot create its folder": ["--out", str(blocker / "sub" / "a.png")],
        "config file not found": ["--out", str(tmp_path / "a.png"), "--cfg", str(tmp_path / "missing.yaml")],
        "nothing": ["--out", str(tmp_path / "a.png"), "DATA.PATH_TO_DATA_DIR", str(tmp_path / "nothing")],  # no data
    }
    for message, argv in cases.items():
        assert tool.main(["--cfg", cfg, *argv]) == 1, message
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
