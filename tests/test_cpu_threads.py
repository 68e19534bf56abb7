"""CPU_THREADS: the training process leaves a core to each loader worker unless told otherwise."""

from __future__ import annotations

import os

import pytest

from videoregion.config import get_cfg
from videoregion.engine.run import cpu_threads
from videoregion.errors import ConfigError


@pytest.fixture
def machine(monkeypatch):
    def set_up(cores: int, local_world_size: int | None = None, omp: str | None = None) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
        for name, value in (("LOCAL_WORLD_SIZE", local_world_size), ("OMP_NUM_THREADS", omp)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))

    return set_up


def _cfg(workers: int, threads: int = 0):
    cfg = get_cfg()
    cfg.DATA_LOADER.NUM_WORKERS, cfg.CPU_THREADS = workers, threads
    return cfg


@pytest.mark.parametrize(
    "cores, local_world_size, workers, expected",
    [
        (2, None, 1, 1),  # the main job on the 2-core machine: one thread beside its loader worker
        (2, None, 0, 2),  # no workers: every core
        (2, None, 4, 1),  # more workers than cores: still one thread
        (16, 2, 4, 4),  # two processes of 8 cores, 4 workers each
    ],
)
def test_automatic_threads_leave_a_core_to_each_worker(machine, cores, local_world_size, workers, expected):
    machine(cores, local_world_size)
    assert cpu_threads(_cfg(workers)) == expected


def test_omp_num_threads_and_the_key_win(machine):
    machine(16, omp="3")
    assert cpu_threads(_cfg(workers=1)) == 3  # torchrun sets OMP_NUM_THREADS=1 for its workers
    assert cpu_threads(_cfg(workers=1, threads=6)) == 6


def test_a_negative_value_is_a_config_error(machine):
    machine(2)
    with pytest.raises(ConfigError, match="CPU_THREADS"):
        cpu_threads(_cfg(workers=1, threads=-1))
