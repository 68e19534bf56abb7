"""Explanations: Grad-CAM follows the object a trained model looks for; the strip PNG and the video overlay.

The model that must be explained is tests/explain_detector.py's tiny RegionViT, trained to say
"class 1" only when a moving bright square is in every frame, where brightness alone cannot tell
(its weights are tests/assets/explain_detector.pt, a few hundred KB): it has to find the square in
each time step, so a true heat map sits on it in every frame. A random-weight model would look
nowhere in particular, and a test on it would pass or fail by chance.
"""

import numpy as np
import pytest
import torch

from videoregion.inference.explain import explain_video, grad_cam, strip_windows, upsample_heat
from videoregion.inference.visualize import blend_heat, plot_explanations, write_annotated_video
from videoregion.models.regionvit import RegionViT

from .explain_detector import ARCH, FRAMES, SHOWN, SIZE, SQUARE, WEIGHTS, draw, square_path
from .test_demo import decoded, make_video, predictor, trained  # noqa: F401 (fixtures)

pytest.importorskip("captum", reason='explanations need captum: pip install -e ".[explain]"')

REGION = 28 * SIZE / 224  # a region's size at 224, at this input size


@pytest.fixture(scope="module")
def detector():
    model = RegionViT(**ARCH)
    model.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    return model.eval()


def heat_centres(heat: torch.Tensor) -> torch.Tensor:
    """(T, H, W) heat -> (T, 2) its centre of mass (y, x) in pixels."""
    ys, xs = torch.meshgrid(torch.arange(SIZE) + 0.5, torch.arange(SIZE) + 0.5, indexing="ij")
    mass = heat.sum(dim=(1, 2))
    return torch.stack([(heat * ys).sum(dim=(1, 2)) / mass, (heat * xs).sum(dim=(1, 2)) / mass], dim=1)


@pytest.mark.parametrize("start, step", [((8, 80), (10, -8)), ((80, 10), (-9, 9)), ((48, 4), (0, 11))])
def test_the_heat_follows_the_object_the_model_looks_for(detector, start, step):
    path = square_path(start, step)
    clip = (draw(0.25, path, 0.05 * torch.randn(3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(1)))
            - 0.45) / 0.225
    with torch.no_grad():
        assert detector(clip[None]).softmax(-1)[0, 1] > 0.9  # it sees the square
        for half in ("first", "second"):  # and needs it in both time steps
            partial = (draw(0.25, path, 0.05 * torch.randn(3, FRAMES, SIZE, SIZE, generator=torch.Generator()
                                                           .manual_seed(1)), SHOWN[half]) - 0.45) / 0.225
            assert detector(partial[None]).softmax(-1)[0, 1] < 0.1
    raw = grad_cam(detector, clip[None], torch.tensor([1]))[0]  # (T, h, w) at the layer's resolution
    assert raw.max() == pytest.approx(1.0) and raw.min() >= 0
    heat = upsample_heat(raw, (SIZE, SIZE))  # (T, H, W)
    assert heat.shape == (FRAMES, SIZE, SIZE) and heat.max() <= 1.0 + 1e-6 and heat.min() >= 0
    truth = torch.tensor([(top + SQUARE / 2, left + SQUARE / 2) for top, left in path])
    # a local time step spans 2 frames: its map shows the square where it is over both
    truth = truth.view(-1, 2, 2).mean(dim=1).repeat_interleave(2, dim=0)
    errors = (heat_centres(heat) - truth).norm(dim=1)
    assert (errors < REGION).all(), errors


def test_strip_windows():
    assert strip_windows(3) == [0, 1, 2]
    rows = strip_windows(100, rows=12)
    assert len(rows) == 12 and rows[0] == 0 and rows[-1] == 99


def test_blend_heat_colours_only_where_it_is_hot():
    image = np.full((4, 4, 3), 100, np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[1, 2] = 1.0
    out = blend_heat(image.copy(), heat)
    assert (out[heat == 0] == 100).all() and (out[1, 2] != 100).any()


def test_explain_video_strip_and_overlay(predictor, tmp_path):  # noqa: F811
    video = make_video(tmp_path / "clip.mp4", num_frames=45)
    prediction = predictor.predict(video)
    explanations = explain_video(predictor, video, prediction, keep_images=[0, len(prediction.windows) - 1])
    assert [e.window for e in explanations] == prediction.windows
    for e, top in zip(explanations, prediction.window_topk):
        assert e.label == top[0] and e.heat.shape[0] == e.frames.shape[0] == 4
        assert e.box == (0, 4, 28, 28) and e.frame_size == (28, 37)  # the centre crop of 28 x 37 frames
        assert 0 <= float(e.heat.min()) and float(e.heat.max()) <= 1.0
    assert explanations[0].images.shape == (4, 28, 28, 3) and explanations[1].images is None

    import matplotlib.image

    plot_explanations(explanations, str(tmp_path / "explained.png"))
    assert matplotlib.image.imread(str(tmp_path / "explained.png")).shape[2] in (3, 4)
    out = tmp_path / "annotated.mp4"
    write_annotated_video(prediction, predictor.open(video, 96), str(out), short_side=96, explanations=explanations)
    assert decoded(out) == (45, (96, 128))


def test_demo_explain_writes_the_strip(trained, tmp_path):  # noqa: F811
    from .test_demo import run_demo

    video = make_video(tmp_path / "clip.mp4", num_frames=30)
    result = run_demo(video, "--cfg", trained["cfg"], "--device", "cpu", "--explain", "out/explained.png",
                      cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "explained.png").stat().st_size > 1000 and "wrote out/explained.png" in result.stdout
