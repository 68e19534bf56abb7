import glob
import os

import pytest
import torch

from videoregion.config import load_config
from videoregion.engine import build
from videoregion.engine.precision import make_precision

from .engine_testing import TinyVideoNet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))


def test_the_shipped_configs_are_there():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"k400_regionvit.yaml", "ssv2_regionvit.yaml", "synthetic_regionvit.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_loads_and_builds_engine_pieces(path):
    cfg = load_config([path])
    optimizer = build.make_optimizer(cfg, TinyVideoNet())
    scheduler = build.make_scheduler(cfg, optimizer, iters_per_epoch=10)
    assert scheduler.total_steps == 10 * cfg.SOLVER.MAX_EPOCH
    assert build.scaled_lr(cfg) > 0
    assert make_precision(cfg, torch.device("cpu")).dtype is None  # CPU runs fp32 by default


def test_lr_scaling_rule():
    cfg = load_config([], ["SOLVER.BASE_LR", "0.001", "SOLVER.BASE_BATCH_SIZE", "64", "TRAIN.BATCH_SIZE", "32",
                           "SOLVER.ACCUM_ITERS", "4"])
    assert build.scaled_lr(cfg) == pytest.approx(0.001 * 128 / 64)
    cfg = load_config([], ["SOLVER.LR_SCALING", "none", "TRAIN.BATCH_SIZE", "8"])
    assert build.scaled_lr(cfg) == cfg.SOLVER.BASE_LR


def test_precision_choices():
    cpu = torch.device("cpu")
    cfg = load_config([], ["TRAIN.MIXED_PRECISION", "bf16", "TRAIN.CPU_AUTOCAST", "True"])
    assert make_precision(cfg, cpu).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="MIXED_PRECISION"):
        make_precision(load_config([], ["TRAIN.MIXED_PRECISION", "fp8"]), cpu)
    fp16 = make_precision(load_config([], ["TRAIN.MIXED_PRECISION", "fp16"]), torch.device("cuda", 0))
    assert fp16.dtype == torch.float16 and fp16.needs_scaler


def test_main_job_runs_on_a_cpu_machine_as_is():
    cfg = load_config([os.path.join(ROOT, "configs", "synthetic_regionvit.yaml")])
    assert cfg.NUM_GPUS == -1  # every visible GPU, or the CPU when there is none
    assert cfg.SYNTHETIC.GENERATE and not cfg.DATA.RANDOM_FLIP
