"""Configurations: the bottom layer (imports only ``errors`` and ``_config``, nothing above).

:class:`ModelConfig` (the network), :class:`TrainConfig` (how to train), the
named :data:`PRESETS` and :func:`resolve_config`.
"""

from .model import ModelConfig, Nonlinearity
from .presets import PRESETS, Preset, resolve_config
from .train import TrainConfig

__all__ = ["PRESETS", "ModelConfig", "Nonlinearity", "Preset", "TrainConfig", "resolve_config"]
