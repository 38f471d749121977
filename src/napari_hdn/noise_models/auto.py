"""``noise_model="auto"``: a noise model for users with nothing but their noisy images.

Training starts with a Poisson-Gaussian model estimated from the images themselves
(:func:`estimate_noise_model`); part-way through, the model's own restorations of some training
planes serve as pseudo-clean signal for a GMM (bootstrapping, as PN2V and the HDN authors do),
which replaces the estimate for the rest of the training.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..progress import drive
from .base import NoiseModel

AUTO = "auto"


def is_auto(noise_model: Any) -> bool:
    return isinstance(noise_model, str) and noise_model == AUTO


def _spread(planes: Sequence[Any], n: int) -> list[np.ndarray]:
    """``n`` planes spread evenly over the stack (same-sized ones: the estimators take a stack)."""
    shape = planes[0].shape
    same = [p for p in planes if p.shape == shape]
    picks = np.unique(np.linspace(0, len(same) - 1, min(n, len(same))).round().astype(int))
    return [np.asarray(same[i], dtype=np.float32) for i in picks]


def estimate_for_training(planes: Sequence[Any], max_planes: int = 16) -> tuple[NoiseModel, dict[str, Any]]:
    """The first noise model of an "auto" training: a Poisson-Gaussian estimate from the images."""
    from .estimate import estimate_noise_model

    estimate = estimate_noise_model(np.stack(_spread(planes, max_planes)))
    return estimate.model, estimate.parameters()


def bootstrap_for_training(model: Any, planes: Sequence[Any], n_planes: int, n_samples: int,
                           seed: int) -> NoiseModel:
    """A GMM fitted to (restoration, noisy) pairs of ``n_planes`` training planes restored by ``model``."""
    from .bootstrap import bootstrap_events

    stack = np.stack(_spread(planes, n_planes))
    noise_model = drive(bootstrap_events(model, stack, "gmm", n_samples=n_samples, seed=seed))
    noise_model.provenance = {**noise_model.provenance, "during_training_at_step": int(model.step)}
    return noise_model
