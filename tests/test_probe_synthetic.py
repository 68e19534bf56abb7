"""tools/probe_synthetic.py and videoregion.synthetic.probe: the in-memory learning probe."""

import importlib.util
import json
import os
import subprocess
import sys

import torch
from torch import nn

from videoregion.synthetic.classes import CLASSES
from videoregion.synthetic.params import reverse_params, sample_params, video_rng
from videoregion.synthetic.probe import make_probe_data, paired, train_probe
from videoregion.synthetic.render import render_frames
from videoregion.synthetic.statistics import STATISTICS, motion_statistics, pair_statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "probe_synthetic.py")


def run_tool(*args, timeout=240):
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_data_are_the_classes_videos_with_their_labels():
    data = make_probe_data([0, 1], train_videos=2, test_videos=1)
    assert data.train_videos.shape == (4, 32, 64, 64, 3) and data.train_videos.dtype == torch.uint8
    assert data.train_labels.tolist() == [0, 0, 1, 1] and data.test_labels.tolist() == [0, 1]
    assert not torch.equal(data.train_videos[0], data.test_videos[0])  # held-out videos are other videos


class _MotionProbe(nn.Module):
    """Mean frame difference along x: tells move_right from move_left after a few steps."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(2, 2)

    def forward(self, x):
        d = x[:, :, 1:] - x[:, :, :-1]
        gx = (x[:, :, :-1, :, 1:] - x[:, :, :-1, :, :-1])[..., :-1, :]
        dt = d[..., :-1, :-1]
        flow = -(dt * gx[..., :, :]).mean(dim=(1, 2, 3, 4))  # sign of the x motion of light-on-dark edges
        return self.head(torch.stack([flow, -flow], dim=1) * 100)


def test_a_model_that_can_learn_the_pair_does():
    torch.manual_seed(0)
    data = make_probe_data([0, 1], train_videos=6, test_videos=10)
    result = train_probe(_MotionProbe(), data, steps=60, lr=3e-2, batch=8, evals=2)
    assert result.curve[-1][1] < 0.4 and result.top1 >= 65, result  # chance: loss 0.69, top-1 50%
    assert [s for s, _, _ in result.curve] == [30, 60]


def test_tool_end_to_end_writes_json(tmp_path):
    out = tmp_path / "probe.json"
    proc = run_tool("--classes", "rotate_cw,rotate_ccw", "--steps", "2", "--train-videos", "2",
                    "--test-videos", "1", "--paired", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "final test top-1" in proc.stdout and "paired: 8 training videos" in proc.stdout
    result = json.loads(out.read_text())
    assert len(result["per_class"]) == 2 and 0 <= result["top1"] <= 100


def test_paired_adds_each_training_video_backwards_as_its_partner():
    cw, ccw = _pair("rotate_cw", "rotate_ccw")
    data = make_probe_data([ccw, cw], train_videos=2, test_videos=1)
    both = paired(data)
    assert both.train_labels.tolist() == [0, 0, 1, 1, 1, 1, 0, 0]
    assert torch.equal(both.train_videos[:4], data.train_videos)
    assert torch.equal(both.train_videos[4:], data.train_videos.flip(1))
    assert torch.equal(both.test_videos, data.test_videos) and torch.equal(both.test_labels, data.test_labels)
    # played backwards, a clockwise video is the anticlockwise video of the same draw: the labels are true
    params = sample_params(video_rng(0, cw, 0), motion="rotate")
    partner_class, partner_params = reverse_params(cw, params)
    assert partner_class == ccw
    assert torch.equal(both.train_videos[6], torch.from_numpy(render_frames(partner_class, partner_params)))


def test_paired_needs_every_partner():
    data = make_probe_data(_pair("move_right", "rotate_cw"), train_videos=1, test_videos=1)
    try:
        paired(data)
    except ValueError as e:
        assert "move_right" in str(e) and "rotate_cw" in str(e)
    else:
        raise AssertionError("paired() accepted classes without their partners")


def load_tool():
    spec = importlib.util.spec_from_file_location("probe_synthetic_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bad_arguments_are_one_line(capsys):
    proc = run_tool("--classes", "spin,rotate_cw", timeout=60)  # as run: exit status and stderr of the process
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "unknown: spin" in proc.stderr
    assert load_tool().main(["--model-kwargs", "{nope"]) == 2  # the next one in this process (the same path)
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--model-kwargs is not JSON" in err
    assert load_tool().main(["--paired", "--classes", "move_right,rotate_cw", "--train-videos", "1",
                             "--test-videos", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "partner: none for move_right, rotate_cw" in err


def _pair(*names):
    return [next(i for i, c in enumerate(CLASSES) if c.name == n) for n in names]


def test_a_turns_direction_is_third_order_and_a_moves_is_second():
    """The finding of README "The rotation pair": pooled second-order motion tells left from right but not a
    turn's direction; motion weighed by the object's side (third order) tells both."""
    turn = pair_statistics(make_probe_data(_pair("rotate_cw", "rotate_ccw"), train_videos=60, test_videos=30))
    move = pair_statistics(make_probe_data(_pair("move_right", "move_left"), train_videos=60, test_videos=30))
    assert turn["second order, pooled"][1] <= 70 and turn["third order, pooled"][1] >= 90, turn
    assert move["second order, pooled"][1] >= 95 and move["third order, pooled"][1] >= 90, move


def test_statistics_are_odd_under_time_reversal():
    videos = make_probe_data(_pair("rotate_cw", "rotate_ccw"), train_videos=2, test_videos=1).train_videos
    reversed_videos = videos.flip(1)[:, 3:]  # the same sampled frames (0, 4, ..., 28 of 32), in reverse order
    for kind in STATISTICS:
        forward = motion_statistics(videos, kind)
        backward = motion_statistics(reversed_videos, kind)
        assert forward.shape == (4, 24 * (4 if "quadrant" in kind else 1))
        torch.testing.assert_close(backward, -forward, atol=1e-6, rtol=1e-4)


def test_tool_statistics_end_to_end(tmp_path):
    out = tmp_path / "statistics.json"
    proc = run_tool("--statistics", "--classes", "move_right,move_left", "--train-videos", "8",
                    "--test-videos", "4", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert all(kind in proc.stdout for kind in STATISTICS)
    result = json.loads(out.read_text())["statistics"]
    assert set(result) == set(STATISTICS) and all(0 <= v["test"] <= 100 for v in result.values())
    proc = run_tool("--statistics", "--classes", "grow,shrink,rotate_cw", timeout=60)
    assert proc.returncode == 2 and "compares two classes" in proc.stderr
