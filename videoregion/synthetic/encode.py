"""Encoding: (T, H, W, 3) uint8 frames -> a video file that repeats byte for byte."""

from __future__ import annotations

import platform

import av
import numpy as np

from videoregion.errors import OutputError

__all__ = ["ENCODERS", "check_encoder", "encode_video"]

# One thread keeps the bitstream (and so the decoded frames) identical from run to run. So does
# keeping x264 off its AVX-512 code, whose bitstream for the same frames can differ from run to run;
# the SSE2 set is part of every x86-64 CPU, and other CPUs keep x264's own choice.
_X264_ASM = ({"x264-params": "asm=SSE2,MMX2,MMX,CMOV,SSE"}
             if platform.machine().lower() in ("x86_64", "amd64") else {})
# Per container suffix: PyAV encoder and its options.
ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    ".mp4": ("libx264", {"preset": "veryfast", "threads": "1", **_X264_ASM}),
    # h264 in AVI (the ucf101 and hmdb51 layouts): no B-frames, as AVI keeps no timestamps to reorder them
    ".avi": ("libx264", {"preset": "veryfast", "threads": "1", "bf": "0", **_X264_ASM}),
    ".webm": ("libvpx-vp9", {"b": "0", "deadline": "realtime", "cpu-used": "8",
                             "threads": "1", "row-mt": "0", "lag-in-frames": "0"}),
}


def check_encoder(codec: str) -> None:
    """An :class:`OutputError` with directions when this PyAV build cannot encode ``codec``."""
    try:
        av.codec.Codec(codec, "w")
    except Exception as err:  # PyAV raises UnknownCodecError or ValueError by version
        raise OutputError(
            f"this PyAV build ({av.__version__}) has no {codec} encoder ({err}); install a PyAV "
            "wheel built with it (the PyPI wheels have libx264 and libvpx-vp9), or generate the "
            "other layout (--format kinetics writes h264, --format ssv2 writes VP9)") from None


def encode_video(frames: np.ndarray, path: str, *, codec: str = "libx264", fps: int = 30,
                 crf: int = 20, options: dict[str, str] | None = None) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as a yuv420p video with PyAV (container from ``path``)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs an even frame size, got {width}x{height}")
    # bitexact: no random container ids (matroska) or version strings, so files repeat byte for byte.
    with av.open(path, mode="w", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), **(options or {})}
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
