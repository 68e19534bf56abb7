"""Repeated augmentation (AUG.NUM_SAMPLE): K augmented clips from one decode, K rows per video in the batch."""

import pytest
import torch

from videoregion.benchmark import data_pipeline
from videoregion.data import build_dataset, build_loader, clips, set_epoch
from videoregion.engine.build import make_scheduler
from videoregion.errors import ConfigError


@pytest.fixture
def decodes(monkeypatch):
    """Counts of video opens and get_frames calls made through the clip reader."""
    counts = {"open": 0, "get_frames": 0}
    open_video = clips.open_video

    def counting_open(*args, **kwargs):
        counts["open"] += 1
        reader = open_video(*args, **kwargs)
        get_frames = reader.get_frames

        def counting_get_frames(*a, **k):
            counts["get_frames"] += 1
            return get_frames(*a, **k)

        reader.get_frames = counting_get_frames
        return reader

    monkeypatch.setattr(clips, "open_video", counting_open)
    return counts


def test_k_clips_differ_and_come_from_one_decode(kinetics_root, make_cfg, decodes):
    dataset = build_dataset(make_cfg(kinetics_root, **{"AUG.NUM_SAMPLE": 3}), "train")
    assert dataset.num_samples == 3 and len(dataset) == 4  # still one item per video
    for index in range(len(dataset)):
        before = dict(decodes)
        item = dataset[(index, 1)]
        assert (decodes["open"] - before["open"], decodes["get_frames"] - before["get_frames"]) == (1, 1)
        assert item["clip"].shape == (3, 3, 8, 32, 32) and item["clip"].dtype == torch.uint8
        samples = item["clip"]
        assert not torch.equal(samples[0], samples[1]) and not torch.equal(samples[1], samples[2])
        assert not torch.equal(samples[0], samples[2])
        assert item["label"] == index % 2 and item["video_index"] == index


def test_k1_is_unchanged_and_the_first_of_k(kinetics_root, make_cfg):
    """K = 1 gives today's clip (C, T, H, W); with K > 1 the first sample is that same clip
    (the generator draws the decode size, the position, then each sample's crop in turn)."""
    single = build_dataset(make_cfg(kinetics_root), "train")
    repeated = build_dataset(make_cfg(kinetics_root, **{"AUG.NUM_SAMPLE": 2}), "train")
    assert single.num_samples == 1
    for key in [(0, 0), (1, 0), (2, 5), (3, 7)]:
        clip = single[key]["clip"]
        assert clip.shape == (3, 8, 32, 32)
        assert torch.equal(repeated[key]["clip"][0], clip)


def test_batches_flatten_to_clips_with_labels_kept(kinetics_root, make_cfg):
    cfg = make_cfg(kinetics_root, **{"AUG.NUM_SAMPLE": 2, "TRAIN.BATCH_SIZE": 4})
    loader = build_loader(cfg, "train")
    assert loader.batch_size == 2  # videos per batch: TRAIN.BATCH_SIZE clips / K
    set_epoch(loader, 2)
    batches = list(loader)
    assert len(batches) == 2
    seen = []
    for batch in batches:
        assert batch["clip"].shape == (4, 3, 8, 32, 32) and batch["label"].shape == (4,)
        assert batch["label"].tolist() == [int(batch["video_index"][i]) % 2 for i in range(4)]
        assert batch["video_index"][0] == batch["video_index"][1] and batch["video_index"][2] == batch["video_index"][3]
        assert batch["path"][0] == batch["path"][1] and batch["path"][2] == batch["path"][3]
        assert not torch.equal(batch["clip"][0], batch["clip"][1])
        seen += batch["video_index"][::2].tolist()
    assert sorted(seen) == [0, 1, 2, 3]  # every video once per epoch
    assert loader.skip_report.num_reads == 4  # reads count videos, not clips


def test_steps_per_epoch_and_schedule(kinetics_root, make_cfg):
    """Clips per step stay TRAIN.BATCH_SIZE; an epoch over the videos has K times the steps."""
    steps = {}
    for k in (1, 2):
        cfg = make_cfg(kinetics_root, **{"AUG.NUM_SAMPLE": k, "TRAIN.BATCH_SIZE": 2, "SOLVER.MAX_EPOCH": 3,
                                         "SOLVER.WARMUP_EPOCHS": 1.0})
        loader = build_loader(cfg, "train")
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        scheduler = make_scheduler(cfg, optimizer, len(loader))
        steps[k] = (len(loader), scheduler.total_steps, scheduler.warmup_steps)
        assert {next(iter(loader))["clip"].shape[0]} == {2}
    assert steps == {1: (2, 6, 2), 2: (4, 12, 4)}


def test_test_split_and_bad_values(kinetics_root, make_cfg):
    cfg = make_cfg(kinetics_root, **{"AUG.NUM_SAMPLE": 2, "TRAIN.BATCH_SIZE": 4})
    for split in ("val", "test"):
        dataset = build_dataset(cfg, split)
        assert dataset.num_samples == 1 and dataset[0]["clip"].shape == (3, 8, 32, 32)
    with pytest.raises(ConfigError, match="AUG.NUM_SAMPLE must be >= 1"):
        build_dataset(make_cfg(kinetics_root, **{"AUG.NUM_SAMPLE": 0}), "train")
    with pytest.raises(ConfigError, match="TRAIN.BATCH_SIZE 3 must be a positive multiple of .*AUG.NUM_SAMPLE 2"):
        build_loader(make_cfg(kinetics_root, **{"AUG.NUM_SAMPLE": 2, "TRAIN.BATCH_SIZE": 3}), "train")


def test_benchmark_row_times_k_against_1_at_equal_clips_per_batch(monkeypatch):
    timed = []

    def fake_time_ours(cfg, split, clips):
        timed.append((split, cfg.AUG.NUM_SAMPLE, cfg.TRAIN.BATCH_SIZE, cfg.DATA_LOADER.NUM_WORKERS, clips))
        return 10.0 * cfg.AUG.NUM_SAMPLE

    monkeypatch.setattr(data_pipeline, "time_ours", fake_time_ours)
    rows = data_pipeline.time_repeated_augmentation("/nowhere", workers=[0, 2], batch_size=3, clips=12, num_samples=2)
    assert rows == [(0, 10.0, 20.0), (2, 10.0, 20.0)]
    assert timed == [("train", 1, 6, 0, 12), ("train", 2, 6, 0, 12), ("train", 1, 6, 2, 12), ("train", 2, 6, 2, 12)]
