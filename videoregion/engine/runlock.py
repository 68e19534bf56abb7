"""One run per OUTPUT_DIR: a lock file naming the host and process that holds the folder.

    lock = acquire_run_lock(output_dir, stale_minutes=30.0)   # RunLockError when another run holds it
    ...
    lock.release()

The lock is ``OUTPUT_DIR/.lock``, created with ``O_CREAT | O_EXCL`` (atomic, also on NFS v3+), holding one
JSON line: host, PID, the process's start time and when the run started. While it is held a daemon thread
touches the file every minute, so its modification time says the holder is alive. A second run on the
folder fails at once with a :class:`RunLockError` naming the folder and the holder. The lock of a dead
holder is taken over (and said so in :attr:`RunLock.took_over`): on this host when its process is gone
(or its PID now belongs to another process), from another host when the file has not been touched for
``stale_minutes``. ``force`` takes any lock (DIST.BREAK_LOCK: when you know the holder is gone).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from videoregion.errors import OutputError

__all__ = ["LOCK_NAME", "RunLock", "RunLockError", "acquire_run_lock", "writable_folder"]

LOCK_NAME = ".lock"
HEARTBEAT_SECONDS = 60.0


class RunLockError(OutputError):
    """OUTPUT_DIR is held by another run (the message names the folder, host and PID)."""


def _process_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot (Linux), "" when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int, start: str) -> bool:
    """Whether process ``pid`` of this host still runs (and is the same process when ``start`` is known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        pass
    now = _process_start(pid)
    return not (start and now and start != now)


def writable_folder(folder: str) -> None:
    """Create ``folder`` (and parents) or raise an OutputError saying why it cannot hold the run's files."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError(f"OUTPUT_DIR {folder}: cannot create the folder ({e.strerror or e})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"OUTPUT_DIR {folder}: the folder is not writable")


@dataclass
class RunLock:
    """The held lock of one OUTPUT_DIR; :meth:`release` (or leaving a ``with`` block) removes it."""

    path: str
    token: str
    took_over: str = ""  # a line describing the stale lock taken over, "" when none
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        threading.Thread(target=self._heartbeat, name="run-lock", daemon=True).start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        """Remove the lock file when it is still ours (never another run's that took it over)."""
        self._stop.set()
        holder = _read_holder(self.path)
        if holder is not None and holder.get("token") == self.token:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(path: str) -> dict | None:
    try:
        with open(path) as f:
            holder = json.loads(f.read() or "null")
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: dict | None) -> str:
    if holder is None:
        return "an unknown process (empty or unreadable lock file)"
    return f"PID {holder.get('pid')} on {holder.get('host')} (since {holder.get('started', '?')})"


def _stale_reason(path: str, holder: dict | None, stale_minutes: float) -> str:
    """Why the lock at ``path`` is stale, or "" when its holder may be alive."""
    host = socket.gethostname()
    if holder is not None and holder.get("host") == host and isinstance(holder.get("pid"), int):
        if not _alive(holder["pid"], str(holder.get("pid_start", ""))):
            return f"its process {holder['pid']} on this host is gone"
        return ""
    try:
        idle = (time.time() - os.path.getmtime(path)) / 60.0
    except OSError:
        return "it was just removed"
    if idle > stale_minutes:
        return f"it was last touched {idle:.0f} minutes ago (DIST.LOCK_STALE_MINUTES {stale_minutes:g})"
    return ""


def acquire_run_lock(folder: str, *, stale_minutes: float = 30.0, force: bool = False) -> RunLock:
    """Create ``folder`` and take its lock; a RunLockError when a live run holds it (see the module doc)."""
    writable_folder(folder)
    path = os.path.join(folder, LOCK_NAME)
    token = uuid.uuid4().hex
    record = {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _process_start(os.getpid()),
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "token": token}
    took_over = ""
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_holder(path)
            reason = "DIST.BREAK_LOCK is set" if force else _stale_reason(path, holder, stale_minutes)
            if not reason:
                raise RunLockError(
                    f"OUTPUT_DIR {folder} is in use by another run: {_describe(holder)} holds {path}. "
                    "Wait for it, use another OUTPUT_DIR, or (when that run is gone) delete the lock file "
                    "or add DIST.BREAK_LOCK True"
                ) from None
            # rename first: of two runs taking over the same stale lock, only one wins the rename
            aside = f"{path}.stale.{token}"
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                continue
            os.unlink(aside)
            took_over = f"took over the lock of {folder} from {_describe(holder)}: {reason}"
            continue
        except OSError as e:
            raise OutputError(f"OUTPUT_DIR {folder}: cannot create {path} ({e.strerror or e})") from None
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            os.unlink(path)
            what = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
            raise OutputError(f"OUTPUT_DIR {folder}: cannot write {path} ({what})") from None
        return RunLock(path, token, took_over)
    raise RunLockError(f"OUTPUT_DIR {folder}: could not take {path}: other runs keep taking it")
