"""SOLVER.MAX_STEPS: a run of exactly N optimizer steps, its last epoch cut short, the cosine ending on it."""

import pytest
import torch

from videoregion.config import get_cfg
from videoregion.engine import build
from videoregion.engine.checkpoint import CheckpointManager
from videoregion.engine.optimizer import build_optimizer, param_groups
from videoregion.engine.precision import Precision
from videoregion.engine.scheduler import WarmupCosineSchedule
from videoregion.engine.stats import StatsWriter, read_stats
from videoregion.engine.trainer import LoopSettings, TrainState, fit
from videoregion.errors import ConfigError

from .engine_testing import TinyVideoNet, batch_transform, make_batches

CPU = torch.device("cpu")


def fresh_state(total_steps: int) -> TrainState:
    torch.manual_seed(0)
    model = TinyVideoNet()
    opt = build_optimizer(param_groups(model, weight_decay=0.05), name="adamw", lr=0.01)
    sched = WarmupCosineSchedule(opt, base_lr=0.01, total_steps=total_steps, warmup_steps=1, start_lr=0.001,
                                 end_lr=0.0001)
    return TrainState(model=model, optimizer=opt, scheduler=sched)


class Recorder:
    """Counts the batches trained on and the epochs validated."""

    def __init__(self):
        self.batches, self.validated = 0, []

    def transform(self, batch, device):
        self.batches += 1
        return batch_transform(batch, device)

    def validate(self, state: TrainState) -> float:
        self.validated.append(state.epoch)
        return 0.0


@pytest.mark.parametrize("accum, batches_seen", [(1, 5), (2, 5)])
def test_the_run_stops_after_max_steps_mid_epoch(tmp_path, accum, batches_seen):
    # 3 batches an epoch. accum 1: 5 steps = epoch 1 and 2 batches of epoch 2. accum 2: steps end batches
    # 2 and 3 of an epoch, so 3 steps = epoch 1 and 2 batches (one step) of epoch 2
    steps = 5 if accum == 1 else 3
    state, rec = fresh_state(steps), Recorder()
    manager = CheckpointManager(str(tmp_path / "ckpt"))
    stats = StatsWriter(str(tmp_path), tensorboard=False)
    fit(state, make_batches(3, 4), rec.transform, device=CPU, precision=Precision("cpu"),
        settings=LoopSettings(max_epoch=10, max_steps=steps, accum_iters=accum), manager=manager, stats=stats,
        validate=rec.validate)
    assert state.scheduler.steps_taken == steps
    assert rec.batches == batches_seen
    assert state.epoch == 2 and state.step_in_epoch == 0
    assert rec.validated == [1, 2]  # the cut-short epoch is the last: validated and checkpointed
    assert [e for e, _ in manager.epoch_checkpoints()] == [1, 2]
    assert [r["epoch"] for r in read_stats(stats.path) if r["split"] == "train"] == [1, 2]


def test_a_resumed_budget_run_matches_an_uninterrupted_one(tmp_path):
    whole = fresh_state(5)
    fit(whole, make_batches(3, 4), batch_transform, device=CPU, precision=Precision("cpu"),
        settings=LoopSettings(max_epoch=1, max_steps=5))

    manager = CheckpointManager(str(tmp_path / "ckpt"))
    first = fresh_state(5)
    fit(first, make_batches(3, 4), batch_transform, device=CPU, precision=Precision("cpu"),
        settings=LoopSettings(max_epoch=1), manager=manager)  # epoch 1 only: 3 of the 5 steps
    second = fresh_state(5)
    second.load_state_dict(manager.latest_readable()[1])
    fit(second, make_batches(3, 4), batch_transform, device=CPU, precision=Precision("cpu"),
        settings=LoopSettings(max_epoch=1, max_steps=5), manager=manager)
    assert second.scheduler.steps_taken == 5 and second.epoch == 2
    for (name, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name


def budget_cfg(max_steps: int):
    cfg = get_cfg()
    cfg.SOLVER.MAX_EPOCH, cfg.SOLVER.WARMUP_EPOCHS, cfg.SOLVER.MAX_STEPS = 4, 1.0, max_steps
    cfg.TRAIN.BATCH_SIZE, cfg.SOLVER.BASE_BATCH_SIZE, cfg.SOLVER.ACCUM_ITERS = 4, 4, 2
    return cfg


def test_the_schedule_spans_the_budget_with_the_same_warmup_fraction():
    assert build.schedule_steps(budget_cfg(0), iters_per_epoch=7) == (16, 4)  # 4 steps an epoch, 4 epochs
    assert build.schedule_steps(budget_cfg(10), iters_per_epoch=7) == (10, 2)  # warmup 1/4 of 10, rounded
    cfg = budget_cfg(10)
    opt = torch.optim.SGD(TinyVideoNet().parameters(), lr=0.1)
    sched = build.make_scheduler(cfg, opt, iters_per_epoch=7)
    assert (sched.total_steps, sched.warmup_steps) == (10, 2)
    assert build.make_loop_settings(cfg).max_steps == 10
    assert build.make_loop_settings(budget_cfg(0)).max_steps == 0


def test_a_negative_budget_is_a_config_error():
    with pytest.raises(ConfigError, match="SOLVER.MAX_STEPS"):
        build.make_loop_settings(budget_cfg(-1))
    cfg = budget_cfg(5)
    cfg.SOLVER.MAX_EPOCH = 0
    with pytest.raises(ConfigError, match="MAX_EPOCH"):
        build.schedule_steps(cfg, iters_per_epoch=3)
