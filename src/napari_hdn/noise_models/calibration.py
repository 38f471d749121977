"""Calibrating a noise model from data: options, the generator versions and the blocking API.

- :func:`calibrate` / :func:`calibrate_events`: from a stack of repeated
  acquisitions of a static scene (signal = mean over frames, observations = frames);
- :func:`fit_noise_model` / :func:`fit_noise_model_events`: from a pseudo-clean
  signal and noisy observation(s) of it (bootstrapping);
- known parameters: build the model directly, e.g.
  ``PoissonGaussianNoiseModel(gain=2, offset=100, read_sigma=5)``.

Options are validated at the edge by one dataclass per kind (unknown options
are an error that lists the known ones).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from .._config import config_from_dict
from ..errors import InputError
from ..progress import Progress, StopToken, Timer, drive
from .base import NoiseModel
from .gaussian import estimate_gaussian
from .gmm import fit_gmm_events
from .histogram import fit_histogram
from .pairs import CalibrationPairs, binned_residuals, image_pairs, stack_pairs
from .poisson_gaussian import estimate_poisson_gaussian

KINDS = ("gmm", "histogram", "poisson_gaussian", "gaussian")
_STAGE = "Calibrating noise model"


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
    """

    clip_percentiles: tuple[float, float] = (0.5, 99.5)
    max_pairs: int = 5_000_000
    seed: int = 0

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
    steps, batch_size, learning_rate: the Adam fit; device: "auto" (GPU if present), "cpu", "cuda", ...
    """

    n_gaussians: int = 3
    degree: int = 1
    min_sigma: float | None = None
    steps: int = 400
    batch_size: int = 16384
    learning_rate: float = 0.05
    device: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive_int(self.n_gaussians, "n_gaussians")
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
    observation_range: (low, high) of x; None = the 0.01-99.99 percentiles of the observations."""

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


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError(f"Unknown device {device!r}: use 'auto', 'cpu' or 'cuda'.") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"Device {device!r} was asked for but no CUDA GPU is available: use 'cpu' or 'auto'.")
    return resolved


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


def _default_min_sigma(pairs: CalibrationPairs) -> float:
    smallest = float(np.min(binned_residuals(pairs, 32).variance))
    floor = 0.01 * smallest
    if pairs.integer_valued:
        floor = max(floor, 1.0 / 12.0)
    return max(floor, 1e-12)


def _fit_events(
    pairs: CalibrationPairs, kind: str, options: FitOptions, stop: StopToken | None, timer: Timer
) -> Generator[Progress, None, NoiseModel]:
    low, high = pairs.signal_range
    if not low < high:
        raise InputError(
            f"The signal is constant ({low:g}) within the clip percentiles: calibration needs a scene with a "
            "range of intensities (a sample with structure, or several illumination levels)."
        )
    yield Progress(_STAGE, 0, 1, f"{len(pairs)} pixel pairs, signal {low:g}..{high:g}", timer.elapsed)
    if kind == "gmm":
        assert isinstance(options, GMMOptions)
        min_sigma = _default_min_sigma(pairs) if options.min_sigma is None else options.min_sigma
        model = yield from fit_gmm_events(
            pairs,
            min_signal=low,
            max_signal=high,
            n_gaussians=options.n_gaussians,
            degree=options.degree,
            min_sigma=min_sigma,
            steps=options.steps,
            batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            device=resolve_device(options.device),
            seed=options.seed,
            stop=stop,
        )
        return model
    if kind == "histogram":
        assert isinstance(options, HistogramOptions)
        observation_range = options.observation_range
        if observation_range is None:
            observation_range = tuple(float(v) for v in np.percentile(pairs.observation, (0.01, 99.99)))
            if not observation_range[0] < observation_range[1]:
                observation_range = (observation_range[0] - 0.5, observation_range[1] + 0.5)
        model = fit_histogram(
            pairs.signal, pairs.observation, pairs.signal_range, observation_range, options.signal_bins, options.bins
        )
    elif kind == "poisson_gaussian":
        assert isinstance(options, PoissonGaussianOptions)
        model = estimate_poisson_gaussian(pairs, options.offset, options.n_bins)
    else:
        model = estimate_gaussian(pairs)
    yield Progress(_STAGE, 1, 1, model.describe(), timer.elapsed, 0.0)
    return model


def calibrate_events(
    stack: Any, kind: str = "gmm", *, stop: StopToken | None = None, **options: Any
) -> Generator[Progress, None, NoiseModel]:
    """Generator version of :func:`calibrate`: yields progress, returns the noise model."""
    opts = make_options(kind, options)
    timer = Timer()
    pairs = stack_pairs(stack, opts.clip_percentiles, opts.max_pairs, opts.seed)
    return (yield from _fit_events(pairs, kind, opts, stop, timer))


def fit_noise_model_events(
    signal: Any, observation: Any, kind: str = "gmm", *, stop: StopToken | None = None, **options: Any
) -> Generator[Progress, None, NoiseModel]:
    """Generator version of :func:`fit_noise_model`: yields progress, returns the noise model."""
    opts = make_options(kind, options)
    timer = Timer()
    pairs = image_pairs(signal, observation, opts.clip_percentiles, opts.max_pairs, opts.seed)
    return (yield from _fit_events(pairs, kind, opts, stop, timer))


def calibrate(stack: Any, kind: str = "gmm", **options: Any) -> NoiseModel:
    """A noise model from a stack of repeated acquisitions of a static scene (frames first).

    ``kind`` is "gmm", "histogram", "poisson_gaussian" or "gaussian"; ``options``
    are those of :class:`GMMOptions`, :class:`HistogramOptions`,
    :class:`PoissonGaussianOptions` or :class:`GaussianOptions`.
    """
    return drive(calibrate_events(stack, kind, **options))


def fit_noise_model(signal: Any, observation: Any, kind: str = "gmm", **options: Any) -> NoiseModel:
    """A noise model from a pseudo-clean ``signal`` and noisy ``observation`` (same shape, or extra
    leading axes of frames). ``kind`` and ``options`` as for :func:`calibrate`."""
    return drive(fit_noise_model_events(signal, observation, kind, **options))
