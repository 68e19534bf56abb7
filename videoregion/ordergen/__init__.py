"""A second order-only action dataset, made independently of :mod:`videoregion.synthetic`.

It exists to test the main job's recipe on data it was not tuned for. Ten classes in five pairs,
each class its partner's exact reversal in time, so that no single frame tells them apart:
a propeller of three unequal blades turning clockwise / anticlockwise about a fixed hub, two shapes
coming together / moving apart, a container filling / draining, the camera panning right / left
over a scene of shapes, and zooming in / out of one. Every video also has a textured backdrop,
distractors drifting at random, varied colours, sizes, speeds and timing, flicker and pixel noise.

The flow, one module per step: :mod:`.classes` (the catalogue) -> :mod:`.params` (seed -> a scene
of :mod:`.scene` dataclasses, every moving attribute a (start, end) pair) -> :mod:`.render` (signed
distance :mod:`.shapes` under a camera -> (T, H, W, 3) uint8 frames, drawn in phase order and shown
forwards or backwards by the class) -> :mod:`.generate` (h264 videos, the Kinetics layout's
annotation files, a preview sheet). ``tools/make_order_dataset.py`` is the command line.

Rendering, parameters and primitives are this package's own; encoding and the annotation files come
from :mod:`videoregion.synthetic.encode` and :mod:`videoregion.data`, so the files read as any
Kinetics-layout dataset does.
"""

from .classes import ACTIONS, CLASSES, OrderClass, partner
from .generate import GENERATOR_VERSION, SUMMARY_FILE, describe, generate_dataset, write_preview
from .params import sample_params, video_rng
from .render import action_phase, render_frames, render_phases, sprite_centres
from .scene import Backdrop, Camera, Sprite, Timing, VideoParams
from .shapes import SHAPES

__all__ = [
    "ACTIONS",
    "CLASSES",
    "GENERATOR_VERSION",
    "SHAPES",
    "SUMMARY_FILE",
    "Backdrop",
    "Camera",
    "OrderClass",
    "Sprite",
    "Timing",
    "VideoParams",
    "action_phase",
    "describe",
    "generate_dataset",
    "partner",
    "render_frames",
    "render_phases",
    "sample_params",
    "sprite_centres",
    "video_rng",
    "write_preview",
]
