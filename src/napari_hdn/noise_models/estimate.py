"""A Poisson-Gaussian noise model estimated from ordinary noisy images (no calibration data, no clean image).

    est = estimate_noise_model(noisy)            # one 2-D image or a stack of different images
    est.model                                     # a PoissonGaussianNoiseModel, ready for training
    est.gain, est.gain_std, est.read_sigma, ...   # parameters with bootstrap uncertainties
    save_estimate_plot(est, "nm.png")             # variance vs mean of the pairs used, with the fit

Method (after Foi et al. 2008, see ``local_statistics`` and ``variance_fit``): unit-norm high-pass
residuals paired with local means (grouped by a ring mean whose noise is independent of theirs, so
the grouping adds no bias), locally flat pixels only, the signal leaking into the residuals
subtracted, clipped (saturated) pixels and their neighbourhoods left out, a weighted robust fit of
var = gain * s + intercept, and a block bootstrap over 32 x 32 tiles for the uncertainties.

Limit: pixel-scale texture of the sample that is white like noise (e.g. noise frozen into a "clean"
reference image) cannot be told from camera noise in single images; it counts as noise here.

What the data identify is the line. The camera's gain is its slope; the offset (black level) and the
read noise are not separately identifiable (var = gain * (s - offset) + read_sigma^2 for every offset
with read_sigma^2 = intercept + gain * offset). The offset is therefore taken as given or, by default,
as the darkest signal level in the images (where the photon part of the variance is smallest); then
read_sigma^2 = intercept + gain * offset, and the model's variance curve over the data is the fitted
line whichever offset is chosen. Whole-number (quantised) data carry 1/12 more variance from the
rounding: the model keeps it (it describes the data as stored), the reported camera read noise does not.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config.validated import config_from_dict
from ..foundation.errors import InputError
from ..foundation.progress import Progress, StopToken, Timer, drive
from .estimate_input import checked_planes
from .correlation import (
    DECONVOLVED,
    correction,
    correction_weight,
    correlation_record,
    dark_correlation,
    is_correlated,
    level_bins,
    measure_lags,
)
from .local_statistics import (
    RING_PIXELS,
    clipped_levels,
    concatenate_pairs,
    direction_ratio,
    plane_pairs,
)
from .pairs import is_integer_valued
from .poisson_gaussian import PoissonGaussianNoiseModel
from .variance_fit import binned_sums, bootstrap_lines, fit_line, select_flat

_STAGE = "Estimating noise model"
ESTIMATE_KINDS = ("poisson_gaussian",)
MIN_PAIRS = 2000  # fewer locally flat pixels cannot pin down a line through 2 x n_bins statistics
_DARK_PERCENTILE = 0.5
_MIN_GAIN_SIGNIFICANCE = 3.0  # gain / its bootstrap std below this: the images cannot separate the two noises
_DARK_Z = 2.576  # the 0.5 % quantile of a standard normal: the noise of the local mean at the darkest level


class CorrelatedNoiseWarning(UserWarning):
    """The noise looks correlated between neighbouring pixels: a pixel-wise estimate underestimates it."""


def _warn_if_correlated(record: dict[str, Any]) -> None:
    if not is_correlated(record):
        return
    dark = record["correlation"]["dark"]
    warnings.warn(
        f"The noise is correlated between neighbouring pixels: {dark['y'][0]:.2f} between vertical and "
        f"{dark['x'][0]:.2f} between horizontal neighbours at the dark level (0 for pixel-independent noise). "
        "The estimated variance includes the correlated part. A pixel noise model cannot describe the "
        "correlation, so the finest latent layers may learn it as detail: the automatic path "
        '(train(noise_model="auto"), restore(deactivate="auto")) switches off the layers that hold it.',
        CorrelatedNoiseWarning,
        stacklevel=4,
    )


@dataclass
class EstimateOptions:
    """offset: the camera's black level in raw units if known (None = the darkest level in the images);
    n_bins: signal bins of the variance fit; n_bootstrap: bootstrap refits for the uncertainties;
    quantized: None = detect whole-number data (raw counts; adds the 1/12 rounding variance);
    max_pairs: at most about this many pixels are used (whole 32 x 32 tiles of evenly spaced images, drawn
    at random); seed: of that draw and of the bootstrap."""

    offset: float | None = None
    n_bins: int = 30
    n_bootstrap: int = 200
    quantized: bool | None = None
    max_pairs: int = 4_000_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.offset is not None and not math.isfinite(self.offset):
            raise InputError(f"offset must be a finite number; got {self.offset}.")
        if self.n_bins < 3:
            raise InputError(f"n_bins must be at least 3; got {self.n_bins}.")
        if self.max_pairs < MIN_PAIRS:
            raise InputError(f"max_pairs must be at least {MIN_PAIRS}; got {self.max_pairs}.")
        if self.n_bootstrap < 0:
            raise InputError(f"n_bootstrap must be at least 0; got {self.n_bootstrap}.")


@dataclass(frozen=True)
class NoiseEstimate:
    """The estimated model, its parameters (with bootstrap standard deviations) and the fitted data.

    Standard deviations are None when no bootstrap ran (``n_bootstrap=0`` or a stop request).
    """

    model: PoissonGaussianNoiseModel
    gain: float
    gain_std: float | None
    intercept: float  # variance at signal 0: read_sigma^2 + quantisation - gain * offset
    intercept_std: float | None
    offset: float
    offset_given: bool
    read_sigma: float  # the camera's read noise (without the rounding of whole-number data)
    read_sigma_std: float | None
    quantization_variance: float  # 1/12 for whole-number data, else 0
    clipped_levels: tuple[float | None, float | None]  # values treated as clipping (excluded), if any
    n_pairs: int  # locally flat pairs fitted
    n_candidates: int  # interior, unclipped pairs before the flatness selection
    direction_ratio: float  # noise seen along x / along y (1 for pixel-independent noise)
    spatial_correlation: dict[str, Any]  # the noise's covariance between neighbours (see correlation.py)
    signal: np.ndarray = field(repr=False)  # (M,) mean local signal per bin
    variance: np.ndarray = field(repr=False)  # (M,) residual variance per bin
    counts: np.ndarray = field(repr=False)  # (M,) pairs per bin
    bins_used: np.ndarray = field(repr=False)  # (M,) bool, the bins the line was fitted to

    def parameters(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict (stored as the model's provenance)."""
        names = ("gain", "gain_std", "intercept", "intercept_std", "offset", "offset_given", "read_sigma",
                 "read_sigma_std", "quantization_variance", "n_pairs", "n_candidates", "direction_ratio",
                 "spatial_correlation")
        values = {name: getattr(self, name) for name in names}
        values["clipped_levels"] = list(self.clipped_levels)
        values["model_read_sigma"] = self.model.read_sigma
        return values

    def describe(self) -> str:
        def pm(value, std):
            return f"{value:.4g}" if std is None else f"{value:.4g} +- {std:.2g}"

        return (
            f"estimated Poisson-Gaussian: gain {pm(self.gain, self.gain_std)}, offset {self.offset:.4g}"
            f"{' (given)' if self.offset_given else ' (darkest level)'}, read sigma "
            f"{pm(self.read_sigma, self.read_sigma_std)}, from {self.n_pairs} flat pixels"
        )


def _offset_and_read_variance(
    line: tuple[float, float], dark_mean: float, darkest_bin: float, given: float | None, floor: float
) -> tuple[float, float]:
    """The offset (given, or the darkest level) and the read variance that put the model on the fitted line.

    The low percentile of the noisy local means lies below the dark level by about _DARK_Z of their sigma,
    which is added back. The result is capped by the mean signal of the darkest bin (measured without
    bias, and never below the true dark level), since an offset above the darkest signals in the data
    would clamp their variance too high.
    """
    slope, intercept = line
    if given is not None:
        offset = given
    else:
        noise = math.sqrt(max(slope * dark_mean + intercept, floor) / RING_PIXELS)
        offset = min(dark_mean + _DARK_Z * noise, darkest_bin)
    read_variance = intercept + slope * offset
    if read_variance < floor:
        if given is not None:
            raise InputError(
                f"The given offset {given:.4g} lies below the level at which the images' noise variance would "
                f"vanish ({-intercept / slope:.4g}): check the camera's black level, or leave offset unset."
            )
        offset, read_variance = (floor - intercept) / slope, floor
    return offset, read_variance


def _checked_line(slope: float, slope_std: float | None) -> None:
    """The gain must be positive and, where the bootstrap measured it, clearly more than its uncertainty."""
    if not slope > 0 or (slope_std is not None and slope < _MIN_GAIN_SIGNIFICANCE * slope_std):
        spread = "" if slope_std is None else f" +- {slope_std:.2g}"
        raise InputError(
            f"The noise variance in the images does not clearly grow with the intensity (fitted gain {slope:.3g}"
            f"{spread}): either "
            "the images are too flat (too narrow a range of intensities) to separate photon noise from read noise, "
            "or the noise is not Poisson-Gaussian. Use images with dark and bright areas, calibrate from repeated "
            "acquisitions, or use a Gaussian noise model."
        )


def _subsample(planes: np.ndarray, max_pairs: int) -> tuple[np.ndarray, float]:
    """Evenly spaced planes holding at most 4 x ``max_pairs`` pixels, and the fraction of tiles to keep."""
    area = planes.shape[-2] * planes.shape[-1]
    n_planes = min(planes.shape[0], max(1, -(-4 * max_pairs // area)))
    if n_planes < planes.shape[0]:
        planes = planes[np.linspace(0, planes.shape[0] - 1, n_planes).round().astype(int)]
    return planes, min(1.0, max_pairs / (n_planes * area))


def _dark_correlation(lags, sums, seed: int, draws: int = 30) -> tuple[float, float]:
    """The largest |correlation| between direct neighbours at the dark level, and its block-bootstrap std
    (small images measure it roughly: the std keeps their sampling noise from reading as correlated noise)."""
    covariances, counts = lags.covariances()
    signal = sums.total().bin_statistics()[0]
    value = dark_correlation(signal, covariances, counts)
    bins = level_bins(signal, counts)
    n_dark = float(counts[bins["dark"]].sum()) if bins else 0.0
    rng = np.random.default_rng([seed, 7])
    n_tiles = sums.count.shape[0]
    spread = []
    for _ in range(draws):
        weights = rng.multinomial(n_tiles, np.full(n_tiles, 1.0 / n_tiles)).astype(np.float64)
        drawn, drawn_counts = lags.covariances(weights)
        spread.append(dark_correlation(sums.total(weights).bin_statistics()[0], drawn, drawn_counts))
    # A bootstrap over few tiles underrates the spread: never below what this many pairs can measure (the
    # deconvolution amplifies the products' sampling noise about 5 times, measured on white noise).
    return value, max(float(np.std(spread, ddof=1)), 5.0 / math.sqrt(max(n_dark, 1.0)))


def _collect_pairs(planes, clipped, tile_fraction, seed, stop, timer):
    rng = np.random.default_rng(seed)
    parts, n_tiles = [], 0
    for index, plane in enumerate(planes):
        if stop and parts:
            break
        fields_, n = plane_pairs(plane, clipped, n_tiles, tile_fraction, rng, index)
        parts.append(fields_)
        n_tiles += n
        yield Progress(_STAGE, index + 1, len(planes) + 1, f"local statistics of image {index + 1}", timer.elapsed)
    return concatenate_pairs(parts, n_tiles)


def estimate_events(
    images: Any, kind: str = "poisson_gaussian", *, stop: StopToken | None = None, **options: Any
) -> Generator[Progress, None, NoiseEstimate]:
    """Generator version of :func:`estimate_noise_model` (arguments are checked when called)."""
    if kind not in ESTIMATE_KINDS:
        raise InputError(
            f"Noise models of kind {kind!r} cannot be estimated from noisy images alone; kinds: {list(ESTIMATE_KINDS)}."
            " For a GMM or histogram, bootstrap one from a trained model (bootstrap_noise_model)."
        )
    opts = config_from_dict(EstimateOptions, dict(options), what="noise-estimate option")
    planes = checked_planes(images)
    return _estimate(planes, opts, stop)


def _estimate(planes: np.ndarray, opts: EstimateOptions, stop: StopToken | None):
    timer = Timer()
    quantized = is_integer_valued(planes) if opts.quantized is None else opts.quantized
    q = 1.0 / 12.0 if quantized else 0.0
    clipped = clipped_levels(planes)
    planes, tile_fraction = _subsample(planes, opts.max_pairs)
    pairs = yield from _collect_pairs(planes, clipped, tile_fraction, opts.seed, stop, timer)
    if pairs.mean.size < MIN_PAIRS:
        raise InputError(
            f"Only {pairs.mean.size} usable pixels (most are clipped or near the border): the noise cannot be "
            "estimated. Give larger images with fewer saturated pixels."
        )
    keep, _ = select_flat(pairs, opts.n_bins)
    n_pairs = int(keep.sum())
    if n_pairs < MIN_PAIRS:
        raise InputError(
            f"Only {n_pairs} pixels lie in locally flat areas: the image is too small or too busy to estimate its "
            "noise from. Give more or larger images, or calibrate from repeated acquisitions."
        )
    sums = binned_sums(pairs, keep, opts.n_bins)
    ratio = direction_ratio(planes)
    n_tiles, n_bins = sums.count.shape
    lags = measure_lags(planes, pairs, keep, sums.cell, n_tiles, n_bins)
    bin_signal = sums.total().bin_statistics()[0]
    covariances, lag_counts = lags.covariances()
    dark, dark_std = _dark_correlation(lags, sums, opts.seed)
    weight = correction_weight(max(dark - 2.0 * dark_std, 0.0))
    slope, intercept, used = fit_line(sums.total(), correction(covariances, weight))
    _checked_line(slope, None)
    yield Progress(_STAGE, len(planes), len(planes) + 1, "bootstrap of the uncertainties", timer.elapsed)

    def correction_of(weights):
        return correction(lags.covariances(weights)[0], weight)

    boot = bootstrap_lines(sums, used, 0 if stop else opts.n_bootstrap, opts.seed, correction_of)
    ok = np.all(np.isfinite(boot), axis=1)
    std = (lambda a: float(np.std(a[ok], ddof=1))) if ok.sum() >= 2 else (lambda a: None)
    _checked_line(slope, std(boot[:, 0]))
    floor = max(q, 1e-6 * float(np.nanmedian(sums.total().bin_statistics()[1])))
    dark = float(np.percentile(pairs.mean[keep], _DARK_PERCENTILE))
    s, v, n = sums.total().bin_statistics()
    v = v - correction(covariances, weight)  # the pixel variance per bin, as fitted
    darkest_bin = float(s[used][0])
    offset, read_variance = _offset_and_read_variance((slope, intercept), dark, darkest_bin, opts.offset, floor)
    signal_range = tuple(float(v) for v in np.percentile(pairs.mean, (0.5, 99.5)))
    model = PoissonGaussianNoiseModel(slope, offset, math.sqrt(read_variance), signal_range=signal_range)
    camera_read = boot[:, 1] + boot[:, 0] * offset - q
    estimate = NoiseEstimate(
        model=model, gain=slope, gain_std=std(boot[:, 0]), intercept=intercept, intercept_std=std(boot[:, 1]),
        offset=offset, offset_given=opts.offset is not None,
        read_sigma=math.sqrt(max(read_variance - q, 0.0)), read_sigma_std=std(np.sqrt(np.maximum(camera_read, 0))),
        quantization_variance=q, clipped_levels=clipped, n_pairs=n_pairs, n_candidates=int(pairs.mean.size),
        direction_ratio=ratio,
        spatial_correlation={**correlation_record(bin_signal, covariances, lag_counts, DECONVOLVED, weight),
                             "dark_correlation_std": dark_std},
        signal=s, variance=v, counts=n, bins_used=used,
    )
    _warn_if_correlated(estimate.spatial_correlation)
    model.provenance = {"source": "estimated", "method": "local mean/variance of flat areas (Foi 2008)",
                        **estimate.parameters()}
    yield Progress(_STAGE, len(planes) + 1, len(planes) + 1, estimate.describe(), timer.elapsed, 0.0)
    return estimate


def estimate_noise_model(images: Any, kind: str = "poisson_gaussian", *, on_event: Callable[[Progress], Any] | None = None,
                         **options: Any) -> NoiseEstimate:
    """A Poisson-Gaussian noise model estimated from ordinary noisy images (see the module docstring).

    ``images``: one 2-D image or a stack (N, Y, X) of different images, raw camera units. ``options``:
    those of :class:`EstimateOptions`; ``on_event``: called with each progress event. Returns a :class:`NoiseEstimate`; its ``model`` is the noise model.
    """
    return drive(estimate_events(images, kind, **options), on_event)
