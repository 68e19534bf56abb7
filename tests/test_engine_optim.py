import math

import pytest
import torch

from videoregion.engine.optimizer import build_optimizer, param_groups
from videoregion.engine.precision import Precision
from videoregion.engine.scheduler import WarmupCosineSchedule, warmup_cosine_lr
from videoregion.engine.trainer import TrainState, classification_loss, train_one_epoch

from .engine_testing import TinyVideoNet, batch_transform, make_batches


def test_no_decay_groups_hold_norms_biases_and_named_tables():
    model = TinyVideoNet()
    groups = param_groups(model, weight_decay=0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay = {names[id(p)] for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    decay = {names[id(p)] for g in groups if g["weight_decay"] == 0.05 for p in g["params"]}
    assert no_decay == {"stem.bias", "time_embed", "norm.weight", "norm.bias", "head.bias"}
    assert decay == {"stem.weight", "head.weight"}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_layer_decay_scales_lower_layers():
    model = TinyVideoNet()
    groups = param_groups(model, weight_decay=0.05, layer_decay=0.5)
    names = {id(p): n for n, p in model.named_parameters()}
    scale = {names[id(p)]: g["lr_scale"] for g in groups for p in g["params"]}
    assert scale["head.weight"] == 1.0
    assert scale["norm.weight"] == 0.5
    assert scale["stem.weight"] == 0.25
    opt = build_optimizer(groups, name="adamw", lr=1.0)
    sched = WarmupCosineSchedule(opt, base_lr=1.0, total_steps=10, warmup_steps=0, start_lr=0.0, end_lr=0.0)
    sched.step()
    assert sorted({g["lr"] for g in opt.param_groups}) == [0.25, 0.5, 1.0]


def test_layer_decay_needs_layer_ids():
    with pytest.raises(ValueError, match="LAYER_DECAY"):
        param_groups(torch.nn.Linear(2, 2), weight_decay=0.1, layer_decay=0.7)


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="lamb"):
        build_optimizer(param_groups(TinyVideoNet(), weight_decay=0.0), name="lamb", lr=0.1)


def test_warmup_then_cosine_values():
    kw = dict(base_lr=1.0, total_steps=110, warmup_steps=10, start_lr=0.1, end_lr=0.01)
    assert warmup_cosine_lr(0, **kw) == pytest.approx(0.1)
    assert warmup_cosine_lr(5, **kw) == pytest.approx(0.1 + 0.9 * 0.5)
    assert warmup_cosine_lr(10, **kw) == pytest.approx(1.0)
    assert warmup_cosine_lr(60, **kw) == pytest.approx(0.01 + 0.99 * 0.5)
    assert warmup_cosine_lr(35, **kw) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert warmup_cosine_lr(110, **kw) == pytest.approx(0.01)
    assert warmup_cosine_lr(500, **kw) == pytest.approx(0.01)
    lrs = [warmup_cosine_lr(s, **kw) for s in range(110)]
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_scheduler_state_round_trip():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    kw = dict(base_lr=1.0, total_steps=20, warmup_steps=4, start_lr=0.0, end_lr=0.0)
    a = WarmupCosineSchedule(opt, **kw)
    for _ in range(7):
        a.step()
    b = WarmupCosineSchedule(opt, **kw)
    b.load_state_dict(a.state_dict())
    assert [a.step() for _ in range(5)] == [b.step() for _ in range(5)]


@pytest.mark.parametrize("method", ["adamw", "sgd"])
def test_one_step_lowers_the_loss_on_a_fixed_batch(method):
    torch.manual_seed(0)
    model = TinyVideoNet()
    model.drop.p = 0.0  # the same function before, during and after the step
    batch = make_batches(1, 16)[0]
    clips, labels = batch_transform(batch, torch.device("cpu"))
    before = classification_loss(model(clips), labels).item()
    opt = build_optimizer(param_groups(model, weight_decay=0.05), name=method, lr=0.01)
    sched = WarmupCosineSchedule(opt, base_lr=0.01, total_steps=1, warmup_steps=0, start_lr=0.01, end_lr=0.01)
    state = TrainState(model=model, optimizer=opt, scheduler=sched)
    stats = train_one_epoch(state, [batch], batch_transform, device=torch.device("cpu"), precision=Precision("cpu"))
    after = classification_loss(model(clips), labels).item()
    assert stats["loss"] == pytest.approx(before, rel=1e-5)
    assert after < before


def test_soft_targets_loss_matches_hard_labels():
    logits = torch.randn(5, 4)
    labels = torch.tensor([0, 1, 2, 3, 1])
    soft = torch.nn.functional.one_hot(labels, 4).float()
    hard_loss = classification_loss(logits, labels).item()
    assert classification_loss(logits, soft).item() == pytest.approx(hard_loss, rel=1e-6)
