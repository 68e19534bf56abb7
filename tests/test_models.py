import logging
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videoregion.config import load_config
from videoregion.errors import ConfigError
from videoregion.models import (
    RegionViT,
    build_model,
    create_model,
    list_models,
    load_pretrained,
    model_info,
)
from videoregion.models import peers as peers_module
from videoregion.models import regionvit as regionvit_module
from videoregion.models.chunked import attention_in_chunks, biased_attention, chunking_pays
from videoregion.models.regionvit import Attention, Mlp, relative_position_index
from videoregion.models.weights import CheckpointError

from .reference_regionvit import authors_state_dict, reference_forward

OURS = [n for n in list_models() if not model_info(n).is_peer]  # RegionViT; the peers: tests/test_peers.py

# Parameter counts of the authors' models, 1000 classes: the paper (Chen, Panda, Fan, ICLR 2022) gives
# 13.8, 30.6, 41.2 and 72.7 M for Ti, S, M and B; the exact counts are those of the authors' released
# code (github.com/IBM/RegionViT), the sum of p.numel() with the shared downsampling conv counted once.
PARAMS_2D = {
    "regionvit_tiny_224": 13_842_676,
    "regionvit_small_224": 30_586_618,
    "regionvit_medium_224": 41_215_906,
    "regionvit_base_224": 72_747_232,
    "regionvit_small_w14_224": 31_354_714,
    "regionvit_small_w14_peg_224": 31_367_674,
    "regionvit_base_w14_224": 73_825_120,
    "regionvit_base_w14_peg_224": 73_842_400,
}
# Small architectures with every feature of the real ones, for fast forward passes.
MINI = dict(dims=(16, 32, 64, 128), num_heads=(1, 2, 2, 4), depths=(1, 1, 2, 1))


def without_dims(arch):
    return {k: v for k, v in arch.items() if k != "dims"}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def perturb_(model, generator_seed=0):
    """Random non-trivial weights everywhere (norms, biases and the tube-time table included)."""
    g = torch.Generator().manual_seed(generator_seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return model


@pytest.mark.parametrize("name", sorted(PARAMS_2D))
def test_2d_parameter_counts_match_the_authors(name):
    assert n_params(create_model(name)) == PARAMS_2D[name]


def test_small_parameter_split_matches_the_authors():
    model = create_model("regionvit_small_224")
    split = {k: n_params(getattr(model, k)) for k in ("local_embed", "region_embed", "norm", "head")}
    assert split == {"local_embed": 52_800, "region_embed": 225_888, "norm": 1_536, "head": 769_000}
    assert [n_params(s) for s in model.stages] == [225_078, 894_636, 14_222_304, 14_195_376]


def test_registry_lists_2d_and_3d_variants():
    names = list_models()
    assert set(PARAMS_2D) <= set(names)
    assert {"regionvit3d_tiny", "regionvit3d_small", "regionvit3d_medium", "regionvit3d_base"} <= set(names)
    with pytest.raises(ValueError, match="unknown model 'nope'.*regionvit3d_small"):
        create_model("nope")


def test_registry_says_what_each_model_takes():
    assert set(list_models("image")) == set(PARAMS_2D) | {"regionvit_nano_224"}
    ours = {n for n in list_models("clip") if not model_info(n).is_peer}  # the peers: tests/test_peers.py
    assert ours == {f"regionvit3d_{arch}" for arch in (
        "nano", "tiny", "small", "medium", "base", "small_w14", "small_w14_peg", "base_w14", "base_w14_peg")}
    assert sorted(list_models("image") + list_models("clip")) == list_models()
    info = model_info("regionvit3d_small")
    assert (info.name, info.input, info.takes_clips, info.num_frames, info.input_size) == (
        "regionvit3d_small", "clip", True, 16, 224)
    assert create_model("regionvit3d_small").num_frames == info.num_frames
    image = model_info("regionvit_small_224")
    assert (image.input, image.takes_clips, image.num_frames, image.input_size) == ("image", False, None, 224)
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        model_info("nope")
    with pytest.raises(ValueError, match="kind"):
        list_models("video")


def test_each_model_name_is_the_name_of_its_definition():
    """Searching the code for a model's name finds the function that builds it."""
    for name in list_models():
        module = peers_module if model_info(name).is_peer else regionvit_module
        assert getattr(module, name).__name__ == name


@pytest.mark.parametrize("name", OURS)
def test_every_model_forward_shape_no_nan(name):
    video = model_info(name).takes_clips
    model = create_model(name, num_classes=5, **({"num_frames": 4} if video else {})).eval()
    x = torch.randn(1, 3, 4, 56, 56) if video else torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        features = model.forward_features(x)
        y = model.forward_head(features)
    assert y.shape == (1, 5)
    assert torch.isfinite(y).all()
    assert model.forward_head(features, pre_logits=True).shape == (1, model.num_features)


@pytest.mark.parametrize("video", [False, True])
def test_backward_reaches_every_parameter(video):
    kwargs = dict(MINI, window=7, peg=True, num_classes=3)  # no drop path: it may drop a whole branch
    model = RegionViT(**kwargs, **({"num_frames": 8} if video else {}))
    x = torch.randn(2, 3, 8, 60, 60) if video else torch.randn(2, 3, 60, 60)  # 60: padded windows too
    model(x).logsumexp(-1).sum().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    # Only regional tokens reach the head, and the last block's local-to-local bias acts on local
    # tokens alone: it cannot matter (so it is in the authors' model too).
    assert dead == ["stages.3.blocks.0.attn.rel_pos"]


@pytest.mark.parametrize("stem,peg,size", [("3conv", False, (112, 112)), ("1conv", True, (100, 140))])
def test_2d_matches_the_literal_reference_on_authors_weights(tmp_path, stem, peg, size):
    """Authors' key format in, same logits as a window-by-window reference (no masks; odd sizes too)."""
    arch = dict(stem=stem, dims=MINI["dims"], depths=MINI["depths"], heads=MINI["num_heads"], window=7, peg=peg)
    sd = authors_state_dict(**arch, num_classes=10)
    torch.save({"model": sd}, tmp_path / "authors.pth")
    model = RegionViT(**MINI, stem=stem, window=7, peg=peg, num_classes=10).eval()
    load_pretrained(model, tmp_path / "authors.pth")
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference_forward(sd, x, **without_dims(arch))
        got = model(x)
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-5)


def test_gradients_match_the_literal_reference(tmp_path):
    """Backward through the batched windows (one SDPA call, index_select bias) equals the reference's."""
    arch = dict(stem="3conv", dims=MINI["dims"], depths=MINI["depths"], heads=MINI["num_heads"], window=7)
    sd = authors_state_dict(**arch, num_classes=10)
    torch.save({"model": sd}, tmp_path / "authors.pth")
    model = RegionViT(**MINI, stem="3conv", window=7, num_classes=10).train()
    load_pretrained(model, tmp_path / "authors.pth")
    x = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(2))
    grads = []
    for forward in (lambda v: reference_forward(sd, v, **without_dims(arch)), model):
        v = x.clone().requires_grad_()
        forward(v).square().sum().backward()
        grads.append(v.grad)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)


def test_mlp_in_chunks_equals_one_call():
    mlp = Mlp(8, 32, chunk_rows=5)
    calls = []
    mlp.fc1.register_forward_hook(lambda module, args, out: calls.append(out.shape[0]))
    x = torch.randn(3, 7, 8)  # 21 rows: four whole chunks and a remainder
    with torch.no_grad():
        assert chunking_pays(x, 5) and not chunking_pays(x, 21)
        chunked = mlp(x)
        assert calls == [5, 5, 5, 5, 1]
        whole = mlp.fc2(mlp.act(mlp.fc1(x)))
    torch.testing.assert_close(chunked, whole)
    calls.clear()
    x.requires_grad_()
    assert not chunking_pays(x, 5)
    mlp(x).sum().backward()  # with autograd: one call, gradients flow
    assert calls == [3] and x.grad is not None and mlp.fc1.weight.grad is not None
    calls.clear()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # as evaluation under AMP
        assert not chunking_pays(x, 5)
        cast = mlp(x)
    assert calls == [3] and cast.dtype == torch.bfloat16


def _attention_inputs(shape, bias_shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(shape, generator=g) for _ in range(3))
    bias = torch.randn(bias_shape, generator=g)
    bias[..., 3:5] = float("-inf")  # padded keys; the first key stays visible to every query
    return q, k, v, bias


@pytest.mark.parametrize(
    "shape, bias_shape",
    [
        ((7, 3, 11, 4), (3, 11, 11)),  # one bias for every window
        ((7, 3, 11, 4), (1, 3, 11, 11)),
        ((5, 2, 3, 11, 4), (2, 3, 11, 11)),  # windows cycling through two padding masks
        ((7, 3, 11, 4), (7, 3, 11, 11)),  # a bias per sequence: chunked with the sequences
    ],
)
def test_plain_and_chunked_attention_equal_sdpa(shape, bias_shape):
    """The CPU local pass: plain steps (training) and chunks with a remainder (inference) against SDPA."""
    q, k, v, bias = _attention_inputs(shape, bias_shape)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(biased_attention(q, k, v, bias), expected)
    rows_per_item = q.numel() // (q.shape[0] * q.shape[-1])
    for chunk_rows in (1, 2 * rows_per_item, 10**9):  # one sequence, two (7 or 5: a remainder), all
        torch.testing.assert_close(attention_in_chunks(q, k, v, bias, chunk_rows), expected)
    # and the gradients, the bias's included (the relative position table learns through it)
    inputs = [t.clone().requires_grad_() for t in (q, k, v, bias)]
    grads = [torch.autograd.grad(fn(*inputs).square().sum(), inputs)
             for fn in (biased_attention, lambda *a: F.scaled_dot_product_attention(*a[:3], attn_mask=a[3]))]
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs)


def test_attention_chunks_only_in_cpu_inference(monkeypatch):
    attn = Attention(8, 2, rel_pos_size=1, chunk_rows=4)
    x, bias = torch.randn(6, 5, 8), torch.randn(2, 5, 5)
    chunked = []
    counted = lambda *a: chunked.append(1) or attention_in_chunks(*a)  # noqa: E731
    monkeypatch.setattr(regionvit_module, "attention_in_chunks", counted)
    with torch.no_grad():
        inference = attn(x, bias)
    training = attn(x, bias)
    assert chunked == [1]  # inference only
    torch.testing.assert_close(inference, training.detach())
    training.sum().backward()
    assert attn.rel_pos.grad is None and attn.qkv.weight.grad is not None


def test_chunked_mlp_and_attention_leave_the_model_output_unchanged():
    """A whole video model, every MLP and attention in chunks of 50 rows, against the same weights in one call."""
    model = perturb_(RegionViT(**MINI, num_classes=4, num_frames=8, peg=True)).eval()
    x = torch.randn(2, 3, 8, 60, 60, generator=torch.Generator().manual_seed(3))  # 60: padded windows too
    outputs = []
    for chunk_rows in (50, 10**9):
        for module in model.modules():
            if isinstance(module, (Mlp, Attention)):
                module.chunk_rows = chunk_rows
        with torch.inference_mode():
            outputs.append(model(x))
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-6, rtol=1e-5)


def test_padding_mask_hides_padded_keys_from_every_window():
    model = RegionViT(**MINI, window=7)
    mask = model.stages[0].padding_mask((2, 3), (10, 20), torch.device("cpu"))  # 14x21 grid, 10x20 valid
    assert mask.shape == (6, 1, 1, 50)
    hidden = torch.isinf(mask[:, 0, 0])
    assert not hidden[:, 0].any(), "the regional key is always visible"
    # window (row 1, col 2): local rows 7..13 (valid < 10), cols 14..20 (valid < 20)
    rows, cols = torch.meshgrid(torch.arange(7, 14), torch.arange(14, 21), indexing="ij")
    assert torch.equal(hidden[5, 1:], ((rows >= 10) | (cols >= 20)).flatten())
    assert not hidden[0].any()
    assert model.stages[0].padding_mask((2, 3), (14, 21), torch.device("cpu")) is None


def test_relative_position_index_uses_the_authors_wraparound():
    index = relative_position_index(1, 7)
    side = 13
    for (qy, qx, ky, kx) in [(0, 0, 6, 6), (6, 6, 0, 0), (3, 2, 1, 5)]:
        expected = ((ky - qy + 3) % side) * side + (kx - qx + 3) % side
        assert index[qy * 7 + qx, ky * 7 + kx] == expected
    index3d = relative_position_index(2, 7)  # (t, y, x) order, dt offset of whole tables
    assert index3d.shape == (98, 98)
    assert index3d[0, 49] == (1 + 1) * side * side + index[0, 0]
    assert index3d[49, 0] == 0 * side * side + index[0, 0]


def test_authors_checkpoint_loads_strictly_and_reports_problems(tmp_path, caplog):
    arch = dict(stem="3conv", dims=MINI["dims"], depths=MINI["depths"], heads=MINI["num_heads"], window=7)
    sd = authors_state_dict(**arch, num_classes=10)
    model = RegionViT(**MINI, num_classes=10)
    torch.save(sd, tmp_path / "bare.pth")  # a bare state dict works too
    load_pretrained(model, tmp_path / "bare.pth")
    torch.testing.assert_close(model.stages[2].blocks[1].norm_region.weight, sd["layers.2.block.2.norm0.weight"])
    torch.testing.assert_close(model.local_embed.proj[1].weight, sd["patch_embed.proj.1.weight"].flatten())
    torch.testing.assert_close(model.stages[1].downsample.conv.weight, sd["layers.1.block.0.proj_cls.2.weight"])

    missing = dict(sd)
    missing.pop("layers.2.block.1.attn.rel_pos")
    torch.save({"model": missing}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"missing\.pth.*missing: stages\.2\.blocks\.0\.attn\.rel_pos"):
        load_pretrained(model, tmp_path / "missing.pth")
    torch.save({"model": {**sd, "layers.2.block.1.attn.extra": torch.zeros(1)}}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"extra\.pth.*unexpected: .*attn\.extra"):
        load_pretrained(model, tmp_path / "extra.pth")
    twin = {**sd, "layers.1.block.0.proj_cls.2.bias": torch.ones_like(sd["layers.1.block.0.proj.2.bias"])}
    torch.save({"model": twin}, tmp_path / "twin.pth")
    with pytest.raises(CheckpointError, match="proj_cls"):
        load_pretrained(model, tmp_path / "twin.pth")

    other = RegionViT(**MINI, num_classes=7)
    head = other.head.weight.detach().clone()
    with caplog.at_level(logging.INFO):
        load_pretrained(other, tmp_path / "bare.pth")
    assert "re-initialised" in caplog.text
    assert torch.equal(other.head.weight, head)
    torch.testing.assert_close(other.norm.weight, sd["norm.weight"])


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    model = RegionViT(**MINI)
    with pytest.raises(CheckpointError, match="nowhere.pth: checkpoint file not found"):
        load_pretrained(model, tmp_path / "nowhere.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth: not a readable checkpoint"):
        load_pretrained(model, tmp_path / "junk.pth")


@pytest.mark.parametrize("frames", [8, 16])
@pytest.mark.parametrize("arch", [dict(stem="3conv", peg=False, window=7), dict(stem="1conv", peg=True, window=14),
                                  dict(stem="cnn", head_pool="all", window=7)])  # nano's stem and head
def test_boring_video_gives_the_2d_output(tmp_path, frames, arch):
    """I3D's test of inflation: a clip of one frame repeated gives the image model's logits."""
    image_model = perturb_(RegionViT(**MINI, **arch, num_classes=10)).eval()
    torch.save({"model": image_model.state_dict()}, tmp_path / "2d.pth")
    video_model = RegionViT(**MINI, **arch, num_classes=10, num_frames=frames).eval()
    load_pretrained(video_model, tmp_path / "2d.pth")
    image = torch.randn(2, 3, 112, 84)  # 84: the last column of windows is padded
    with torch.no_grad():
        expected = image_model(image)
        got = video_model(image[:, :, None].expand(-1, -1, frames, -1, -1))
    assert (got - expected).abs().max() < 1e-4


def test_authors_2d_checkpoint_inflates_into_the_video_model(tmp_path):
    arch = dict(stem="3conv", dims=MINI["dims"], depths=MINI["depths"], heads=MINI["num_heads"], window=7)
    sd = authors_state_dict(**arch, num_classes=10)
    torch.save({"model": sd}, tmp_path / "authors.pth")
    video_model = RegionViT(**MINI, num_classes=10, num_frames=8).eval()
    load_pretrained(video_model, tmp_path / "authors.pth")
    assert not video_model.region_time_embed.any()
    image = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        expected = reference_forward(sd, image, **without_dims(arch))
        got = video_model(image[:, :, None].expand(-1, -1, 8, -1, -1))
    assert (got - expected).abs().max() < 1e-4


def test_3d_checkpoint_round_trip_is_exact(tmp_path):
    model = perturb_(RegionViT(**MINI, num_classes=4, num_frames=8, peg=True)).eval()
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "ours.pth")
    again = RegionViT(**MINI, num_classes=4, num_frames=8, peg=True).eval()
    load_pretrained(again, tmp_path / "ours.pth")
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    x = torch.randn(1, 3, 8, 56, 56)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_video_model_tells_frame_order():
    model = perturb_(RegionViT(**MINI, num_classes=4, num_frames=16)).eval()
    clip = torch.randn(1, 3, 16, 56, 56)
    tubes_reversed = clip.unflatten(2, (4, 4)).flip(2).flatten(2, 3)  # same tubes, reversed order
    with torch.no_grad():
        assert not torch.allclose(model(clip), model(tubes_reversed), atol=1e-4)
        assert not torch.allclose(model(clip), model(clip.flip(2)), atol=1e-4)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="multiple of tubelet_size"):
        RegionViT(**MINI, num_frames=6)
    model = RegionViT(**MINI, num_frames=8)
    with pytest.raises(ValueError, match=r"5-D input \(B, C, T, H, W\)"):
        model(torch.randn(1, 3, 56, 56))
    with pytest.raises(ValueError, match="clip of 10 frames.*multiple of tubelet_size"):
        model(torch.randn(1, 3, 10, 56, 56))
    with pytest.raises(ValueError, match=r"4-D input"):
        RegionViT(**MINI)(torch.randn(1, 3, 4, 56, 56))


def test_other_clip_lengths_resample_the_time_table():
    model = RegionViT(**MINI, num_classes=3, num_frames=8).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 56, 56)).shape == (1, 3)


def test_grad_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = RegionViT(**MINI, num_classes=3, num_frames=8)
    x = torch.randn(2, 3, 8, 56, 56)
    model(x).sum().backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, plain[n], msg=n)


def test_drop_path_acts_only_in_training():
    model = RegionViT(**MINI, num_classes=3, drop_path_rate=0.5)
    x = torch.randn(4, 3, 56, 56)
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert not torch.allclose(a, model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_model_interface():
    model = RegionViT(**MINI, num_classes=3, num_frames=8)
    assert model.num_features == 128
    no_decay = model.no_weight_decay()
    assert "region_time_embed" in no_decay and "stages.0.blocks.0.attn.rel_pos" in no_decay
    names = dict(model.named_parameters())
    assert no_decay <= set(names)
    model.reset_classifier(11)
    assert model(torch.randn(1, 3, 8, 56, 56)).shape == (1, 11)
    ids = {n: model.layer_id(n) for n in names}
    assert ids["local_embed.proj.0.weight"] == 0 and ids["head.weight"] == model.num_layers - 1
    assert ids["stages.0.blocks.0.attn.qkv.weight"] < ids["stages.3.blocks.0.attn.qkv.weight"] < ids["norm.weight"]


def test_torch_compile_runs_and_agrees():
    model = RegionViT(**MINI, num_classes=3, num_frames=8).eval()
    compiled = torch.compile(model, backend="aot_eager")  # graph capture without a C++ build, fast on CI
    x = torch.randn(1, 3, 8, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize("name", ["k400_regionvit.yaml", "ssv2_regionvit.yaml", "synthetic_regionvit.yaml"])
def test_shipped_configs_build_their_models(name):
    cfg = load_config([os.path.join(os.path.dirname(__file__), "..", "configs", name)])
    model = build_model(cfg)
    assert model.num_classes == cfg.MODEL.NUM_CLASSES
    assert model.num_frames == cfg.DATA.NUM_FRAMES
    assert (model.tubelet_size, model.region_steps) == (cfg.MODEL.TUBELET_SIZE, cfg.MODEL.REGION_STEPS)


# ----------------------------------------------------------------------------- registry entries
def test_model_info_says_what_a_model_takes():
    info = model_info("regionvit3d_nano")
    assert info.family == "regionvit" and info.source == "videoregion" and not info.fixed_input
    assert {"num_frames", "tubelet_size", "region_steps", "grad_checkpointing"} <= info.options
    assert "num_frames" not in model_info("regionvit_nano_224").options
    assert info.input_problem(8, 56, tubelet_size=2) is None
    assert "multiple of 2 frames" in info.input_problem(7, 56, tubelet_size=2)


def test_create_model_refuses_an_option_the_model_does_not_take():
    with pytest.raises(ConfigError, match="regionvit_nano_224 does not take num_frames"):
        create_model("regionvit_nano_224", num_frames=8)
    with pytest.raises(ConfigError, match="r3d_nano does not take grad_checkpointing"):
        create_model("r3d_nano", grad_checkpointing=True)


def test_a_registry_entry_must_be_consistent():
    from videoregion.models.registry import ModelInfo

    with pytest.raises(ValueError, match="unknown build options"):
        ModelInfo(name="m", input="clip", input_size=56, num_frames=8, options=frozenset({"widht"}))
    with pytest.raises(ValueError, match="fixed-input model must take num_frames and input_size"):
        ModelInfo(name="m", input="clip", input_size=56, num_frames=8, options=frozenset({"num_frames"}),
                  fixed_input=True)


def test_cnn_stem_makes_stride_4_local_tokens_from_every_frame():
    from videoregion.models.regionvit import ConvNetTokenizer

    video = ConvNetTokenizer(dim=16, tubelet_size=2)
    assert video(torch.randn(2, 3, 8, 56, 44)).shape == (2 * 4, 16, 14, 11)
    assert [m.kernel_size for m in video.proj if isinstance(m, nn.Conv3d)] == [(3, 3, 3)] * 3 + [(2, 3, 3)]
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == m.num_channels for m in video.proj) == 3
    image = ConvNetTokenizer(dim=16, tubelet_size=None)
    assert image(torch.randn(2, 3, 56, 44)).shape == (2, 16, 14, 11)
    # normalised per clip and channel, not per batch: a clip's tokens do not depend on the clips beside it
    clips = torch.randn(3, 3, 8, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(video(clips)[:4], video(clips[:1]))


def test_head_pools_regional_tokens_or_all_tokens():
    x = torch.randn(2, 3, 8, 56, 56)
    regional = RegionViT(**MINI, num_classes=3, num_frames=8).eval()
    every = RegionViT(**MINI, num_classes=3, num_frames=8, head_pool="all").eval()
    every.load_state_dict(regional.state_dict())
    with torch.no_grad():
        # at 8x56 the last stage has 2 tubes of 1 region and 4 local steps of 2x2 local tokens
        assert regional.forward_features(x).shape == (2, 2, 128)
        tokens = every.forward_features(x)
        assert tokens.shape == (2, 2 * 2 + 4 * 4, 128)
        torch.testing.assert_close(tokens[:, 0], tokens[:, 1])  # a regional token once per local step it covers
        torch.testing.assert_close(tokens[:, :4:2], regional.forward_features(x))
    with pytest.raises(ConfigError, match="head_pool must be 'regional' or 'all'"):
        RegionViT(**MINI, head_pool="local")
