"""The HDN network (ladder VAE), its objective and model bundles."""

from .bundle import HDNModel, load_model
from .config import ModelConfig
from .lvae import LadderVAE

__all__ = [
    "ModelConfig",
    "LadderVAE",
    "HDNModel",
    "load_model",
]
