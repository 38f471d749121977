"""(signal, observation) pixel pairs from user data, checked once at the edge.

Two sources:

- a calibration stack of repeated acquisitions of a static scene (frames on the
  first axis): the signal of a pixel is its mean over the frames and every frame
  gives one observation of it;
- a pseudo-clean signal image and one or more noisy observations of it
  (bootstrapping from another denoiser's output, or simulated pairs).

For a stack, x_i - mean has only (N-1)/N of the noise variance (each frame is
part of its own mean), which would make a 10-frame calibration under-estimate
the noise by 10 %. We therefore scale the residuals by sqrt(N / (N-1)), which
restores the variance exactly (Bessel's correction, applied per pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks.arrays import as_real_array, check_finite, check_not_rgb
from ..foundation.errors import InputError


@dataclass(frozen=True)
class CalibrationPairs:
    """Flat float32 arrays of paired signals and observations inside ``signal_range``."""

    signal: np.ndarray
    observation: np.ndarray
    signal_range: tuple[float, float]  # after percentile clipping
    n_frames: int | None = None  # frames of the calibration stack, None for image pairs
    integer_valued: bool = False  # the observations are whole numbers (raw camera counts)

    def __len__(self) -> int:
        return int(self.signal.shape[0])

    @property
    def observation_spacing(self) -> float | None:
        """The spacing of the grid whole-number observations lie on (None for continuous data).

        Stack residuals are scaled by sqrt(N / (N-1)) (see above), which stretches the grid.
        """
        if not self.integer_valued:
            return None
        return float(np.sqrt(self.n_frames / (self.n_frames - 1.0))) if self.n_frames else 1.0


def grid_bin_width(low: float, high: float, n_bins: int, spacing: float | None) -> float:
    """Width of ``n_bins`` equal bins that cover [low, high] from any start within one bin of ``low``.

    For observations on a grid of ``spacing`` (camera counts) the width is a whole multiple of it, so
    that every bin holds the same number of possible values; otherwise the histogram of counts
    alternates between full and empty bins.
    """
    if spacing is None:
        return (high - low) / max(n_bins - 1, 1)
    return spacing * max(1, int(np.ceil((high - low) / (max(n_bins - 1, 1) * spacing))))


def checked_stack(stack: Any) -> np.ndarray:
    """A calibration stack (frames, ...) as a float32 array, or a clear error."""
    stack = as_real_array(stack, "calibration stack")
    stack = np.asarray(stack)
    while stack.ndim > 3 and stack.shape[0] == 1:  # (1, 1, frames, Y, X) from ImageJ hyperstacks: the frames
        stack = stack[0]
    if stack.ndim < 3:
        raise InputError(
            f"The calibration stack has shape {tuple(stack.shape)}; it must be a stack (frames, Y, X) of at least "
            "2 repeated acquisitions of the same static scene. For one noisy image and a clean estimate of it, "
            "use fit_noise_model(signal, observation)."
        )
    if stack.ndim == 4 and stack.shape[-1] in (3, 4) and stack.shape[-2] > 4:
        raise InputError(
            f"The calibration stack looks like RGB(A) colour frames (shape {tuple(stack.shape)}); noise models "
            "describe one intensity channel: split the channels and calibrate each one."
        )
    check_not_rgb(stack[0], "calibration stack frame")
    if stack.shape[0] < 2:
        raise InputError(
            f"The calibration stack has only {stack.shape[0]} frame (shape {tuple(stack.shape)}); the noise "
            "can only be measured from at least 2 (better 20 or more) repeated acquisitions."
        )
    check_finite(stack, "calibration stack")
    return stack


def checked_image_pair(signal: Any, observation: Any) -> tuple[np.ndarray, np.ndarray]:
    """A pseudo-clean signal and its noisy observation(s), with matching shapes, or a clear error.

    ``observation`` has the shape of ``signal`` or extra leading axes (several
    noisy frames of the same signal).
    """
    signal = np.asarray(as_real_array(signal, "signal image"))
    observation = np.asarray(as_real_array(observation, "noisy observation"))
    for array, name in ((signal, "signal image"), (observation, "noisy observation")):
        check_not_rgb(array, name)
        check_finite(array, name)
    if observation.shape[observation.ndim - signal.ndim :] != signal.shape or observation.ndim < signal.ndim:
        raise InputError(
            f"The noisy observation (shape {tuple(observation.shape)}) does not match the signal image (shape "
            f"{tuple(signal.shape)}): they must have the same shape (the observation may have extra leading axes "
            "of frames)."
        )
    return signal, observation


def is_integer_valued(array: np.ndarray) -> bool:
    if array.dtype.kind in "ui":
        return True
    sample = array.ravel()[:: max(1, array.size // 100_000)]
    return bool(np.all(sample == np.round(sample)))


def clip_range(signal: np.ndarray, clip_percentiles: tuple[float, float]) -> tuple[float, float]:
    low, high = np.percentile(signal, clip_percentiles)
    return float(low), float(high)


def _select(
    signal_image: np.ndarray,
    observations: np.ndarray,
    clip_percentiles: tuple[float, float],
    max_pairs: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Pairs whose signal lies within the clip percentiles, at most ``max_pairs`` drawn at random."""
    flat_signal = signal_image.ravel()
    signal_range = clip_range(flat_signal, clip_percentiles)
    keep = np.flatnonzero((flat_signal >= signal_range[0]) & (flat_signal <= signal_range[1]))
    n_frames = observations.size // flat_signal.size
    frames = observations.reshape(n_frames, flat_signal.size)
    n_pairs = keep.size * n_frames
    if n_pairs > max_pairs:
        pick = np.random.default_rng(seed).choice(n_pairs, size=max_pairs, replace=False)
        frame_index, pixel_index = np.divmod(pick, keep.size)
        pixels = keep[pixel_index]
        return flat_signal[pixels], frames[frame_index, pixels], signal_range
    signal = np.broadcast_to(flat_signal[keep], (n_frames, keep.size)).ravel()
    return signal, frames[:, keep].ravel(), signal_range


def stack_pairs(
    stack: Any, clip_percentiles: tuple[float, float] = (0.0, 100.0), max_pairs: int = 2**62, seed: int = 0
) -> CalibrationPairs:
    """Pairs from a calibration stack (signal = mean over frames; residuals Bessel-corrected, see above)."""
    stack = checked_stack(stack)
    n_frames = stack.shape[0]
    mean = stack.mean(axis=0, dtype=np.float64)
    signal, observation, signal_range = _select(mean, stack, clip_percentiles, max_pairs, seed)
    signal = signal.astype(np.float64)
    observation = signal + (observation - signal) * np.sqrt(n_frames / (n_frames - 1.0))
    return CalibrationPairs(
        signal.astype(np.float32),
        observation.astype(np.float32),
        signal_range,
        n_frames=n_frames,
        integer_valued=is_integer_valued(stack),
    )


def image_pairs(
    signal: Any,
    observation: Any,
    clip_percentiles: tuple[float, float] = (0.0, 100.0),
    max_pairs: int = 2**62,
    seed: int = 0,
) -> CalibrationPairs:
    """Pairs from a pseudo-clean signal image and its noisy observation(s)."""
    signal, observation = checked_image_pair(signal, observation)
    s, x, signal_range = _select(signal.astype(np.float64), observation, clip_percentiles, max_pairs, seed)
    return CalibrationPairs(
        s.astype(np.float32),
        x.astype(np.float32),
        signal_range,
        integer_valued=is_integer_valued(observation),
    )


@dataclass(frozen=True)
class BinnedResiduals:
    """Statistics of x - s in signal bins holding equal numbers of pairs."""

    signal: np.ndarray  # mean signal of each bin
    variance: np.ndarray  # variance of x - s in each bin
    counts: np.ndarray


def binned_residuals(pairs: CalibrationPairs, n_bins: int, max_pairs: int | None = None) -> BinnedResiduals:
    """Variance of the residual x - s in ``n_bins`` quantile bins of the signal (bins with < 2 pairs dropped).

    With ``max_pairs``, every k-th pair is used so that at most that many are (a starting point needs no more).
    """
    every = 1 if max_pairs is None else -(-len(pairs) // max_pairs)
    s = pairs.signal[::every].astype(np.float64)
    r = pairs.observation[::every].astype(np.float64) - s
    edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size < 2:
        edges = np.array([s.min(), s.max() + 1.0])
    which = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, edges.size - 2)
    counts = np.bincount(which, minlength=edges.size - 1).astype(np.float64)
    ok = counts >= 2
    n = counts[ok]
    mean_s = np.bincount(which, s, minlength=counts.size)[ok] / n
    mean_r = np.bincount(which, r, minlength=counts.size)[ok] / n
    mean_r2 = np.bincount(which, r * r, minlength=counts.size)[ok] / n
    variance = np.maximum((mean_r2 - mean_r**2) * n / (n - 1), 0.0)
    return BinnedResiduals(mean_s, variance, n)
