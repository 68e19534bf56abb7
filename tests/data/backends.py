"""The decoding backends the tests run: decord and PyAV always; torchcodec when it is installed with
FFmpeg's shared libraries (else its cases skip, or fail under VIDEOREGION_REQUIRE_FFMPEG=1, as in CI)."""

from __future__ import annotations

import os

import pytest

from videoregion.data.readers import READERS

from .corpus import REQUIRE_FFMPEG


def _torchcodec_missing() -> str:
    try:
        import torchcodec.decoders  # noqa: F401  (loads FFmpeg's shared libraries)
    except Exception as e:  # ImportError, or OSError/RuntimeError when FFmpeg's libraries are missing
        return f"torchcodec is not usable here ({type(e).__name__}); pip install -e '.[torchcodec]' + apt-get ffmpeg"
    return ""


TORCHCODEC_MISSING = _torchcodec_missing()
if TORCHCODEC_MISSING and os.environ.get(REQUIRE_FFMPEG) == "1":
    raise RuntimeError(f"{TORCHCODEC_MISSING} ({REQUIRE_FFMPEG}=1)")

AVAILABLE = [name for name in sorted(READERS) if name != "torchcodec" or not TORCHCODEC_MISSING]
# pytest parameters: every registered backend, torchcodec skipped with its reason when unusable
PARAMS = [pytest.param(name, marks=pytest.mark.skipif(name not in AVAILABLE, reason=TORCHCODEC_MISSING))
          for name in sorted(READERS)]
