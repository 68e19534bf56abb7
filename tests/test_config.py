import pytest

from videoregion.config import ConfigError, get_cfg, load_config


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_have_slowfast_sections():
    cfg = get_cfg()
    for section in ["MODEL", "DATA", "AUG", "MIXUP", "SOLVER", "TRAIN", "TEST", "DEMO", "DATA_LOADER"]:
        assert section in cfg
    for key in ["NUM_GPUS", "NUM_SHARDS", "SHARD_ID", "OUTPUT_DIR", "RNG_SEED"]:
        assert key in cfg


def test_every_default_key_has_a_comment():
    import inspect
    import re

    from videoregion.config import defaults

    lines = inspect.getsource(defaults).splitlines()
    for i, line in enumerate(lines):
        if re.match(r"_C(\.\w+)+ = (?!CfgNode\(\))", line):
            assert lines[i - 1].lstrip().startswith("#"), f"no comment above: {line}"


def test_base_inheritance_and_overrides(tmp_path):
    write(tmp_path, "base.yaml", "MODEL:\n  NAME: regionvit3d_tiny\nSOLVER:\n  BASE_LR: 0.5\n")
    child = write(tmp_path, "child.yaml", "_BASE_: base.yaml\nSOLVER:\n  BASE_LR: 1e-4\n")
    cfg = load_config([child], ["TRAIN.BATCH_SIZE", "8", "DATA.MEAN", "[0.5, 0.5, 0.5]"])
    assert cfg.MODEL.NAME == "regionvit3d_tiny"
    assert cfg.SOLVER.BASE_LR == pytest.approx(1e-4)
    assert cfg.TRAIN.BATCH_SIZE == 8
    assert list(cfg.DATA.MEAN) == [0.5, 0.5, 0.5]
    assert cfg.is_frozen()


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "bad.yaml", "SOLVER:\n  BASE_LRR: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*SOLVER\.BASE_LRR"):
        load_config([path])


def test_wrong_type_names_key_and_file(tmp_path):
    path = write(tmp_path, "bad.yaml", "TRAIN:\n  BATCH_SIZE: eight\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*TRAIN\.BATCH_SIZE"):
        load_config([path])
    with pytest.raises(ConfigError, match=r"command line.*TRAIN\.ENABLE"):
        load_config([], ["TRAIN.ENABLE", "3"])


def test_missing_base_and_cycle(tmp_path):
    path = write(tmp_path, "a.yaml", "_BASE_: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load_config([path])
    write(tmp_path, "x.yaml", "_BASE_: y.yaml\n")
    y = write(tmp_path, "y.yaml", "_BASE_: x.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config([y])
