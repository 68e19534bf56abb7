"""Every backend on every file of the odd-encodings corpus (tests/data/corpus.py), held to the rules
of readers.py and timeline.py against the ffmpeg command line (what a player shows):

- frames come out as displayed (rotation applied) at the displayed size;
- frame i is the picture shown at (i + 0.5) / fps seconds, so that time is real time, also for
  variable frame rates and AVI files with dropped frames; the duration is the video's;
- every backend gives the same frame count and rate and, for the same request, the same pixels up to
  colour-conversion rounding (exactly the painted pixels for lossless files);
- a damaged stream reads (what decodes, decodes; the rest is the nearest decoded picture) and a file
  without video is a VideoError.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videoregion.data.readers import VideoError, open_video

from . import backends
from .corpus import CORPUS_NAMES, clean_frames, identify, paint, reference

# Mean absolute difference (0-255) allowed between two decodes of one picture: colour conversion and
# scaling round differently in FFmpeg's command line, PyAV, decord and torchcodec.
PIXEL_TOLERANCE = 3.0
# The same, for pictures scaled as they are decoded: each backend's resampling filter (swscale with
# its own flags in decord and PyAV, torchcodec's Resize) rounds differently, most on sharp edges.
SCALED_TOLERANCE = 5.0


def _expected(ref, fps: float, num_frames: int) -> np.ndarray:
    """Index of the reference frame shown in the middle of each grid slot (the same rule as the
    readers: a picture shown from exactly that time on counts, one shown 1 ms later does not)."""
    return np.array([ref.frame_at((i + 0.5) / fps, tolerance=1e-6) for i in range(num_frames)])


@pytest.mark.parametrize("backend", backends.PARAMS)
@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_backend_shows_what_a_player_shows(corpus, name, backend):
    video = corpus[name]
    if not video.readable:
        with pytest.raises(VideoError, match="no video stream") as info:
            open_video(video.path, backend=backend).get_frames([0])
        assert info.value.path == video.path
        return
    ref = reference(video.path)
    reader = open_video(video.path, backend=backend)
    assert reader.size == video.size == ref.frames.shape[1:3]
    # the video's length in real seconds, to one frame
    assert abs(reader.duration - ref.duration) <= 1 / reader.fps + 1e-6, (reader.duration, ref.duration)
    frames = reader.get_frames(range(reader.num_frames)).numpy()
    assert frames.shape == (reader.num_frames, *video.size, 3)
    shown = _expected(ref, reader.fps, reader.num_frames)
    compare = clean_frames(video, ref)[shown] if video.damaged else np.ones(len(shown), bool)
    assert compare.sum() >= len(shown) // 2, "most of a damaged file still decodes cleanly"
    got_ids = [identify(f) for f in frames[compare]]
    want_ids = [identify(f) for f in ref.frames[shown[compare]]]
    assert got_ids == want_ids
    assert all(i >= 0 for i in got_ids)  # upright (the markers read) and legible
    diff = np.abs(frames[compare].astype(np.int16) - ref.frames[shown[compare]].astype(np.int16))
    assert diff.mean(axis=(1, 2, 3)).max() <= PIXEL_TOLERANCE
    if video.exact:
        painted = np.stack([paint(i, *video.size) for i in got_ids])
        np.testing.assert_array_equal(frames[compare], painted)


@pytest.mark.parametrize("name", [n for n in CORPUS_NAMES if n != "audio_only_m4a"])
def test_backends_agree(corpus, name):
    video = corpus[name]
    readers = {b: open_video(video.path, backend=b) for b in backends.AVAILABLE}
    counts = {b: (r.num_frames, r.fps, r.duration, r.size) for b, r in readers.items()}
    assert len(set(counts.values())) == 1, counts
    num_frames = readers["pyav"].num_frames
    # unordered, repeated, first and last
    indices = [num_frames - 1, 0, num_frames // 2, num_frames // 2, 1, num_frames // 3]
    for short_side, tolerance in ((None, PIXEL_TOLERANCE), (24, SCALED_TOLERANCE)):
        frames = {b: r.get_frames(indices, short_side=short_side).to(torch.int16) for b, r in readers.items()}
        for b, f in frames.items():
            assert f.shape == frames["pyav"].shape
            diff = (f - frames["pyav"]).abs().float().mean(dim=(1, 2, 3)).max()
            assert diff <= tolerance, (b, short_side, float(diff))
        if short_side is None:
            assert len({tuple(identify(x) for x in f.to(torch.uint8).numpy()) for f in frames.values()}) == 1


def test_time_is_real_time_for_variable_frame_rate(corpus):
    """25 fps for 1 s, then 10 fps: a frame's index over fps is its time, wherever it lies."""
    video = corpus["vfr_mp4"]
    ref = reference(video.path)
    for backend in backends.AVAILABLE:
        reader = open_video(video.path, backend=backend)
        for t in (0.1, 0.5, 0.98, 1.05, 1.5, 1.95):
            i = int(t * reader.fps)
            (frame,) = reader.get_frames([i]).numpy()
            shown = ref.frames[ref.frame_at((i + 0.5) / reader.fps, tolerance=1e-6)]
            assert identify(frame) == identify(shown), (backend, t)


def test_dropped_frames_hold_the_last_picture(corpus):
    """An AVI with empty chunks: the header's frame count and duration, each slot the picture on screen."""
    video = corpus["null_frames_avi"]
    for backend in backends.AVAILABLE:
        reader = open_video(video.path, backend=backend)
        assert reader.num_frames == video.header_frames
        assert reader.duration == pytest.approx(video.duration, abs=1 / reader.fps)
        ids = [identify(f) for f in reader.get_frames(range(reader.num_frames)).numpy()]
        assert ids == sorted(ids) and len(set(ids)) == reader.timeline.num_stored < reader.num_frames


def test_rotation_reaches_the_clip_reader(corpus):
    """The dataset's and the demo's path (ClipReader) sees the displayed, portrait frames."""
    from videoregion.data.clips import ClipReader, DecodeSettings
    from videoregion.data.sampling import dense_indices
    from videoregion.data.transforms import TestTransform

    video = corpus["rotate90_mp4"]
    assert video.size[0] > video.size[1]  # shown portrait
    sampler = lambda n, fps, view, views, g: dense_indices(  # noqa: E731
        n, fps, view, views, g, num_frames=4, sampling_rate=1, target_fps=fps)
    for backend in backends.AVAILABLE:
        clips = ClipReader(sampler, TestTransform(crop_size=32, num_crops=1), DecodeSettings(backend=backend))
        (frames,) = clips.test_clips(video.path, num_clips=1)
        assert frames.shape[-2] > frames.shape[-1]  # (T, C, H, W): taller than wide
        full = open_video(video.path, backend=backend).get_frames([0]).numpy()[0]
        assert identify(full) >= 0
