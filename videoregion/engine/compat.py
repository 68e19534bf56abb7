"""Whether a checkpoint fits this run: its config, its model weights, its optimizer groups.

    changes = config_changes(saved_yaml, cfg.dump())            # [(key, checkpoint value, now)]
    check_resume_config(saved_yaml, cfg.dump(), path, allow_change=cfg.TRAIN.ALLOW_CONFIG_CHANGE)
    check_state_dict_fits(model, state["model"], path)          # CheckpointError naming the first mismatches
    check_optimizer_fits(optimizer, state["optimizer"], path)   # ConfigError naming SOLVER.LAYER_DECAY

A resume continues a run only with the config that produced its weights. Keys that change where or
how fast the run goes, or only what is tested or logged, may differ (:data:`RESUME_MAY_CHANGE`); any
other difference refuses the resume with the list of differences, unless TRAIN.ALLOW_CONFIG_CHANGE.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import yaml
from torch import nn
from torch.optim import Optimizer

from videoregion.config import get_cfg
from videoregion.errors import CheckpointError, ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "RESUME_MAY_CHANGE",
    "check_optimizer_fits",
    "check_resume_config",
    "check_state_dict_fits",
    "config_changes",
    "save_run_config",
]

# Keys (or whole sections, ending in ".") a resumed run may change: they say where the run's files and
# data are, how many processes and workers share the work, how often it logs, validates and saves, how
# long it may wait, and what the final test does; none of them changes the weights trained. SOLVER.MAX_EPOCH
# and SOLVER.MAX_STEPS extend (or shorten) a run: the cosine schedule continues on the new length from the
# saved step.
RESUME_MAY_CHANGE = (
    "OUTPUT_DIR", "NUM_GPUS", "CPU_THREADS", "NUM_SHARDS", "SHARD_ID", "LOG_PERIOD",
    "DATA.PATH_TO_DATA_DIR", "DATA.PATH_PREFIX", "DATA.DECODING_THREADS", "DATA.DECODE_TIMEOUT",
    "DATA.MAX_BAD_FRACTION",
    "TRAIN.ENABLE", "TRAIN.AUTO_RESUME", "TRAIN.ALLOW_CONFIG_CHANGE", "TRAIN.CHECKPOINT_FILE_PATH",
    "TRAIN.EVAL_PERIOD", "TRAIN.CHECKPOINT_PERIOD", "TRAIN.CHECKPOINT_KEEP", "TRAIN.CHECKPOINT_PERIOD_MINUTES",
    "TRAIN.CHECKPOINT_PERIOD_ITERS", "TRAIN.OVERWRITE", "TRAIN.DETERMINISTIC",
    "SOLVER.MAX_EPOCH", "SOLVER.MAX_STEPS", "MODEL.COMPILE", "SYNTHETIC.GENERATE",
    "TEST.", "DEMO.", "DATA_LOADER.", "DIST.",
)
MAX_LISTED = 8


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _may_change(key: str, allowed: Iterable[str]) -> bool:
    return any(key == a or (a.endswith(".") and key.startswith(a)) for a in allowed)


def config_changes(saved: str, now: str) -> list[tuple[str, object, object]]:
    """(key, saved value, current value) for every key of the current config (YAML ``now``) that
    differs from the saved one (YAML ``saved``); a key the saved config lacks counts with its default."""
    defaults = _flatten(yaml.safe_load(get_cfg().dump()))
    before = {**defaults, **_flatten(yaml.safe_load(saved) or {})}
    after = _flatten(yaml.safe_load(now) or {})
    return [(key, before.get(key), value) for key, value in after.items() if before.get(key) != value]


def _listing(changes: list[tuple[str, object, object]]) -> str:
    text = ", ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in changes[:MAX_LISTED])
    return text + (f" and {len(changes) - MAX_LISTED} more" if len(changes) > MAX_LISTED else "")


def check_resume_config(saved: str | None, now: str, path: str, *, allow_change: bool = False,
                        may_change: Iterable[str] = RESUME_MAY_CHANGE) -> list[tuple[str, object, object]]:
    """Refuse (ConfigError) resuming the checkpoint at ``path``, trained with config ``saved``, under config
    ``now`` when they differ outside ``may_change``, unless ``allow_change``; returns every difference.

    A checkpoint without a saved config is refused too unless ``allow_change``.
    """
    if not isinstance(saved, str):
        if allow_change:
            logger.warning("%s holds no config: resuming without checking it (TRAIN.ALLOW_CONFIG_CHANGE)", path)
            return []
        raise ConfigError(f"{path} holds no config to compare with this run's; add TRAIN.ALLOW_CONFIG_CHANGE True "
                          "to resume it anyway, or use another OUTPUT_DIR")
    changes = config_changes(saved, now)
    refused = [c for c in changes if not _may_change(c[0], may_change)]
    if refused and not allow_change:
        raise ConfigError(
            f"{path} was trained with another config; resuming it would not give the result this config asks for. "
            f"Differences (checkpoint -> now): {_listing(refused)}. Set them back, use another OUTPUT_DIR, "
            "or add TRAIN.ALLOW_CONFIG_CHANGE True to continue with the new values"
        )
    if refused:
        logger.warning("resuming %s with a changed config (TRAIN.ALLOW_CONFIG_CHANGE): %s", path, _listing(refused))
    allowed = [c for c in changes if _may_change(c[0], may_change) and c[0] != "OUTPUT_DIR"]
    if allowed:
        logger.info("resuming with changed settings that do not alter training: %s", _listing(allowed))
    return changes


def check_state_dict_fits(model: nn.Module, state_dict: dict, path: str) -> None:
    """A CheckpointError naming ``path`` and the first missing, unexpected and differently shaped
    weights when ``state_dict`` is not a state of ``model`` (another architecture or class count)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state_dict and hasattr(state_dict[k], "shape") and tuple(state_dict[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or shapes):
        return
    parts = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape (checkpoint vs model)",
                                                                         shapes)):
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            parts.append(f"{len(keys)} weights {what}: {', '.join(keys[:3])}{more}")
    raise CheckpointError(f"{path} does not fit this model (another MODEL.NAME or MODEL.NUM_CLASSES?): "
                          + "; ".join(parts))


def check_optimizer_fits(optimizer: Optimizer, saved: dict, path: str) -> None:
    """A ConfigError when the optimizer state saved in ``path`` has other parameter groups than
    ``optimizer`` (they follow SOLVER.LAYER_DECAY and SOLVER.WEIGHT_DECAY's exclusions)."""
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list):
        raise CheckpointError(f"{path}: no optimizer state to resume from")
    before = [len(g.get("params", [])) for g in groups]
    now = [len(g["params"]) for g in optimizer.param_groups]
    if before != now:
        raise ConfigError(
            f"{path}: its optimizer has {len(before)} parameter groups of {before} tensors, this run's has "
            f"{len(now)} of {now}: SOLVER.LAYER_DECAY (or the model) changed since the checkpoint; set it back "
            "or use another OUTPUT_DIR"
        )


def save_run_config(output_dir: str, text: str, *, fresh: bool) -> str:
    """Write the run's config (YAML ``text``) where it belongs in ``output_dir``; returns the path.

    ``config.yaml`` is the config of the weights in the folder: written when absent, or when the run
    starts from scratch (``fresh``). A run with another config (an allowed change on resume, a test-only
    run with other settings) gets the next ``config_<n>.yaml``, unless one of them already holds it.
    """
    first = os.path.join(output_dir, "config.yaml")
    if fresh or not os.path.exists(first):
        return _write(first, text)
    n = 0
    while True:
        path = first if n == 0 else os.path.join(output_dir, f"config_{n}.yaml")
        if not os.path.exists(path):
            logger.info("config differs from %s: saved as %s", first, path)
            return _write(path, text)
        with open(path) as f:
            if f.read() == text:
                return path
        n += 1


def _write(path: str, text: str) -> str:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
