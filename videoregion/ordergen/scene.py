"""What a video shows, as data: a backdrop, sprites and a camera, each moving from a start to an end.

Nothing here knows a class or a direction in time. Every moving attribute is a ``(start, end)``
pair, the value at phase 0 and at phase 1; the renderer (:mod:`.render`) draws the scene at each
phase, and a class only decides the order in which the phases are shown. Lengths are in pixels of
the world (which the camera maps onto the screen), angles in radians (y points down, so a growing
angle turns clockwise on screen), colours RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLOCKS", "ROLES", "Backdrop", "Camera", "Pair", "Point", "RGB", "Sprite", "Timing", "VideoParams"]

Pair = tuple[float, float]  # (at phase 0, at phase 1)
Point = tuple[float, float]  # (x, y)
RGB = tuple[float, float, float]

# Which clock a sprite follows: the action's eased phase, or plain time (distractors keep moving
# while the action pauses).
CLOCKS = ("action", "time")
# What a sprite is for: the action itself, something that moves at random, or still scenery.
ROLES = ("actor", "distractor", "scenery")


@dataclass(frozen=True)
class Backdrop:
    """Smooth value noise between two colours, fixed in the world.

    ``cell``: the lattice spacing in pixels; ``detail``: weight of a second, 2.7 times finer octave;
    ``seed`` draws the lattice values.
    """

    low: RGB
    high: RGB
    cell: float
    detail: float
    seed: int


@dataclass(frozen=True)
class Sprite:
    """One shape (:data:`~.shapes.SHAPES`) in the world.

    Its centre is ``pivot + arm * (cos angle, sin angle)``, so a sprite can slide (``pivot``),
    swing about a fixed point (``angle``) or move along a line through one (``arm``). ``orient``
    turns the shape about its own centre; ``half_size`` is its (half width, half height) before
    that turn. ``stripes`` = (period in pixels, strength in [0, 1], angle) shades it in its own
    frame, so stripes turn with it; strength 0 is plain.
    """

    kind: str
    colour: RGB
    role: str
    clock: str
    pivot: tuple[Point, Point]
    arm: Pair
    angle: Pair
    orient: Pair
    half_size: tuple[Point, Point]
    stripes: tuple[float, float, float] = (4.0, 0.0, 0.0)


@dataclass(frozen=True)
class Camera:
    """World point seen at each screen pixel: ``focus + (screen - focus) / zoom + pan``.

    ``log_zoom``: natural log of the magnification; ``pan``: the world offset of the view.
    """

    focus: Point
    log_zoom: Pair
    pan: tuple[Point, Point]


@dataclass(frozen=True)
class Timing:
    """How the action's phase runs through the video (plain time ``t`` in [0, 1]).

    The action runs between ``start`` and ``end`` (it holds still before and after); in between,
    ``ease`` (in [-0.5, 0.5]) speeds it up or slows it down over its course and ``surge`` (in
    [-0.5, 0.5]) makes it faster (or slower) at both ends than in the middle. Both keep the phase
    increasing, and every profile is as likely as its reversal in time.
    """

    start: float
    end: float
    ease: float
    surge: float


@dataclass(frozen=True)
class VideoParams:
    """Everything that makes one video, independent of its direction in time.

    ``sprites`` are drawn in order over the backdrop. ``noise_seed`` draws the per-frame pixel noise
    (``noise_std``) and brightness flicker (``flicker_std``), in phase order, so that a video and its
    reversal carry the same noise frame for frame.
    """

    size: int
    num_frames: int
    action: str
    backdrop: Backdrop
    sprites: tuple[Sprite, ...]
    camera: Camera
    timing: Timing
    noise_std: float
    flicker_std: float
    noise_seed: int
