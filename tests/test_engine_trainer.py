import datetime
import math
import os
import signal
import time

import pytest
import torch

from videoregion.config import get_cfg
from videoregion.data.loader import DataError, SkipReport
from videoregion.engine import build
from videoregion.engine.checkpoint import CheckpointManager
from videoregion.engine.ema import ModelEma
from videoregion.engine.optimizer import build_optimizer, param_groups
from videoregion.engine.precision import Precision
from videoregion.engine.preemption import PREEMPTED_EXIT_CODE, Preempted, RunControl
from videoregion.engine.scheduler import WarmupCosineSchedule
from videoregion.engine.stats import StatsWriter, plot_curves, read_stats
from videoregion.engine.trainer import LoopSettings, NonFiniteLossError, TrainState, fit, train_one_epoch
from videoregion.models.weights import load_checkpoint

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


def test_a_stop_ends_the_current_step_and_resumes_mid_epoch_to_the_same_weights(tmp_path):
    batches = make_batches(5, 4)
    settings = LoopSettings(max_epoch=2, accum_iters=2)  # optimizer steps end at iterations 2, 4, 5
    whole = fresh_state(3, 2, ema=True)
    fit(whole, batches, batch_transform, device=CPU, precision=Precision("cpu"), settings=settings)

    manager = CheckpointManager(str(tmp_path / "ckpt"))
    first, control, calls = fresh_state(3, 2, ema=True), RunControl(), []

    def stop_at_epoch_2_iteration_2(batch, device):
        calls.append(1)
        if len(calls) == 7:
            control.stop.request(signal.SIGUSR1)
        return batch_transform(batch, device)

    with pytest.raises(Preempted) as stopped:
        fit(first, batches, stop_at_epoch_2_iteration_2, device=CPU, precision=Precision("cpu"), settings=settings,
            manager=manager, control=control)
    assert stopped.value.code == PREEMPTED_EXIT_CODE
    # seen at iteration 3, mid-accumulation: the step ends at iteration 4, then the checkpoint
    assert stopped.value.checkpoint == manager.epoch_path(1, 4) and len(calls) == 9
    torch.manual_seed(123)  # a new process starts with other random state
    second = fresh_state(3, 2, ema=True)
    path, saved = manager.latest_readable()
    assert path == manager.epoch_path(1, 4) and saved["step_in_epoch"] == 4
    second.load_state_dict(saved)
    fit(second, batches, batch_transform, device=CPU, precision=Precision("cpu"), settings=settings, manager=manager)
    assert second.scheduler.steps_taken == whole.scheduler.steps_taken == 6
    for key in ("model", "ema"):
        for name, value in getattr(whole, key).state_dict().items():
            assert torch.equal(value, getattr(second, key).state_dict()[name]), (key, name)
    assert [(e, i) for e, i, _ in manager.checkpoints()] == [(1, 0), (2, 0)]


def test_periodic_mid_epoch_checkpoints(tmp_path):
    manager = CheckpointManager(str(tmp_path / "ckpt"))
    saved = []
    manager_save = manager.save
    manager.save = lambda state, **kw: saved.append((kw["epoch"], kw["iteration"])) or manager_save(state, **kw)
    fit(fresh_state(5, 1), make_batches(5, 4), batch_transform, device=CPU, precision=Precision("cpu"),
        settings=LoopSettings(max_epoch=1), manager=manager, control=RunControl(period_iters=2))
    assert saved == [(0, 2), (0, 4), (1, 0)]


def test_the_best_checkpoint_is_written_when_it_is_best(tmp_path):
    scores = iter([50.0, 60.0, 90.0, 70.0])
    manager = CheckpointManager(str(tmp_path / "ckpt"))
    fit(fresh_state(2, 4), make_batches(2, 4), batch_transform, device=CPU, precision=Precision("cpu"),
        settings=LoopSettings(max_epoch=4, eval_period=1, checkpoint_period=2), manager=manager,
        validate=lambda state: next(scores))
    best = load_checkpoint(manager.best_path)
    assert best["epoch"] == 3 and best["best_metric"] == 90.0


def test_an_empty_batch_is_skipped_and_the_schedule_advances():
    batches = make_batches(4, 4)
    batches[1] = {"num_reads": 4, "num_failed": 4}  # every video of this batch failed
    state = fresh_state(4, 1)
    train_one_epoch(state, batches, batch_transform, device=CPU, precision=Precision("cpu"))
    assert state.scheduler.steps_taken == 4 and state.step_in_epoch == 4 and state.progress["clips"] == 12


class ReportingBatches(list):
    """Batches with the loader's ``skip_report``."""

    def __init__(self, batches, report):
        super().__init__(batches)
        self.skip_report = report


def _rank_with_a_bad_batch(rank: int, init_file: str, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2,
                                         timeout=datetime.timedelta(seconds=60))
    try:
        state = fresh_state(4, 1)
        state.model = torch.nn.parallel.DistributedDataParallel(state.model)
        batches = make_batches(4, 2, seed=rank)
        if rank == 1:
            batches[2] = {"num_reads": 2, "num_failed": 2}
        train_one_epoch(state, batches, batch_transform, device=CPU, precision=Precision("cpu"))
        result = {"steps": state.scheduler.steps_taken, "weights": state.model.module.state_dict()}
        # an outage on rank 1 alone, counted over both ranks: both stop at the same iteration
        failing = [{"num_reads": 2, "num_failed": 2 * rank} for _ in range(3)] + make_batches(1, 2)
        state.step_in_epoch, state.progress = 0, {"loss_sum": 0.0, "clips": 0, "reads": 0, "failed": 0}
        report = SkipReport("train", None, max_bad_fraction=0.25, min_reads=4, check_locally=False)
        try:
            train_one_epoch(state, ReportingBatches(failing, report), batch_transform, device=CPU,
                            precision=Precision("cpu"))
        except DataError as e:
            result["error"] = str(e)
        torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    finally:
        torch.distributed.destroy_process_group()


def test_ranks_stay_in_step_when_one_loses_a_batch_and_count_failures_together(tmp_path):
    context = torch.multiprocessing.start_processes(
        _rank_with_a_bad_batch, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=False,
        start_method="spawn")
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise AssertionError("the ranks did not finish: out of step")
    first, second = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert first["steps"] == second["steps"] == 4
    for name, value in first["weights"].items():
        assert torch.equal(value, second["weights"][name]), name
    for result in (first, second):
        assert "mostly unreadable: 2 of 4 video reads failed in epoch 1 on all ranks" in result["error"]


def test_deterministic_switch_trains_on_the_cpu():
    cfg = get_cfg()
    cfg.TRAIN.DETERMINISTIC = True
    try:
        build.set_determinism(cfg)
        assert torch.are_deterministic_algorithms_enabled()
        state = fresh_state(2, 1)
        record = train_one_epoch(state, make_batches(2, 4), batch_transform, device=CPU, precision=Precision("cpu"))
        assert math.isfinite(record["loss"])
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
