"""What the model sees: dataset clips after decoding and augmentation, as a picture or an animation.

    items = sample_items(dataset, num=8, seed=0)          # items as training loads them
    shown = shown_clips(items, dataset.class_names)       # or batch_transform=...: the model input
    written = write_browse(shown, "clips.png")            # rows = clips, columns = frames
    written = write_browse(shown, "clips.gif", fps=8)     # .gif / .mp4: a grid of tiles, each playing its clip

The clips are the dataset's uint8 items: the decoder's scaling, the sampler, and the crops, flips
and RandAugment of the split's transform (with repeated augmentation, each of a video's K clips
is a row). With a batch transform the normalised (in training, mixed) model input is brought back
to pixels by :func:`~.batch.denormalize`, and mixed labels show with their weights. Each clip's
caption (class name, label, path) is drawn in a band above its frames, so a tile's pixels are the
clip's own. PIL draws the text and writes PNG and GIF; PyAV writes MP4 (h264, yuv420p).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from videoregion.errors import ConfigError, DataError, OutputError

from .batch import BatchTransform, denormalize
from .dataset import VideoDataset
from .loader import collate_items

__all__ = ["FORMATS", "ShownClip", "Written", "check_output", "render_animation", "render_grid", "sample_items",
           "shown_clips", "write_browse"]

FORMATS = (".png", ".gif", ".mp4")
GAP = 2  # pixels between tiles and around the sheet
CAPTION_WIDTH = 160  # least width of an animation's grid cell, so that small clips' captions stay legible
BACKGROUND = (32, 32, 32)
TEXT = (255, 255, 255)


@dataclass(frozen=True)
class ShownClip:
    """One clip as the model sees it, ``clip`` (C, T, H, W) uint8, and its caption lines."""

    clip: torch.Tensor
    caption: tuple[str, ...]


@dataclass(frozen=True)
class Written:
    """A written sheet: its size, its frames (1 for a PNG) and, per clip, the (top, left) pixel of
    each of its tiles (a PNG: one tile per frame; an animation: one tile)."""

    path: str
    height: int
    width: int
    num_frames: int
    tiles: list[list[tuple[int, int]]]


def check_output(path: str) -> None:
    """A ConfigError for a suffix other than :data:`FORMATS`, an OutputError for a folder that
    cannot be made or written (checked before any clip is decoded)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ConfigError(f"{path}: cannot write {ext or 'a file without a suffix'}; use one of {', '.join(FORMATS)}")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot create its folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{path}: its folder {folder} is not writable")


def sample_items(dataset: VideoDataset, num: int, seed: int) -> list[dict]:
    """``num`` distinct items (all when there are fewer) chosen by ``seed``, each loaded as in epoch
    ``seed`` (so with that epoch's augmentation draws). Items whose video failed have no clip."""
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:num]
    return [dataset[(int(index), seed)] for index in order]


def _label_text(target: torch.Tensor, class_names: list[str]) -> str:
    """An int label as ``name (index)``; soft targets (mixup, smoothing) as the top two with weights."""
    if not target.is_floating_point():
        return f"{class_names[int(target)]} ({int(target)})"
    weights, indices = target.float().topk(min(2, target.numel()))
    return " + ".join(f"{class_names[int(i)]} {float(w):.2f}" for w, i in zip(weights, indices))


def shown_clips(items: list[dict], class_names: list[str], batch_transform: BatchTransform | None = None,
                device: torch.device | str = "cpu") -> list[ShownClip]:
    """The loaded items' clips (one per row of their batch) with captions: label, sample, view, path.

    With ``batch_transform`` the clips are its output de-normalised with its mean and std, and the
    labels its targets (mixed in training when mixup is on).
    """
    loaded = [item for item in items if "clip" in item]
    if not loaded:
        first = next((entry for item in items for entry in item["skipped"]), None)
        raise DataError(f"none of the {len(items)} chosen clips could be read" + (f"; first: {first}" if first else ""))
    batch = collate_items(loaded)
    samples = [(k, n) for item in loaded for n in [item["clip"].shape[0] if item["clip"].dim() == 5 else 1]
               for k in range(n)]
    if batch_transform is None:
        clips, targets = batch["clip"], batch["label"]
    else:
        clips, targets = batch_transform(batch, device)
        clips = denormalize(clips, batch_transform.mean, batch_transform.std).cpu()
        targets = targets.cpu()
    shown = []
    for row, (sample, num_samples) in enumerate(samples):
        first = _label_text(targets[row], class_names)
        if num_samples > 1:
            first += f"  sample {sample + 1}/{num_samples}"
        if int(batch["view_index"][row]):
            first += f"  view {int(batch['view_index'][row])}"
        shown.append(ShownClip(clips[row], (first, batch["path"][row])))
    return shown


# ----------------------------------------------------------------------------- rendering
def _font(tile_height: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(9, min(16, tile_height // 3)))


def _band_height(font) -> int:
    """Height of a two-line caption band."""
    bottom = font.getbbox("Hg/_")[3]
    return 2 * (bottom + 3) + GAP


def _fit(font, text: str, width: int, keep_end: bool) -> str:
    """``text`` cut (with an ellipsis) to ``width`` pixels: from the left for paths, else the right."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength("…" + text if keep_end else text + "…") > width:
        text = text[1:] if keep_end else text[:-1]
    return "…" + text if keep_end else text + "…"


def _caption(draw: ImageDraw.ImageDraw, font, caption: tuple[str, ...], top: int, left: int, width: int) -> None:
    line = (_band_height(font) - GAP) // 2
    for n, text in enumerate(caption[:2]):
        draw.text((left, top + n * line), _fit(font, text, width, keep_end=n == 1), fill=TEXT, font=font)


def _clip_shape(shown: list[ShownClip]) -> tuple[int, int, int]:
    if not shown:
        raise ValueError("no clips to render")
    shapes = {tuple(s.clip.shape) for s in shown}
    if len(shapes) != 1:
        raise ValueError(f"clips of different shapes: {sorted(shapes)}")
    _, t, h, w = shapes.pop()
    return t, h, w


def _frames(clip: torch.Tensor) -> np.ndarray:
    """(C, T, H, W) uint8 -> (T, H, W, 3) numpy."""
    return clip.permute(1, 2, 3, 0).contiguous().numpy()


def render_grid(shown: list[ShownClip]) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    """One picture: a row per clip (caption band, then its T frames left to right).

    Returns the (H, W, 3) uint8 image and, per clip, the (top, left) of each frame's tile.
    """
    t, h, w = _clip_shape(shown)
    font = _font(h)
    band = _band_height(font)
    width = GAP + t * (w + GAP)
    height = GAP + len(shown) * (band + h + GAP)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    tiles = []
    for row, item in enumerate(shown):
        top = GAP + row * (band + h + GAP)
        _caption(draw, font, item.caption, top, GAP, width - 2 * GAP)
        tiles.append([(top + band, GAP + col * (w + GAP)) for col in range(t)])
    pixels = np.array(image)
    for item, boxes in zip(shown, tiles):
        for frame, (top, left) in zip(_frames(item.clip), boxes):
            pixels[top : top + h, left : left + w] = frame
    return pixels, tiles


def render_animation(shown: list[ShownClip], columns: int | None = None,
                     even: bool = False) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    """T pictures: the clips as tiles of a grid (``columns``, default about square), each tile
    showing frame t of its clip under its caption (a cell is at least :data:`CAPTION_WIDTH` wide).
    ``even``: pad the size to even numbers (yuv420p).

    Returns (T, H, W, 3) uint8 frames and, per clip, the (top, left) of its tile.
    """
    t, h, w = _clip_shape(shown)
    font = _font(h)
    band = _band_height(font)
    columns = columns or math.ceil(math.sqrt(len(shown)))
    rows = math.ceil(len(shown) / columns)
    cell = max(w, CAPTION_WIDTH)  # the tile at the cell's left, its caption across the cell
    width, height = GAP + columns * (cell + GAP), GAP + rows * (band + h + GAP)
    if even:
        width, height = width + width % 2, height + height % 2
    background = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(background)
    tiles = []
    for n, item in enumerate(shown):
        top, left = GAP + (n // columns) * (band + h + GAP), GAP + (n % columns) * (cell + GAP)
        _caption(draw, font, item.caption, top, left, cell)
        tiles.append([(top + band, left)])
    frames = np.repeat(np.array(background)[None], t, axis=0)  # (T, H, W, 3)
    for item, [(top, left)] in zip(shown, tiles):
        frames[:, top : top + h, left : left + w] = _frames(item.clip)
    return frames, tiles


def _write_mp4(frames: np.ndarray, path: str, fps: float) -> None:
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_browse(shown: list[ShownClip], path: str, fps: float = 8.0) -> Written:
    """Write the clips to ``path``: .png a grid (:func:`render_grid`), .gif / .mp4 an animation at
    ``fps`` (:func:`render_animation`)."""
    check_output(path)
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".png":
            image, tiles = render_grid(shown)
            Image.fromarray(image).save(path)
            return Written(path, image.shape[0], image.shape[1], 1, tiles)
        frames, tiles = render_animation(shown, even=ext == ".mp4")
        if ext == ".gif":
            images = [Image.fromarray(frame) for frame in frames]
            images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
        else:
            _write_mp4(frames, path, fps)
        return Written(path, frames.shape[1], frames.shape[2], len(frames), tiles)
    except (OSError, av.FFmpegError) as e:
        raise OutputError(f"{path}: cannot write ({e})") from None
