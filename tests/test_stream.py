"""Live input: StreamClassifier, and tools/demo.py --stream fed a generated video on stdin (bounded waits)."""

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import av
import pytest
import torch

from videoregion.errors import VideoError
from videoregion.inference import sliding_windows
from videoregion.inference.stream import StreamClassifier, StreamSource

from .test_demo import DEMO, ROOT, make_video, predictor, trained  # noqa: F401 (fixtures)

WAIT = 120  # seconds any subprocess may take (the machine may be busy); the tests take a few


def start_demo(*args: str, cwd: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, DEMO, "--stream", "-", *args], cwd=cwd, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False)


def feed(process: subprocess.Popen, data: bytes, seconds: float, close: bool = True) -> threading.Thread:
    """Write ``data`` to the process's stdin over about ``seconds`` (a live source's pace), then close it."""
    def write():
        chunk = max(1, len(data) // 50)
        try:
            for start in range(0, len(data), chunk):
                process.stdin.write(data[start : start + chunk])
                process.stdin.flush()
                time.sleep(seconds / 50)
            if close:
                process.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def lines_of(stream) -> queue.Queue:
    """The stream's lines, read by a thread into a queue (so a test can wait with a deadline); None at its end."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in iter(stream.readline, b""):
            lines.put(line.decode())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def collect(lines: queue.Queue, timeout: float = WAIT) -> str:
    """Everything up to the end of the stream ``lines_of`` reads."""
    text = []
    while (line := lines.get(timeout=timeout)) is not None:
        text.append(line)
    return "".join(text)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of a process whose stdin a feeder thread owns (so no communicate())."""
    stdout, stderr = lines_of(process.stdout), lines_of(process.stderr)
    try:
        code = process.wait(timeout=WAIT)
    finally:
        process.kill()
    return code, collect(stdout, 10), collect(stderr, 10)


def frames_in(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def window_lines(text: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("window ")]


# ----------------------------------------------------------------------------- library
def test_windows_are_the_file_demos_and_scores_match(predictor, tmp_path):  # noqa: F811
    video = make_video(tmp_path / "clip.mkv", num_frames=50)
    results = []
    summary = StreamClassifier(predictor).run(StreamSource(video), results.append)
    expected = predictor.predict(video)
    assert [r.window for r in results] == expected.windows  # the same windows, the last one ending at the end
    assert summary.frames == 50 and summary.windows == len(results) and summary.dropped == 0
    # frames scaled by PyAV's converter instead of the decoder's: the same scores within rounding
    torch.testing.assert_close(torch.stack([r.scores for r in results]), expected.window_scores, atol=0.02, rtol=0)
    assert all(r.topk[0].score == pytest.approx(float(r.scores.max()), abs=1e-6) for r in results)


def test_a_model_that_falls_behind_drops_frames_and_keeps_the_windows(predictor, tmp_path):  # noqa: F811
    video = make_video(tmp_path / "clip.mkv", num_frames=60)
    results = []

    def slow(result):
        results.append(result)
        time.sleep(0.05)  # the decoder delivers a whole file in a few ms; 2 frames may wait

    summary = StreamClassifier(predictor, capacity=2).run(StreamSource(video), slow)
    assert summary.dropped > 0 and summary.frames == 60
    assert [r.window.index for r in results] == list(range(len(results)))
    assert [r.window for r in results] == sliding_windows(60, 30.0, *predictor.window_span(30.0))
    assert results[-1].dropped <= summary.dropped


def test_stopping_a_stdin_stream_ends_its_reader_while_the_pipe_stays_open(predictor, tmp_path, monkeypatch):  # noqa: F811
    # a reader left blocked on the pipe would outlive run(), and a process exiting under it can abort
    data = open(make_video(tmp_path / "clip.mkv", num_frames=300), "rb").read()
    read_end, write_end = os.pipe()
    stdin = open(read_end, "rb")
    monkeypatch.setattr(sys, "stdin", stdin)
    stop, results = threading.Event(), []

    def write():  # half the video, and the pipe is not closed
        with contextlib.suppress(OSError):
            os.write(write_end, data[: len(data) // 2])

    threading.Thread(target=write, daemon=True).start()

    def result(r):
        results.append(r)
        stop.set()

    summary = StreamClassifier(predictor, start_timeout=5).run(StreamSource.parse("-"), result, stop=stop)
    assert summary.stopped and len(results) == 1
    # still blocked on the pipe, the reader would outlive run()'s bounded join
    assert not any(t.name == "stream-reader" and t.is_alive() for t in threading.enumerate())
    stdin.close()
    os.close(write_end)


@pytest.mark.parametrize("source", ["missing.mp4", "not_a_video.txt"])
def test_a_stream_that_does_not_open_is_a_video_error(predictor, tmp_path, source):  # noqa: F811
    (tmp_path / "not_a_video.txt").write_text("hello\n")
    with pytest.raises(VideoError, match="cannot open the stream"):
        StreamClassifier(predictor).run(StreamSource(str(tmp_path / source)), lambda r: None)


def test_sources():
    assert StreamSource.parse("0") == StreamSource("/dev/video0", "v4l2")
    assert StreamSource.parse("-").stdin and not StreamSource.parse("rtsp://cam/live").stdin


# ----------------------------------------------------------------------------- tools/demo.py --stream
def test_piped_stream_prints_and_writes_each_window_in_order(trained, tmp_path):  # noqa: F811
    video = make_video(tmp_path / "clip.mkv", num_frames=45)
    process = start_demo("--cfg", trained["cfg"], "--device", "cpu", "--json", "out/live.jsonl", "--output",
                         "out/live.mp4", cwd=str(tmp_path))
    feed(process, open(video, "rb").read(), seconds=1.5)
    code, stdout, stderr = finish(process)
    assert code == 0, stderr
    expected = sliding_windows(45, 30.0, 13 / 30, 6.5 / 30)  # one 4x4-frame clip per window, half a window stride
    assert window_lines(stdout) == list(range(len(expected)))
    records = [json.loads(line) for line in (tmp_path / "out" / "live.jsonl").read_text().splitlines()]
    assert [(r["index"], r["first_frame"], r["num_frames"]) for r in records] == [
        (w.index, w.first, w.length) for w in expected]
    assert all(r["latency_seconds"] >= 0 and r["topk"][0]["label"] in ("wave", "clap", "spin") for r in records)
    assert "the stream ended: 45 frames" in stdout
    dropped = records[-1]["dropped_frames"]
    assert frames_in(tmp_path / "out" / "live.mp4") == 45 - dropped


def test_sigint_mid_stream_finishes_and_flushes_its_outputs(trained, tmp_path):  # noqa: F811
    video = make_video(tmp_path / "clip.mkv", num_frames=300)
    process = start_demo("--cfg", trained["cfg"], "--device", "cpu", "--json", "live.jsonl", "--output", "live.mp4",
                         cwd=str(tmp_path))
    feed(process, open(video, "rb").read(), seconds=10, close=False)  # 30 fps, and it never ends
    lines = lines_of(process.stdout)
    deadline, seen = time.monotonic() + WAIT, 0
    try:
        while seen < 2:  # two windows out: the stream runs
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, process.stderr.read().decode()
            seen += line.startswith("window ")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=WAIT) == 0, process.stderr.read().decode()
    finally:
        process.kill()
    assert "\nstopped: " in "\n" + collect(lines, 10)
    records = [json.loads(line) for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    assert len(records) >= 2 and [r["index"] for r in records] == list(range(len(records)))
    assert 0 < frames_in(tmp_path / "live.mp4") < 300  # a playable file: the encoder was flushed, the file closed


@pytest.mark.parametrize("case", ["empty stdin", "not a video"])
def test_a_stream_that_never_starts_is_one_line_and_an_exit_code(trained, tmp_path, case):  # noqa: F811
    process = start_demo("--cfg", trained["cfg"], "--device", "cpu", cwd=str(tmp_path))
    _, stderr = process.communicate(b"" if case == "empty stdin" else b"not a video\n" * 100, timeout=WAIT)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: -: "), lines
