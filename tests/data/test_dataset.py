import json
import logging
import os
import shutil
import time

import pytest
import torch

from videoregion.data import (
    AnnotationError,
    DataError,
    build_batch_transform,
    build_dataset,
    build_loader,
    readers,
    set_epoch,
)

from .test_readers import bad_files
from .videos import VP9, ramp_frames, write_kinetics, write_video


def test_train_items(kinetics_root, make_cfg):
    dataset = build_dataset(make_cfg(kinetics_root), "train")
    assert (dataset.num_videos, dataset.num_views, len(dataset)) == (4, 1, 4)
    assert dataset.num_classes == 2 and dataset.class_names == ["class_0", "class_1"]
    item = dataset[1]
    assert item["clip"].shape == (3, 8, 32, 32) and item["clip"].dtype == torch.uint8
    assert (item["label"], item["video_index"], item["view_index"]) == (1, 1, 0)
    assert item["path"].endswith("videos/1.mp4") and item["skipped"] == []
    # the same (index, epoch) gives the same clip; another epoch gives another one
    assert torch.equal(dataset[(1, 0)]["clip"], item["clip"])
    assert any(not torch.equal(dataset[(1, e)]["clip"], item["clip"]) for e in range(1, 4))


def test_test_views_and_loader(kinetics_root, make_cfg):
    cfg = make_cfg(kinetics_root)
    dataset = build_dataset(cfg, "test")
    assert dataset.num_views == 6 and len(dataset) == 24
    loader = build_loader(cfg, "test", dataset)
    batches = list(loader)
    assert set(batches[0]) == {"clip", "label", "video_index", "view_index", "path"}
    assert batches[0]["clip"].shape == (3, 3, 8, 32, 32) and batches[0]["label"].dtype == torch.int64
    views = [(int(v), int(w)) for b in batches for v, w in zip(b["video_index"], b["view_index"])]
    assert views == [(v, w) for v in range(4) for w in range(6)]
    # the three spatial crops of a clip differ (the video is 64 wide), the two temporal clips too
    first = batches[0]["clip"]
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[0], first[2])
    assert not torch.equal(batches[0]["clip"][0], batches[1]["clip"][0])
    assert loader.skip_report.num_skipped == 0


def test_val_has_one_centre_view(kinetics_root, make_cfg):
    dataset = build_dataset(make_cfg(kinetics_root), "val")
    assert dataset.num_views == 1 and len(dataset) == 4
    assert torch.equal(dataset[0]["clip"], dataset[0]["clip"])


def test_train_loader_epochs_and_batch_transform(kinetics_root, make_cfg):
    cfg = make_cfg(kinetics_root, **{"MIXUP.ENABLE": True})
    loader = build_loader(cfg, "train")
    assert loader.batch_size == 2 and len(loader) == 2
    set_epoch(loader, 0)
    epoch0 = [b["path"] for b in loader]
    set_epoch(loader, 1)
    epoch1 = [b["path"] for b in loader]
    set_epoch(loader, 0)
    assert [b["path"] for b in loader] == epoch0
    assert sorted(sum(epoch0, [])) == sorted(sum(epoch1, []))
    batch = next(iter(loader))
    clips, targets = build_batch_transform(cfg, "train", num_classes=2)(batch, torch.device("cpu"))
    assert clips.shape == (2, 3, 8, 32, 32) and clips.dtype == torch.float32
    assert targets.shape == (2, 2) and torch.allclose(targets.sum(1), torch.ones(2))
    clips, labels = build_batch_transform(cfg, "val")(batch, "cpu")
    assert labels.dtype == torch.int64


def test_workers_give_the_same_clips(kinetics_root, make_cfg):
    clips = []
    for workers in (0, 2):
        loader = build_loader(make_cfg(kinetics_root, **{"DATA_LOADER.NUM_WORKERS": workers}), "train")
        set_epoch(loader, 3)
        clips.append(torch.cat([b["clip"] for b in loader]))
    assert torch.equal(clips[0], clips[1])


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_bad_videos_in_training_are_replaced_and_listed(tmp_path, make_cfg, caplog, backend):
    root, paths = write_kinetics(str(tmp_path / "data"), num_videos=8)
    cases = bad_files(tmp_path)
    for path, (bad, _) in zip(paths, cases.values()):  # 5 of 8 videos broken in 5 ways
        os.remove(path)
        if os.path.exists(bad):
            shutil.copy(bad, path)
    cfg = make_cfg(root, **{"DATA.DECODING_BACKEND": backend, "DATA.MAX_BAD_FRACTION": 0.9})
    loader = build_loader(cfg, "train")
    with caplog.at_level(logging.WARNING, logger="videoregion.data"):
        for epoch in range(3):
            set_epoch(loader, epoch)
            for batch in loader:
                assert batch["clip"].shape[0] == 2
                assert all(p in paths[5:] for p in batch["path"])
    report = loader.skip_report
    assert report.num_skipped == 5
    listed = dict(line.rstrip("\n").split("\t") for line in open(report.path))
    assert set(listed) == set(paths[:5])
    case_of = dict(zip(paths, cases))
    for path, reason in listed.items():
        assert reason, path
        if case_of[path] in ("missing", "empty"):
            assert reason.startswith(f"{case_of[path]} file")
    assert os.path.dirname(report.path) == cfg.OUTPUT_DIR
    warned = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(warned) == 5  # once per path, although drawn again and again


@pytest.mark.parametrize("workers", [0, 2])
def test_bad_videos_at_test_time_are_left_out_and_counted(tmp_path, make_cfg, workers):
    root, paths = write_kinetics(str(tmp_path / "data"), num_videos=4)
    with open(paths[2], "wb") as f:
        f.write(b"\x00" * 100)
    cfg = make_cfg(root, **{"DATA_LOADER.NUM_WORKERS": workers})
    loader = build_loader(cfg, "test")
    seen = [(int(v), int(w)) for b in loader for v, w in zip(b["video_index"], b["view_index"])]
    assert sorted(seen) == [(v, w) for v in (0, 1, 3) for w in range(6)]
    assert loader.skip_report.num_skipped == 1 and loader.skip_report.num_failed_reads == 6
    assert "1 videos skipped" in loader.skip_report.summary()


def test_mostly_unreadable_data_stops_with_a_clear_error(tmp_path, make_cfg):
    root, paths = write_kinetics(str(tmp_path / "data"), num_videos=4)
    for path in paths[:3]:
        os.remove(path)
    loader = build_loader(make_cfg(root, **{"DATA.MAX_RETRIES": 2}), "train")
    with pytest.raises(DataError, match="mostly unreadable.*skipped_videos_train.tsv"):
        for _ in range(20):
            for _batch in loader:
                pass


class StalledReader:
    """A backend whose decoder never answers."""

    def __init__(self, path, threads=1, short_side=None):
        self.path, self.num_frames, self.fps = path, 40, 30.0

    def get_frames(self, indices, short_side=None, layout="THWC"):
        time.sleep(30)


def test_stalled_decoder_is_given_up_on(kinetics_root, make_cfg, monkeypatch):
    monkeypatch.setitem(readers.READERS, "stalled", StalledReader)
    cfg = make_cfg(kinetics_root, **{"DATA.DECODING_BACKEND": "stalled", "DATA.DECODE_TIMEOUT": 0.2})
    dataset = build_dataset(cfg, "val")
    start = time.perf_counter()
    item = dataset[2]
    assert "clip" not in item and "stalled" in item["skipped"][0][1]
    assert item["video_index"] == 2 and item["path"].endswith("videos/2.mp4")
    assert time.perf_counter() - start < 5


def test_annotation_error_reaches_the_caller(tmp_path, make_cfg):
    root, _ = write_kinetics(str(tmp_path / "data"), num_videos=2)
    with open(os.path.join(root, "train.csv"), "a") as f:
        f.write("videos/9.mp4 7\n")
    with pytest.raises(AnnotationError, match=r"train\.csv:3: label 7 out of range \[0, 2\)"):
        build_dataset(make_cfg(root), "train")


def test_ssv2_layout_end_to_end(tmp_path, make_cfg):
    root = tmp_path / "ssv2"
    templates = {"Moving something from left to right": "0", "Moving something from right to left": "1"}
    entries = []
    for i in range(4):
        frames = ramp_frames(24)
        write_video(str(root / "videos" / f"{100 + i}.webm"), frames[::-1].copy() if i % 2 else frames, fps=12, **VP9)
        template = list(templates)[i % 2].replace("something", "[something]")
        entries.append({"id": str(100 + i), "label": template.lower(), "template": template, "placeholders": ["x"]})
    (root / "something-something-v2-labels.json").write_text(json.dumps(templates))
    (root / "something-something-v2-train.json").write_text(json.dumps(entries))
    (root / "something-something-v2-validation.json").write_text(json.dumps(entries[:2]))
    cfg = make_cfg(str(root), **{"DATA.DATASET": "ssv2", "DATA.PATH_PREFIX": str(root / "videos"),
                                 "DATA.RANDOM_FLIP": False, "TEST.NUM_ENSEMBLE_VIEWS": 1})
    train = build_dataset(cfg, "train")
    assert train.class_names == list(templates) and [r.label for r in train.records] == [0, 1, 0, 1]
    assert train.clips.transform.flip is False
    batch = next(iter(build_loader(cfg, "train", train)))
    assert batch["clip"].shape == (2, 3, 8, 32, 32)
    test = build_loader(cfg, "test")
    assert len(test.dataset) == 2 * 3
    assert sum(b["clip"].shape[0] for b in test) == 6
