"""The built-in synthetic action dataset: classes that only time order tells apart.

Every class belongs to a pair whose two members are each other's reversal in time (moving
left / moving right, growing / shrinking, ...). A video is drawn from direction-free parameters
(:class:`VideoParams`: a random shape, colour, texture, background, noise, start and end values of
its motion); its class only decides whether the motion runs forwards or backwards through them.
So the frames of a video of one class, played backwards, are exactly the frames of a video of its
partner class (:func:`reverse_params`), and no single frame tells a class from its partner.

One module per job, in the order of the flow: :mod:`.classes` (the catalogue) ->
:mod:`.params` (seed -> :class:`VideoParams`) -> :mod:`.render` ((T, H, W, 3) uint8 frames) ->
:mod:`.encode` (h264 mp4 or VP9 webm) -> :mod:`.generate` (a dataset on disk, its annotation
files written by the dataset layout, :mod:`videoregion.data.layouts`); :mod:`.build` turns the
config into a dataset (``SYNTHETIC.*``).

Rendering works on numpy arrays with an explicit ``numpy.random.Generator`` (the frames are numpy
images handed to PyAV; torch would only add conversions). Each video's randomness comes from its
own seed (dataset seed, class, index), so videos do not depend on how many others are generated.
"""

from .classes import CLASSES, MOTIONS, SyntheticClass, partner
from .encode import encode_video
from .generate import FORMATS, GENERATOR_VERSION, generate_dataset, mismatches, split_counts
from .params import TEXTURES, VideoParams, reverse_params, sample_params, video_rng
from .render import render_frames

__all__ = [
    "CLASSES",
    "FORMATS",
    "GENERATOR_VERSION",
    "MOTIONS",
    "TEXTURES",
    "SyntheticClass",
    "VideoParams",
    "encode_video",
    "generate_dataset",
    "mismatches",
    "partner",
    "render_frames",
    "reverse_params",
    "sample_params",
    "split_counts",
    "video_rng",
]
