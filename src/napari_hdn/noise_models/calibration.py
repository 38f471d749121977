"""Calibrating a noise model from data: the generator versions and the blocking API.

- :func:`calibrate` / :func:`calibrate_events`: from a stack of repeated
  acquisitions of a static scene (signal = mean over frames, observations = frames;
  a stack that is not static is refused or warned about, see ``stack_check``);
- :func:`fit_noise_model` / :func:`fit_noise_model_events`: from a pseudo-clean
  signal and noisy observation(s) of it (bootstrapping);
- known parameters: build the model directly, e.g.
  ``PoissonGaussianNoiseModel(gain=2, offset=100, read_sigma=5)``.

Options are validated at the edge by one dataclass per kind (``options.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from ..checks.arrays import warn_if_saturated
from ..foundation.errors import InputError
from ..foundation.progress import Progress, StopToken, Timer, drive
from .base import NoiseModel
from .correlation import stack_correlation_record
from .gaussian import estimate_gaussian
from .gmm import fit_gmm_events
from .histogram import fit_histogram
from .options import FitOptions, GMMOptions, HistogramOptions, PoissonGaussianOptions, make_options
from .pairs import CalibrationPairs, checked_image_pair, checked_stack, grid_bin_width, image_pairs, stack_pairs
from .poisson_gaussian import estimate_poisson_gaussian
from .stack_check import check_static_stack

_STAGE = "Calibrating noise model"
_PREPARE = "Preparing the calibration stack"


def _fit_events(
    pairs: CalibrationPairs, options: FitOptions, stop: StopToken | None, timer: Timer
) -> Generator[Progress, None, NoiseModel]:
    low, high = pairs.signal_range
    if not low < high:
        raise InputError(
            f"The signal is constant ({low:g}) within the clip percentiles: calibration needs a scene with a "
            "range of intensities (a sample with structure, or several illumination levels)."
        )
    yield Progress(_STAGE, 0, 1, f"{len(pairs)} pixel pairs, signal {low:g}..{high:g}", timer.elapsed)
    if isinstance(options, GMMOptions):
        return (yield from fit_gmm_events(pairs, options, stop))
    if isinstance(options, HistogramOptions):
        observation_range = options.observation_range
        if observation_range is None:
            low, high = (float(v) for v in np.percentile(pairs.observation, (0.01, 99.99)))
            if not low < high:
                low, high = low - 0.5, high + 0.5
            width = grid_bin_width(low, high, options.bins, pairs.observation_spacing)
            observation_range = (low - 0.5 * width, low + (options.bins - 0.5) * width)
        model = fit_histogram(
            pairs.signal, pairs.observation, pairs.signal_range, observation_range, options.signal_bins, options.bins
        )
    elif isinstance(options, PoissonGaussianOptions):
        model = estimate_poisson_gaussian(pairs, options.offset, options.n_bins)
    else:
        model = estimate_gaussian(pairs)
    yield Progress(_STAGE, 1, 1, model.describe(), timer.elapsed, 0.0)
    return model


def calibrate_events(
    stack: Any, kind: str = "gmm", *, stop: StopToken | None = None, **options: Any
) -> Generator[Progress, None, NoiseModel]:
    """Generator version of :func:`calibrate`: yields progress, returns the noise model.

    The options are checked when called (a bad option fails in the caller's thread); the stack,
    whose checks read all its pixels, and the fit are handled when the returned generator is driven.
    """
    return _calibrate_run(stack, kind, make_options(kind, options), stop)


def _calibrate_run(
    stack: Any, kind: str, opts: FitOptions, stop: StopToken | None
) -> Generator[Progress, None, NoiseModel]:
    timer = Timer()
    stack = checked_stack(stack)  # bad input fails here, before any progress is shown
    warn_if_saturated(stack, "calibration stack")
    # Checking and pairing a large stack takes seconds to minutes before the fit starts: say which
    # step is running, so that the bar moves instead of sitting at zero.
    size = f"{stack.shape[0]} frames of {stack.shape[-2]} x {stack.shape[-1]}"
    motion = None
    if opts.check_static:
        yield Progress(_PREPARE, 0, 2, f"{size}: checking that the frames repeat one still scene", timer.elapsed)
        motion = check_static_stack(stack)
    yield Progress(_PREPARE, 1, 2, f"{size}: collecting pixel pairs", timer.elapsed)
    pairs = stack_pairs(stack, opts.clip_percentiles, opts.max_pairs, opts.seed)
    yield Progress(_PREPARE, 2, 2, f"{size}: {len(pairs)} pixel pairs", timer.elapsed, 0.0)
    model = yield from _fit_events(pairs, opts, stop, timer)
    model.provenance = {"source": "calibration_stack", "kind": kind, "n_frames": int(stack.shape[0]),
                        "spatial_correlation": stack_correlation_record(stack)}
    if motion is not None:
        model.provenance["frame_change_excess"] = motion.excess
    return model


def fit_noise_model_events(
    signal: Any, observation: Any, kind: str = "gmm", *, stop: StopToken | None = None, **options: Any
) -> Generator[Progress, None, NoiseModel]:
    """Generator version of :func:`fit_noise_model`: yields progress, returns the noise model.

    The options are checked when called; the work runs when the returned generator is driven.
    """
    return _fit_pairs_run(signal, observation, kind, make_options(kind, options), stop)


def _fit_pairs_run(
    signal: Any, observation: Any, kind: str, opts: FitOptions, stop: StopToken | None
) -> Generator[Progress, None, NoiseModel]:
    timer = Timer()
    if opts.check_static:  # several observations of one signal must be repeats of one static scene
        signal, observation = checked_image_pair(signal, observation)
        if observation.ndim > signal.ndim:
            check_static_stack(observation.reshape(-1, *signal.shape))
    pairs = image_pairs(signal, observation, opts.clip_percentiles, opts.max_pairs, opts.seed)
    model = yield from _fit_events(pairs, opts, stop, timer)
    model.provenance = {"source": "pairs", "kind": kind}
    return model


def calibrate(stack: Any, kind: str = "gmm", *, on_event: Callable[[Progress], Any] | None = None, **options: Any) -> NoiseModel:
    """A noise model from a stack of repeated acquisitions of a static scene (frames first).

    ``kind`` is "gmm", "histogram", "poisson_gaussian" or "gaussian"; ``options``
    are those of :class:`GMMOptions`, :class:`HistogramOptions`,
    :class:`PoissonGaussianOptions` or :class:`GaussianOptions`; ``on_event``: called with each progress event.
    """
    return drive(calibrate_events(stack, kind, **options), on_event)


def fit_noise_model(signal: Any, observation: Any, kind: str = "gmm", *, on_event: Callable[[Progress], Any] | None = None,
                    **options: Any) -> NoiseModel:
    """A noise model from a pseudo-clean ``signal`` and noisy ``observation`` (same shape, or extra
    leading axes of frames: repeats of the one scene of ``signal``, checked like a calibration stack).
    ``kind`` and ``options`` as for :func:`calibrate`."""
    return drive(fit_noise_model_events(signal, observation, kind, **options), on_event)
