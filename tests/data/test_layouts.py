"""Dataset layouts: one registered entry says how to read, sample, flip and write each layout."""

import logging
import os

import pytest
import torch

import videoregion.data.build as data_build
from videoregion.config import get_cfg
from videoregion.data.annotations import AnnotatedClass, AnnotatedVideo, write_class_names
from videoregion.data.build import build_clip_frames, build_sampler, build_transform
from videoregion.data.layouts import LAYOUTS, SEGMENTS, SamplingSettings, get_layout, load_annotations
from videoregion.data.sampling import clip_span, dense_indices, segment_indices
from videoregion.errors import ConfigError

CLASSES = [AnnotatedClass("move_right", "Moving [something] from left to right"),
           AnnotatedClass("move_left", "Moving [something] from right to left")]


def cfg_for(dataset, **data):
    cfg = get_cfg()
    cfg.DATA.DATASET = dataset
    cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE, cfg.DATA.TARGET_FPS = 8, 4, 30
    for key, value in data.items():
        cfg.DATA[key] = value
    return cfg


def test_the_layouts_are_registered():
    assert {"kinetics", "ssv2", "folder", "ucf101", "hmdb51"} <= set(LAYOUTS)
    assert not get_layout("ssv2").allows_flip
    assert all(get_layout(name).allows_flip for name in ("kinetics", "folder", "ucf101", "hmdb51"))
    assert [name for name, layout in LAYOUTS.items() if layout.sampling is SEGMENTS] == ["ssv2"]
    for name, layout in LAYOUTS.items():
        assert layout.name == name


@pytest.mark.parametrize("call", [
    lambda: get_layout("ucf"),
    lambda: build_sampler(cfg_for("ucf")),
    lambda: build_clip_frames(cfg_for("ucf")),
    lambda: build_transform(cfg_for("ucf"), "train"),
    lambda: load_annotations("ucf", ".", "train"),
])
def test_an_unknown_layout_is_a_config_error_listing_the_registered_ones(call):
    registered = r"\['folder', 'hmdb51', 'kinetics', 'ssv2', 'ucf101'\]"
    with pytest.raises(ConfigError, match=rf"'ucf' unknown; registered layouts: {registered}"):
        call()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_what_a_layout_writes_it_reads_back(tmp_path, name):
    layout = get_layout(name)
    paths = [layout.video_path(c.name, i, 2 * label + i + 1) for label, c in enumerate(CLASSES) for i in range(2)]
    assert len(set(paths)) == 4 and all(p.endswith(layout.video_suffix) for p in paths)
    for path in paths:  # the generator writes the videos before the annotations (the folder layout moves them)
        os.makedirs(os.path.dirname(tmp_path / "videos" / path), exist_ok=True)
        (tmp_path / "videos" / path).touch()
    videos = [AnnotatedVideo(p, label=k // 2, thing="striped blob") for k, p in enumerate(paths)]
    splits = {"train": videos[0::2], "val": videos[1::2], "test": videos[1::2]}
    write_class_names(str(tmp_path / "classnames.json"), [c.name for c in CLASSES])
    layout.write(str(tmp_path), CLASSES, splits)
    for split, expected in splits.items():
        records, names = load_annotations(name, str(tmp_path), split, path_prefix="/videos", num_classes=2)
        # labels index the layout's class names (sorted folder / file names for folder and hmdb51)
        found = [(r.path, names[r.label]) for r in records]
        if name == "folder":  # videos placed by split, listed in folder order; no prefix
            assert found == sorted((str(tmp_path / split / v.path), CLASSES[v.label].name) for v in expected)
        elif name == "hmdb51":  # one split file per class, read in class order
            assert found == sorted((f"/videos/{v.path}", CLASSES[v.label].name) for v in expected)
        else:
            assert found == [(f"/videos/{v.path}", names[v.label]) for v in expected]
        assert len(names) == 2
    if name == "ssv2":  # class names are the templates, without brackets, as in the released labels file
        assert names == ["Moving something from left to right", "Moving something from right to left"]
    elif name in ("folder", "hmdb51"):  # sorted names of the class folders / split files
        assert names == ["move_left", "move_right"]
    else:
        assert names == ["move_right", "move_left"]
    if name == "folder":  # every video moved out of the generator's folder
        assert not (tmp_path / "videos").exists()


def test_dense_and_segment_sampling_from_the_config():
    g = torch.Generator().manual_seed(0)
    kinetics = build_sampler(cfg_for("kinetics"))
    expected = dense_indices(100, 60.0, 1, 3, num_frames=8, sampling_rate=4, target_fps=30)
    assert torch.equal(kinetics(100, 60.0, 1, 3, g), expected)
    ssv2 = build_sampler(cfg_for("ssv2"))
    assert torch.equal(ssv2(50, 12.0, 0, 2, g), segment_indices(50, 12.0, 0, 2, num_frames=8))
    assert build_clip_frames(cfg_for("kinetics"))(60.0) == clip_span(60.0, 8, 4, 30)
    assert build_clip_frames(cfg_for("ssv2"))(60.0) == 8
    settings = SamplingSettings(num_frames=8, sampling_rate=4, target_fps=30)
    assert get_layout("ssv2").sampling.clip_frames(settings)(25.0) == 8


def test_flip_only_when_asked_and_the_layout_allows_it(caplog):
    assert build_transform(cfg_for("kinetics", RANDOM_FLIP=True), "train").flip is True
    assert build_transform(cfg_for("kinetics", RANDOM_FLIP=False), "train").flip is False
    assert build_transform(cfg_for("ssv2", RANDOM_FLIP=False), "train").flip is False
    data_build._warn_no_flip.cache_clear()  # warned at most once per process: start afresh
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert build_transform(cfg_for("ssv2", RANDOM_FLIP=True), "train").flip is False
    warnings = [r.getMessage() for r in caplog.records if "forbids flipping" in r.getMessage()]
    assert len(warnings) == 1 and "ssv2" in warnings[0]
