"""Rendering: a class and its parameters -> the frames of its video, a pure function."""

from __future__ import annotations

import numpy as np

from .classes import CLASSES
from .params import VideoParams

__all__ = ["render_frames"]


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
