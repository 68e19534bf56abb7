"""RegionViT models: 2D (the authors' architecture) and time-inflated 3D, with weight adaptation."""

from .build import build_model
from .regionvit import RegionViT  # importing the module registers its variants
from .registry import ModelInfo, create_model, list_models, model_info, register_model
from .weights import checkpoint_filter_fn, load_pretrained

__all__ = [
    "ModelInfo",
    "RegionViT",
    "build_model",
    "checkpoint_filter_fn",
    "create_model",
    "list_models",
    "load_pretrained",
    "model_info",
    "register_model",
]
