"""What a :class:`~.predictor.Prediction` looks like: a text table, a PNG timeline, an annotated video.

    print(format_table(prediction))
    plot_timeline(prediction, "timeline.png")
    write_annotated_video(prediction, reader, "annotated.mp4", short_side=360)

The annotated video is the input, decoded again by the data pipeline's reader (scaled to
``short_side`` as it decodes), with a panel on each frame: the time and the window, then the top
labels of the window nearest in time, each over a bar as long as its score. A panel is drawn once
per window with matplotlib (Agg) and alpha-blended onto the frames with numpy.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction

import numpy as np
import torch
from tqdm import tqdm

from videoregion.data.readers import VideoReader, scaled_size
from videoregion.errors import ConfigError, OutputError

from .explain import Explanation, upsample_heat
from .predictor import Label, Prediction

__all__ = [
    "ENCODERS",
    "AnnotatedStream",
    "blend_heat",
    "format_table",
    "plot_explanations",
    "plot_timeline",
    "render_panel",
    "write_annotated_video",
]

logger = logging.getLogger(__name__)

# Output container (file extension) -> (encoder, options); all write yuv420p.
ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    ".mp4": ("libx264", {"crf": "20", "preset": "veryfast"}),
    ".mkv": ("libx264", {"crf": "20", "preset": "veryfast"}),
    ".mov": ("libx264", {"crf": "20", "preset": "veryfast"}),
    ".webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}),
    ".avi": ("mpeg4", {"qscale": "3"}),
}
PANEL_ROWS = 3  # labels drawn on the video (the table and the JSON have all top-k)
PANEL_ALPHA = 0.6  # opacity of the panel's background
HEAT_ALPHA = 0.6  # opacity of the hottest part of an explanation's heat map
HEAT_COLOURS = "inferno"


def _labels(items: list[Label]) -> str:
    return "  ".join(f"{name} {score:.3f}" for name, _, score in items)


def format_table(prediction: Prediction) -> str:
    """Per-window top-k, then the whole video's, as aligned text."""
    header = f"{'window':>6}  {'time (s)':>15}  top-{prediction.topk} (score)"
    lines = [f"{prediction.path}: {prediction.num_frames} frames, {prediction.fps:.2f} fps, "
             f"{prediction.duration:.2f} s, {len(prediction.windows)} windows", header, "-" * len(header)]
    for w, top in zip(prediction.windows, prediction.window_topk):
        lines.append(f"{w.index:>6}  {w.start:>7.2f}-{w.end:<7.2f}  {_labels(top)}")
    lines += ["", f"whole video (top-{prediction.topk}):"]
    lines += [f"  {rank}. {name:<30} {score:.3f}" for rank, (name, _, score) in enumerate(prediction.video_topk, 1)]
    return "\n".join(lines)


def plot_timeline(prediction: Prediction, path: str, max_classes: int = 6) -> None:
    """PNG: score over time (window centres) of the whole video's top classes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [w.centre for w in prediction.windows]
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    for name, index, _ in prediction.video_topk[:max_classes]:
        ax.plot(times, prediction.window_scores[:, index].numpy(), marker="o", markersize=3, label=name)
    ax.set_xlim(0, max(prediction.duration, 1e-3))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    ax.set_title(f"{os.path.basename(prediction.path)}: top classes per window", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def blend_heat(image: np.ndarray, heat: np.ndarray, alpha: float = HEAT_ALPHA) -> np.ndarray:
    """Heat (H, W) in [0, 1] over image (H, W, 3) uint8, in place: coloured, as opaque as it is hot."""
    from matplotlib import colormaps

    colours = colormaps[HEAT_COLOURS](heat)[..., :3] * 255.0
    weight = (alpha * heat)[..., None]
    image[:] = (image * (1.0 - weight) + colours * weight + 0.5).astype(np.uint8)
    return image


def plot_explanations(explanations: list[Explanation], path: str, columns: int = 8, title: str = "") -> None:
    """PNG: one row per explanation that kept its crops: up to ``columns`` frames of the clip the model
    saw, each under its heat map, the window's time and the class explained on the left."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [e for e in explanations if e.images is not None]
    if not rows:
        raise ValueError("no explanation kept its crops (explain_video(..., keep_images=...))")
    shown = min(columns, rows[0].images.shape[0])
    fig, axes = plt.subplots(len(rows), shown, figsize=(1.3 * shown + 1.6, 1.35 * len(rows) + 0.4), dpi=100,
                             squeeze=False)
    for row, e in zip(axes, rows):
        picks = np.linspace(0, e.images.shape[0] - 1, shown).round().astype(int)
        heat = upsample_heat(e.heat[picks], tuple(e.images.shape[1:3])).numpy()
        for ax, t, h in zip(row, picks, heat):
            ax.imshow(blend_heat(e.images[t].numpy().copy(), h))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"frame {int(e.frames[t])}", fontsize=7, pad=2)
        row[0].set_ylabel(f"{e.window.start:.1f}-{e.window.end:.1f} s\n{e.label.name}\n{e.label.score:.2f}",
                          fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title or "where the model looked (Grad-CAM of each window's top class)", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _frame_heat(explanation: Explanation, index: int, height: int, width: int) -> np.ndarray:
    """The heat of video frame ``index`` (its nearest clip frame's) over a (height, width) output frame."""
    t = int((explanation.frames - index).abs().argmin())
    fh, fw = explanation.frame_size
    top, left, h, w = explanation.box
    sy, sx = height / fh, width / fw
    y0, x0 = round(top * sy), round(left * sx)
    y1, x1 = min(height, round((top + h) * sy)), min(width, round((left + w) * sx))
    canvas = np.zeros((height, width), np.float32)  # outside the crop the model saw nothing
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = upsample_heat(explanation.heat[t], (y1 - y0, x1 - x0)).numpy()
    return canvas


def render_panel(header: str, labels: list[Label], width: int, row_height: int) -> np.ndarray:
    """(rows * row_height, width, 4) uint8 RGBA: a header line, then one score bar per label."""
    from matplotlib import colormaps, patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    height = row_height * (len(labels) + 1)
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    fig.patch.set_alpha(0.0)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.add_patch(Rectangle((0, 0), width, height, color="black", alpha=PANEL_ALPHA, lw=0))
    font = dict(fontsize=row_height * 0.55 * 72 / 100, color="white", va="center", family="DejaVu Sans",
                path_effects=[patheffects.withStroke(linewidth=2, foreground="black")])
    pad = max(2, row_height // 6)
    ax.text(pad, row_height / 2, header, **font)
    colours = colormaps["tab10"]
    for row, (name, index, score) in enumerate(labels, start=1):
        top = row * row_height
        ax.add_patch(Rectangle((pad, top + pad), (width - 2 * pad) * max(0.0, min(score, 1.0)), row_height - 2 * pad,
                               color=colours(index % 10), alpha=0.9, lw=0))
        ax.text(2 * pad, top + row_height / 2, name, **font)
        ax.text(width - 2 * pad, top + row_height / 2, f"{score:.2f}", ha="right", **font)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _blend(frame: np.ndarray, panel: np.ndarray) -> np.ndarray:
    """Panel (h, w, 4) over the top-left of frame (H, W, 3), in place; cut to the frame."""
    h, w = min(panel.shape[0], frame.shape[0]), min(panel.shape[1], frame.shape[1])
    alpha = panel[:h, :w, 3:4].astype(np.float32) / 255.0
    region = frame[:h, :w].astype(np.float32)
    frame[:h, :w] = (region * (1.0 - alpha) + panel[:h, :w, :3] * alpha + 0.5).astype(np.uint8)
    return frame


def output_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """Annotated frame size: short side scaled (0 keeps it), both even (yuv420p needs it)."""
    h, w = scaled_size(height, width, short_side or None)
    return max(2, h - h % 2), max(2, w - w % 2)


def _open_output(path: str, fps: float, height: int, width: int):
    import av

    ext = os.path.splitext(path)[1].lower()
    if ext not in ENCODERS:
        raise ConfigError(f"{path}: cannot write {ext or 'a file without extension'}; use one of {sorted(ENCODERS)}")
    codec, options = ENCODERS[ext]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    container = av.open(path, "w")
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
    stream.options = dict(options)
    return container, stream


def write_annotated_video(
    prediction: Prediction,
    reader: VideoReader,
    path: str,
    *,
    short_side: int = 360,
    chunk: int = 64,
    progress: bool = False,
    explanations: list[Explanation] | None = None,
) -> tuple[int, int, int]:
    """Write the annotated copy of ``reader``'s video (container and codec from ``path``'s extension).

    ``reader`` is best opened for frames of ``short_side`` (decord scales when it opens a file).
    Returns (frames, height, width) written. Every frame of the input is written, at its frame rate.
    With ``explanations`` (one per window), each frame also shows its window's heat map.
    """
    import av

    native = getattr(reader, "size", prediction.size)
    height, width = output_size(*native, short_side)
    row_height = max(12, round(min(height, width) / 18))
    rows = min(PANEL_ROWS, prediction.topk)
    best, tops = prediction.video_topk[0], prediction.window_topk
    cached: tuple[int, np.ndarray] | None = None
    try:
        container, stream = _open_output(path, reader.fps, height, width)
    except av.FFmpegError as e:
        raise OutputError(f"{path}: cannot write the annotated video ({e})") from None
    try:
        with container, tqdm(total=reader.num_frames, disable=not progress, desc="annotating", unit="frame",
                             dynamic_ncols=True) as bar:
            for first in range(0, reader.num_frames, chunk):
                indices = torch.arange(first, min(first + chunk, reader.num_frames))
                frames = reader.get_frames(indices.tolist(), short_side=short_side or None).numpy()
                for index, window in zip(indices.tolist(), prediction.window_of_frames(indices).tolist()):
                    if cached is None or cached[0] != window:
                        w = prediction.windows[window]
                        header = (f"{index / reader.fps:5.1f} s  window {w.start:.1f}-{w.end:.1f} s  "
                                  f"video: {best.name} {best.score:.2f}")
                        cached = (window, render_panel(header, tops[window][:rows], width, row_height))
                    image = np.ascontiguousarray(frames[index - first, :height, :width])
                    if explanations is not None:
                        blend_heat(image, _frame_heat(explanations[window], index, *image.shape[:2]))
                    frame = av.VideoFrame.from_ndarray(_blend(image, cached[1]), format="rgb24")
                    for packet in stream.encode(frame):
                        container.mux(packet)
                bar.update(len(indices))
            for packet in stream.encode():
                container.mux(packet)
    except av.FFmpegError as e:
        raise OutputError(f"{path}: cannot write the annotated video ({e})") from None
    return reader.num_frames, height, width


class AnnotatedStream:
    """An annotated video written frame by frame as frames come (a live stream's ``--output``).

    Each frame gets the panel of :func:`write_annotated_video`, drawn once per header and labels.
    Frames are timed by their index at ``fps``, so dropped frames leave gaps instead of speeding up.
    Use as a context manager; closing flushes the encoder.
    """

    def __init__(self, path: str, fps: float, height: int, width: int):
        import av

        self.path, self.fps, self.height, self.width = path, fps, height, width
        self.row_height = max(12, round(min(height, width) / 18))
        self._panel: tuple[tuple, np.ndarray] | None = None
        self.frames = 0
        try:
            self.container, self.stream = _open_output(path, fps, height, width)
        except av.FFmpegError as e:
            raise OutputError(f"{path}: cannot write the annotated video ({e})") from None

    def write(self, image: np.ndarray, index: int, header: str, labels: list[Label]) -> None:
        """Frame ``index`` of the stream, (H, W, 3) uint8 at the writer's size, with its panel."""
        import av

        key = (header, tuple(labels))
        if self._panel is None or self._panel[0] != key:
            self._panel = (key, render_panel(header, labels[:PANEL_ROWS], self.width, self.row_height))
        frame = av.VideoFrame.from_ndarray(_blend(np.ascontiguousarray(image[: self.height, : self.width]),
                                                  self._panel[1]), format="rgb24")
        frame.pts = index
        try:
            self.container.mux(self.stream.encode(frame))
        except av.FFmpegError as e:
            raise OutputError(f"{self.path}: cannot write the annotated video ({e})") from None
        self.frames += 1

    def close(self) -> None:
        import av

        try:
            self.container.mux(self.stream.encode())
        except av.FFmpegError as e:
            raise OutputError(f"{self.path}: cannot write the annotated video ({e})") from None
        finally:
            self.container.close()

    def __enter__(self) -> AnnotatedStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
