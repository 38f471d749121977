"""The network's configuration (moved to :mod:`napari_hdn.config.model`; re-exported here)."""

from ..config.model import ModelConfig, Nonlinearity

__all__ = ["ModelConfig", "Nonlinearity"]
