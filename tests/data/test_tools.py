"""The data tools run as shipped: --help, and end to end on tiny generated data."""

import os
import subprocess
import sys

from .videos import ramp_frames, write_kinetics, write_video

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_tool(name, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", name), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_check_dataset_lists_unreadable_and_short_videos(tmp_path):
    root, paths = write_kinetics(str(tmp_path / "data"), num_videos=4, num_frames=40)
    os.remove(paths[1])
    with open(paths[2], "w") as f:
        f.write("not a video")
    write_video(paths[3], ramp_frames(6), codec="libx264", pix_fmt="yuv420p")  # 6 frames: shorter than a clip
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"DATA:\n  PATH_TO_DATA_DIR: {root}\n  PATH_PREFIX: {root}\n  NUM_FRAMES: 8\n  SAMPLING_RATE: 2\n")
    out = tmp_path / "problems.tsv"
    result = run_tool("check_dataset.py", "--cfg", str(cfg), "--split", "train", "--workers", "2", "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert "train: 4 videos: 1 ok, 2 unreadable, 1 suspicious" in result.stdout
    lines = out.read_text().splitlines()[1:]
    problems = {line.split("\t")[2]: line.split("\t") for line in lines}
    assert problems[paths[1]][1:4:2] == ["unreadable", "missing file"]
    assert problems[paths[2]][1] == "unreadable"
    assert problems[paths[3]][1] == "suspicious" and problems[paths[3]][3].startswith("too short: 6 frames")
    # overrides after the options: a 2-frame clip makes the short video long enough
    result = run_tool("check_dataset.py", "--cfg", str(cfg), "--split", "val", "DATA.NUM_FRAMES", "2")
    assert result.returncode == 1 and "val: 4 videos: 2 ok, 2 unreadable, 0 suspicious" in result.stdout


def test_check_dataset_reports_annotation_errors(tmp_path):
    root, _ = write_kinetics(str(tmp_path / "data"), num_videos=2)
    with open(os.path.join(root, "train.csv"), "a") as f:
        f.write("just-a-path\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"DATA:\n  PATH_TO_DATA_DIR: {root}\n")
    result = run_tool("check_dataset.py", "--cfg", str(cfg), "--split", "train")
    assert result.returncode == 2 and "train.csv:3: malformed line" in result.stderr
    assert "Traceback" not in result.stderr


def test_benchmark_runs_end_to_end(tmp_path):
    result = run_tool("benchmark_data.py", "--out", str(tmp_path / "bench"), "--num-videos", "2", "--seconds", "2.5",
                      "--train-clips", "2", "--test-clips", "3", "--test-views", "1", "--test-crops", "3",
                      "--batch-size", "1", "--workers", "0", "--backends", "decord", "pyav")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| ours, decord (clips/s) | ours, pyav (clips/s) | pytorchvideo (clips/s) |" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| train") or line.startswith("| test")]
    assert len(rows) == 2
    for row in rows:
        decord_rate, pyav_rate, theirs = (float(cell) for cell in row.split("|")[3:6])
        assert decord_rate > 0 and pyav_rate > 0 and theirs > 0
