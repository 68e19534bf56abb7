import argparse
import os
import random

import numpy as np
import pytest
import torch

from videoregion.engine import checkpoint as ckpt
from videoregion.engine.checkpoint import CheckpointError, CheckpointManager, atomic_save
from videoregion.models.weights import load_checkpoint

from .engine_testing import TinyVideoNet


def state_of(model: torch.nn.Module, epoch: int) -> dict:
    return {"model": model.state_dict(), "epoch": epoch, "cfg": "MODEL:\n  NAME: tiny\n",
            "rng": ckpt.capture_rng_state()}


def test_save_keeps_last_n_and_best(tmp_path):
    manager = CheckpointManager(str(tmp_path), keep_last=2)
    model = TinyVideoNet()
    for epoch in range(1, 5):
        manager.save(state_of(model, epoch), epoch=epoch, is_best=epoch == 2)
    assert [e for e, _ in manager.epoch_checkpoints()] == [3, 4]
    assert load_checkpoint(manager.best_path)["epoch"] == 2
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_checkpoint_loads_with_weights_only_and_restores_rng(tmp_path):
    path = str(tmp_path / "c.pyth")
    weights = TinyVideoNet().state_dict()
    rng = ckpt.capture_rng_state()
    expected = (torch.rand(3), np.random.rand(), random.random())
    atomic_save({"model": weights, "rng": rng}, path)
    state = torch.load(path, weights_only=True)
    ckpt.restore_rng_state(state["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.random.rand() == expected[1]
    assert random.random() == expected[2]


def test_interrupted_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    manager = CheckpointManager(str(tmp_path), keep_last=3)
    model = TinyVideoNet()
    manager.save(state_of(model, 1), epoch=1)
    good = open(manager.epoch_path(1), "rb").read()

    real_save = torch.save

    def crash_half_way(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        atomic_save(state_of(model, 1), manager.epoch_path(1))  # overwrite in place: must not break it
    with pytest.raises(KeyboardInterrupt):
        manager.save(state_of(model, 2), epoch=2)
    monkeypatch.setattr(torch, "save", real_save)
    assert open(manager.epoch_path(1), "rb").read() == good
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_epoch_00001.pyth"]
    path, state = manager.latest_readable()
    assert path == manager.epoch_path(1) and state["epoch"] == 1


def test_corrupt_newest_checkpoint_is_skipped(tmp_path, caplog):
    manager = CheckpointManager(str(tmp_path), keep_last=5)
    model = TinyVideoNet()
    manager.save(state_of(model, 1), epoch=1)
    manager.save(state_of(model, 2), epoch=2)
    with open(manager.epoch_path(3), "wb") as f:  # e.g. a disk that filled up outside our writer
        f.write(open(manager.epoch_path(2), "rb").read()[:200])
    with caplog.at_level("WARNING"):
        path, state = manager.latest_readable()
    assert path == manager.epoch_path(2) and state["epoch"] == 2
    assert "checkpoint_epoch_00003.pyth" in caplog.text


def test_code_in_a_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = str(tmp_path / "evil.pyth")
    torch.save({"model": {}, "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pyth"):
        load_checkpoint(path)


def test_non_finite_weights_are_never_saved(tmp_path):
    model = TinyVideoNet()
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    manager = CheckpointManager(str(tmp_path))
    with pytest.raises(CheckpointError, match="head.weight"):
        manager.save(state_of(model, 1), epoch=1)
    assert os.listdir(tmp_path) == []


def test_checkpoint_to_evaluate_best_else_newest_readable_else_fallback_else_error(tmp_path):
    folder = str(tmp_path / "checkpoints")
    with pytest.raises(CheckpointError, match="no checkpoint in .*checkpoints: train it"):
        ckpt.checkpoint_to_evaluate(folder, remedy="train it")
    atomic_save({"epoch": 0}, str(tmp_path / "pretrained.pyth"))
    fallback = str(tmp_path / "pretrained.pyth")
    assert ckpt.checkpoint_to_evaluate(folder, fallback=fallback, remedy="-")[0] == fallback
    manager = CheckpointManager(folder, keep_last=5)
    model = TinyVideoNet()
    manager.save(state_of(model, 1), epoch=1)
    manager.save(state_of(model, 2), epoch=2)
    with open(manager.epoch_path(3), "wb") as f:  # the newest does not load: skipped
        f.write(b"truncated")
    path, state = ckpt.checkpoint_to_evaluate(folder, fallback=fallback, remedy="-")
    assert (path, state["epoch"]) == (manager.epoch_path(2), 2)
    manager.save(state_of(model, 4), epoch=4, is_best=False)
    manager.save(state_of(model, 5), epoch=5, is_best=True)
    manager.save(state_of(model, 6), epoch=6)
    path, state = ckpt.checkpoint_to_evaluate(folder, remedy="-")  # a run that validated: its best
    assert (path, state["epoch"]) == (manager.best_path, 5)
    path, state = ckpt.checkpoint_to_evaluate(folder, explicit=manager.epoch_path(4), remedy="-")
    assert (path, state["epoch"]) == (manager.epoch_path(4), 4)
    with pytest.raises(CheckpointError, match="gone.pyth: checkpoint file not found"):
        ckpt.checkpoint_to_evaluate(folder, explicit=str(tmp_path / "gone.pyth"), remedy="-")


def test_a_checkpoint_may_hold_argparse_namespace(tmp_path):
    """Training scripts of the DeiT lineage store their arguments as an argparse.Namespace."""
    path = str(tmp_path / "deit.pth")
    torch.save({"model": TinyVideoNet().state_dict(), "args": argparse.Namespace(lr=1e-3)}, path)
    assert load_checkpoint(path)["args"].lr == 1e-3
