"""The built-in synthetic action dataset: classes that only time order tells apart.

Every class belongs to a pair whose two members are each other's reversal in time (moving
left / moving right, growing / shrinking, ...). A video is drawn from direction-free parameters
(:class:`VideoParams`: a random shape, colour, texture, background, noise, start and end values of
its motion); its class only decides whether the motion runs forwards or backwards through them.
So the frames of a video of one class, played backwards, are exactly the frames of a video of its
partner class (:func:`reverse_params`), and no single frame tells a class from its partner.

Flow: seed -> :func:`sample_params` -> :func:`render_frames` (T, H, W, 3) uint8 ->
:func:`encode_video` (h264 mp4 or VP9 webm) -> annotation files (:func:`generate_dataset`).

Rendering works on numpy arrays with an explicit ``numpy.random.Generator`` (the frames are numpy
images handed to PyAV; torch would only add conversions). Each video's randomness comes from its
own seed (dataset seed, class, index), so videos do not depend on how many others are generated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

__all__ = [
    "CLASSES",
    "SyntheticClass",
    "VideoParams",
    "GENERATOR_VERSION",
    "encode_video",
    "generate_dataset",
    "mismatches",
    "partner",
    "render_frames",
    "reverse_params",
    "sample_params",
    "split_counts",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyntheticClass:
    """One class: the motion it shows and the direction it runs through it.

    ``motion`` names the pair's varying attribute; ``forward`` classes run its phase from 0 to 1,
    their partners from 1 to 0. ``template`` is the Something-Something style description.
    """

    name: str
    motion: str
    forward: bool
    template: str


# Pairs sit next to each other: class 2k and 2k + 1 are each other's reversal in time. The rotation
# pair comes last, so that ``num_classes=12`` (the main job) leaves it out: telling clockwise from
# anticlockwise needs motion related to the object's centre (no net displacement, no change in area or
# brightness), and regionvit3d_nano trained from scratch at 56 px stayed at chance on it (README).
CLASSES: tuple[SyntheticClass, ...] = (
    SyntheticClass("move_right", "move_x", True, "Moving [something] from left to right"),
    SyntheticClass("move_left", "move_x", False, "Moving [something] from right to left"),
    SyntheticClass("move_down", "move_y", True, "Moving [something] down"),
    SyntheticClass("move_up", "move_y", False, "Moving [something] up"),
    SyntheticClass("move_down_right", "move_diagonal", True, "Moving [something] diagonally down"),
    SyntheticClass("move_up_left", "move_diagonal", False, "Moving [something] diagonally up"),
    SyntheticClass("grow", "scale", True, "Making [something] bigger"),
    SyntheticClass("shrink", "scale", False, "Making [something] smaller"),
    SyntheticClass("brighten", "gain", True, "Lighting up [something]"),
    SyntheticClass("darken", "gain", False, "Dimming [something]"),
    SyntheticClass("appear", "alpha", True, "Making [something] appear"),
    SyntheticClass("disappear", "alpha", False, "Making [something] disappear"),
    SyntheticClass("rotate_cw", "rotate", True, "Turning [something] clockwise"),
    SyntheticClass("rotate_ccw", "rotate", False, "Turning [something] counterclockwise"),
)

# Bumped whenever the same arguments start to give different videos, so that a dataset generated
# by an older version is recognised (see :func:`mismatches`). 2: one contrast polarity, deeper blobs,
# a diagonal pair, rotation last.
GENERATOR_VERSION = 2

MOTIONS = ("move_x", "move_y", "move_diagonal", "scale", "gain", "alpha", "rotate")
TEXTURES = ("plain", "stripes", "checker")
FORMATS = ("kinetics", "ssv2")


def partner(class_index: int) -> int:
    """The class whose videos are this class's videos played backwards."""
    if not 0 <= class_index < len(CLASSES):
        raise ValueError(f"class index {class_index} out of range [0, {len(CLASSES)})")
    return class_index ^ 1


@dataclass(frozen=True)
class VideoParams:
    """Everything that makes one synthetic video, independent of its direction in time.

    Sizes are in pixels, colours in [0, 1], angles in radians. Each ``(start, end)`` pair is the
    value at phase 0 and phase 1; a class runs the phase forwards or backwards. ``noise_seeds``
    holds one seed per frame, in frame order, for that frame's background noise.
    """

    size: int
    num_frames: int
    shape: str  # "polygon" (straight edges) or "blob" (smooth outline)
    outline: tuple[float, ...]  # polygon: vertex radii; blob: Fourier coefficients (a_m, phase_m)
    colour: tuple[float, float, float]
    texture: str  # one of TEXTURES, drawn in the object's frame so it moves with it
    texture_freq: float  # cycles per object radius
    texture_angle: float
    texture_strength: float
    background: tuple[float, float, float]
    background_waves: tuple[tuple[float, float, float, float], ...]  # (amplitude, fx, fy, phase)
    noise_std: float
    noise_seeds: tuple[int, ...]
    x: tuple[float, float]
    y: tuple[float, float]
    radius: tuple[float, float]
    angle: tuple[float, float]
    gain: tuple[float, float]
    alpha: tuple[float, float]


def _ordered(rng: np.random.Generator, low: float, high: float) -> tuple[float, float]:
    a, b = rng.uniform(low, high, size=2)
    return float(min(a, b)), float(max(a, b))


def _span(rng: np.random.Generator, lo: float, hi: float, min_span: float, max_span: float):
    """(start, end) with start < end inside [lo, hi] and end - start in [min_span, max_span]."""
    span = rng.uniform(min_span, min(max_span, hi - lo))
    start = rng.uniform(lo, hi - span)
    return float(start), float(start + span)


def _drift(rng: np.random.Generator, centre: float, amount: float) -> tuple[float, float]:
    delta = rng.uniform(-amount, amount)
    return float(centre - delta / 2), float(centre + delta / 2)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dark background and a light object: every video has the same contrast polarity.

    With the polarity drawn at random, a moving light-on-dark edge and a dark-on-light edge
    moving the other way look alike to any single local feature, so a model learning from
    scratch sees no signal for the direction until it has built polarity-invariant motion
    detectors; the main job's model stayed near chance on every motion through its ~1,600
    steps. One polarity keeps the direction visible from the first steps and leaves colours,
    textures and sizes random.
    """
    while True:
        background = rng.uniform(0.0, 0.4, size=3)
        colour = rng.uniform(0.5, 1.0, size=3)
        if colour.mean() - background.mean() > 0.4:
            return background, colour


def sample_params(
    rng: np.random.Generator, *, motion: str, size: int = 64, num_frames: int = 32
) -> VideoParams:
    """Draw one video's parameters for a pair's ``motion`` (see :data:`MOTIONS`).

    The named motion varies strongly; the other attributes stay still or drift a little, as
    nuisances every class shares. The distribution is the same under reversal of time.
    """
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; expected one of {MOTIONS}")
    if size < 16 or num_frames < 2:
        raise ValueError(f"size must be >= 16 and num_frames >= 2, got {size} and {num_frames}")
    s = float(size)
    shape = "polygon" if rng.random() < 0.5 else "blob"
    if shape == "polygon":
        outline = tuple(float(r) for r in rng.uniform(0.45, 1.0, size=int(rng.integers(3, 8))))
    else:
        orders = int(rng.integers(2, 5))
        # Lobes deep enough that a turning blob is seen to turn (a near-round one is not).
        outline = tuple(float(v) for m in range(orders)
                        for v in (rng.uniform(0.18, 0.3) / (m + 1), rng.uniform(0, 2 * np.pi)))
    background, colour = _colour_pair(rng)

    # The big object of "scale" needs room; keep every object inside the frame.
    radius = _span(rng, 0.06 * s, 0.3 * s, 0.15 * s, 0.22 * s) if motion == "scale" else (
        _drift(rng, rng.uniform(0.13, 0.2) * s, 0.02 * s))
    margin = max(radius) + 1.0
    x = _span(rng, margin, s - margin, 0.4 * s, 0.6 * s) if motion in ("move_x", "move_diagonal") else (
        _drift(rng, rng.uniform(margin + 0.04 * s, s - margin - 0.04 * s), 0.08 * s))
    y = _span(rng, margin, s - margin, 0.4 * s, 0.6 * s) if motion in ("move_y", "move_diagonal") else (
        _drift(rng, rng.uniform(margin + 0.04 * s, s - margin - 0.04 * s), 0.08 * s))
    start_angle = rng.uniform(0, 2 * np.pi)
    turn = rng.uniform(0.75, 1.25) * np.pi if motion == "rotate" else rng.uniform(-0.15, 0.15)
    angle = (float(start_angle), float(start_angle + turn))
    gain = (float(rng.uniform(0.15, 0.3)), float(rng.uniform(0.9, 1.0))) if motion == "gain" else (
        (1.0, 1.0))
    alpha = (float(rng.uniform(0.0, 0.1)), float(rng.uniform(0.9, 1.0))) if motion == "alpha" else (
        (1.0, 1.0))

    waves = tuple((float(rng.uniform(0.02, 0.1)), float(rng.uniform(-3, 3)),
                   float(rng.uniform(-3, 3)), float(rng.uniform(0, 2 * np.pi)))
                  for _ in range(3))
    return VideoParams(
        size=size, num_frames=num_frames, shape=shape, outline=outline,
        colour=tuple(float(c) for c in colour),
        texture=TEXTURES[int(rng.integers(len(TEXTURES)))],
        texture_freq=float(rng.uniform(0.8, 2.0)), texture_angle=float(rng.uniform(0, np.pi)),
        texture_strength=float(rng.uniform(0.15, 0.35)),
        background=tuple(float(c) for c in background), background_waves=waves,
        noise_std=float(rng.uniform(0.01, 0.04)),
        noise_seeds=tuple(int(v) for v in rng.integers(0, 2**31, size=num_frames)),
        x=x, y=y, radius=radius, angle=angle, gain=gain, alpha=alpha,
    )


def reverse_params(class_index: int, params: VideoParams) -> tuple[int, VideoParams]:
    """The (class, params) whose video is this one played backwards.

    The partner class runs the same motion the other way; only the per-frame noise has to be
    put in reverse order.
    """
    return partner(class_index), dataclasses.replace(params, noise_seeds=params.noise_seeds[::-1])


def _outline_radius(params: VideoParams, phi: np.ndarray) -> np.ndarray:
    """Outline radius (in object radii) at polar angle ``phi``: a star-shaped polygon or blob."""
    if params.shape == "blob":
        coeffs = np.asarray(params.outline).reshape(-1, 2)
        out = np.ones_like(phi)
        for m, (amplitude, phase) in enumerate(coeffs, start=2):
            out += amplitude * np.cos(m * phi + phase)
        return out
    radii = np.asarray(params.outline)
    n = len(radii)
    step = 2 * np.pi / n
    t = np.mod(phi, 2 * np.pi) / step
    j = np.floor(t).astype(int) % n
    r0, r1 = radii[j], radii[(j + 1) % n]
    a = (t - np.floor(t)) * step  # angle past vertex j
    # Straight edge from (r0, 0) to (r1, step) met by the ray at angle a.
    return r0 * r1 * np.sin(step) / (r0 * np.sin(a) + r1 * np.sin(step - a))


def _texture(params: VideoParams, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Texture value in [0, 1] at object coordinates (u, v), in object radii."""
    if params.texture == "plain":
        return np.zeros_like(u)
    w = 2 * np.pi * params.texture_freq
    c, s = np.cos(params.texture_angle), np.sin(params.texture_angle)
    a, b = c * u + s * v, -s * u + c * v
    if params.texture == "stripes":
        return 0.5 + 0.5 * np.sin(w * a)
    return 0.5 + 0.5 * np.tanh(4 * np.sin(w * a) * np.sin(w * b))


def _background(params: VideoParams, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """The still background, (H, W, 3) float in [0, 1] before noise."""
    field = np.zeros_like(xx)
    for amplitude, fx, fy, phase in params.background_waves:
        field += amplitude * np.sin(2 * np.pi * (fx * xx + fy * yy) / params.size + phase)
    return np.asarray(params.background)[None, None, :] + field[..., None]


def _lerp(pair: tuple[float, float], phase: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * phase


def _render_frame(params: VideoParams, phase: float, noise_seed: int,
                  xx: np.ndarray, yy: np.ndarray, background: np.ndarray) -> np.ndarray:
    """One frame at ``phase`` in [0, 1], (H, W, 3) uint8."""
    radius = _lerp(params.radius, phase)
    angle = _lerp(params.angle, phase)
    dx, dy = xx - _lerp(params.x, phase), yy - _lerp(params.y, phase)
    # Object coordinates: undo the rotation (positive angles turn clockwise on screen, y down).
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * dx + s * dy) / radius, (-s * dx + c * dy) / radius
    rho, phi = np.hypot(u, v), np.arctan2(v, u)
    # One-pixel soft edge against aliasing.
    coverage = np.clip((_outline_radius(params, phi) - rho) * radius + 0.5, 0.0, 1.0)
    coverage *= _lerp(params.alpha, phase)
    shade = 1.0 - params.texture_strength * _texture(params, u, v)
    obj = np.asarray(params.colour)[None, None, :] * shade[..., None]
    frame = background * (1.0 - coverage[..., None]) + obj * coverage[..., None]
    frame *= _lerp(params.gain, phase)
    noise = np.random.default_rng(noise_seed).normal(0.0, params.noise_std, size=frame.shape)
    return np.clip(np.rint((frame + noise) * 255.0), 0, 255).astype(np.uint8)


def render_frames(class_index: int, params: VideoParams) -> np.ndarray:
    """The frames of a video of class ``class_index``, (T, H, W, 3) uint8 RGB.

    A pure function of its arguments: frame k shows the motion at phase k / (T - 1) (forward
    classes) or (T - 1 - k) / (T - 1) (their partners), with the noise of ``noise_seeds[k]``.
    """
    cls = CLASSES[class_index]
    grid = np.arange(params.size, dtype=np.float64) + 0.5
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    background = _background(params, xx, yy)
    last = params.num_frames - 1
    frames = np.empty((params.num_frames, params.size, params.size, 3), dtype=np.uint8)
    for k in range(params.num_frames):
        # Integer step first, so a class and its reversed partner compute bit-identical phases.
        step = k if cls.forward else last - k
        frames[k] = _render_frame(params, step / last, params.noise_seeds[k], xx, yy, background)
    return frames


# ----------------------------------------------------------------------------- encoding

# Per layout: container suffix, PyAV encoder, encoder options. One thread keeps the bitstream
# (and so the decoded frames) identical from run to run. So does keeping x264 off its AVX-512
# code, which on this stack gave a different bitstream for the same frames now and then; the
# SSE2 set is part of every x86-64 CPU, and other CPUs keep x264's own choice.
_X264_ASM = ({"x264-params": "asm=SSE2,MMX2,MMX,CMOV,SSE"}
             if platform.machine().lower() in ("x86_64", "amd64") else {})
_ENCODERS = {
    "kinetics": (".mp4", "libx264", {"preset": "veryfast", "threads": "1", **_X264_ASM}),
    "ssv2": (".webm", "libvpx-vp9", {"b": "0", "deadline": "realtime", "cpu-used": "8",
                                     "threads": "1", "row-mt": "0", "lag-in-frames": "0"}),
}


def _check_encoder(codec: str) -> None:
    import av

    try:
        av.codec.Codec(codec, "w")
    except Exception as err:  # PyAV raises UnknownCodecError or ValueError by version
        raise RuntimeError(
            f"this PyAV build ({av.__version__}) has no {codec} encoder ({err}); install a PyAV "
            "wheel built with it (the PyPI wheels have libx264 and libvpx-vp9), or generate the "
            "other layout (--format kinetics writes h264, --format ssv2 writes VP9)") from None


def encode_video(frames: np.ndarray, path: str, *, codec: str = "libx264", fps: int = 30,
                 crf: int = 20, options: dict[str, str] | None = None) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as a yuv420p video with PyAV (container from ``path``)."""
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs an even frame size, got {width}x{height}")
    # bitexact: no random container ids (matroska) or version strings, so files repeat byte for byte.
    with av.open(path, mode="w", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), **(options or {})}
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


# ----------------------------------------------------------------------------- dataset

def split_counts(videos_per_class: int, split: Sequence[float]) -> tuple[int, int, int]:
    """Videos per class in (train, val, test): val and test rounded (at least one), train the rest."""
    if len(split) != 3 or min(split) <= 0:
        raise ValueError(f"split must be three positive fractions (train, val, test), got {split}")
    total = float(sum(split))
    n_val = max(1, int(round(videos_per_class * split[1] / total)))
    n_test = max(1, int(round(videos_per_class * split[2] / total)))
    n_train = videos_per_class - n_val - n_test
    if n_train < 1:
        raise ValueError(f"videos_per_class={videos_per_class} is too few for a train, val and test "
                         f"split (fractions {tuple(split)}); use at least 3")
    return n_train, n_val, n_test


def video_rng(seed: int, class_index: int, video_index: int) -> np.random.Generator:
    """The generator of one video: independent of every other video and of the dataset size."""
    return np.random.default_rng(np.random.SeedSequence([seed, class_index, video_index]))


def _describe(params: VideoParams) -> str:
    texture = {"plain": "plain", "stripes": "striped", "checker": "checked"}[params.texture]
    return f"{texture} {params.shape}"


def _write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


class _VideoJob(NamedTuple):
    """One video of :func:`generate_dataset` (picklable, for worker processes)."""

    video_dir: str
    fmt: str
    seed: int
    class_index: int
    video_index: int
    videos_per_class: int
    size: int
    num_frames: int
    fps: int
    crf: int


def _write_video(job: _VideoJob) -> tuple[str, VideoParams]:
    """Render and encode one video; returns its path relative to ``video_dir`` and its parameters."""
    suffix, codec, options = _ENCODERS[job.fmt]
    cls = CLASSES[job.class_index]
    params = sample_params(video_rng(job.seed, job.class_index, job.video_index), motion=cls.motion,
                           size=job.size, num_frames=job.num_frames)
    if job.fmt == "kinetics":
        rel = os.path.join(cls.name, f"{cls.name}_{job.video_index:04d}{suffix}")
    else:
        rel = f"{job.class_index * job.videos_per_class + job.video_index + 1}{suffix}"
    encode_video(render_frames(job.class_index, params), os.path.join(job.video_dir, rel),
                 codec=codec, fps=job.fps, crf=job.crf, options=options)
    return rel, params


@contextlib.contextmanager
def _pool(workers: int):
    """A process pool of ``workers`` processes, or None to work in this process (``workers <= 1``)."""
    if workers <= 1:
        yield None
        return
    import multiprocessing

    # spawn, not fork: the caller may hold threads (torch, data loaders) that fork would copy mid-state
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield pool


def generate_dataset(
    out_dir: str,
    fmt: str = "kinetics",
    seed: int = 0,
    videos_per_class: int = 60,
    *,
    size: int = 64,
    num_frames: int = 32,
    fps: int = 30,
    crf: int = 20,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    num_classes: int = len(CLASSES),
    progress: bool = False,
    workers: int = 1,
) -> dict:
    """Write a ready synthetic dataset under ``out_dir`` and return a summary dict.

    ``fmt="kinetics"``: ``{train,val,test}.csv`` (SlowFast ``relative/path.mp4 label`` lines),
    ``classnames.json`` (name -> index) and h264 videos ``videos/<class>/<class>_<i>.mp4``.
    ``fmt="ssv2"``: ``something-something-v2-labels.json`` (template -> index as a string),
    ``something-something-v2-{train,validation,test}.json`` (id, label, template, placeholders;
    the test file keeps its labels, unlike the released one), ``classnames.json`` and VP9 videos
    ``videos/<id>.webm``. Point ``DATA.PATH_TO_DATA_DIR`` at ``out_dir`` and
    ``DATA.PATH_PREFIX`` at ``out_dir/videos``.

    The same arguments give the same files (and the same decoded frames), whatever ``workers``
    (processes that render and encode in parallel; 1 works in this process). ``num_classes``
    (even, at most 14) keeps the first pairs only: 12 for the main job, fewer for tiny test datasets.
    """
    from tqdm import tqdm

    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of {FORMATS}")
    if num_classes % 2 or not 2 <= num_classes <= len(CLASSES):
        raise ValueError(f"num_classes must be even and in [2, {len(CLASSES)}], got {num_classes}")
    if size % 2 or size < 16:
        raise ValueError(f"size must be even and >= 16 (yuv420p), got {size}")
    counts = split_counts(videos_per_class, split)
    _check_encoder(_ENCODERS[fmt][1])
    video_dir = os.path.join(out_dir, "videos")
    os.makedirs(video_dir, exist_ok=True)
    if fmt == "kinetics":
        for cls in CLASSES[:num_classes]:
            os.makedirs(os.path.join(video_dir, cls.name), exist_ok=True)

    split_names = ("train", "val", "test")
    rows: dict[str, list[tuple[str, int, VideoParams]]] = {name: [] for name in split_names}
    jobs = [_VideoJob(video_dir, fmt, seed, c, i, videos_per_class, size, num_frames, fps, crf)
            for c in range(num_classes) for i in range(videos_per_class)]
    with _pool(workers) as pool:
        # imap keeps the job order, so the annotation files do not depend on the worker count
        done = pool.imap(_write_video, jobs, chunksize=8) if pool else map(_write_video, jobs)
        done = tqdm(done, total=len(jobs), desc=f"synthetic {fmt}", unit="video", disable=not progress)
        for job, (rel, params) in zip(jobs, done):
            split_name = split_names[int(np.searchsorted(np.cumsum(counts), job.video_index, "right"))]
            rows[split_name].append((rel, job.class_index, params))

    names = [cls.name for cls in CLASSES[:num_classes]]
    _write_json(os.path.join(out_dir, "classnames.json"), {n: i for i, n in enumerate(names)})
    if fmt == "kinetics":
        _write_kinetics(out_dir, rows)
    else:
        _write_ssv2(out_dir, rows, num_classes)
    summary = {"generator_version": GENERATOR_VERSION, "format": fmt, "seed": seed,
               "videos_per_class": videos_per_class,
               "class_names": names, "num_videos": {k: len(v) for k, v in rows.items()},
               "size": size, "num_frames": num_frames, "fps": fps, "crf": crf}
    _write_json(os.path.join(out_dir, "synthetic.json"), summary)
    logger.info("wrote synthetic %s dataset to %s: %s", fmt, out_dir, summary["num_videos"])
    return summary


def mismatches(out_dir: str, **expected) -> list[str]:
    """How the dataset in ``out_dir`` differs from what :func:`generate_dataset` would write now.

    ``expected`` holds summary fields (``format``, ``seed``, ``videos_per_class``, ``size``,
    ``num_frames``, ``num_classes``); the generator version is always compared. Returns one
    ``"field: found X, expected Y"`` line per difference, or a single line when ``out_dir`` has no
    readable ``synthetic.json``; an empty list means the dataset is what these arguments give.
    """
    path = os.path.join(out_dir, "synthetic.json")
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError) as err:
        return [f"{path}: no generator summary ({err})"]
    if not isinstance(summary, dict):
        return [f"{path}: not a generator summary"]
    found = dict(summary, num_classes=len(summary.get("class_names", [])))
    expected = dict(expected, generator_version=GENERATOR_VERSION)
    return [f"{key}: found {found.get(key)!r}, expected {value!r}"
            for key, value in expected.items() if found.get(key) != value]


def _write_kinetics(out_dir: str, rows: dict[str, list[tuple[str, int, VideoParams]]]) -> None:
    for split_name, entries in rows.items():
        with open(os.path.join(out_dir, f"{split_name}.csv"), "w") as f:
            f.writelines(f"{rel} {label}\n" for rel, label, _ in entries)


def _write_ssv2(out_dir: str, rows: dict[str, list[tuple[str, int, VideoParams]]],
                num_classes: int) -> None:
    def bare(template: str) -> str:  # the released labels file drops the brackets
        return template.replace("[", "").replace("]", "")

    labels = {bare(cls.template): str(i) for i, cls in enumerate(CLASSES[:num_classes])}
    _write_json(os.path.join(out_dir, "something-something-v2-labels.json"), labels)
    files = {"train": "train", "val": "validation", "test": "test"}
    for split_name, entries in rows.items():
        items = []
        for rel, label, params in entries:
            template, thing = CLASSES[label].template, _describe(params)
            text = template.replace("[something]", thing)
            items.append({"id": os.path.splitext(rel)[0], "label": text[0].lower() + text[1:],
                          "template": template, "placeholders": [thing]})
        _write_json(os.path.join(out_dir, f"something-something-v2-{files[split_name]}.json"), items)
