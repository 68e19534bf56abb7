"""Tiny generated videos for the data tests (PyAV writes them; nothing is downloaded)."""

from __future__ import annotations

import os

import av
import numpy as np

# libx264rgb at crf 0 stores RGB losslessly: decoders must give back these exact pixels.
LOSSLESS = dict(codec="libx264rgb", pix_fmt="rgb24", options={"crf": "0", "g": "8"})
H264 = dict(codec="libx264", pix_fmt="yuv420p", options={"g": "8"})
VP9 = dict(codec="libvpx-vp9", pix_fmt="yuv420p", options={"deadline": "realtime", "cpu-used": "8"})


def random_frames(num_frames: int, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 noise: every frame differs from every other."""
    return np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8)


def ramp_frames(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """(T, H, W, 3) uint8: smooth content (compresses well) that moves with time."""
    t, y, x = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width), indexing="ij")
    return np.stack([(4 * x + 3 * t) % 256, (4 * y + t) % 256, (2 * x + 2 * y + 5 * t) % 256], -1).astype(np.uint8)


def write_video(path: str, frames: np.ndarray, fps: int = 30, codec: str = "libx264rgb",
                pix_fmt: str = "rgb24", options: dict | None = None) -> str:
    """Encode (T, H, W, 3) uint8 frames to ``path``; returns ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.options = dict(options or {})
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_kinetics(root: str, num_videos: int = 4, num_frames: int = 40, num_classes: int = 2,
                   names: bool = True, **video) -> tuple[str, list[str]]:
    """A SlowFast-layout dataset: videos/<i>.mp4, {train,val,test}.csv, classnames.txt."""
    paths = []
    for i in range(num_videos):
        frames = ramp_frames(num_frames)[:, :, ::-1] if i % 2 else ramp_frames(num_frames)
        path = os.path.join(root, "videos", f"{i}.mp4")
        paths.append(write_video(path, np.ascontiguousarray(frames), **(video or H264)))
    lines = "".join(f"videos/{i}.mp4 {i % num_classes}\n" for i in range(num_videos))
    for split in ("train", "val", "test"):
        with open(os.path.join(root, f"{split}.csv"), "w") as f:
            f.write(lines)
    if names:
        with open(os.path.join(root, "classnames.txt"), "w") as f:
            f.write("".join(f"class_{c}\n" for c in range(num_classes)))
    return root, paths
