import os
import threading
import time

import numpy as np
import pytest
import torch

from videoregion.data.readers import VideoError, open_video, run_with_timeout, scaled_size

from . import backends
from .videos import LOSSLESS, VP9, ramp_frames, random_frames, write_video

BACKENDS = backends.PARAMS


@pytest.fixture(scope="module")
def lossless(tmp_path_factory):
    frames = random_frames(40, height=48, width=64, seed=1)
    path = write_video(str(tmp_path_factory.mktemp("v") / "lossless.mp4"), frames, **LOSSLESS)
    return path, frames


@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip_is_bit_exact(lossless, backend):
    path, frames = lossless
    reader = open_video(path, backend=backend)
    assert reader.num_frames == 40 and reader.fps == pytest.approx(30.0)
    assert reader.duration == pytest.approx(40 / 30)
    # unordered, repeated, first and last, across several key frames (g=8)
    indices = [0, 39, 5, 5, 17, 8, 9, 31, 2]
    got = reader.get_frames(indices)
    assert got.dtype == torch.uint8 and got.shape == (len(indices), 48, 64, 3)
    assert torch.equal(got, torch.from_numpy(frames[indices]))


def test_backends_agree_when_scaling(lossless):
    path, _ = lossless
    decord_frames, pyav_frames = (
        open_video(path, b).get_frames([3, 20, 39], short_side=32) for b in ("decord", "pyav")
    )
    assert decord_frames.shape == pyav_frames.shape == (3, 32, 43, 3)
    # both scale with swscale's bilinear filter; allow rounding differences only
    assert (decord_frames.float() - pyav_frames.float()).abs().mean() < 2.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_layouts_and_scaling(lossless, backend):
    path, frames = lossless
    reader = open_video(path, backend=backend)
    cthw = reader.get_frames([1, 2], layout="CTHW")
    assert cthw.shape == (3, 2, 48, 64)
    assert torch.equal(cthw.permute(1, 2, 3, 0), torch.from_numpy(frames[[1, 2]]))
    assert reader.get_frames([1], short_side=24, layout="TCHW").shape == (1, 3, 24, 32)
    expected = open_video(path, "pyav").get_frames([1, 7], short_side=36)
    assert torch.equal(reader.get_frames([1, 7], short_side=36), expected)
    with pytest.raises(IndexError, match="outside"):
        reader.get_frames([40])


@pytest.mark.parametrize("backend", BACKENDS)
def test_webm_vp9(tmp_path, backend):
    path = write_video(str(tmp_path / "v.webm"), ramp_frames(20), **VP9)
    reader = open_video(path, backend=backend)
    assert reader.num_frames == 20 and reader.fps == pytest.approx(30.0)
    assert reader.get_frames([0, 19]).shape == (2, 48, 64, 3)


def _truncated(tmp_path, inside_first_picture: bool = False):
    """A file cut after a third of its bytes (it still plays its first frames), or inside its first picture."""
    # faststart puts the index first: the file opens, later frames are gone
    path = write_video(str(tmp_path / "full.mp4"), random_frames(60, seed=2), codec="libx264", pix_fmt="yuv420p")
    import av

    fast = str(tmp_path / ("nothing.mp4" if inside_first_picture else "fast.mp4"))
    with av.open(path) as src, av.open(fast, "w", options={"movflags": "faststart"}) as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    with av.open(fast) as container:
        first = next(container.demux(video=0))
        cut = first.pos + first.size // 2 if inside_first_picture else os.path.getsize(fast) // 3
    data = open(fast, "rb").read()
    with open(fast, "wb") as f:
        f.write(data[:cut])
    return fast


def bad_files(tmp_path):
    """{case: (path, reason pattern)} for every kind of unreadable file."""
    import av

    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n")
    with av.open(str(tmp_path / "noframes.mp4"), "w") as container:  # a video stream, never a frame
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # write the header although no packet follows
        container.mux(stream.encode())
    return {
        "no frames": (str(tmp_path / "noframes.mp4"), "no frames|no video stream|cannot open"),
        "missing": (str(tmp_path / "nowhere.mp4"), "missing file"),
        "empty": (str(tmp_path / "empty.mp4"), "empty file"),
        "not a video": (str(tmp_path / "text.mp4"), "cannot open"),
        "truncated": (_truncated(tmp_path, inside_first_picture=True), "no frames"),
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_unreadable_files_raise_video_error(tmp_path, backend):
    for case, (path, reason) in bad_files(tmp_path).items():
        with pytest.raises(VideoError, match=reason) as info:
            open_video(path, backend=backend).get_frames(list(range(0, 60, 4)))
        assert info.value.path == path, case


def test_no_video_stream(tmp_path):
    import av

    path = str(tmp_path / "audio.mp4")
    with av.open(path, "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    for backend in backends.AVAILABLE:
        with pytest.raises(VideoError):
            open_video(path, backend=backend)


def test_scaled_size():
    assert scaled_size(256, 340, 224) == (224, 298)
    assert scaled_size(340, 256, 224) == (298, 224)
    assert scaled_size(48, 64, None) == (48, 64)


def test_timeout_gives_up_on_a_stalled_call():
    release = threading.Event()
    start = time.perf_counter()
    with pytest.raises(VideoError, match="stalled"):
        run_with_timeout(lambda: release.wait(30), timeout=0.2, path="slow.mp4")
    assert time.perf_counter() - start < 5
    release.set()
    assert run_with_timeout(lambda: 7, timeout=1.0, path="x") == 7
    with pytest.raises(ZeroDivisionError):
        run_with_timeout(lambda: 1 / 0, timeout=1.0, path="x")


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown decoding backend"):
        open_video("x.mp4", backend="opencv")


def test_decord_reader_ignores_the_global_bridge(lossless):
    import decord

    path, frames = lossless
    decord.bridge.set_bridge("torch")  # what importing pytorchvideo.data's decord backend does
    try:
        assert torch.equal(open_video(path, "decord").get_frames([3, 4]), torch.from_numpy(frames[[3, 4]]))
    finally:
        decord.bridge.set_bridge("native")


@pytest.mark.parametrize("backend", BACKENDS)
def test_short_side_given_at_open(lossless, backend):
    path, _ = lossless
    opened_scaled = open_video(path, backend, short_side=32)
    plain = open_video(path, backend)
    assert opened_scaled.num_frames == plain.num_frames == 40
    a = opened_scaled.get_frames([0, 30], short_side=32)
    assert torch.equal(a, plain.get_frames([0, 30], short_side=32)) and a.shape == (2, 32, 43, 3)
    assert opened_scaled.get_frames([0], short_side=40).shape == (1, 40, 53, 3)
    assert torch.equal(opened_scaled.get_frames([5]), plain.get_frames([5]))


def test_decord_widths_it_cannot_copy_fall_back_to_pyav(tmp_path):
    frames = random_frames(10, height=32, width=48, seed=3)  # decord 0.6 fails on width 48
    path = write_video(str(tmp_path / "w48.mp4"), frames, **LOSSLESS)
    reader = open_video(path, "decord")
    assert torch.equal(reader.get_frames([2, 9]), torch.from_numpy(frames[[2, 9]]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_truncated_file_plays_what_it_holds_and_is_reported(tmp_path, backend):
    from videoregion.data.check import check_video

    path = _truncated(tmp_path)  # the index says 60 frames; the bytes hold the first ones
    reader = open_video(path, backend=backend)
    assert 0 < reader.num_frames < 60
    assert reader.get_frames([0, reader.num_frames - 1]).shape[0] == 2
    assert any("truncated: the header counts 60 frames" in p for p in reader.timeline.problems)
    result = check_video(path, backend=backend)
    assert result.status == "suspicious" and result.reason.startswith("truncated")


def test_torchcodec_without_ffmpeg_is_one_config_error(monkeypatch):
    import builtins

    from videoregion.data.readers import check_backend
    from videoregion.errors import ConfigError

    real_import = builtins.__import__

    def no_ffmpeg(name, *args, **kwargs):
        if name.startswith("torchcodec"):
            raise OSError("libavutil.so.59: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ffmpeg)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[torchcodec\]" and apt-get install ffmpeg'):
        check_backend("torchcodec")
    with pytest.raises(ConfigError, match="unknown"):
        check_backend("opencv")


def test_a_forked_worker_never_frees_inherited_decoders(lossless):
    """A loader worker is forked with the parent's readers (here in a garbage cycle, with FFmpeg threads);
    freeing one in the child would wait for threads the child does not have. The child must not hang."""
    import gc
    import multiprocessing

    path, _ = lossless
    for backend in ("pyav", "decord"):
        reader = open_video(path, backend=backend, threads=2)
        reader.get_frames([0, 20])
        reader.cycle = reader  # collected only by the garbage collector: in the child, if at all
        del reader
    probe_error = None
    try:  # the probe's own container, kept alive by an exception's traceback (a dataset keeps the last one)
        open_video(path + ".missing.mp4")
    except VideoError as e:
        probe_error = e
    child = multiprocessing.get_context("fork").Process(target=gc.collect)
    child.start()
    child.join(timeout=60)
    hung = child.is_alive()
    if hung:
        child.kill()
    gc.collect()
    assert not hung and child.exitcode == 0 and probe_error is not None
