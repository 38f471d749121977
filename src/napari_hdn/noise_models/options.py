"""Calibration options: one dataclass per noise-model kind, validated at the edge.

Unknown options are an error that lists the known ones; values are type-checked
and range-checked in ``__post_init__``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ..config.validated import config_from_dict
from ..foundation.device import resolve_device
from ..foundation.errors import InputError

KINDS = ("gmm", "histogram", "poisson_gaussian", "gaussian")


def _check_positive_int(value: int, name: str, minimum: int = 1) -> None:
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}; got {value}.")


@dataclass
class FitOptions:
    """Options shared by every kind.

    clip_percentiles: only pixels whose signal lies between these percentiles are
        used, and they define the signal range (hot pixels, saturation and empty
        corners are left out).
    max_pairs: at most this many (signal, observation) pairs are used, drawn at random.
    seed: seed of that draw and of the fit's batches.
    check_static: calibration stacks, and several noisy frames of one signal (fit_noise_model): refuse
        frames that are not repeats of a static scene (different slices or scenes, drift, bleaching; see
        ``stack_check``), warn for slight changes.
    """

    clip_percentiles: tuple[float, float] = (0.5, 99.5)
    max_pairs: int = 5_000_000
    seed: int = 0
    check_static: bool = True

    def __post_init__(self) -> None:
        if len(self.clip_percentiles) != 2 or not 0.0 <= self.clip_percentiles[0] < self.clip_percentiles[1] <= 100.0:
            raise InputError(
                f"clip_percentiles must be two percentiles 0 <= low < high <= 100; got {self.clip_percentiles}."
            )
        _check_positive_int(self.max_pairs, "max_pairs", 100)


@dataclass
class GMMOptions(FitOptions):
    """Gaussian mixture fit (defaults measured with ``benchmarks/bench_gmm_fit.py``).

    n_gaussians: mixture components; degree: polynomial degree of their parameters in the signal;
    min_sigma: floor on each component's variance (the reference's name); None = 1 % of the
        smallest variance in the data (at least 1/12, the rounding variance, for whole-number data);
    steps, batch_size, learning_rate: the Adam fit;
    device: "auto" (the GPU if present), "cpu", "cuda", "cuda:N" or "mps";
    threads: torch CPU threads during the fit (None: leave torch's setting). One by default: the
        batches are small, so more threads mostly add overhead (on a busy 2-core machine 2 threads
        ran a step 15x slower than 1).
    """

    n_gaussians: int = 3
    degree: int = 1
    min_sigma: float | None = None
    steps: int = 400
    batch_size: int = 16384
    learning_rate: float = 0.05
    device: str = "auto"
    threads: int | None = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive_int(self.n_gaussians, "n_gaussians")
        if self.threads is not None:
            _check_positive_int(self.threads, "threads")
        _check_positive_int(self.degree, "degree", 0)
        _check_positive_int(self.steps, "steps", 0)
        _check_positive_int(self.batch_size, "batch_size")
        if self.min_sigma is not None and not (math.isfinite(self.min_sigma) and self.min_sigma >= 0):
            raise InputError(f"min_sigma must be a number >= 0; got {self.min_sigma}.")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise InputError(f"learning_rate must be a positive number; got {self.learning_rate}.")
        resolve_device(self.device)


@dataclass
class HistogramOptions(FitOptions):
    """2-D histogram: ``bins`` observation bins x ``signal_bins`` signal bins;
    observation_range: (low, high) of x; None = the 0.01-99.99 percentiles of the observations, with
    bins of whole multiples of the grid of camera counts for whole-number data."""

    bins: int = 128
    signal_bins: int = 64
    observation_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive_int(self.bins, "bins", 2)
        _check_positive_int(self.signal_bins, "signal_bins", 1)
        if self.observation_range is not None and (
            len(self.observation_range) != 2 or not self.observation_range[0] < self.observation_range[1]
        ):
            raise InputError(f"observation_range must satisfy low < high; got {self.observation_range}.")


@dataclass
class PoissonGaussianOptions(FitOptions):
    """offset: the camera's dark level in raw units if known (None = the low end of the clipped
    signal range); n_bins: signal bins of the variance-vs-signal fit."""

    offset: float | None = None
    n_bins: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive_int(self.n_bins, "n_bins", 2)
        if self.offset is not None and not math.isfinite(self.offset):
            raise InputError(f"offset must be a finite number; got {self.offset}.")


@dataclass
class GaussianOptions(FitOptions):
    """Signal-independent Gaussian noise: sigma is the standard deviation of x - s."""


OPTIONS = {
    "gmm": GMMOptions,
    "histogram": HistogramOptions,
    "poisson_gaussian": PoissonGaussianOptions,
    "gaussian": GaussianOptions,
}


def option_names(kind: str) -> list[str]:
    """The option names that ``kind`` accepts."""
    return [f.name for f in fields(OPTIONS[check_kind(kind)])]


def check_kind(kind: str) -> str:
    if kind not in OPTIONS:
        raise InputError(f"Unknown noise-model kind {kind!r}; choose one of {list(KINDS)}.")
    return kind


def make_options(kind: str, options: dict[str, Any]) -> FitOptions:
    """The validated options dataclass of ``kind`` (clear errors for unknown or bad options)."""
    return config_from_dict(OPTIONS[check_kind(kind)], dict(options), what=f"{kind} noise-model option")
