"""Run configuration: defaults in code, YAML diffs with ``_BASE_`` inheritance, KEY VALUE overrides.

    cfg = load_config(["configs/k400_regionvit.yaml"], ["SOLVER.BASE_LR", "0.001"])

Every mistake (an unknown key, a value of the wrong type, a missing or cyclic ``_BASE_``) is a
:class:`ConfigError` that names the key and the file (or the command line) it came from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from fvcore.common.config import CfgNode

from videoregion.errors import ConfigError

from .defaults import get_defaults

__all__ = ["CfgNode", "ConfigError", "get_cfg", "load_config", "merge_file", "merge_opts"]

BASE_KEY = "_BASE_"


def get_cfg() -> CfgNode:
    """The default configuration, mutable, with one comment per key in ``defaults.py``."""
    return get_defaults()


def _load_yaml_with_bases(path: str, chain: tuple[str, ...] = ()) -> dict:
    path = os.path.abspath(path)
    if path in chain:
        raise ConfigError(f"{path}: _BASE_ cycle: {' -> '.join(chain + (path,))}")
    if not os.path.isfile(path):
        where = f" (the _BASE_ of {chain[-1]})" if chain else ""
        raise ConfigError(f"{path}: config file not found{where}")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections, got {type(data).__name__}")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    base_path = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
    merged = _load_yaml_with_bases(base_path, chain + (path,))
    _deep_update(merged, data)
    return merged


def _deep_update(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_update(into[key], value)
        else:
            into[key] = value


def _coerce(value: Any, default: Any, key: str, source: str) -> Any:
    """``value`` converted to the type of ``default``, or a ConfigError naming key and source."""
    if isinstance(default, bool) or isinstance(value, bool):
        if isinstance(default, bool) and isinstance(value, bool):
            return value
    elif isinstance(default, float) and isinstance(value, (int, float)):
        return float(value)
    elif isinstance(default, float) and isinstance(value, str):
        try:  # YAML reads 1e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    elif isinstance(default, int) and isinstance(value, int):
        return value
    elif isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    elif isinstance(default, str) and isinstance(value, str):
        return value
    raise ConfigError(
        f"{source}: {key} must be {type(default).__name__} (default {default!r}), "
        f"got {type(value).__name__} {value!r}"
    )


def _merge(cfg: CfgNode, data: dict, source: str, prefix: str = "") -> None:
    for name, value in data.items():
        key = prefix + name
        if name not in cfg:
            raise ConfigError(f"{source}: unknown config key {key}")
        if isinstance(cfg[name], CfgNode):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {key} is a section; give it a mapping, got {value!r}")
            _merge(cfg[name], value, source, key + ".")
        else:
            cfg[name] = _coerce(value, cfg[name], key, source)


def merge_file(cfg: CfgNode, path: str) -> None:
    """Merge one YAML file (and its ``_BASE_`` chain) into ``cfg``."""
    _merge(cfg, _load_yaml_with_bases(path), source=path)


def merge_opts(cfg: CfgNode, opts: Sequence[str]) -> None:
    """Merge command-line ``KEY VALUE`` pairs; values are read as YAML scalars or lists."""
    if len(opts) % 2:
        raise ConfigError(f"command line: overrides come as KEY VALUE pairs, got an odd list {list(opts)}")
    for key, text in zip(opts[0::2], opts[1::2]):
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        if value is None:
            value = text
        node = {}
        leaf = node
        *parents, last = key.split(".")
        for part in parents:
            leaf = leaf.setdefault(part, {})
        leaf[last] = value
        _merge(cfg, node, source="command line")


def load_config(cfg_files: Iterable[str] = (), opts: Sequence[str] = (), freeze: bool = True) -> CfgNode:
    """Defaults, then each file in order, then the overrides; frozen unless asked otherwise."""
    cfg = get_cfg()
    for path in cfg_files:
        merge_file(cfg, path)
    merge_opts(cfg, list(opts))
    if freeze:
        cfg.freeze()
    return cfg
