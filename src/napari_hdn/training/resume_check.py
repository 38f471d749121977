"""Resuming a training with a different noise model or preset is refused, not silently ignored (issue 13).

A resumed training keeps the checkpoint's noise model and network; a new noise model
or another preset given on resume would otherwise have no effect without the user knowing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..config.presets import PRESETS
from ..foundation.errors import InputError
from .noise_choice import resolve_noise_model


def _same_noise_model(a: Any, b: Any) -> bool:
    from ..model.bundle import split_noise_arrays

    (scalars_a, arrays_a), (scalars_b, arrays_b) = split_noise_arrays(a), split_noise_arrays(b)
    if type(a) is not type(b) or scalars_a != scalars_b or set(arrays_a) != set(arrays_b):
        return False
    return all(np.array_equal(np.asarray(arrays_a[k]), np.asarray(arrays_b[k])) for k in arrays_a)


def _differences(config: Any, reference: Any) -> int:
    return sum(getattr(config, f.name) != getattr(reference, f.name) for f in dataclasses.fields(reference))


def check_resume_matches(
    checkpoint: Any,
    out: Path,
    noise_model: Any,
    gaussian_sigma: float | None,
    preset: str | None,
) -> None:
    """Refuse a noise model or preset given on resume that is not the checkpoint's.

    The preset is compared by network: refused when another preset matches the
    checkpoint's network more closely (a training may have changed a few settings).
    """
    if noise_model is not None or gaussian_sigma is not None:
        given = resolve_noise_model(noise_model, gaussian_sigma)
        if not _same_noise_model(given, checkpoint.noise_model):
            raise InputError(
                f"The training in {out} was started with another noise model ({checkpoint.noise_model!r}); a resumed "
                "training keeps its own. Resume without a noise model (leave noise_model out), or start a new training "
                "in another folder to use this one."
            )
    if preset is None:
        return
    if preset not in PRESETS:
        raise InputError(f"Unknown preset {preset!r}: choose one of {sorted(PRESETS)}.")
    distance = {name: _differences(checkpoint.config, p.model) for name, p in PRESETS.items()}
    closest = min(distance, key=distance.get)
    if distance[preset] > distance[closest]:
        raise InputError(
            f"The training in {out} was started with the {closest!r} preset, not {preset!r}; a resumed training "
            f"keeps its settings. Resume with preset={closest!r} (or leave preset out), or start a new training "
            "in another folder."
        )
