"""Process groups and collective helpers.

Two ways to start a multi-process run, as in SlowFast:

* ``tools/run_net.py --init_method tcp://host:port --num_shards N --shard_id I``: this machine spawns
  one process per GPU (one process on a CPU machine); ranks are ``shard_id * per_machine + local``.
* ``torchrun ... tools/run_net.py``: every process is started by torchrun and joins with ``env://``
  (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment).

The backend is nccl when the run uses GPUs and gloo on the CPU; a collective waits at most
``DistributedSettings.timeout_minutes`` (DIST.TIMEOUT_MINUTES) for the other processes. Every helper
here also works without a process group (one process), so the training code calls them unconditionally.
An error of ours (:class:`~videoregion.errors.VideoRegionError`) in a spawned process reaches the
caller as the same one-line error, not as the spawn launcher's traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from videoregion import errors
from videoregion.errors import ConfigError, VideoRegionError

logger = logging.getLogger(__name__)

__all__ = [
    "DistributedSettings",
    "all_gather_objects",
    "all_gather_variable",
    "all_reduce_mean",
    "barrier",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "launch",
    "launched_by_torchrun",
    "resolve_num_gpus",
    "unwrap_model",
    "wrap_ddp",
]


@dataclass(frozen=True)
class DistributedSettings:
    """How this machine takes part in a run (from the command line and ``cfg.NUM_GPUS``)."""

    num_gpus: int  # GPUs used on this machine (0: CPU)
    num_shards: int = 1  # machines
    shard_id: int = 0  # index of this machine
    init_method: str = "tcp://localhost:9999"
    timeout_minutes: float = 30.0  # how long a collective waits for the other processes

    @property
    def procs_per_machine(self) -> int:
        return max(self.num_gpus, 1)

    @property
    def world_size(self) -> int:
        return self.procs_per_machine * self.num_shards

    @property
    def backend(self) -> str:
        return "nccl" if self.num_gpus > 0 else "gloo"


def resolve_num_gpus(requested: int) -> int:
    """``cfg.NUM_GPUS`` made concrete: -1 is every visible GPU (0 on a CPU-only machine)."""
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested < 0:
        return available
    if requested > available:
        raise ConfigError(
            f"NUM_GPUS is {requested} but this machine has {available} usable GPU(s); "
            "set NUM_GPUS 0 to run on the CPU or -1 to take what is there"
        )
    return requested


def launched_by_torchrun() -> bool:
    """True when torchrun (or another env:// launcher) started this process."""
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def launch(func: Callable[..., Any], settings: DistributedSettings, *args: Any) -> None:
    """Run ``func(local_rank, *args)`` in every process of this machine, inside a process group.

    Under torchrun, this process is one of them. Otherwise one process runs ``func`` directly when
    the world has one process, and ``procs_per_machine`` processes are spawned when it has more.
    """
    if launched_by_torchrun():
        local_rank = int(os.environ["LOCAL_RANK"])
        world_size, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
        _init_group(settings.backend, "env://", world_size, rank, local_rank, settings)
        _run_and_cleanup(func, local_rank, args)
    elif settings.world_size == 1:
        _run_and_cleanup(func, 0, args, group=False)
    else:
        try:
            mp.spawn(_spawned, nprocs=settings.procs_per_machine, args=(func, settings, args), join=True)
        except mp.ProcessRaisedException as e:
            raise _our_error(e) or e from None


_RAISED = re.compile(r"^([\w.]+): (.+)$")


def _our_error(e: mp.ProcessRaisedException) -> VideoRegionError | None:
    """The VideoRegionError a spawned process raised, rebuilt from the last line of its traceback
    (the exception itself does not cross the process boundary); None for any other exception."""
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    match = _RAISED.match(lines[-1]) if lines else None
    if match is None:
        return None
    module, _, name = match.group(1).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module) if module.startswith("videoregion") else errors, name, None)
    except ImportError:
        return None
    if not (isinstance(cls, type) and issubclass(cls, VideoRegionError)):
        return None
    error = cls.__new__(cls)  # some take (path, reason): the message is all that crosses
    Exception.__init__(error, match.group(2))
    return error


def _spawned(local_rank: int, func: Callable[..., Any], settings: DistributedSettings, args: tuple) -> None:
    rank = settings.shard_id * settings.procs_per_machine + local_rank
    _init_group(settings.backend, settings.init_method, settings.world_size, rank, local_rank, settings)
    _run_and_cleanup(func, local_rank, args)


def _init_group(
    backend: str, init_method: str, world_size: int, rank: int, local_rank: int, settings: DistributedSettings
) -> None:
    if settings.num_gpus > 0:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        backend=backend, init_method=init_method, world_size=world_size, rank=rank,
        timeout=timedelta(minutes=settings.timeout_minutes),
    )


def _run_and_cleanup(func: Callable[..., Any], local_rank: int, args: tuple, group: bool = True) -> None:
    try:
        func(local_rank, *args)
    finally:
        if group and dist.is_initialized():
            dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _collective_device() -> torch.device:
    """nccl only moves CUDA tensors; gloo works on CPU tensors."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over all processes (``value`` itself with one process)."""
    if not is_distributed():
        return value
    out = value.detach().clone().to(_collective_device())
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return (out / get_world_size()).to(value.device)


def all_gather_variable(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate along dim 0 the tensors of all processes, whose first sizes may differ.

    Returns a CPU tensor (N_0 + N_1 + ..., *rest) in rank order.
    """
    if not is_distributed():
        return tensor.detach().cpu()
    device = _collective_device()
    local = tensor.detach().to(device).contiguous()
    size = torch.tensor([local.shape[0]], device=device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(get_world_size())]
    dist.all_gather(sizes, size)
    sizes_list = [int(s.item()) for s in sizes]
    longest = max(sizes_list)
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=device)
    padded[: local.shape[0]] = local
    gathered = [torch.zeros_like(padded) for _ in sizes_list]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n].cpu() for g, n in zip(gathered, sizes_list)])


def all_gather_objects(obj: Any) -> list[Any]:
    """Picklable ``obj`` of every process, in rank order (keep it small: it goes through pickle)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel over the process group (on ``device``'s GPU, or the CPU)."""
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel and torch.compile wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model
