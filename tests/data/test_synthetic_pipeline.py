"""The synthetic generator's output goes through the data pipeline as configured (both layouts)."""

import os

import pytest
import torch

from videoregion.data import build_dataset, build_loader
from videoregion.synthetic import generate_dataset


@pytest.mark.parametrize("fmt", ["kinetics", "ssv2"])
def test_synthetic_dataset_loads(tmp_path, make_cfg, fmt):
    out = str(tmp_path / fmt)
    summary = generate_dataset(out, fmt, seed=0, videos_per_class=3, num_classes=2, num_frames=16)
    cfg = make_cfg(out, **{"DATA.DATASET": fmt, "DATA.PATH_PREFIX": os.path.join(out, "videos"),
                           "TEST.NUM_ENSEMBLE_VIEWS": 1})
    train = build_dataset(cfg, "train")
    if fmt == "kinetics":  # names from classnames.json
        assert train.class_names == summary["class_names"]
    else:  # SSv2 names its classes by their templates, as the released labels file does
        assert train.class_names == ["Moving something from left to right", "Moving something from right to left"]
    assert train.num_classes == 2
    assert train.num_videos == summary["num_videos"]["train"]
    batch = next(iter(build_loader(cfg, "train", train)))
    assert batch["clip"].shape == (2, 3, 8, 32, 32) and batch["clip"].dtype == torch.uint8
    test = build_loader(cfg, "test")
    assert test.dataset.num_videos == summary["num_videos"]["test"]
    seen = sum(b["clip"].shape[0] for b in test)
    assert seen == len(test.dataset) and test.skip_report.num_skipped == 0
