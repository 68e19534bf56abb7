"""One video's parameters, drawn from its own seed and independent of its direction in time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from videoregion.errors import ConfigError

from .classes import MOTIONS, partner

__all__ = ["TEXTURES", "VideoParams", "reverse_params", "sample_params", "video_rng"]

TEXTURES = ("plain", "stripes", "checker")


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


def video_rng(seed: int, class_index: int, video_index: int) -> np.random.Generator:
    """The generator of one video: independent of every other video and of the dataset size."""
    return np.random.default_rng(np.random.SeedSequence([seed, class_index, video_index]))


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

    With both polarities, a light edge moving one way and a dark edge moving the other look alike
    to any single local feature, so a model learning from scratch has to build polarity-invariant
    motion detectors before it sees a direction (README, "Main job"). One polarity keeps the
    direction visible and leaves colours, textures and sizes random.
    """
    while True:
        background = rng.uniform(0.0, 0.4, size=3)
        colour = rng.uniform(0.5, 1.0, size=3)
        if colour.mean() - background.mean() > 0.4:
            return background, colour


def sample_params(
    rng: np.random.Generator, *, motion: str, size: int = 64, num_frames: int = 32
) -> VideoParams:
    """Draw one video's parameters for a pair's ``motion`` (see :data:`~.classes.MOTIONS`).

    The named motion varies strongly; the other attributes stay still or drift a little, as
    nuisances every class shares. The distribution is the same under reversal of time.
    """
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; expected one of {MOTIONS}")
    if size < 16 or num_frames < 2:
        raise ConfigError(f"size must be >= 16 and num_frames >= 2, got {size} and {num_frames}")
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
