"""Type names of the core's signatures: what a "model" or "noise model" argument may be.

For readers and type checkers only: the classes are imported under TYPE_CHECKING, so this module
imports nothing of the package at run time and sits at the bottom of the import graph.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from ..model.bundle import HDNModel
    from ..noise_models.base import NoiseModel

# A trained model, or the path of its folder (or of its best/ or last/ checkpoint).
ModelLike = Union["HDNModel", str, "os.PathLike[str]"]
# A noise model, or the path of its .npz file (training also takes "auto").
NoiseModelLike = Union["NoiseModel", str, "os.PathLike[str]"]

__all__ = ["ModelLike", "NoiseModelLike"]
