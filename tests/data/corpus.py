"""A corpus of oddly encoded tiny videos, and an independent reference for what a player shows.

    videos = build_corpus(folder)            # {name: CorpusVideo}, every file written once
    ref = reference(videos["rotate90_mp4"].path)
    ref.frames                               # (N, H, W, 3) uint8 RGB as displayed (rotation applied)
    [identify(f) for f in ref.frames]        # the frame ids painted into them

Every frame paints its id and an orientation marker (see :func:`paint`), so frame identity and
orientation can be read back from any decoder's output with :func:`identify` and
:func:`orientation`, whatever the codec did to the pixels.

The reference is the ffmpeg / ffprobe command line (5.1 here), run as subprocesses with timeouts:
it is not the library any backend under test links against in-process, and it applies the display
matrix by default, as players do. PyAV writes most files; the ffmpeg command line writes the ones
PyAV cannot (a display matrix, Xvid's packed B-frames), so the corpus needs ``ffmpeg`` on the PATH.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import pytest

__all__ = [
    "FFMPEG",
    "FFPROBE",
    "CORPUS_NAMES",
    "CorpusVideo",
    "Reference",
    "build_corpus",
    "clean_frames",
    "identify",
    "orientation",
    "paint",
    "need_ffmpeg",
    "reference",
    "requires_ffmpeg",
]

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
FFPROBE = shutil.which("ffprobe") or "/usr/bin/ffprobe"
TIMEOUT = 30.0  # seconds for any one ffmpeg / ffprobe call on a corpus-sized file

RED, GREEN = (255, 0, 0), (0, 255, 0)
CODE_ROWS, CODE_COLS = 4, 2  # 8 cells: 7 id bits (most significant first) and an even-parity bit
MAX_ID = 2 ** (CODE_ROWS * CODE_COLS - 1) - 1


REQUIRE_FFMPEG = "VIDEOREGION_REQUIRE_FFMPEG"


def need_ffmpeg() -> None:
    """Skip the calling test when the ffmpeg command line is missing; fail it instead when the
    environment sets ``VIDEOREGION_REQUIRE_FFMPEG=1`` (CI does: there a missing ffmpeg is a fault)."""
    missing = [tool for tool in (FFMPEG, FFPROBE) if not os.access(tool, os.X_OK)]
    if missing:
        reason = f"the ffmpeg command line is needed: {', '.join(missing)} not found"
        if os.environ.get(REQUIRE_FFMPEG) == "1":
            pytest.fail(f"{reason} ({REQUIRE_FFMPEG}=1)")
        pytest.skip(reason)


def requires_ffmpeg(test: Callable) -> Callable:
    """Decorate a test that needs the ffmpeg command line (see :func:`need_ffmpeg`)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        need_ffmpeg()
        return test(*args, **kwargs)

    return run


# --- frame content ---------------------------------------------------------------------------

def _bands(height: int) -> tuple[int, int]:
    """Row where the code band starts and where the texture band starts."""
    return height // 4, height - height // 4


def _cells(height: int, width: int) -> list[tuple[slice, slice]]:
    """The inner half of each code cell, row by row: where a reader samples a bit."""
    top, bottom = _bands(height)
    rows = np.linspace(top, bottom, CODE_ROWS + 1)
    cols = np.linspace(0, width, CODE_COLS + 1)
    cells = []
    for r in range(CODE_ROWS):
        for c in range(CODE_COLS):
            h, w = rows[r + 1] - rows[r], cols[c + 1] - cols[c]
            cells.append((slice(int(rows[r] + h / 4), int(np.ceil(rows[r + 1] - h / 4))),
                          slice(int(cols[c] + w / 4), int(np.ceil(cols[c + 1] - w / 4)))))
    return cells


def _bits(frame_id: int) -> list[int]:
    n = CODE_ROWS * CODE_COLS - 1
    bits = [(frame_id >> (n - 1 - i)) & 1 for i in range(n)]
    return bits + [sum(bits) % 2]


def paint(frame_id: int, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame showing ``frame_id`` upright.

    Top quarter: a saturated red block on the left half, a green one on the right half (the
    orientation marker). Middle half: a 4x2 grid of black/white cells, the id's 7 bits and a parity
    bit. Bottom quarter: a colour gradient that moves with the id (colour conversion shows there;
    nothing in it is saturated red or green).
    """
    if not 0 <= frame_id <= MAX_ID:
        raise ValueError(f"frame id {frame_id} outside 0..{MAX_ID}")
    top, bottom = _bands(height)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([
        64 + 128 * x / max(width - 1, 1),
        96 + 96 * y / max(height - 1, 1),
        128 + 60 * np.sin(2 * np.pi * (x + y + 3 * frame_id) / 16),
    ], -1).round().astype(np.uint8)
    image[:top, : width // 2] = RED
    image[:top, width // 2:] = GREEN
    rows = np.linspace(top, bottom, CODE_ROWS + 1).astype(int)
    cols = np.linspace(0, width, CODE_COLS + 1).astype(int)
    for i, bit in enumerate(_bits(frame_id)):
        r, c = divmod(i, CODE_COLS)
        image[rows[r]:rows[r + 1], cols[c]:cols[c + 1]] = 255 * bit
    return image


def _is_colour(region: np.ndarray, colour: tuple[int, int, int]) -> bool:
    mean = region.reshape(-1, 3).astype(np.float64).mean(0)
    return all(m > 160 if c else m < 96 for m, c in zip(mean, colour, strict=True))


def _upright(frame: np.ndarray) -> bool:
    height, width = frame.shape[:2]
    top = _bands(height)[0]
    if top < 2 or width < 4:
        return False
    rows = slice(top // 4, max(top // 4 + 1, 3 * top // 4))
    left = slice(width // 8, max(width // 8 + 1, 3 * width // 8))
    right = slice(5 * width // 8, max(5 * width // 8 + 1, 7 * width // 8))
    return _is_colour(frame[rows, left], RED) and _is_colour(frame[rows, right], GREEN)


def orientation(frame: np.ndarray) -> int | None:
    """Degrees (0, 90, 180, 270) the painted picture in ``frame`` (H, W, 3) is turned clockwise
    from upright; None when no orientation marker is found."""
    for k in range(4):
        if _upright(np.rot90(frame, k)):  # rot90 turns counter-clockwise: undoes a clockwise turn
            return 90 * k
    return None


def identify(frame: np.ndarray) -> int:
    """The id painted into an upright ``frame`` (H, W, 3) uint8 RGB; -1 when the frame is not
    upright, or a cell is neither clearly black nor clearly white, or the parity is wrong."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or not _upright(frame):
        return -1
    bits = []
    for rows, cols in _cells(*frame.shape[:2]):
        level = frame[rows, cols].astype(np.float64).mean()
        if 64 <= level <= 192:
            return -1
        bits.append(int(level > 192))
    if sum(bits) % 2:
        return -1
    return int("".join(map(str, bits[:-1])), 2)


# --- the corpus --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CorpusVideo:
    """One corpus file and its ground truth, as written.

    ``frame_ids`` and ``times`` are per displayed frame in presentation order (``times`` in seconds
    from the first frame). ``size`` is (height, width) as displayed, ``stored_size`` as coded.
    ``rotation`` is the display matrix's angle as ffprobe prints it: degrees counter-clockwise a
    player turns the stored picture (0 if none). ``header_frames`` is the frame count the container
    header states (None if it states none); it differs from ``len(frame_ids)`` for null frames.
    ``exact``: lossless, decoders must return :func:`paint`'s pixels exactly. ``damaged``: decoders
    may garble some frames; compare only where :func:`clean_frames` holds.
    """

    name: str
    path: str
    what: str
    readable: bool = True
    damaged: bool = False
    frame_ids: tuple[int, ...] | None = None
    times: tuple[float, ...] | None = None
    size: tuple[int, int] | None = None
    stored_size: tuple[int, int] | None = None
    rotation: int = 0
    fps: float | None = None
    header_frames: int | None = None
    duration: float | None = None
    codec: str = ""
    exact: bool = False


@dataclass(frozen=True)
class _Spec:
    what: str
    write: Callable[[str], None]
    codec: str = ""
    ids: tuple[int, ...] | None = None
    times: tuple[float, ...] | None = None
    size: tuple[int, int] | None = None  # as displayed
    rotation: int = 0
    fps: float | None = None
    header_frames: int | None = None
    readable: bool = True
    damaged: bool = False
    exact: bool = False


SIZE = (64, 96)  # (height, width) of most corpus videos as displayed
PORTRAIT = (96, 64)  # as the rotated phone-style clips are displayed
H264 = {"g": "8"}


def _run(args: list[str], stdin: bytes | None = None) -> bytes:
    done = subprocess.run(args, input=stdin, capture_output=True, timeout=TIMEOUT, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _add_audio(container, codec: str):
    stream = container.add_stream(codec, rate=48000)
    stream.layout = "mono"
    stream.format = "fltp"
    if codec == "libopus":
        stream.codec_context.bit_rate = 32000
    return stream


def _encode_audio(container, stream, seconds: float) -> None:
    size = stream.codec_context.frame_size or 1024
    total = int(seconds * 48000)
    for start in range(0, total, size):
        t = np.arange(start, start + size) / 48000
        frame = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32),
                                           format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def _write_pyav(path: str, ids, pts, time_base: Fraction, codec: str, pix_fmt: str,
                size: tuple[int, int] = SIZE, options: dict | None = None, audio: str | None = None,
                stored_turn: int = 0, rate: int | None = None, last_until: int | None = None) -> None:
    """Encode frames ``paint(ids[i])`` at ``pts[i]`` (in ``time_base``) with PyAV.

    ``stored_turn``: the picture is stored turned clockwise by this many degrees (undone by a
    display matrix added afterwards). ``last_until``: every packet lasts until the next frame and
    the last one until this time: the mp4 muxer takes the last frame's duration from its packet."""
    height, width = size
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=rate or round(1 / time_base))
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
        turned = (width, height) if stored_turn % 180 else (height, width)
        stream.height, stream.width = turned
        stream.pix_fmt = pix_fmt
        stream.options = dict(options or {})
        sound = _add_audio(container, audio) if audio else None
        pts = list(pts)
        durations = {}
        if last_until is not None:
            durations = dict(zip(pts, np.diff(pts, append=last_until).tolist(), strict=True))

        def mux(packets):
            for packet in packets:
                if packet.pts in durations:
                    packet.duration = durations[packet.pts]
                container.mux(packet)

        for frame_id, t in zip(ids, pts, strict=True):
            image = np.ascontiguousarray(np.rot90(paint(frame_id, height, width), -stored_turn // 90))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = t, time_base
            mux(stream.encode(frame))
        mux(stream.encode())
        if sound is not None:
            _encode_audio(container, sound, float((pts[-1] + 1) * time_base))


def _constant(n: int, fps: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    return tuple(range(n)), tuple(i / fps for i in range(n))


def _pyav_spec(what: str, codec: str, pix_fmt: str, n: int = 30, fps: int = 25, size=SIZE,
               options=None, audio=None, exact=False, counted=True) -> _Spec:
    """A constant-rate file written by PyAV; ``counted``: its header states the frame count
    (Matroska and WebM headers do not)."""
    ids, times = _constant(n, fps)
    return _Spec(what, functools.partial(_write_pyav, ids=ids, pts=range(n), time_base=Fraction(1, fps),
                                         codec=codec, pix_fmt=pix_fmt, size=size, options=options, audio=audio),
                 codec=codec, ids=ids, times=times, size=size, fps=fps, header_frames=n if counted else None,
                 exact=exact)


def _write_rotated(path: str, rotation: int, n: int, fps: int, size: tuple[int, int]) -> None:
    # PyAV cannot write a display matrix; ffmpeg 5.1's mp4 muxer turns a "rotate" tag into one
    # (ffprobe then prints the same angle as its rotation).
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "plain.mp4")
        _write_pyav(plain, range(n), range(n), Fraction(1, fps), "libx264", "yuv420p", size=size,
                    options=H264, stored_turn=rotation)
        _run([FFMPEG, "-v", "error", "-y", "-i", plain, "-map", "0", "-c", "copy",
              "-metadata:s:v:0", f"rotate={rotation}", path])


def _rotated_spec(rotation: int, n: int = 30, fps: int = 25) -> _Spec:
    ids, times = _constant(n, fps)
    portrait = rotation % 180 != 0
    shape = "stored landscape, shown portrait (a phone clip)" if portrait else "stored upside down"
    size = PORTRAIT if portrait else SIZE
    return _Spec(f"h264 mp4 with a display matrix of {rotation} degrees: {shape}",
                 functools.partial(_write_rotated, rotation=rotation, n=n, fps=fps, size=size),
                 codec="h264", ids=ids, times=times, size=size, rotation=rotation, fps=fps, header_frames=n)


VFR_MS = tuple(range(0, 1000, 40)) + tuple(range(1000, 2000, 100))  # 25 fps for 1 s, then 10 fps


def _vfr_spec() -> _Spec:
    ids = tuple(range(len(VFR_MS)))
    return _Spec("h264 mp4 at 25 fps for 1 s then 10 fps for 1 s (variable frame rate)",
                 functools.partial(_write_pyav, ids=ids, pts=VFR_MS, time_base=Fraction(1, 1000),
                                   codec="libx264", pix_fmt="yuv420p", options=H264, rate=25, last_until=2000),
                 codec="h264", ids=ids, times=tuple(t / 1000 for t in VFR_MS), size=SIZE,
                 header_frames=len(ids))


def _write_xvid(path: str, n: int, fps: int) -> None:
    # ffmpeg's libxvid wrapper stores B-frames packed (XVID_GLOBAL_PACKED) outside mp4/mov, as
    # DivX/Xvid AVI files from the wild do (one B-frame in a row, DivX 5's default). PyAV's FFmpeg
    # has no libxvid. The wrapper loses the last frame when it flushes: one more frame goes in than
    # the file holds, and the AVI header counts it (n + 1 frames).
    height, width = SIZE
    raw = b"".join(paint(i, height, width).tobytes() for i in range(n + 1))
    _run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
          "-r", str(fps), "-i", "-", "-c:v", "libxvid", "-bf", "1", "-g", "12", "-q:v", "3", path],
         stdin=raw)


NULL_SLOTS = (0, 1, 2, 3, 8, 9, 15, 16, 17, 30, 31, 32, 33, 45, 49)  # coded frames among 50 at 25 fps


def _null_spec() -> _Spec:
    return _Spec("mpeg4 AVI whose header says 50 frames over 2 s, only 15 are coded: the gaps are "
                 "zero-size (dropped) chunks; a frame's id is its slot",
                 functools.partial(_write_pyav, ids=NULL_SLOTS, pts=NULL_SLOTS, time_base=Fraction(1, 25),
                                   codec="mpeg4", pix_fmt="yuv420p", options={"bf": "0", "q": "3"}),
                 codec="mpeg4", ids=NULL_SLOTS, times=tuple(s / 25 for s in NULL_SLOTS), size=SIZE,
                 fps=25, header_frames=50)


def _packets(path: str) -> list[dict]:
    out = _run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
                "packet=pos,size,flags", "-of", "json", path])
    return json.loads(out)["packets"]


def _zero(path: str, start: int, length: int) -> None:
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(bytes(length))


def _nal_units(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, size, type) of each NAL unit in a length-prefixed (mp4) h264 packet."""
    units, offset = [], 0
    while offset + 4 < len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        units.append((offset + 4, size, data[offset + 4] & 0x1F))
        offset += 4 + size
    return units


def _zero_slices(path: str, packet: dict, fraction: float) -> None:
    """Zero the middle ``fraction`` of each slice NAL (types 1 and 5) of one mp4 h264 packet,
    keeping its length prefix and slice header, so the container stays intact."""
    pos = int(packet["pos"])
    with open(path, "rb") as f:
        f.seek(pos)
        data = f.read(int(packet["size"]))
    for offset, size, kind in _nal_units(data):
        if kind in (1, 5) and size > 16:
            length = int(size * fraction)
            _zero(path, pos + offset + (size - length) // 2, length)


def _write_zeroed_middle(path: str) -> None:
    _write_pyav(path, range(40), range(40), Fraction(1, 25), "libx264", "yuv420p", options=H264)
    packets = _packets(path)
    for packet in packets[18:21]:  # three packets in the middle of the mdat (moov is at the end)
        _zero_slices(path, packet, 0.5)


def _write_damaged_idr(path: str) -> None:
    _write_pyav(path, range(30), range(30), Fraction(1, 25), "libx264", "yuv420p", options=H264)
    _zero_slices(path, _packets(path)[0], 0.4)


def _write_audio_only(path: str) -> None:
    with av.open(path, "w", format="mp4") as container:
        stream = _add_audio(container, "aac")
        _encode_audio(container, stream, 1.0)


def _specs() -> dict[str, _Spec]:
    specs = {
        "control_mp4": _pyav_spec("plain constant-rate h264 mp4 (x264 defaults, B-frames)", "libx264",
                                  "yuv420p", options=H264),
        "lossless_mp4": _pyav_spec("lossless RGB h264 (libx264rgb crf 0): pixels must be exact",
                                   "libx264rgb", "rgb24", options={"crf": "0", "g": "8"}, exact=True),
        **{f"rotate{r}_mp4": _rotated_spec(r) for r in (90, 180, 270)},
        "vfr_mp4": _vfr_spec(),
        "bframes_audio_mkv": _pyav_spec("h264 with 3 B-frames and an aac audio track, mkv", "libx264",
                                        "yuv420p", options={"g": "12", "bf": "3"}, audio="aac", counted=False),
        "vp9_audio_webm": _pyav_spec("vp9 (hidden alt-ref frames) with an opus audio track, webm",
                                     "libvpx-vp9", "yuv420p", audio="libopus",
                                     options={"deadline": "good", "cpu-used": "8", "auto-alt-ref": "1",
                                              "lag-in-frames": "16", "g": "12"}, counted=False),
        "mpeg4_bframes_avi": _pyav_spec("MPEG-4 part 2 with 2 B-frames (unpacked), AVI", "mpeg4",
                                        "yuv420p", options={"bf": "2", "g": "12", "q": "3"}),
        "xvid_packed_avi": _Spec("Xvid MPEG-4 part 2 with packed B-frames (DivX/Xvid style), AVI",
                                 functools.partial(_write_xvid, n=30, fps=25), codec="mpeg4",
                                 ids=_constant(30, 25)[0], times=_constant(30, 25)[1], size=SIZE,
                                 fps=25, header_frames=31),
        "msmpeg4v2_avi": _pyav_spec("MS-MPEG4 v2, AVI", "msmpeg4v2", "yuv420p", options={"q": "3"}),
        "msmpeg4v3_avi": _pyav_spec("MS-MPEG4 v3 (DivX 3), AVI", "msmpeg4", "yuv420p", options={"q": "3"}),
        "mjpeg_avi": _pyav_spec("MJPEG, AVI", "mjpeg", "yuvj420p", options={"q": "3"}),
        "cinepak_avi": _pyav_spec("cinepak, AVI", "cinepak", "rgb24", n=12),
        "null_frames_avi": _null_spec(),
        "odd_size_mp4": _pyav_spec("odd width and height (63x95), lossless RGB h264", "libx264rgb", "rgb24",
                                   size=(63, 95), options={"crf": "0", "g": "8"}, exact=True),
        "odd_size_mjpeg_avi": _pyav_spec("odd width and height (65x33), MJPEG AVI", "mjpeg", "yuvj444p",
                                         size=(65, 33), options={"q": "3"}),
        "narrow16_mp4": _pyav_spec("16 pixels wide, h264", "libx264", "yuv420p", size=(64, 16), options=H264),
        "narrow48_mp4": _pyav_spec("48 pixels wide, h264", "libx264", "yuv420p", size=(64, 48), options=H264),
    }
    for name, write, what in (
        ("zeroed_middle_mp4", _write_zeroed_middle, "h264 mp4 with four packets' bytes zeroed in the middle"),
        ("damaged_idr_mp4", _write_damaged_idr, "h264 mp4 whose first key frame has a third of it zeroed"),
    ):
        n = 40 if name == "zeroed_middle_mp4" else 30
        ids, times = _constant(n, 25)
        specs[name] = _Spec(what, write, codec="h264", ids=ids, times=times, size=SIZE, fps=25,
                            header_frames=n, damaged=True)
    specs["audio_only_m4a"] = _Spec("aac audio only, no video stream", _write_audio_only, codec="aac",
                                    readable=False)
    return specs


CORPUS_NAMES = tuple(_specs())
EXTENSIONS = {"mp4": ".mp4", "mkv": ".mkv", "webm": ".webm", "avi": ".avi", "m4a": ".m4a"}


def build_corpus(folder: str) -> dict[str, CorpusVideo]:
    """Write every corpus file into ``folder`` (files already there are kept) and describe them."""
    os.makedirs(folder, exist_ok=True)
    videos = {}
    for name, spec in _specs().items():
        path = os.path.join(folder, name.rsplit("_", 1)[0] + EXTENSIONS[name.rsplit("_", 1)[1]])
        if not os.path.exists(path):
            partial = f"{path}.partial{os.path.splitext(path)[1]}"
            spec.write(partial)
            os.replace(partial, path)
        height, width = spec.size or (0, 0)
        stored = (width, height) if spec.rotation % 180 else (height, width)
        duration = None
        if spec.times:
            last = spec.times[-1] - spec.times[-2] if spec.fps is None else 1 / spec.fps
            duration = spec.times[-1] + last
        videos[name] = CorpusVideo(
            name=name, path=path, what=spec.what, readable=spec.readable, damaged=spec.damaged,
            frame_ids=spec.ids, times=spec.times, size=spec.size, stored_size=stored if spec.size else None,
            rotation=spec.rotation, fps=spec.fps, header_frames=spec.header_frames, duration=duration,
            codec=spec.codec, exact=spec.exact)
    return videos


# --- the reference -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    """What the ffmpeg command line decodes and displays.

    ``frames``: (N, H, W, 3) uint8 RGB, one per decoded frame in presentation order, rotation
    applied. ``times``: (N,) float64 presentation seconds from the first frame. ``duration``: seconds
    shown (last time + the last frame's duration). ``rotation``: the display matrix's angle as
    ffprobe prints it, in 0..359 (0 if none). ``errors``: what ffmpeg reported while decoding.
    """

    path: str
    frames: np.ndarray
    times: np.ndarray
    duration: float
    rotation: int
    errors: str

    def frame_at(self, t: float, tolerance: float = 1e-3) -> int:
        """Index of the frame displayed at ``t`` seconds: the last one with time <= t."""
        return max(int(np.searchsorted(self.times, t + tolerance, side="right")) - 1, 0)


def _probe(path: str) -> tuple[dict, dict, list[dict]]:
    """The first video stream, the container and the stream's frames, as ffprobe reports them."""
    out = _run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_streams", "-show_format",
                "-show_frames", "-show_entries",
                "frame=best_effort_timestamp_time,pkt_duration_time,duration_time", "-of", "json", path])
    probe = json.loads(out)
    if not probe.get("streams"):
        raise RuntimeError(f"{path}: no video stream")
    return probe["streams"][0], probe.get("format", {}), probe.get("frames", [])


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    return 0


def _frame_step(frame: dict, stream: dict) -> float:
    """A frame's display duration: its own, else one period of the stream's average rate."""
    step = frame.get("duration_time") or frame.get("pkt_duration_time")
    if step is not None:
        return float(step)
    rate = Fraction(stream.get("avg_frame_rate", "0/1"))
    return float(1 / rate) if rate else 0.0


def _last_step(last: float, frame: dict, stream: dict, container: dict) -> float:
    """How long the last frame (shown from ``last`` s) stays: its own duration; else until the
    stream ends, else until the container ends (mp4 keeps a variable-rate file's last sample
    duration only there); else one average period."""
    if frame.get("duration_time") or frame.get("pkt_duration_time"):
        return _frame_step(frame, stream)
    for info in (stream, container):
        try:
            end = float(info.get("start_time", 0)) + float(info["duration"])
        except (KeyError, ValueError):
            continue
        if end - last > 1e-6:
            return end - last
    return _frame_step(frame, stream)


def _times(frames: list[dict], stream: dict) -> np.ndarray:
    """Presentation seconds as stamped. AVI has no presentation timestamps: FFmpeg guesses them
    from decode order and leaves the last, flushed, frame without one; such a frame is shown one
    duration after the previous one."""
    times = []
    for i, frame in enumerate(frames):
        stamp = frame.get("best_effort_timestamp_time")
        if stamp is None:
            stamp = times[-1] + _frame_step(frames[i - 1], stream) if times else 0.0
        times.append(float(stamp))
    return np.array(times, np.float64)


@functools.lru_cache(maxsize=64)
def _reference(path: str, stamp: tuple[int, int]) -> Reference:
    stream, container, frames = _probe(path)
    rotation = _rotation(stream)
    width, height = int(stream["width"]), int(stream["height"])
    if rotation % 180:
        width, height = height, width
    done = subprocess.run(
        [FFMPEG, "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=TIMEOUT, check=False)
    errors = done.stderr.decode(errors="replace").strip()
    if done.returncode:
        raise RuntimeError(f"{path}: ffmpeg failed: {errors}")
    pixels = np.frombuffer(done.stdout, np.uint8)
    if pixels.size % (height * width * 3):
        raise RuntimeError(f"{path}: ffmpeg gave {pixels.size} bytes, not whole {width}x{height} frames")
    pixels = pixels.reshape(-1, height, width, 3)
    if len(frames) != len(pixels) or not len(pixels):
        raise RuntimeError(f"{path}: ffprobe shows {len(frames)} frames, ffmpeg decoded {len(pixels)}")
    times = _times(frames, stream)
    end = times[-1] + _last_step(times[-1], frames[-1], stream, container)
    end, times = end - times[0], times - times[0]
    pixels.flags.writeable = False
    times.flags.writeable = False
    return Reference(path=path, frames=pixels, times=times, duration=float(end),
                     rotation=rotation, errors=errors)


def reference(path: str) -> Reference:
    """Decode ``path`` with the ffmpeg command line as a player shows it (cached per file version).

    Raises RuntimeError when ffmpeg cannot decode a video stream from it."""
    info = os.stat(path)
    return _reference(os.path.abspath(path), (info.st_mtime_ns, info.st_size))


def clean_frames(video: CorpusVideo, ref: Reference) -> np.ndarray:
    """(N,) bool over ``ref``'s frames: the frame shows the id written for its time (a damaged
    file's garbled or concealed frames are False)."""
    written = np.array(video.times)
    clean = np.zeros(len(ref.frames), bool)
    for i, (frame, t) in enumerate(zip(ref.frames, ref.times, strict=True)):
        slot = int(np.argmin(np.abs(written - t)))
        clean[i] = abs(written[slot] - t) < 1e-3 and identify(frame) == video.frame_ids[slot]
    return clean
