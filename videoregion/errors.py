"""The errors a user should see as one line: what (file, key or option) and the problem.

Every error the package raises for bad input derives from :class:`VideoRegionError`, and the tools
catch exactly that base: ``error: <message>`` on stderr and exit code 1. Anything else (a plain
``ValueError``, ``KeyError``, ...) is a bug and keeps its traceback.

The second base of each class is the built-in it refines, so ``except ValueError`` around a config
load still works.
"""

from __future__ import annotations

__all__ = [
    "AnnotationError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "NonFiniteLossError",
    "OutputError",
    "VideoError",
    "VideoRegionError",
    "one_line",
]


class VideoRegionError(Exception):
    """Base of every error about the user's input, files or machine; its message is one line."""


class ConfigError(VideoRegionError, ValueError):
    """A config file, key, override or command-line option whose value cannot be used."""


class AnnotationError(VideoRegionError, ValueError):
    """An annotation file that cannot be used; the message names the file, line and problem."""

    def __init__(self, path: str, problem: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = path, line, problem


class VideoError(VideoRegionError, RuntimeError):
    """A video that cannot be read; ``reason`` is a short phrase for reports."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DataError(VideoRegionError, RuntimeError):
    """A dataset too broken to train or test on."""


class CheckpointError(VideoRegionError, ValueError):
    """A checkpoint file that cannot be read or does not fit the model."""


class NonFiniteLossError(VideoRegionError, RuntimeError):
    """The loss became NaN or infinite; the run stops and writes no checkpoint from this state."""


class OutputError(VideoRegionError, OSError):
    """An output file (annotated video, report, figure) that cannot be written."""


def one_line(error: BaseException, limit: int = 300) -> str:
    """What a tool prints for ``error``: the message's first line (it names the file and the problem), a
    long one cut after its first sentence or at ``limit`` characters (torch's message for a file that is
    not a checkpoint runs on with advice about weights_only; a checkpoint that does not fit lists every
    tensor)."""
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if len(line) <= limit:
        return line
    if ". " in line[:limit]:
        return line[: line.index(". ") + 1]
    return line[:limit] + " ..."
