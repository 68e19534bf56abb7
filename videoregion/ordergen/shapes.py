"""Shapes as signed distance functions: negative inside, positive outside, in pixels.

Each takes a point in the shape's own frame, ``(u, v)`` (arrays), and its half width ``a`` and half
height ``b`` (arrays that broadcast against them). The renderer turns a distance into coverage with
a one-pixel soft edge, so shapes stay anti-aliased at any zoom.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["EXACT", "SHAPES", "WALL", "distance"]

WALL = 0.75  # half thickness of a cup's walls, in pixels


def _ellipse(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Exact for circles; close enough near the outline of an ellipse, which is all the edge needs.
    return (np.hypot(u / a, v / b) - 1.0) * np.minimum(a, b)


def _rect(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray, r: np.ndarray | float = 0.0) -> np.ndarray:
    """A rectangle whose corners are rounded with radius ``r``."""
    qx, qy = np.abs(u) - a + r, np.abs(v) - b + r
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - r


def _box(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _rect(u, v, a, b, 0.3 * np.minimum(a, b))


def _diamond(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.abs(u) / a + np.abs(v) / b - 1.0) * (a * b / np.hypot(a, b))


def _ring(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An elliptic band from 0.45 to 1.0 of the half sizes."""
    return np.abs(np.hypot(u / a, v / b) - 0.725) * np.minimum(a, b) - 0.275 * np.minimum(a, b)


def _cross(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(_rect(u, v, a, 0.33 * b), _rect(u, v, 0.33 * a, b))


def _cup(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An open-topped container: two walls and a floor ``2 * WALL`` thick around its inside
    ``[-a, a] x [-b, b]``."""
    walls = _rect(np.abs(u) - a - WALL, v - WALL, WALL, b + WALL)  # from the rim (v = -b) to the floor's bottom
    floor = _rect(u, v - b - WALL, a + 2 * WALL, WALL)
    return np.minimum(walls, floor)


SHAPES: dict[str, Callable[..., np.ndarray]] = {
    "ellipse": _ellipse,
    "box": _box,
    "rect": _rect,
    "diamond": _diamond,
    "ring": _ring,
    "cross": _cross,
    "cup": _cup,
}


# The shapes whose distance is exact; the others' is an estimate that is right on the outline but may
# be short outside it by up to a factor of (shorter half size) / (half diagonal).
EXACT = frozenset(("box", "rect", "cross", "cup"))


def distance(kind: str, u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed distance (pixels) from ``(u, v)`` to the outline of shape ``kind``."""
    if kind not in SHAPES:
        raise ValueError(f"unknown shape {kind!r}; expected one of {sorted(SHAPES)}")
    return SHAPES[kind](u, v, a, b)
