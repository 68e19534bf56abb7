"""RegionViT models: 2D (the authors' architecture) and time-inflated 3D, with weight adaptation; and the
video peers they are compared with (:mod:`.peers`), registered alike."""

from . import peers  # noqa: F401  (importing the module registers the peers)
from .build import build_model, check_clip_input
from .regionvit import RegionViT  # importing the module registers its variants
from .registry import ModelInfo, create_model, list_models, model_info, register_model
from .vit3d import VisionTransformer3d
from .weights import checkpoint_filter_fn, load_pretrained

__all__ = [
    "ModelInfo",
    "RegionViT",
    "VisionTransformer3d",
    "build_model",
    "check_clip_input",
    "checkpoint_filter_fn",
    "create_model",
    "list_models",
    "load_pretrained",
    "model_info",
    "register_model",
]
