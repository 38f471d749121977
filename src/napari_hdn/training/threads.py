"""Adaptive torch thread count during training: :class:`ThreadTuner`, part of the one thread policy
in :mod:`napari_hdn.foundation.threads`."""

from ..foundation.threads import ThreadTuner

__all__ = ["ThreadTuner"]
