import argparse
import os
import random

import numpy as np
import pytest
import torch

from videoregion.config import get_cfg
from videoregion.engine import build
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


def test_pruning_never_deletes_another_runs_files_nor_this_runs_new_ones(tmp_path):
    model = TinyVideoNet()
    old = CheckpointManager(str(tmp_path), keep_last=3)
    for epoch in (5, 6, 7):
        old.save(state_of(model, epoch), epoch=epoch)
    (tmp_path / "checkpoint_epoch_00008.pyth").write_bytes(b"not a checkpoint")  # unreadable, not ours
    new = CheckpointManager(str(tmp_path), keep_last=2)
    for epoch in (1, 2, 3):
        new.save(state_of(model, epoch), epoch=epoch)
    assert [e for e, _ in new.epoch_checkpoints()] == [2, 3, 5, 6, 7, 8]
    # a resumed run takes the record over and prunes the files of its own earlier processes
    resumed = CheckpointManager(str(tmp_path), keep_last=2)
    resumed.adopt(load_checkpoint(new.epoch_path(3)))
    resumed.save(state_of(model, 4), epoch=4)
    assert [e for e, _ in resumed.epoch_checkpoints()] == [3, 4, 5, 6, 7, 8]


def test_mid_epoch_checkpoints_keep_only_the_newest(tmp_path):
    model = TinyVideoNet()
    manager = CheckpointManager(str(tmp_path), keep_last=2)
    manager.save(state_of(model, 1), epoch=1)
    manager.save(state_of(model, 1), epoch=1, iteration=10)
    manager.save(state_of(model, 1), epoch=1, iteration=20)
    assert [(e, i) for e, i, _ in manager.checkpoints()] == [(1, 0), (1, 20)]
    manager.save(state_of(model, 2), epoch=2)
    assert [(e, i) for e, i, _ in manager.checkpoints()] == [(1, 0), (2, 0)]
    assert manager.latest_readable()[0] == manager.epoch_path(2)


def test_checkpoints_are_readable_like_other_outputs_and_stale_temporaries_swept(tmp_path):
    manager = CheckpointManager(str(tmp_path))
    path = manager.save(state_of(TinyVideoNet(), 1), epoch=1)
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask
    stale = [tmp_path / ".checkpoint_epoch_00002.pyth.x1y2.tmp", tmp_path / "checkpoint_best.pyth.link.tmp"]
    for p in stale:
        p.write_bytes(b"partial")
    (tmp_path / "notes.tmp").write_text("not ours")
    assert sorted(manager.sweep_temporary()) == sorted(str(p) for p in stale)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_epoch_00001.pyth", "notes.tmp"]


def resume_cfg(out, **train):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(out)
    for key, value in train.items():
        setattr(cfg.TRAIN, key, value)
    return cfg


def test_a_run_refuses_to_train_beside_another_runs_checkpoints(tmp_path):
    old = CheckpointManager(str(tmp_path / "checkpoints"))
    old.save(state_of(TinyVideoNet(), 7), epoch=7)
    cfg = resume_cfg(tmp_path, AUTO_RESUME=False)
    with pytest.raises(CheckpointError, match="checkpoint_epoch_00007.pyth.*AUTO_RESUME True.*another OUTPUT_DIR"
                                              ".*TRAIN.OVERWRITE True"):
        build.resume_checkpoint(cfg, build.make_checkpoint_manager(cfg))
    path, saved = build.resume_checkpoint(resume_cfg(tmp_path), build.make_checkpoint_manager(cfg))
    assert saved["epoch"] == 7
    cfg = resume_cfg(tmp_path, AUTO_RESUME=False, OVERWRITE=True)
    assert build.resume_checkpoint(cfg, build.make_checkpoint_manager(cfg)) is None
    assert os.listdir(tmp_path / "checkpoints") == []


def test_only_unreadable_checkpoints_are_refused_not_silently_restarted(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "checkpoint_epoch_00003.pyth").write_bytes(b"truncated")
    cfg = resume_cfg(tmp_path)
    with pytest.raises(CheckpointError, match="none of them loads"):
        build.resume_checkpoint(cfg, build.make_checkpoint_manager(cfg))
