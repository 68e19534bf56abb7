"""The model a test evaluates: which checkpoint (shared with the demo) and which of its weights."""

import logging
import os

import pytest
import torch

from videoregion.config import load_config
from videoregion.engine import build
from videoregion.engine.checkpoint import CheckpointError, CheckpointManager
from videoregion.models import build_model

NANO = ["MODEL.NAME", "regionvit3d_nano", "MODEL.NUM_CLASSES", "3", "DATA.NUM_FRAMES", "4", "NUM_GPUS", "0"]


def config(tmp_path, *opts):
    return load_config([], [*NANO, "OUTPUT_DIR", str(tmp_path), *opts])


def perturbed(cfg, seed: int) -> dict:
    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model.state_dict()


def save(tmp_path, cfg, epoch: int, *, ema: bool, is_best: bool = False) -> tuple[str, dict]:
    state = {"model": perturbed(cfg, epoch), "ema": perturbed(cfg, 100 + epoch) if ema else {}, "epoch": epoch}
    path = CheckpointManager(os.path.join(cfg.OUTPUT_DIR, "checkpoints")).save(state, epoch=epoch, is_best=is_best)
    return path, state


def assert_weights(model, expected: dict) -> None:
    for name, value in model.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_a_test_only_run_takes_the_best_checkpoint_else_the_newest(tmp_path):
    cfg = config(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint in .*: train first"):
        build.model_to_test(cfg, None)
    _, best = save(tmp_path, cfg, 1, ema=False, is_best=True)
    _, newest = save(tmp_path, cfg, 2, ema=False)
    assert_weights(build.model_to_test(cfg, None), best["model"])
    os.unlink(os.path.join(tmp_path, "checkpoints", "checkpoint_best.pyth"))
    model = build.model_to_test(cfg, None)
    assert_weights(model, newest["model"])
    assert not model.training


def test_ema_weights_with_use_ema_else_the_model_weights_and_a_warning(tmp_path, caplog):
    path, with_ema = save(tmp_path, config(tmp_path), 1, ema=True)
    assert_weights(build.model_to_test(config(tmp_path, "TEST.USE_EMA", "True"), None), with_ema["ema"])
    assert_weights(build.model_to_test(config(tmp_path), None), with_ema["model"])
    _, without = save(tmp_path, config(tmp_path), 2, ema=False)
    with caplog.at_level(logging.WARNING):
        model = build.model_to_test(config(tmp_path, "TEST.USE_EMA", "True"), None)
    assert_weights(model, without["model"])
    assert "has no EMA weights" in caplog.text


@pytest.mark.parametrize("use_ema", ["False", "True"])
def test_a_checkpoint_of_another_shape_is_a_checkpoint_error(tmp_path, use_ema):
    """Another class count or clip length: a CheckpointError naming the file, never a re-initialised head."""
    save(tmp_path, config(tmp_path), 1, ema=True)
    for opts, wrong in ((["MODEL.NUM_CLASSES", "5"], r"head\.bias"), (["DATA.NUM_FRAMES", "8"], "time")):
        with pytest.raises(CheckpointError, match=rf"checkpoint_epoch_00001\.pyth does not fit RegionViT: .*{wrong}"):
            build.model_to_test(config(tmp_path, "TEST.USE_EMA", use_ema, *opts), None)
