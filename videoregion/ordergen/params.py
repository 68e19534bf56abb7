"""One video's parameters, drawn from its own seed and independent of its direction in time.

One sampler per action (:data:`~.classes.ACTIONS`) draws the sprites that act and the camera; the
rest of the video (backdrop, scenery, distractors, timing, noise) is drawn the same way for every
action. Every moving attribute is a (start, end) pair that the class runs one way or the other, and
every draw of a distractor's path or of the timing is as likely as its reversal, so nothing but the
order of the frames tells a class from its partner.

Contrast: the sprites that act are light on a dark backdrop, one polarity for every video (with both,
our own generator's first version did not train; README, "Main job"). Camera actions move a whole
scene of shapes in colours of both polarities, and distractors take any colour.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from videoregion.errors import ConfigError

from .classes import ACTIONS
from .scene import Backdrop, Camera, Point, Sprite, Timing, VideoParams

__all__ = ["SAMPLERS", "sample_params", "video_rng"]

# Mixed into every video's seed, so that no seed gives this generator's videos the random numbers of
# another generator that seeds with (seed, class, index).
_SALT = 0x0D6E
STILL = Camera(focus=(0.0, 0.0), log_zoom=(0.0, 0.0), pan=((0.0, 0.0), (0.0, 0.0)))
SCENERY_KINDS = ("ellipse", "box", "diamond", "ring", "cross", "rect")
DISTRACTOR_KINDS = ("ellipse", "box", "diamond", "ring", "cross")
BLADE_KINDS = ("ellipse", "box", "diamond", "ring")


def video_rng(seed: int, class_index: int, video_index: int) -> np.random.Generator:
    """The generator of one video: independent of every other video and of the dataset size."""
    return np.random.default_rng(np.random.SeedSequence([_SALT, seed, class_index, video_index]))


# ----------------------------------------------------------------------------- small draws
def _rgb(values) -> tuple[float, float, float]:
    return tuple(float(c) for c in values)


def _light(rng: np.random.Generator, backdrop: Backdrop) -> tuple[float, float, float]:
    """A colour at least 0.4 brighter (channel mean) than the backdrop's brightest."""
    floor = float(np.mean(backdrop.high)) + 0.4
    while True:
        colour = rng.uniform(0.45, 1.0, size=3)
        if colour.mean() >= floor:
            return _rgb(colour)


def _stripes(rng: np.random.Generator, half: float) -> tuple[float, float, float]:
    """Plain half of the time, else stripes a fraction of the shape's size apart."""
    if rng.random() < 0.5:
        return (4.0, 0.0, 0.0)
    return (float(rng.uniform(0.6, 1.2) * half), float(rng.uniform(0.2, 0.45)), float(rng.uniform(0, math.pi)))


def _sprite(kind: str, colour, role: str, centre: Point, half: Point, facing: float = 0.0, **moving) -> Sprite:
    """A sprite at rest at ``centre``, turned by ``facing``; ``moving`` overrides any of its
    (start, end) fields, and ``clock`` or ``stripes``."""
    fields = dict(pivot=(centre, centre), arm=(0.0, 0.0), angle=(0.0, 0.0), orient=(facing, facing),
                  half_size=(half, half))
    fields.update(moving)
    return Sprite(kind=kind, colour=colour, role=role, clock=fields.pop("clock", "action"), **fields)


def _dark_backdrop(rng: np.random.Generator) -> Backdrop:
    low = rng.uniform(0.0, 0.25, size=3)
    return Backdrop(low=_rgb(low), high=_rgb(low + rng.uniform(0.03, 0.15, size=3)),
                    cell=float(rng.uniform(5.0, 16.0)), detail=float(rng.uniform(0.0, 0.5)),
                    seed=int(rng.integers(2**31)))


def _scene_backdrop(rng: np.random.Generator) -> Backdrop:
    return Backdrop(low=_rgb(rng.uniform(0.0, 0.6, size=3)), high=_rgb(rng.uniform(0.3, 1.0, size=3)),
                    cell=float(rng.uniform(4.0, 12.0)), detail=float(rng.uniform(0.2, 0.6)),
                    seed=int(rng.integers(2**31)))


def _scenery(rng: np.random.Generator, count: int, box: tuple[float, float, float, float],
             half: tuple[float, float], colour: Callable[[], tuple[float, float, float]]) -> list[Sprite]:
    """``count`` still shapes scattered over ``box`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    out = []
    for _ in range(count):
        size = rng.uniform(*half)
        out.append(_sprite(
            SCENERY_KINDS[int(rng.integers(len(SCENERY_KINDS)))], colour(), "scenery",
            (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))),
            (float(size), float(size * rng.uniform(0.5, 1.5))), facing=float(rng.uniform(0, math.pi))))
    return out


def _distractors(rng: np.random.Generator, count: int, size: float) -> list[Sprite]:
    """Small shapes of any colour drifting between two random points of the frame, looping and turning
    on the way.

    Start and end (places and facings) are drawn alike and loops and turns go either way, so a path is
    as likely as its reversal; they follow plain time, not the action's.
    """
    out = []
    for _ in range(count):
        half = float(rng.uniform(0.025, 0.05) * size)
        a, b = (tuple(float(v) for v in rng.uniform(0.1 * size, 0.9 * size, size=2)) for _ in range(2))
        angle = float(rng.uniform(0, 2 * math.pi))
        loops = float(rng.uniform(-2.0, 2.0) * math.pi)
        facing, spin = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(-math.pi, math.pi))
        out.append(_sprite(
            DISTRACTOR_KINDS[int(rng.integers(len(DISTRACTOR_KINDS)))], _rgb(rng.uniform(0, 1, size=3)),
            "distractor", a, (half, half * float(rng.uniform(0.6, 1.0))), clock="time", pivot=(a, b),
            arm=(float(rng.uniform(0, 0.08 * size)),) * 2, angle=(angle, angle + loops),
            orient=(facing, facing + spin)))
    return out


def _still_scene(rng: np.random.Generator, size: float) -> tuple[Backdrop, list[Sprite]]:
    """A dark backdrop with a few faint still shapes, for the actions of light sprites."""
    backdrop = _dark_backdrop(rng)
    base = np.asarray(backdrop.low)

    def faint():
        return _rgb(np.clip(base + rng.uniform(-0.05, 0.15, size=3), 0, 1))

    return backdrop, _scenery(rng, int(rng.integers(0, 4)), (0, 0, size, size), (0.05 * size, 0.15 * size), faint)


def _timing(rng: np.random.Generator) -> Timing:
    return Timing(start=float(rng.uniform(0.0, 0.12)), end=float(1.0 - rng.uniform(0.0, 0.12)),
                  ease=float(rng.uniform(-0.5, 0.5)), surge=float(rng.uniform(-0.5, 0.5)))


# ----------------------------------------------------------------------------- one sampler per action
# Each: (rng, frame size) -> (backdrop, sprites under the distractors, sprites over them, camera).
Drawn = tuple[Backdrop, list[Sprite], list[Sprite], Camera]


def _spin(rng: np.random.Generator, size: float) -> Drawn:
    """A propeller: three blades of clearly different sizes on arms of different lengths, turning
    rigidly by 100-150 degrees about a hub near the frame centre (no net displacement)."""
    backdrop, scenery = _still_scene(rng, size)
    hub = tuple(float(v) for v in size / 2 + rng.uniform(-0.06, 0.06, size=2) * size)
    start = float(rng.uniform(0, 2 * math.pi))
    turn = float(rng.uniform(0.55, 0.85) * math.pi)
    kind = BLADE_KINDS[int(rng.integers(len(BLADE_KINDS)))]
    halves = rng.permutation(np.array([1.0, 1.45, 1.9]) * rng.uniform(0.045, 0.06) * size)
    arms = rng.uniform(0.19, 0.3, size=3) * size
    spokes = rng.random() < 0.5
    actors = []
    for k in range(3):
        angle = start + 2 * math.pi * k / 3 + float(rng.uniform(-0.3, 0.3))
        turning = dict(angle=(angle, angle + turn), orient=(angle, angle + turn))
        if spokes:
            actors.append(_sprite("rect", _light(rng, backdrop), "actor", hub, (arms[k] / 2, 0.6),
                                  arm=(arms[k] / 2,) * 2, **turning))
        half = float(halves[k])
        actors.append(_sprite(kind, _light(rng, backdrop), "actor", hub, (half, half * float(rng.uniform(0.7, 1.0))),
                              arm=(float(arms[k]),) * 2, stripes=_stripes(rng, half), **turning))
    hub_half = float(rng.uniform(0.025, 0.04) * size)
    actors.append(_sprite("ellipse", _light(rng, backdrop), "actor", hub, (hub_half, hub_half)))
    return backdrop, scenery, actors, STILL


def _reach(centre: np.ndarray, unit: np.ndarray, half: float, size: float) -> float:
    """How far from ``centre`` along ``unit`` a shape of half size ``half`` can go and stay in the frame."""
    limits = [(size - 1 - half - centre[axis]) / unit[axis] if unit[axis] > 0
              else (centre[axis] - half - 1) / -unit[axis]
              for axis in (0, 1) if abs(unit[axis]) > 1e-9]
    return float(min(limits))


def _gather(rng: np.random.Generator, size: float) -> Drawn:
    """Two shapes on a line at any angle through a point near the centre: from far apart (up to the
    frame's edges) to touching."""
    backdrop, scenery = _still_scene(rng, size)
    while True:
        mid = size / 2 + rng.uniform(-0.1, 0.1, size=2) * size
        direction = float(rng.uniform(0, 2 * math.pi))
        unit = np.array([math.cos(direction), math.sin(direction)])
        halves = rng.uniform(0.07, 0.12, size=2) * size
        # shape 0 goes out along -unit, shape 1 along +unit
        reach = min(_reach(mid, -unit, halves[0], size), _reach(mid, unit, halves[1], size))
        far = 2 * reach * float(rng.uniform(0.8, 1.0))
        near = float(halves.sum() + rng.uniform(0.0, 0.04) * size)
        if far - near >= 0.45 * size:
            break
    actors = []
    for k, sign in ((0, -1.0), (1, 1.0)):
        kind = DISTRACTOR_KINDS[int(rng.integers(len(DISTRACTOR_KINDS)))]
        half = float(halves[k])
        spin = float(rng.uniform(-0.3, 0.3))
        orient = float(rng.uniform(0, 2 * math.pi))  # any way up at either end: stripes are not symmetric
        actors.append(_sprite(
            kind, _light(rng, backdrop), "actor", (float(mid[0]), float(mid[1])),
            (half, half * float(rng.uniform(0.75, 1.0))), arm=(sign * far / 2, sign * near / 2),
            angle=(direction, direction), orient=(orient, orient + spin), stripes=_stripes(rng, half)))
    return backdrop, scenery, actors, STILL


def _fill(rng: np.random.Generator, size: float) -> Drawn:
    """An open container whose liquid rises from near empty to near full."""
    backdrop, scenery = _still_scene(rng, size)
    a, b = float(rng.uniform(0.1, 0.2) * size), float(rng.uniform(0.28, 0.42) * size)
    cx = float(rng.uniform(a + 3, size - a - 3))
    cy = float(rng.uniform(b + 2, size - b - 4))
    low, high = float(rng.uniform(0.03, 0.15)), float(rng.uniform(0.85, 1.0))
    floor = cy + b

    def liquid_at(level: float) -> tuple[Point, Point]:
        half = level * b
        return (cx, floor - half), (a, half)

    (p0, h0), (p1, h1) = liquid_at(low), liquid_at(high)
    cup = _sprite("cup", _light(rng, backdrop), "actor", (cx, cy), (a, b))
    liquid = _sprite("rect", _light(rng, backdrop), "actor", p0, h0, pivot=(p0, p1), half_size=(h0, h1))
    return backdrop, scenery, [liquid, cup], STILL


def _world_scenery(rng: np.random.Generator, size: float, box: tuple[float, float, float, float],
                   per_area: float, half: tuple[float, float]) -> list[Sprite]:
    area = (box[2] - box[0]) * (box[3] - box[1]) / size**2
    count = int(rng.poisson(per_area * area)) + 3
    return _scenery(rng, count, box, half, lambda: _rgb(rng.uniform(0, 1, size=3)))


def _pan(rng: np.random.Generator, size: float) -> Drawn:
    """The camera slides right over a still scene by 35-60% of the frame, drifting a little up or down."""
    shift = float(rng.uniform(0.35, 0.6) * size)
    drift = float(rng.uniform(-0.06, 0.06) * size)
    dy0 = float(rng.uniform(-0.05, 0.05) * size)
    box = (-0.15 * size, -0.15 * size + min(dy0, dy0 + drift), 1.15 * size + shift,
           1.15 * size + max(dy0, dy0 + drift))
    scenery = _world_scenery(rng, size, box, float(rng.uniform(6, 14)), (0.04 * size, 0.14 * size))
    camera = Camera(focus=(size / 2, size / 2), log_zoom=(0.0, 0.0), pan=((0.0, dy0), (shift, dy0 + drift)))
    return _scene_backdrop(rng), scenery, [], camera


def _zoom(rng: np.random.Generator, size: float) -> Drawn:
    """The camera magnifies a still scene 1.7-2.5 times about a point near the centre."""
    focus = tuple(float(v) for v in size / 2 + rng.uniform(-0.12, 0.12, size=2) * size)
    box = (-0.15 * size, -0.15 * size, 1.15 * size, 1.15 * size)
    scenery = _world_scenery(rng, size, box, float(rng.uniform(8, 16)), (0.03 * size, 0.12 * size))
    camera = Camera(focus=focus, log_zoom=(0.0, float(np.log(rng.uniform(1.7, 2.5)))),
                    pan=((0.0, 0.0), (0.0, 0.0)))
    return _scene_backdrop(rng), scenery, [], camera


SAMPLERS: dict[str, Callable[[np.random.Generator, float], Drawn]] = {
    "spin": _spin, "gather": _gather, "fill": _fill, "pan": _pan, "zoom": _zoom,
}


def sample_params(rng: np.random.Generator, *, action: str, size: int = 64, num_frames: int = 32) -> VideoParams:
    """Draw one video's parameters for ``action`` (see :data:`~.classes.ACTIONS`); the class runs them
    forwards or backwards."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")
    if size < 16 or num_frames < 2:
        raise ConfigError(f"size must be >= 16 and num_frames >= 2, got {size} and {num_frames}")
    backdrop, under, over, camera = SAMPLERS[action](rng, float(size))
    distractors = _distractors(rng, int(rng.integers(1, 3)), float(size))
    return VideoParams(
        size=size, num_frames=num_frames, action=action, backdrop=backdrop,
        sprites=tuple(under + distractors + over), camera=camera, timing=_timing(rng),
        noise_std=float(rng.uniform(0.005, 0.03)), flicker_std=float(rng.uniform(0.0, 0.02)),
        noise_seed=int(rng.integers(2**31)),
    )
