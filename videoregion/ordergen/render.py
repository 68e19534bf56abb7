"""Rendering: a class and its parameters -> the frames of its video, a pure function.

The frames are drawn once in phase order (:func:`render_phases`, vectorised over time: every array
is (T, H, W) or broadcasts to it); a class then shows them forwards or backwards. So a class's video
played backwards is its partner's video, bit for bit, by construction.
"""

from __future__ import annotations

import numpy as np

from .classes import CLASSES
from .scene import Backdrop, Camera, Pair, Sprite, Timing, VideoParams
from .shapes import EXACT, WALL, distance

__all__ = ["action_phase", "render_frames", "render_phases", "sprite_centres"]

# The backdrop's lattice covers the world from -EXTENT to 1 + EXTENT frame sizes, enough for any pan.
EXTENT = 1.5
DETAIL_SCALE = 2.7  # the second octave's lattice is this much finer


def action_phase(timing: Timing, t: np.ndarray) -> np.ndarray:
    """The action's phase in [0, 1] at plain times ``t`` in [0, 1] (see :class:`~.scene.Timing`)."""
    g = np.clip((t - timing.start) / (timing.end - timing.start), 0.0, 1.0)
    return g + timing.ease * g * (1.0 - g) + timing.surge * np.sin(2 * np.pi * g) / (2 * np.pi)


def _track(pair: Pair, phase: np.ndarray) -> np.ndarray | float:
    """``pair`` interpolated at ``phase`` (T, 1, 1); a plain float when it does not move, so that
    still things are drawn once for all frames."""
    start, end = pair
    return float(start) if start == end else start + (end - start) * phase


def _world(camera: Camera, phase: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | float]:
    """World x of each pixel column (T, 1, W), world y of each pixel row (T, H, 1), and the zoom
    (T, 1, 1); a still camera gives 1 for T. The camera does not turn, so x depends on the column
    only and y on the row only."""
    grid = np.arange(size, dtype=np.float64) + 0.5
    zoom = np.exp(_track(camera.log_zoom, phase))
    (x0, y0), (x1, y1) = camera.pan
    fx, fy = camera.focus
    wx = fx + (grid[None, None, :] - fx) / zoom + _track((x0, x1), phase)
    wy = fy + (grid[None, :, None] - fy) / zoom + _track((y0, y1), phase)
    return wx, wy, zoom


def _lattice(rng: np.random.Generator, cell: float, size: int) -> tuple[np.ndarray, float]:
    """Random values on a lattice of spacing ``cell`` over the world, and the world x (= y) of node 0."""
    origin = -EXTENT * size
    nodes = int(np.ceil((1 + 2 * EXTENT) * size / cell)) + 2
    return rng.random((nodes, nodes)), origin


def _value_noise(values: np.ndarray, origin: float, cell: float, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
    """Lattice ``values`` interpolated smoothly at the world columns ``wx`` (T, 1, W) and rows ``wy``
    (T, H, 1): (T, H, W) in [0, 1]. Separable: between lattice rows first, then between columns."""
    gx = np.clip((wx - origin) / cell, 0.0, values.shape[1] - 1.001)
    gy = np.clip((wy - origin) / cell, 0.0, values.shape[0] - 1.001)
    ix, iy = gx.astype(np.int64), gy.astype(np.int64)
    fx, fy = gx - ix, gy - iy
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)  # smoothstep: no creases at lattice lines
    first = int(ix.min())
    values = values[:, first : int(ix.max()) + 2]  # the lattice columns in view
    above, below = values[iy[..., 0]], values[iy[..., 0] + 1]  # (T, H, columns)
    frames = max(wx.shape[0], wy.shape[0])  # a pan along x alone moves the columns only
    rows = np.broadcast_to(above + (below - above) * fy, (frames,) + above.shape[1:])
    columns = np.broadcast_to(ix - first, (frames, rows.shape[1], ix.shape[2]))
    left = np.take_along_axis(rows, columns, axis=2)
    right = np.take_along_axis(rows, columns + 1, axis=2)
    return left + (right - left) * fx


def _backdrop(backdrop: Backdrop, size: int, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
    """The backdrop's colours at world points, (..., 3)."""
    rng = np.random.default_rng(backdrop.seed)
    coarse = _value_noise(*_lattice(rng, backdrop.cell, size), backdrop.cell, wx, wy)
    fine_cell = backdrop.cell / DETAIL_SCALE
    fine = _value_noise(*_lattice(rng, fine_cell, size), fine_cell, wx, wy)
    mix = ((1 - backdrop.detail) * coarse + backdrop.detail * fine)[..., None]
    low, high = np.asarray(backdrop.low), np.asarray(backdrop.high)
    return low + (high - low) * mix


def _centre(sprite: Sprite, phase: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
    (px0, py0), (px1, py1) = sprite.pivot
    arm, angle = _track(sprite.arm, phase), _track(sprite.angle, phase)
    return (_track((px0, px1), phase) + arm * np.cos(angle), _track((py0, py1), phase) + arm * np.sin(angle))


def _layer(sprite: Sprite, phase: np.ndarray, wx: np.ndarray, wy: np.ndarray,
           zoom: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """The sprite's coverage in [0, 1] (T or 1, H, W) and its colour there (..., 3)."""
    cx, cy = _centre(sprite, phase)
    orient = _track(sprite.orient, phase)
    c, s = np.cos(orient), np.sin(orient)
    dx, dy = wx - cx, wy - cy
    u, v = c * dx + s * dy, -s * dx + c * dy  # into the sprite's frame
    (a0, b0), (a1, b1) = sprite.half_size
    d = distance(sprite.kind, u, v, _track((a0, a1), phase), _track((b0, b1), phase))
    coverage = np.clip(0.5 - d * zoom, 0.0, 1.0)  # one screen pixel of soft edge
    period, strength, stripe_angle = sprite.stripes
    colour = np.asarray(sprite.colour)
    if strength == 0.0:
        return coverage, colour
    wave = np.sin(2 * np.pi * (u * np.cos(stripe_angle) + v * np.sin(stripe_angle)) / period)
    return coverage, colour * (1.0 - strength * (0.5 + 0.5 * wave))[..., None]


def _clocks(params: VideoParams) -> dict[str, np.ndarray]:
    """Each clock's phase per frame, in phase order, (T,)."""
    t = np.arange(params.num_frames, dtype=np.float64) / (params.num_frames - 1)
    return {"action": action_phase(params.timing, t), "time": t}


def _on_screen(sprite: Sprite, camera: Camera, clocks: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The sprite's centre on screen per frame, x and y (T,)."""
    cx, cy = _centre(sprite, clocks[sprite.clock])
    zoom = np.exp(_track(camera.log_zoom, clocks["action"]))
    (x0, y0), (x1, y1) = camera.pan
    fx, fy = camera.focus
    sx = fx + (cx - _track((x0, x1), clocks["action"]) - fx) * zoom  # the camera inverted
    sy = fy + (cy - _track((y0, y1), clocks["action"]) - fy) * zoom
    t = clocks["time"]
    return np.broadcast_to(sx, t.shape), np.broadcast_to(sy, t.shape)


def _box(sprite: Sprite, camera: Camera, clocks: dict[str, np.ndarray], size: int) -> tuple[slice, ...] | None:
    """(frames, rows, columns) that can hold some of the sprite's coverage, None when it stays off screen.

    A bound on where its distance is below half a screen pixel: the centre plus the half diagonal, and
    for the shapes whose distance is an estimate (:data:`~.shapes.EXACT`), the estimate's worst error.
    """
    sx, sy = _on_screen(sprite, camera, clocks)
    zoom = np.broadcast_to(np.exp(_track(camera.log_zoom, clocks["action"])), sx.shape)
    a, b = (max(sprite.half_size[0][k], sprite.half_size[1][k]) + (2 * WALL if sprite.kind == "cup" else 0.0)
            for k in (0, 1))
    smallest = min(min(h) for h in sprite.half_size)
    diagonal = float(np.hypot(a, b))
    slack = 1.0 if sprite.kind in EXACT else 1.0 + 0.5 * diagonal / max(smallest, 1e-6)
    reach = diagonal * zoom + slack  # (T,)
    seen = (sx + reach > 0) & (sx - reach < size) & (sy + reach > 0) & (sy - reach < size)
    if not seen.any():
        return None
    frames = np.flatnonzero(seen)
    t0, t1 = int(frames[0]), int(frames[-1]) + 1
    part = slice(t0, t1)

    def span(centre: np.ndarray) -> slice:
        lo = int(np.floor(np.min(centre[part] - reach[part])))
        hi = int(np.ceil(np.max(centre[part] + reach[part])))
        return slice(max(lo, 0), min(hi, size))

    return part, span(sy), span(sx)


def _frames_of(values: np.ndarray | float, frames: slice) -> np.ndarray | float:
    """``values`` (T, ...) restricted to ``frames``; still values (a float or a length-1 axis) as they are."""
    if np.ndim(values) == 0 or np.shape(values)[0] == 1:
        return values
    return values[frames]


def render_phases(params: VideoParams, *, cull: bool = True) -> np.ndarray:
    """The video's frames in phase order (the forward class's video), (T, H, W, 3) uint8 RGB.

    ``cull``: draw each sprite only in the frames and the box of pixels it can reach, which gives the
    same frames (a sprite's coverage is exactly 0 elsewhere) several times faster.
    """
    size, num_frames = params.size, params.num_frames
    clocks = _clocks(params)
    phases = {name: phase[:, None, None] for name, phase in clocks.items()}  # (T, 1, 1)
    wx, wy, zoom = _world(params.camera, phases["action"], size)
    image = np.array(np.broadcast_to(_backdrop(params.backdrop, size, wx, wy), (num_frames, size, size, 3)))
    everywhere = (slice(0, num_frames), slice(0, size), slice(0, size))
    for sprite in params.sprites:
        box = _box(sprite, params.camera, clocks, size) if cull else everywhere
        if box is None:
            continue
        frames, rows, columns = box
        region = image[frames, rows, columns]  # a view: drawn in place
        coverage, colour = _layer(sprite, phases[sprite.clock][frames], _frames_of(wx, frames)[:, :, columns],
                                  _frames_of(wy, frames)[:, rows, :], _frames_of(zoom, frames))
        region += coverage[..., None] * (colour - region)
    rng = np.random.default_rng(params.noise_seed)
    flicker = 1.0 + params.flicker_std * rng.standard_normal((num_frames, 1, 1, 1))
    noise = params.noise_std * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(np.rint((image * flicker + noise) * 255.0), 0, 255).astype(np.uint8)


def render_frames(class_index: int, params: VideoParams) -> np.ndarray:
    """The frames of a video of class ``class_index``, (T, H, W, 3) uint8 RGB: the phases in order
    for forward classes, reversed for their partners."""
    frames = render_phases(params)
    return frames if CLASSES[class_index].forward else frames[::-1].copy()


def sprite_centres(params: VideoParams, role: str = "actor") -> np.ndarray:
    """Screen positions of the sprites of ``role`` in phase order, (T, N, 2) as (x, y) pixels."""
    clocks = _clocks(params)
    centres = [np.stack(_on_screen(s, params.camera, clocks), axis=-1) for s in params.sprites if s.role == role]
    return np.stack(centres, axis=1) if centres else np.zeros((params.num_frames, 0, 2))
