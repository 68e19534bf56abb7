"""The video peers of the registry (videoregion.models.peers): what they are, what they cost, and that
every tool that takes a model name takes them (count_flops, run_net, export, the benchmark)."""

import contextlib
import io
import os
import subprocess
import sys

import pytest
import torch

from tests.engine_testing import write_tiny_run
from videoregion.benchmark.peers import PEERS, build_benchmark_model, known_models
from videoregion.config import get_cfg
from videoregion.engine.optimizer import param_groups
from videoregion.errors import ConfigError
from videoregion.models import build_model, create_model, list_models, model_info
from videoregion.models.build import check_clip_input, model_kwargs
from videoregion.utils.flops import CHEAP_OPS, analyse_flops
from videoregion.utils.flops import count_flops as count

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PEER_NAMES = [n for n in list_models("clip") if model_info(n).is_peer]
NANO = ["swin3d_nano", "mvit_v2_nano", "r3d_nano", "r2plus1d_nano", "s3d_nano", "vit3d_nano"]
# Peers the main job's 8x56 clips fit as published (x3d_* are one network: xs stands for s and m).
FIT_8x56 = NANO + ["x3d_xs", "x3d_l", "swin3d_t", "r3d_18", "r2plus1d_18", "mvit_v2_s"]
MAIN_JOB_GFLOPS = 0.1613  # regionvit3d_nano, 8x56, 14 classes (pinned in test_regionvit3d_nano_is_the_target)
MATCHED_GFLOPS = 0.2918  # what nano cost with whole padded windows: the *_nano peers were sized to it


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a shared CPU, two spinning OpenMP threads make X3D's depthwise 3D convolutions
    tens of times slower, and these models are small."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def clip_kwargs(name: str, frames: int, size: int) -> dict:
    extra = {"input_size": size} if "input_size" in model_info(name).options else {}
    return dict(num_frames=frames, **extra)


def test_every_peer_is_registered_with_where_it_comes_from():
    expected = {"swin3d_t", "mvit_v2_s", "r2plus1d_18", "r3d_18", "s3d", "x3d_xs", "x3d_s", "x3d_m", "x3d_l",
                "vit3d_base", "vit3d_small", "vit3d_tiny", *NANO}
    assert set(PEER_NAMES) == expected
    sources = {n: model_info(n).source for n in PEER_NAMES}
    assert sources["swin3d_t"] == "torchvision" and sources["x3d_m"] == "pytorchvideo"
    assert sources["vit3d_base"] == "videoregion" and not model_info("regionvit3d_nano").is_peer
    nano = model_info("swin3d_nano")
    assert (nano.num_frames, nano.input_size) == (8, 56)


def test_importing_the_models_does_not_import_torchvision():
    code = "import sys, videoregion.models; assert 'torchvision' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": ROOT}, check=True, timeout=120)


@pytest.mark.parametrize("name", PEER_NAMES)
def test_each_peer_takes_its_published_clip_shape(name):
    """On the meta device: shapes without compute, so the 224 px models cost nothing here."""
    info = model_info(name)
    with torch.device("meta"):
        model = create_model(name, num_classes=7)
        x = torch.empty(2, 3, info.num_frames, info.input_size, info.input_size)
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 7)
    assert model.num_classes == 7 and model.num_frames == info.num_frames


@pytest.mark.parametrize("name", FIT_8x56 + ["vit3d_tiny"])
def test_each_peer_classifies_small_clips_and_learns(name):
    size = 64 if name == "vit3d_tiny" else 56  # 16 px tubelets
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, **clip_kwargs(name, 8, size))
    x = torch.randn(2, 3, 8, size, size)
    logits = model.train()(x)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    missed = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missed, f"backward does not reach {missed[:5]}"
    model.eval()
    with torch.no_grad():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        assert pooled.shape == (2, model.num_features)
        assert torch.allclose(model.forward_head(features), model(x), atol=1e-5)


@pytest.mark.parametrize("name", ["x3d_xs", "s3d_nano"])
def test_pooled_features_are_what_the_classifier_reads(name):
    """x3d and s3d project before pooling; their pre-logit features pool first (the projection is linear)."""
    model = create_model(name, num_classes=5, **clip_kwargs(name, 8, 56)).eval()
    x = torch.randn(2, 3, 8, 56, 56)
    with torch.no_grad():
        pooled = model.forward_head(model.forward_features(x), pre_logits=True)
        head = model.blocks[-1].proj if name == "x3d_xs" else model.classifier[1]
        weight = head.weight.reshape(5, -1)
        assert torch.allclose(pooled @ weight.T + head.bias, model(x), atol=1e-4)


@pytest.mark.parametrize("name", ["swin3d_t", "mvit_v2_s", "r3d_18", "r2plus1d_18", "s3d"])
def test_torchvision_peers_are_torchvisions_models(name):
    """Same parameter names and shapes as torchvision's builder (so its published weights would load)."""
    import torchvision.models.video as tv

    with torch.device("meta"):
        ours, theirs = create_model(name).state_dict(), getattr(tv, name)(weights=None).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_x3d_m_is_the_pytorchvideo_hub_model():
    from pytorchvideo.models.hub import x3d_m

    with torch.device("meta"):
        ours, hub = create_model("x3d_m").state_dict(), x3d_m(pretrained=False).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in hub.items()}


def test_regionvit3d_nano_is_the_target():
    model = create_model("regionvit3d_nano", num_frames=8, num_classes=14)
    assert count(model, torch.zeros(1, 3, 8, 56, 56)) / 1e9 == pytest.approx(MAIN_JOB_GFLOPS, abs=1e-3)


# name -> GFLOPs at 8x56, 14 classes (the table of videoregion.models.peers)
NANO_GFLOPS = {"swin3d_nano": 0.3265, "mvit_v2_nano": 0.2906, "r3d_nano": 0.3583, "r2plus1d_nano": 0.3337,
               "s3d_nano": 0.2797, "vit3d_nano": 0.3014, "x3d_l": 0.3538}


@pytest.mark.parametrize("name", sorted(NANO_GFLOPS))
def test_nano_peers_are_compute_matched_and_fully_counted(name):
    model = create_model(name, num_classes=14, **clip_kwargs(name, 8, 56))
    flops, skipped = analyse_flops(model, torch.zeros(1, 3, 8, 56, 56))
    assert flops / 1e9 == pytest.approx(NANO_GFLOPS[name], rel=1e-3)
    assert flops / 1e9 == pytest.approx(MATCHED_GFLOPS, rel=0.25) and flops / 1e9 > 1.7 * MAIN_JOB_GFLOPS
    assert set(skipped) <= CHEAP_OPS, f"fvcore skips a costly op of {name}: {set(skipped) - CHEAP_OPS}"


# ----------------------------------------------------------------------------- config -> model
def peer_cfg(name: str, **overrides):
    cfg = get_cfg()
    cfg.MODEL.NAME, cfg.MODEL.NUM_CLASSES, cfg.MODEL.DROP_PATH_RATE = name, 4, 0.0
    cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE = 8, 56, 56
    for key, value in overrides.items():
        section, option = key.split("__")
        cfg[section][option] = value
    return cfg


def test_build_model_passes_each_model_only_what_it_takes():
    assert model_kwargs(peer_cfg("r3d_nano")) == {"num_classes": 4, "num_frames": 8}
    assert model_kwargs(peer_cfg("x3d_xs", MODEL__HEAD_DROPOUT=0.3)) == {
        "num_classes": 4, "num_frames": 8, "input_size": 56, "head_dropout": 0.3}
    vit = model_kwargs(peer_cfg("vit3d_nano", MODEL__GRAD_CHECKPOINTING=True, MODEL__DROP_PATH_RATE=0.1))
    assert vit["grad_checkpointing"] and vit["tubelet_size"] == 2 and "region_steps" not in vit
    model = build_model(peer_cfg("mvit_v2_nano", MODEL__DROP_PATH_RATE=0.1))
    assert (model.num_classes, model.num_frames, model.input_size) == (4, 8, 56)
    assert build_model(peer_cfg("x3d_xs"))(torch.zeros(1, 3, 8, 56, 56)).shape == (1, 4)


@pytest.mark.parametrize("name, overrides, key", [
    ("r3d_nano", dict(MODEL__GRAD_CHECKPOINTING=True), "MODEL.GRAD_CHECKPOINTING"),
    ("r3d_nano", dict(MODEL__DROP_PATH_RATE=0.1), "MODEL.DROP_PATH_RATE"),  # the default asks for it too
    ("swin3d_nano", dict(MODEL__HEAD_DROPOUT=0.5), "MODEL.HEAD_DROPOUT"),
    ("swin3d_nano", dict(MODEL__REGION_STEPS=4), "MODEL.REGION_STEPS"),
    ("mvit_v2_nano", dict(DATA__TEST_CROP_SIZE=64), "DATA.TEST_CROP_SIZE"),
    ("mvit_v2_nano", dict(DATA__NUM_FRAMES=7), "DATA.NUM_FRAMES"),
    ("s3d", dict(), "DATA.NUM_FRAMES 8"),
    ("vit3d_nano", dict(DATA__TRAIN_CROP_SIZE=60), "DATA.TRAIN_CROP_SIZE 60"),
])
def test_asking_a_peer_for_what_it_cannot_do_is_one_line_naming_the_key(name, overrides, key):
    with pytest.raises(ConfigError, match=key) as error:
        build_model(peer_cfg(name, **overrides))
    assert "\n" not in str(error.value) and name in str(error.value)


def test_a_fixed_input_peer_exports_only_its_shape():
    cfg = peer_cfg("x3d_xs")
    check_clip_input(cfg, 8, 56, what="--frames 8 --size 56")
    with pytest.raises(ConfigError, match="--size 64: x3d_xs is built for one clip shape"):
        check_clip_input(cfg, 8, 64, what="--frames 8 --size 64")


def test_layer_decay_is_for_models_with_layers():
    with pytest.raises(ConfigError, match="SOLVER.LAYER_DECAY is 0.75 but Swin3d has no layer_id"):
        param_groups(create_model("swin3d_nano"), weight_decay=0.05, layer_decay=0.75)
    groups = param_groups(create_model("vit3d_nano"), weight_decay=0.05, layer_decay=0.5)
    scales = sorted({g["lr_scale"] for g in groups})
    assert scales[-1] == 1.0 and scales[0] == 0.5 ** 7  # 6 blocks + embedding + head


# ----------------------------------------------------------------------------- tools
def count_flops_tool(*args: str) -> str:
    """tools/count_flops.py's main in this process (the subprocess path is tested in test_flops.py)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import count_flops
    finally:
        sys.path.pop(0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert count_flops.main(list(args)) == 0
    return out.getvalue()


@pytest.mark.parametrize("name", FIT_8x56)
def test_count_flops_takes_every_peer(name):
    import json

    data = json.loads(count_flops_tool("--model", name, "--frames", "8", "--size", "56", "--num-classes", "14",
                                       "--json"))
    assert data["input"] == [3, 8, 56, 56] and data["gflops"] > 0.1


def test_the_benchmark_builds_registry_peers_and_keeps_its_own():
    assert "x3d_m" in PEERS and PEERS["x3d_m"].requires == "pytorchvideo"
    assert "mvit_base_16x4" in PEERS and "videomae_vit_b" in PEERS
    names = known_models()
    assert len(names) == len(set(names)) and "swin3d_nano" in names and "mvit_base_16x4" in names
    model = build_benchmark_model("x3d_xs", 8, 56)  # built for the benchmark's clip shape
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 8, 56, 56)).shape == (1, 400)


# ----------------------------------------------------------------------------- through the engine
def start_tool(tool: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", tool), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_tool(proc: subprocess.Popen) -> str:
    """The stdout of a tool started by :func:`start_tool`, once it has succeeded."""
    try:
        stdout, stderr = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, f"{proc.args[1]} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return stdout


@pytest.fixture(scope="module")
def peer_runs(tmp_path_factory):
    """One epoch of run_net on a tiny generated dataset for a CNN (pytorchvideo's X3D, built for the config's
    clip shape) and a transformer (torchvision's Video Swin): {model: (config path, output dir)}."""
    root = tmp_path_factory.mktemp("peer_runs")
    shape = dict(DATA__TRAIN_JITTER_SCALES=[32, 36], DATA__TRAIN_CROP_SIZE=32, DATA__TEST_CROP_SIZE=32,
                 SYNTHETIC__VIDEOS_PER_CLASS=4, SYNTHETIC__SIZE=36, SYNTHETIC__NUM_FRAMES=12)
    runs = {}
    for model in ("x3d_xs", "swin3d_nano"):
        cfg = write_tiny_run(root / f"{model}.yaml", root / "data", generate=not runs, MODEL__NAME=model,
                             SOLVER__MAX_EPOCH=1, SOLVER__WARMUP_EPOCHS=0.0, LOG_PERIOD=10, OUTPUT_DIR=root / model,
                             **shape)
        runs[model] = (cfg, root / model)
    # both at once: one thread each, and the machine has two cores
    procs = [start_tool("run_net.py", "--cfg", str(cfg)) for cfg, _ in runs.values()]
    try:
        for proc in procs:
            finish_tool(proc)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    return runs


@pytest.mark.parametrize("model", ["x3d_xs", "swin3d_nano"])
def test_run_net_trains_a_peer(peer_runs, model):
    import json

    _, out = peer_runs[model]
    records = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert [r["split"] for r in records] == ["train", "val"] and records[0]["epoch"] == 1
    state = torch.load(out / "checkpoints" / "checkpoint_best.pyth", weights_only=True)
    assert f"NAME: {model}" in state["cfg"]


def test_a_peer_checkpoint_predicts_and_exports(peer_runs, tmp_path):
    from videoregion.config import load_config
    from videoregion.inference import build_predictor

    cfg_path, out = peer_runs["x3d_xs"]
    checkpoint = str(out / "checkpoints" / "checkpoint_best.pyth")
    video = sorted((cfg_path.parent / "data" / "videos").rglob("*.mp4"))[0]
    prediction = build_predictor(load_config([str(cfg_path)]), checkpoint).predict(str(video))
    assert prediction.video_scores.shape == (2,)
    export = start_tool("export.py", "--cfg", str(cfg_path), "--checkpoint", checkpoint,
                        "--out", str(tmp_path / "x3d.pt"))
    assert "max |export - eager|" in finish_tool(export) and (tmp_path / "x3d.pt").is_file()
