import math
import os

import pytest
import torch

from videoregion.engine.checkpoint import CheckpointManager
from videoregion.engine.ema import ModelEma
from videoregion.engine.optimizer import build_optimizer, param_groups
from videoregion.engine.precision import Precision
from videoregion.engine.scheduler import WarmupCosineSchedule
from videoregion.engine.stats import StatsWriter, plot_curves, read_stats
from videoregion.engine.trainer import LoopSettings, NonFiniteLossError, TrainState, fit, train_one_epoch

from .engine_testing import TinyVideoNet, batch_transform, make_batches

CPU = torch.device("cpu")


def fresh_state(steps_per_epoch: int, epochs: int, *, ema: bool = False) -> TrainState:
    torch.manual_seed(0)
    model = TinyVideoNet()
    opt = build_optimizer(param_groups(model, weight_decay=0.05), name="adamw", lr=0.01)
    sched = WarmupCosineSchedule(opt, base_lr=0.01, total_steps=steps_per_epoch * epochs, warmup_steps=3,
                                 start_lr=0.001, end_lr=0.0001)
    return TrainState(model=model, optimizer=opt, scheduler=sched, ema=ModelEma(model, decay=0.9) if ema else None)


class LrRecorder:
    """Wraps a batch transform and records the LR in force for each batch."""

    def __init__(self, state: TrainState):
        self.state, self.lrs = state, []

    def __call__(self, batch, device):
        self.lrs.append(self.state.optimizer.param_groups[0]["lr"])
        return batch_transform(batch, device)


def test_resume_continues_the_same_schedule_and_weights(tmp_path):
    batches = make_batches(3, 8)
    settings = LoopSettings(max_epoch=4, accum_iters=1, clip_grad_norm=1.0)

    whole = fresh_state(3, 4, ema=True)
    rec_whole = LrRecorder(whole)
    fit(whole, batches, rec_whole, device=CPU, precision=Precision("cpu"), settings=settings)

    manager = CheckpointManager(str(tmp_path / "ckpt"))
    first = fresh_state(3, 4, ema=True)
    rec_first = LrRecorder(first)
    fit(first, batches, rec_first, device=CPU, precision=Precision("cpu"),
        settings=LoopSettings(max_epoch=2, clip_grad_norm=1.0), manager=manager)
    torch.manual_seed(123)  # a new process starts with other random state

    second = fresh_state(3, 4, ema=True)
    path, saved = manager.latest_readable()
    assert path.endswith("checkpoint_epoch_00002.pyth")
    second.load_state_dict(saved)
    rec_second = LrRecorder(second)
    fit(second, batches, rec_second, device=CPU, precision=Precision("cpu"), settings=settings, manager=manager)

    # the batch transform is called before the step sets the LR: shift by one step
    assert rec_first.lrs + rec_second.lrs == pytest.approx(rec_whole.lrs)
    assert second.scheduler.steps_taken == whole.scheduler.steps_taken == 12
    for (name, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(whole.ema.state_dict().values(), second.ema.state_dict().values()):
        assert torch.equal(a, b)
    assert [e for e, _ in manager.epoch_checkpoints()] == [2, 3, 4]


def test_accumulation_matches_one_big_batch():
    big = make_batches(1, 8)[0]
    halves = [{k: v[i * 4:(i + 1) * 4] for k, v in big.items()} for i in range(2)]
    results = []
    for batches, accum in (([big], 1), (halves, 2)):
        state = fresh_state(1, 1)
        state.model.eval()  # no dropout: compare the exact gradients
        state.model.drop.p = 0.0
        train_one_epoch(state, batches, batch_transform, device=CPU, precision=Precision("cpu"),
                        settings=LoopSettings(max_epoch=1, accum_iters=accum))
        assert state.scheduler.steps_taken == 1
        results.append(state.model.head.weight.detach().clone())
    assert torch.allclose(results[0], results[1], atol=1e-6)


def test_non_finite_loss_stops_the_run_and_saves_nothing(tmp_path):
    batches = make_batches(4, 8)
    state = fresh_state(4, 2)

    def poison(batch, device):
        clips, labels = batch_transform(batch, device)
        if poison.calls == 2:
            clips = clips * float("nan")
        poison.calls += 1
        return clips, labels

    poison.calls = 0
    manager = CheckpointManager(str(tmp_path / "ckpt"))
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, iteration 3/4"):
        fit(state, batches, poison, device=CPU, precision=Precision("cpu"), settings=LoopSettings(max_epoch=2),
            manager=manager)
    assert manager.epoch_checkpoints() == []
    assert all(torch.isfinite(p).all() for p in state.model.parameters())


def test_stats_lines_and_curves(tmp_path, caplog):
    stats = StatsWriter(str(tmp_path), tensorboard=True)
    state = fresh_state(2, 2)
    with caplog.at_level("INFO"):
        fit(state, make_batches(2, 8), batch_transform, device=CPU, precision=Precision("cpu"),
            settings=LoopSettings(max_epoch=2, log_period=1), stats=stats, validate=lambda s: 50.0 + s.epoch)
    stats.write({"split": "test_final", "top1_acc": 75.0, "top5_acc": 100.0})
    stats.close()
    records = read_stats(str(tmp_path / "stats.jsonl"))
    assert [r["split"] for r in records].count("train") == 2
    assert [r["split"] for r in records].count("train_iter") == 4
    assert records[-1] == {"split": "test_final", "top1_acc": 75.0, "top5_acc": 100.0}
    assert caplog.text.count("json_stats: ") == 2  # per-iteration records stay out of the log
    assert state.best_metric == 52.0
    assert os.listdir(tmp_path / "tensorboard")
    assert plot_curves(str(tmp_path / "stats.jsonl"), str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert all(math.isfinite(r["loss"]) for r in records if r["split"] == "train")
