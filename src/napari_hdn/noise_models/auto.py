"""``noise_model="auto"``: a noise model for users with nothing but their noisy images.

Training starts with a Poisson-Gaussian model estimated from the images themselves
(:func:`estimate_noise_model`); part-way through, the model's own restorations of some training
planes serve as pseudo-clean signal for a GMM (bootstrapping, as PN2V and the HDN authors do),
which replaces the estimate for the rest of the training.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..foundation.progress import drive
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


def bootstrap_for_training(model: Any, planes: Sequence[Any], n_planes: int, n_samples: int, seed: int,
                           deactivate: Sequence[int] = ()) -> tuple[NoiseModel, str]:
    """A GMM fitted to (restoration, noisy) pairs of ``n_planes`` training planes restored by ``model`` with
    the ``deactivate`` layers (those that hold noise) left out, and a note on what was done.

    If the GMM's variance falls clearly below that of the model's current noise model (the estimate from the
    noisy images), the restoration kept part of the noise: the current model is kept, and the note says so.
    A model that has memorised noise must not make its own noise model smaller, or the next training would
    fit even more noise.
    """
    from .bootstrap import bootstrap_events

    stack = np.stack(_spread(planes, n_planes))
    current = model.noise_model
    noise_model = drive(bootstrap_events(model, stack, "gmm", n_samples=n_samples, seed=seed, deactivate=deactivate))
    ratio = variance_ratio(noise_model, current, stack)
    off = ", ".join(f"z{k}" for k in deactivate)
    restored = f"restorations with {off} off" if off else "restorations with every layer on"
    if ratio < MIN_VARIANCE_RATIO:
        return current, (f"kept the estimated noise model: a GMM bootstrapped from the model's {restored} sees "
                         f"{ratio:.0%} of its variance, so the restorations still hold part of the noise")
    noise_model.provenance = {**noise_model.provenance, "during_training_at_step": int(model.step),
                              "variance_ratio_to_estimate": ratio}
    return noise_model, f"bootstrapped a GMM noise model from the model's {restored} ({ratio:.0%} of the estimate's variance)"


# A bootstrapped variance below this share of the estimate's is a collapse, not a refinement: a restoration
# with the noise-holding layers off deflates the residual only by its own degrees of freedom (10-20 % for a
# smooth restoration), whereas a model that learnt the noise leaves half of it or less (1.4-2.4 against 3.3-28
# ADU^2 measured on real camera frames).
MIN_VARIANCE_RATIO = 0.7


def variance_ratio(candidate: NoiseModel, reference: NoiseModel, images: np.ndarray) -> float:
    """Median over the images' signal range (5-95 percentiles, 16 levels) of candidate / reference variance."""
    levels = np.linspace(*np.percentile(images, (5, 95)), 16)
    with torch.inference_mode():
        new = candidate.moments(levels)[1].double().cpu().numpy()
        old = reference.moments(levels)[1].double().cpu().numpy()
    return float(np.median(new / np.maximum(old, 1e-30)))
