"""The corpus of odd encodings and its reference: the ffmpeg command line agrees with what was written."""

import json
import os
import subprocess
import time

import numpy as np
import pytest

from .corpus import (
    CORPUS_NAMES,
    FFPROBE,
    MAX_ID,
    REQUIRE_FFMPEG,
    TIMEOUT,
    build_corpus,
    clean_frames,
    identify,
    need_ffmpeg,
    orientation,
    paint,
    reference,
)

READABLE_CLEAN = [n for n in CORPUS_NAMES if n not in ("zeroed_middle_mp4", "damaged_idr_mp4", "audio_only_m4a")]


def probe(path: str, *args: str) -> dict:
    out = subprocess.run([FFPROBE, "-v", "error", *args, "-of", "json", path], capture_output=True,
                         timeout=TIMEOUT, check=True).stdout
    return json.loads(out)


# --- frame content, no ffmpeg needed ---------------------------------------------------------------

@pytest.mark.parametrize("size", [(64, 96), (63, 95), (65, 33), (64, 16), (96, 64)])
def test_identify_reads_every_painted_id(size):
    assert [identify(paint(i, *size)) for i in range(MAX_ID + 1)] == list(range(MAX_ID + 1))


def test_identify_survives_noise_and_refuses_what_it_cannot_read():
    frame = paint(77, 64, 96)
    noisy = np.clip(frame + np.random.default_rng(0).normal(0, 20, frame.shape), 0, 255).astype(np.uint8)
    assert identify(noisy) == 77
    assert identify(np.full_like(frame, 128)) == -1  # grey: no marker, no bits
    assert identify(np.ascontiguousarray(np.rot90(frame))) == -1  # not upright
    flipped = frame.copy()
    flipped[24:32, :48] = 255 - flipped[24:32, :48]  # one whole cell flipped: the parity fails
    assert identify(flipped) == -1
    with pytest.raises(ValueError):
        paint(MAX_ID + 1, 64, 96)


@pytest.mark.parametrize("k", range(4))
def test_orientation_tells_how_a_frame_is_turned(k):
    turned = np.rot90(paint(5, 64, 96), -k)  # turned clockwise by 90 k degrees
    assert orientation(turned) == 90 * k
    assert orientation(np.zeros((64, 96, 3), np.uint8)) is None


def test_need_ffmpeg_skips_or_fails_when_missing(monkeypatch):
    from . import corpus
    monkeypatch.setattr(corpus, "FFMPEG", "/nonexistent/ffmpeg")
    monkeypatch.delenv(REQUIRE_FFMPEG, raising=False)
    with pytest.raises(pytest.skip.Exception, match="ffmpeg command line is needed"):
        corpus.need_ffmpeg()
    monkeypatch.setenv(REQUIRE_FFMPEG, "1")
    with pytest.raises(pytest.fail.Exception, match="VIDEOREGION_REQUIRE_FFMPEG=1"):
        corpus.need_ffmpeg()


# --- the corpus against its reference -----------------------------------------------------------

@pytest.mark.parametrize("name", READABLE_CLEAN)
def test_reference_shows_what_was_written(corpus, name):
    video = corpus[name]
    ref = reference(video.path)
    assert [identify(f) for f in ref.frames] == list(video.frame_ids), video.what
    np.testing.assert_allclose(ref.times, video.times, atol=1e-3)
    assert ref.frames.shape[1:] == (*video.size, 3)
    assert ref.rotation == video.rotation
    assert ref.duration == pytest.approx(video.duration, abs=1e-3)
    assert all(orientation(f) == 0 for f in ref.frames)
    assert clean_frames(video, ref).all()
    stream = probe(video.path, "-select_streams", "v:0", "-show_streams")["streams"][0]
    assert (int(stream["height"]), int(stream["width"])) == video.stored_size
    if video.header_frames is not None:
        assert int(stream["nb_frames"]) == video.header_frames


@pytest.mark.parametrize("name", ["lossless_mp4", "odd_size_mp4"])
def test_lossless_files_give_back_the_painted_pixels(corpus, name):
    video = corpus[name]
    ref = reference(video.path)
    assert video.exact
    np.testing.assert_array_equal(ref.frames, np.stack([paint(i, *video.size) for i in video.frame_ids]))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_files_carry_a_display_matrix(corpus, rotation):
    video = corpus[f"rotate{rotation}_mp4"]
    stream = probe(video.path, "-select_streams", "v:0", "-show_streams")["streams"][0]
    # ffprobe prints the angle in -180..180: 270 as -90
    assert [s.get("rotation") % 360 for s in stream["side_data_list"]] == [rotation]
    assert video.stored_size == (64, 96)  # stored landscape
    assert video.size == ((96, 64) if rotation % 180 else (64, 96))  # shown portrait when turned


def test_variable_frame_rate(corpus):
    video = corpus["vfr_mp4"]
    ref = reference(video.path)
    steps = np.diff(ref.times)
    np.testing.assert_allclose(steps[:24], 0.04, atol=1e-3)
    np.testing.assert_allclose(steps[25:], 0.1, atol=1e-3)
    assert ref.duration == pytest.approx(2.0, abs=1e-3)
    assert [ref.frame_at(t) for t in (-1.0, 0.0, 0.5, 0.99, 1.05, 1.1, 1.95, 9.0)] == [0, 0, 12, 24, 25, 26, 34, 34]


@pytest.mark.parametrize("name", ["bframes_audio_mkv", "mpeg4_bframes_avi", "xvid_packed_avi", "control_mp4"])
def test_b_frames_are_there(corpus, name):
    frames = probe(corpus[name].path, "-select_streams", "v:0", "-show_entries", "frame=pict_type")["frames"]
    assert "B" in {f["pict_type"] for f in frames}


@pytest.mark.parametrize("name,codecs", [("bframes_audio_mkv", ["h264", "aac"]), ("vp9_audio_webm", ["vp9", "opus"]),
                                         ("audio_only_m4a", ["aac"])])
def test_streams(corpus, name, codecs):
    streams = probe(corpus[name].path, "-show_streams")["streams"]
    assert [s["codec_name"] for s in streams] == codecs


def test_packed_b_frames(corpus):
    # Packed B-frames: a reference frame and the next B-frame share a chunk, and a not-coded
    # placeholder VOP (a few bytes) fills the B-frame's own slot.
    packets = probe(corpus["xvid_packed_avi"].path, "-select_streams", "v:0", "-show_packets")["packets"]
    assert sum(int(p["size"]) < 10 for p in packets) >= 5


def test_null_frames(corpus):
    video = corpus["null_frames_avi"]
    with open(video.path, "rb") as f:
        data = f.read()
    assert data.count(b"00dc\x00\x00\x00\x00") >= 30  # zero-size video chunks fill the gaps
    ref = reference(video.path)
    assert (len(ref.frames), video.header_frames) == (15, 50)
    assert ref.duration == pytest.approx(2.0)
    assert ref.frame_at(0.5) == video.frame_ids.index(9)  # slot 12 still shows the frame of slot 9


def test_damaged_first_key_frame(corpus):
    video = corpus["damaged_idr_mp4"]
    ref = reference(video.path)
    clean = clean_frames(video, ref)
    np.testing.assert_allclose(ref.times, video.times, atol=1e-3)
    assert not clean[0] and clean[8:].all()  # the next key frame (g=8) decodes cleanly
    assert ref.errors


def test_zeroed_middle(corpus):
    video = corpus["zeroed_middle_mp4"]
    ref = reference(video.path)
    clean = clean_frames(video, ref)
    np.testing.assert_allclose(ref.times, video.times, atol=1e-3)
    assert clean[:16].all() and clean[24:].all() and not clean[16:24].all()
    assert ref.errors


def test_audio_only_has_no_reference(corpus):
    with pytest.raises(RuntimeError, match="no video stream"):
        reference(corpus["audio_only_m4a"].path)
    assert not corpus["audio_only_m4a"].readable


def test_reference_frames_are_read_only_and_cached(corpus):
    ref = reference(corpus["control_mp4"].path)
    assert reference(corpus["control_mp4"].path) is ref
    assert not ref.frames.flags.writeable


def test_build_is_idempotent_and_fast(corpus, tmp_path):
    folder = os.path.dirname(corpus["control_mp4"].path)
    stamps = {n: os.stat(v.path).st_mtime_ns for n, v in corpus.items()}
    start = time.perf_counter()
    again = build_corpus(folder)
    assert time.perf_counter() - start < 1.0
    assert again == corpus and {n: os.stat(v.path).st_mtime_ns for n, v in again.items()} == stamps
    assert sorted(os.listdir(folder)) == sorted(os.path.basename(v.path) for v in corpus.values())
    assert sum(os.path.getsize(v.path) for v in corpus.values()) < 1_000_000


def test_fresh_build_is_fast(tmp_path):
    need_ffmpeg()
    start = time.perf_counter()
    build_corpus(str(tmp_path))
    assert time.perf_counter() - start < 30.0  # about 2 s on one core
