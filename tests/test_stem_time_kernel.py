"""The stem's later convs looking at neighbouring local time steps (MODEL.STEM_TIME_KERNEL)."""

import pytest
import torch

from videoregion.errors import ConfigError
from videoregion.models import RegionViT, load_pretrained
from videoregion.models.regionvit import TimeConv

from .test_models import MINI, perturb_


@pytest.mark.parametrize("frames", [4, 8])
def test_boring_video_gives_the_2d_output_with_a_time_kernel(tmp_path, frames):
    image_model = perturb_(RegionViT(**MINI, num_classes=10)).eval()
    torch.save({"model": image_model.state_dict()}, tmp_path / "2d.pth")
    video_model = RegionViT(**MINI, num_classes=10, num_frames=frames, stem_time_kernel=3).eval()
    assert sum(isinstance(m, TimeConv) for m in video_model.modules()) == 2
    load_pretrained(video_model, tmp_path / "2d.pth")
    image = torch.randn(2, 3, 56, 84)
    with torch.no_grad():
        expected = image_model(image)
        got = video_model(image[:, :, None].expand(-1, -1, frames, -1, -1))
    assert (got - expected).abs().max() < 1e-4


def test_local_tokens_see_their_neighbouring_time_steps():
    """Changing the first tubelet's frames changes the second step's local tokens only with a time kernel."""
    clip = torch.randn(1, 3, 16, 56, 56)
    changed = clip.clone()
    changed[:, :, :2] += 1.0  # frames of local time step 0
    for kernel, reaches in ((1, False), (3, True)):
        model = perturb_(RegionViT(**MINI, num_classes=4, num_frames=16, stem_time_kernel=kernel)).eval()
        with torch.no_grad():
            a, b = model.local_embed(clip), model.local_embed(changed)  # (B * 8 steps, C, 14, 14)
        assert not torch.allclose(a[0], b[0])
        assert torch.allclose(a[3:], b[3:])  # two convs of kernel 3 reach two steps, no further
        assert torch.allclose(a[1], b[1]) != reaches


def test_time_kernel_must_be_odd_and_is_video_only():
    with pytest.raises(ConfigError, match="stem_time_kernel must be odd"):
        RegionViT(**MINI, num_frames=8, stem_time_kernel=2)
    image_model = RegionViT(**MINI, stem_time_kernel=3)  # an image has no time: plain 2D convs
    assert not any(isinstance(m, TimeConv) for m in image_model.modules())


def test_time_kernel_gradients_reach_the_stem():
    model = RegionViT(**MINI, num_classes=4, num_frames=8, stem_time_kernel=3)
    model(torch.randn(2, 3, 8, 56, 56)).sum().backward()
    for layer in model.local_embed.proj:
        if isinstance(layer, TimeConv):
            assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_config_key_reaches_the_model_and_peers_refuse_it():
    import os

    from videoregion.config import load_config
    from videoregion.models import build_model

    cfg_path = os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic_regionvit.yaml")
    model = build_model(load_config([cfg_path], ["MODEL.STEM_TIME_KERNEL", "3", "MODEL.NUM_CLASSES", "4",
                                                 "MODEL.NAME", "regionvit3d_tiny"]))
    assert sum(isinstance(m, TimeConv) for m in model.modules()) == 2
    # nano's stem is a 3D CNN that already sees neighbouring frames: the key is refused, not ignored
    with pytest.raises(ConfigError, match="'cnn' stem already sees 3 frames"):
        build_model(load_config([cfg_path], ["MODEL.STEM_TIME_KERNEL", "3"]))
    cfg = load_config([cfg_path], ["MODEL.STEM_TIME_KERNEL", "3", "MODEL.NAME", "x3d_xs"])
    with pytest.raises(ConfigError, match="MODEL.STEM_TIME_KERNEL is 3 but x3d_xs"):
        build_model(cfg)
