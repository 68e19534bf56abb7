"""A local map smaller than one window is attended as it is, not padded up to the window: the same outputs
and gradients as whole padded windows with the padding masked, for less work (nano at 8x56)."""

from __future__ import annotations

import pytest
import torch

from videoregion.models import create_model
from videoregion.models.regionvit import _NANO, RegionViT, Stage
from videoregion.utils.flops import count_flops


@pytest.fixture
def whole_windows(monkeypatch):
    """Call it to make every stage pad its local map to whole windows, as before the change: the reference."""
    return lambda: monkeypatch.setattr(Stage, "window_hw", lambda self, region_hw, local_hw: (self.window, self.window))


def _windows_used(model: RegionViT, x: torch.Tensor) -> list[tuple[int, int]]:
    """The window each stage attends in, recorded by running the model once."""
    used = []
    for stage in model.stages:
        stage.window_hw = lambda region_hw, local_hw, f=stage.window_hw: used.append(f(region_hw, local_hw)) or used[-1]
    with torch.no_grad():
        model(x)
    for stage in model.stages:
        del stage.window_hw  # back to the class's method
    return used


def _outputs_and_grads(model: RegionViT, x: torch.Tensor):
    model.zero_grad()
    out = model(x)
    out.square().sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    "build, shape, expected",
    [
        # the main job's clips: 14 -> 7 -> 4 -> 2 local tokens a side, one region from stage 1 on
        (lambda: create_model("regionvit3d_nano", num_classes=5, num_frames=8), (2, 3, 8, 56, 56),
         [(7, 7), (7, 7), (4, 4), (2, 2)]),
        # 56x140 with PEG: one side shrinks while the other has several regions and pads the last one
        (lambda: RegionViT(**_NANO, num_classes=5, num_frames=4, peg=True), (1, 3, 4, 56, 140),
         [(7, 7), (7, 7), (4, 7), (2, 5)]),
        # the 2D model at 84 px: 21 -> 11 -> 6 -> 3
        (lambda: create_model("regionvit_nano_224", num_classes=5), (2, 3, 84, 84),
         [(7, 7), (7, 7), (6, 6), (3, 3)]),
    ],
)
def test_shrunk_windows_match_padded_whole_windows(whole_windows, build, shape, expected):
    torch.manual_seed(0)
    model = build()
    for p in model.parameters():  # random tables and weights, so that every relative position matters
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(shape)
    assert _windows_used(model, x) == expected
    out, grads = _outputs_and_grads(model, x)
    whole_windows()
    assert all(hw == (7, 7) for hw in _windows_used(model, x))
    ref_out, ref_grads = _outputs_and_grads(model, x)
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-4)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-4, atol=1e-4, msg=name)


def test_the_authors_mask_keeps_whole_windows():
    model = create_model("regionvit_nano_224", num_classes=5, authors_padding_mask=True)
    assert [s.window_hw((1, 1), (3, 3)) for s in model.stages] == [(7, 7)] * 4


def test_nano_at_the_main_jobs_clips_costs_a_fraction_of_padded_windows(whole_windows):
    model = create_model("regionvit3d_nano", num_classes=14, num_frames=8).eval()
    x = torch.zeros(1, 3, 8, 56, 56)
    shrunk = count_flops(model, x)
    whole_windows()
    padded = count_flops(model, x)
    # whole padded windows cost 0.21 GFLOPs more than nano's 0.16 (0.08 of them its stem, which they do not touch)
    assert padded - shrunk > 0.2e9 and shrunk < padded / 2, (shrunk, padded)
