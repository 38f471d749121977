"""How sure a restoration is, without ground truth: its error estimate and the temperature of its spread
(``restore(..., calibrate=True)``).

After the restoration, on the central square (at most 512 x 512) of the middle plane:

1. the error estimate (``error_estimate.py``, Stein's unbiased risk estimate): the MMSE's expected squared
   error, from the noisy image and the noise model alone;
2. the temperature: where that estimate is reliable, the variance map is scaled so that its mean over the
   square equals the estimated squared error (the samples spread about the MMSE by the square root), so that
   the map and the error figure shown beside it tell the same story. Where it is not (noise correlation
   unknown, a noise model that claims more noise than the image holds, or one bootstrapped from restorations
   of correlated noise, whose variance is low by construction), the factor found on a simulated copy of a
   central crop is used instead (``uncertainty.py``).

Why the estimate rather than the simulation (``benchmarks/bench_uncertainty.py``, 15-minute models, 90 %
interval coverage / mean squared z-score with each): the simulation's truth is a sample of the model itself,
so it misses what the model gets wrong and leaves the spread over-confident where that matters most
(nuclei-low 66.7 % / 2.77, nuclei-struct with z1-z2 off 48 % / 7.4); with a calibrated noise model the
estimate's temperature met the targets (nuclei-struct, nuclei-cam: 89-92 %, 0.85-1.01). With a noise model
bootstrapped on correlated noise it errs towards caution (nuclei-cam 96 % / 0.58, where the simulation gave
89 % / 1.00): there the estimate is marked rough and the simulation decides.

The nested restorations go through ``restore_events``, passed in (this module sits below ``restore.py``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from ..foundation.errors import InputError
from ..foundation.progress import drive
from .error_estimate import MAX_SIDE as ERROR_SIDE
from .error_estimate import SAMPLES as ERROR_SAMPLES
from .error_estimate import central_plane_crop, estimate_error
from .uncertainty import calibration_factor, central_square, simulated_noisy, summary

CALIBRATING = "checking how sure the restoration is: estimating its error on a crop"


def self_calibrated(restore_events, events, model, image, seed, stop, options, n_samples):
    """The restoration ``events``, then its error estimate and the temperature of its spread (``uncertainty``).

    That costs two restorations of at most 512 x 512 pixels with a few samples, and where the estimate cannot
    set the temperature, two of the simulated crop: their share of the progress bar is counted from the start,
    so that the bar never runs backwards (a last event takes it to the end when the simulation is not needed)."""
    ys, xs = central_square(image.shape)
    planes = image.reshape(-1, *image.shape[-2:])
    probe = central_plane_crop(image)
    extra = 2.0 * (ys.stop - ys.start) * (xs.stop - xs.start) + 2.0 * probe.size * _probe_samples(n_samples) / n_samples
    result, last = yield from _scaled(events, 1.0 + extra / float(np.prod(image.shape)))
    if not result.complete:
        return result
    error = yield from _error(restore_events, model, probe, result, _span(result.mmse), seed, stop, options, last)
    if error is None:
        return result
    temperature = error.temperature(result.n_samples)
    if temperature is None:
        plane = np.asarray(planes[planes.shape[0] // 2][ys, xs], dtype=np.float32)
        found = yield from _calibration(restore_events, model, plane, result, seed, stop, options, last)
        if found is None:
            return result
        calibration = summary(found[0].factor, result.variance, result.mmse, model.noise_model, True, error,
                              by_error=False)
    else:
        if last is not None:  # the simulation's room is not needed: the bar ends here
            yield replace(last, done=last.total, message=CALIBRATING)
        calibration = summary(temperature, result.variance, result.mmse, model.noise_model, True, error,
                              by_error=True)
    return _scaled_result(result, calibration)


def _probe_samples(n_samples: int) -> int:
    return min(ERROR_SAMPLES, max(n_samples, 1))


def _span(mmse) -> float:
    return float(np.nanmax(mmse) - np.nanmin(mmse))


def _error(restore_events, model, crop, result, span, seed, stop, options, last=None):
    """The error estimate of ``result`` measured on ``crop`` (inference.error_estimate), or None if stopped."""
    def restore_crop(image, part):
        events = restore_events(model, image, n_samples=_probe_samples(result.n_samples), keep_samples=0,
                                seed=seed + 3, deactivate=result.deactivate, calibrate=False, stop=stop, **options)
        return (yield from _forward(events, last, part))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (yield from estimate_error(restore_crop, model.noise_model, crop, result.n_samples, span, seed))


def lazily(restore_events, events, model, image, seed, options):
    result = yield from events
    return lazily_calibrated(restore_events, result, model, image, seed, options)


def lazily_calibrated(restore_events, result, model, image, seed, options):
    """A lazy (dask) restoration with its temperature found on a central crop now (eagerly, small); the error
    estimate is the crop's (the whole image's would need the whole computation)."""
    planes = image.reshape(-1, *image.shape[-2:])
    middle = planes[planes.shape[0] // 2]
    try:  # a bad block is reported when the result is computed, as for an uncalibrated lazy restoration
        ys, xs = central_square(middle.shape)
        plane = np.asarray(middle[ys, xs].compute(), dtype=np.float32)
        py, px = central_square(middle.shape, ERROR_SIDE)  # only the probe's window is computed, not the plane
        probe = np.asarray(middle[py, px].compute(), dtype=np.float32)
        real = drive(_plane_restoration(restore_events, model, plane, result, seed, None, options))
        error = drive(_error(restore_events, model, probe, result, _span(real.mmse), seed, None, options))
        temperature = None if error is None else error.temperature(result.n_samples)
        by_error = temperature is not None
        if error is not None and not by_error:  # the simulation, from the plane's restoration made above
            found = drive(_calibration(restore_events, model, plane, result, seed, None, options, real=real))
            temperature = None if found is None else found[0].factor
    except InputError:
        return result
    if temperature is None:
        return result
    calibration = summary(temperature, real.variance, real.mmse, model.noise_model, True, error, by_error=by_error)
    return _scaled_result(result, calibration)


def _scaled_result(result, calibration):
    factor = np.float32(calibration.factor)
    variance = result.variance * factor
    scale = np.float32(math.sqrt(calibration.factor))
    return replace(result, variance=variance, std=variance**0.5,
                   samples=result.mmse + (result.samples - result.mmse) * scale,
                   median=result.mmse + (result.median - result.mmse) * scale,
                   half_width_90=result.half_width_90 * scale, uncertainty=calibration)


def _crop_options(result, stop, options) -> dict:
    return {"n_samples": result.n_samples, "deactivate": result.deactivate, "calibrate": False, "stop": stop,
            **options}


def _plane_restoration(restore_events, model, plane, result, seed, stop, options, last=None):
    """``plane`` restored as the image was (one sample kept: the simulation's truth)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = restore_events(model, plane, keep_samples=1, seed=seed + 1, **_crop_options(result, stop, options))
        return (yield from _forward(events, last, 2))


def _calibration(restore_events, model, plane, result, seed, stop, options, last=None, real=None):
    """(calibration from a simulated copy of ``plane``, the restoration of the plane itself), or None if stopped.

    ``last``: the restoration's last progress event, whose stretched total leaves room for this (None: silent);
    ``real``: the plane's restoration where it was made already (:func:`_plane_restoration`).
    """
    rng = np.random.default_rng([seed, 8191])
    if real is None:
        real = yield from _plane_restoration(restore_events, model, plane, result, seed, stop, options, last)
    if not real.complete:
        return None
    truth = real.samples[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        noisy = simulated_noisy(model.noise_model, truth, rng)
        simulated = yield from _forward(restore_events(model, noisy, keep_samples=0, seed=seed + 2,
                                                       **_crop_options(result, stop, options)), last, 3)
    if not simulated.complete:
        return None
    factor = calibration_factor(truth, simulated.mmse, simulated.variance)
    return summary(factor, real.variance, real.mmse, model.noise_model, True), real


def _scaled(events, stretch: float):
    """The restoration's events with their totals stretched (room for the calibration); returns
    (result, the last event)."""
    last = None
    while True:
        try:
            event = next(events)
        except StopIteration as finished:
            return finished.value, last
        if event.total:
            event = replace(event, total=event.total * stretch)
            last = event
        yield event


def _forward(events, last, part: int):
    """A nested restoration of the calibration (``part`` 0..3: two of the error estimate, two of the
    simulation), reported in the room left after ``last`` (a quarter each)."""
    while True:
        try:
            event = next(events)
        except StopIteration as finished:
            return finished.value
        if last is not None and event.total:
            width = (last.total - last.done) / 4
            yield replace(last, done=last.done + width * (part + event.done / event.total), message=CALIBRATING)
