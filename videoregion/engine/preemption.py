"""Stopping a run cleanly: signals, periodic checkpoints, and the per-step agreement of all ranks.

SIGTERM, SIGUSR1 and SIGUSR2 (SLURM's ``--signal``, submitit's preemption signal, a scheduler's
stop) do not kill a training process: :class:`StopRequest` records them, every rank finishes its
current optimizer step, the ranks agree (:meth:`RunControl.poll`, one small all_reduce per
iteration, none in a single process), one checkpoint is written and the process exits with
:data:`PREEMPTED_EXIT_CODE` (:class:`Preempted`). The same command then resumes at the next step.

After the checkpoint, a Python handler that was installed before ours for the signal received
(submitit's requeue handler) is called, so a launcher's own protocol still runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)

__all__ = ["PREEMPTED_EXIT_CODE", "STOP_SIGNALS", "Preempted", "RunControl", "StepDecision", "StopRequest",
           "sum_over_ranks"]

# Exit status of a process that stopped on a signal after writing its checkpoint: rerun the same
# command to continue (SLURM: list it in slurm.conf's RequeueExit to requeue such jobs automatically).
# torchrun reports any non-zero worker status as 1.
PREEMPTED_EXIT_CODE = 3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


class Preempted(SystemExit):
    """Raised once the stop checkpoint is written: the process exits with :data:`PREEMPTED_EXIT_CODE`."""

    def __init__(self, checkpoint: str) -> None:
        super().__init__(PREEMPTED_EXIT_CODE)
        self.checkpoint = checkpoint


class StopRequest:
    """Records the first stop signal instead of dying; :meth:`installed` puts the handlers in place.

    Signals can only be handled in the main thread: elsewhere nothing is installed and only
    :meth:`request` stops the run.
    """

    def __init__(self, signals: tuple[int, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self.signum = 0  # the signal received, 0 while none
        self._previous: dict[int, object] = {}
        self._pid = os.getpid()

    @property
    def requested(self) -> bool:
        return self.signum != 0

    def request(self, signum: int = signal.SIGTERM) -> None:
        if not self.signum:
            self.signum = signum

    def _handle(self, signum: int, frame) -> None:
        if os.getpid() != self._pid:  # a forked loader worker: the signal keeps its default meaning
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if not self.signum:
            logger.warning("received %s: stopping after the current step with a checkpoint",
                           signal.Signals(signum).name)
        self.request(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        self._previous, self._pid = {}, os.getpid()
        try:
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread
            self._restore()
        try:
            yield self
        finally:
            self._restore()

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    def deliver(self) -> None:
        """Call the handler that was in place before ours for the signal received, if it is a Python
        function (e.g. submitit's checkpoint-and-requeue); it may exit the process itself."""
        previous = self._previous.get(self.signum)
        if callable(previous):
            previous(self.signum, None)


def sum_over_ranks(values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over all processes (the values themselves in one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


@dataclass(frozen=True)
class StepDecision:
    """What every rank does after an iteration (the same on every rank)."""

    stop: bool  # some rank was asked to stop
    checkpoint_due: bool  # the period (minutes or iterations) has passed on some rank
    skip: bool  # some rank has no batch: every rank skips this iteration
    reads: int  # video reads of this iteration, all ranks
    failed: int  # failed video reads of this iteration, all ranks


class RunControl:
    """The per-iteration agreement of all ranks: stop, periodic checkpoint, skipped batch, bad reads.

    ``period_minutes`` / ``period_iters`` (0: off): a mid-epoch checkpoint is due once that much
    time or that many iterations passed since the last checkpoint (or the start).
    """

    def __init__(self, *, period_minutes: float = 0.0, period_iters: int = 0, stop: StopRequest | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s = period_minutes * 60.0
        self.period_iters = period_iters
        self.stop = stop or StopRequest()
        self.clock = clock
        self.checkpointed()

    def checkpointed(self) -> None:
        """A checkpoint was just written: the periods count from now."""
        self._since = self.clock()
        self._iters = 0

    def poll(self, *, have_batch: bool = True, reads: int = 0, failed: int = 0, iteration: bool = True) -> StepDecision:
        """Collective: every rank calls it at the same points; ``iteration`` counts towards ``period_iters``."""
        self._iters += int(iteration)
        due = (self.period_s > 0 and self.clock() - self._since >= self.period_s) or (
            self.period_iters > 0 and self._iters >= self.period_iters)
        totals = sum_over_ranks([float(self.stop.requested), float(due), float(not have_batch), reads, failed])
        return StepDecision(stop=totals[0] > 0, checkpoint_due=totals[1] > 0, skip=totals[2] > 0,
                            reads=round(totals[3]), failed=round(totals[4]))
