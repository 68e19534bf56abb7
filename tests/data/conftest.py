import os

import pytest

from videoregion.config import get_cfg

from .corpus import build_corpus, need_ffmpeg
from .videos import write_kinetics


@pytest.fixture(scope="session")
def kinetics_root(tmp_path_factory):
    """Four 40-frame 64x48 h264 videos in the SlowFast layout, two classes (shared, read-only)."""
    root, _ = write_kinetics(str(tmp_path_factory.mktemp("kinetics")))
    return root


def tiny_cfg(data_dir: str, output_dir: str, **overrides):
    """A config for tiny clips: 8 frames, 32-pixel crops, no workers."""
    cfg = get_cfg()
    cfg.DATA.PATH_TO_DATA_DIR = data_dir
    cfg.DATA.PATH_PREFIX = data_dir
    cfg.DATA.NUM_FRAMES = 8
    cfg.DATA.SAMPLING_RATE = 2
    cfg.DATA.TRAIN_JITTER_SCALES = [40, 48]
    cfg.DATA.TRAIN_CROP_SIZE = 32
    cfg.DATA.TEST_CROP_SIZE = 32
    cfg.TEST.NUM_ENSEMBLE_VIEWS = 2
    cfg.TEST.NUM_SPATIAL_CROPS = 3
    cfg.TRAIN.BATCH_SIZE = 2
    cfg.TEST.BATCH_SIZE = 3
    cfg.DATA_LOADER.NUM_WORKERS = 0
    cfg.NUM_GPUS = 0
    cfg.OUTPUT_DIR = output_dir
    cfg.DATA.DECODE_TIMEOUT = 20.0
    for key, value in overrides.items():
        node = cfg
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return cfg


@pytest.fixture
def make_cfg(tmp_path):
    def make(data_dir, **overrides):
        return tiny_cfg(data_dir, os.path.join(tmp_path, "out"), **overrides)
    return make


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The odd-encodings corpus (tests/data/corpus.py), written once per session: {name: CorpusVideo}.
    Skips (or fails, with VIDEOREGION_REQUIRE_FFMPEG=1) without the ffmpeg command line."""
    need_ffmpeg()
    return build_corpus(str(tmp_path_factory.mktemp("corpus")))
