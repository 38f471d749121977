"""Is a "calibration stack" really repeated acquisitions of a static scene? Checked from the data alone.

In a static stack every frame is the scene plus independent noise, so

- temporal: successive differences x[k+1] - x[k] carry twice the noise variance, exactly as much as the
  residuals around the temporal mean (Bessel-corrected) carry once. A scene that changes slowly (drift,
  bleaching, focus) adds more to the residuals than to the successive differences: ``temporal_excess`` =
  that surplus as a fraction of the noise (von Neumann's ratio);
- spatial: noise is (nearly) independent between pixels, so a 7 x 7 mean of a frame's residual keeps
  1/49 of its variance; changes of the scene are spatially smooth and keep most of theirs.
  ``spatial_excess`` = the share of the residual variance that is smooth, relative to the noise, in
  the worst of 8 intensity bins. The camera's own spatial correlation (row noise, say) is measured on
  the successive differences (capped, so that differences between unrelated frames do not pass for it)
  and allowed for.

Frames of different slices, a moving sample, drift or bleaching make the calibrated variance too high;
``check_static_stack`` refuses a stack whose excess is large and warns (``NonStaticStackWarning``) for a
moderate one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..foundation.errors import InputError
from .local_statistics import MEAN_HALF, box_mean

WARN_EXCESS = 0.05  # 5 % more variance than the noise: warn
REFUSE_EXCESS = 0.25  # 25 %: not a stack of repeats
_BOX = (2 * MEAN_HALF + 1) ** 2
_MAX_NOISE_CORRELATION = 4.0  # a camera noise more correlated than this over 7 x 7 pixels is not pixel noise
_MAX_FRAMES = 64  # frames looked at (evenly spaced): enough for the statistics, bounded cost
_MAX_SIDE = 512  # and at most the central 512 x 512 pixels of them


class NonStaticStackWarning(UserWarning):
    """The calibration stack changes between frames more than its noise explains (drift, bleaching, motion)."""


@dataclass(frozen=True)
class StackMotion:
    temporal_excess: float  # slow changes' variance / noise variance (successive differences vs temporal mean)
    spatial_excess: float  # smooth residual variance / noise variance, worst intensity bin

    @property
    def excess(self) -> float:
        return max(self.temporal_excess, self.spatial_excess)


def _smooth_fraction(frames: np.ndarray) -> np.ndarray:
    """Per pixel (interior): 49 x squared 7 x 7 mean, averaged over frames; and the squared values."""
    smooth = np.stack([box_mean(f, MEAN_HALF) for f in frames])
    core = frames[:, MEAN_HALF:-MEAN_HALF, MEAN_HALF:-MEAN_HALF]
    return _BOX * (smooth**2).mean(axis=0), (core**2).mean(axis=0)


def stack_motion(stack: np.ndarray) -> StackMotion:
    """How far ``stack`` (frames, Y, X) is from repeated acquisitions of a static scene (see the module)."""
    frames = stack.reshape((stack.shape[0], -1, *stack.shape[-2:]))[:, 0]  # one plane of higher-dimensional frames
    if frames.shape[0] > _MAX_FRAMES:
        frames = frames[np.linspace(0, frames.shape[0] - 1, _MAX_FRAMES).round().astype(int)]
    ny, nx = frames.shape[-2:]
    y0, x0 = max(0, (ny - _MAX_SIDE) // 2), max(0, (nx - _MAX_SIDE) // 2)
    frames = frames[:, y0 : y0 + _MAX_SIDE, x0 : x0 + _MAX_SIDE].astype(np.float64)
    n = frames.shape[0]
    if n < 3 or min(frames.shape[-2:]) <= 2 * MEAN_HALF + 2:
        return StackMotion(0.0, 0.0)  # too little data to tell
    mean = frames.mean(axis=0)
    residual = frames - mean
    differences = np.diff(frames, axis=0)
    residual_var = (residual**2).mean() * n / (n - 1)
    difference_var = (differences**2).mean() / 2
    temporal = max(residual_var / max(difference_var, 1e-30) - 1.0, 0.0)

    smooth_d, plain_d = _smooth_fraction(differences)
    noise_correlation = float(np.clip(smooth_d.mean() / max(plain_d.mean(), 1e-30), 1.0, _MAX_NOISE_CORRELATION))
    smooth_r, plain_r = _smooth_fraction(residual)
    level = mean[MEAN_HALF:-MEAN_HALF, MEAN_HALF:-MEAN_HALF].ravel()
    edges = np.quantile(level, np.linspace(0, 1, 9))
    which = np.clip(np.searchsorted(edges, level, side="right") - 1, 0, 7)
    ratio = np.bincount(which, smooth_r.ravel(), 8) / np.maximum(np.bincount(which, plain_r.ravel(), 8), 1e-30)
    # ratio = (49 f + c) / (f + 1) for a smooth share f of the noise variance and noise correlation c.
    spatial = np.clip((ratio - noise_correlation) / (_BOX - ratio), 0.0, None)
    return StackMotion(float(temporal), float(np.max(spatial[np.isfinite(spatial)], initial=0.0)))


def check_static_stack(stack: np.ndarray) -> StackMotion:
    """Refuse (``InputError``) or warn (``NonStaticStackWarning``) if ``stack`` is not a static scene."""
    motion = stack_motion(stack)
    what = (
        f"the frames differ by {100 * motion.excess:.0f} % more variance than their noise explains (slow changes "
        f"{100 * motion.temporal_excess:.0f} %, smooth structure in the frame-to-mean differences "
        f"{100 * motion.spatial_excess:.0f} %)"
    )
    if motion.excess > REFUSE_EXCESS:
        raise InputError(
            f"This does not look like a calibration stack of repeated acquisitions of a static scene: {what}. "
            "Frames of different slices or a moving, drifting or bleaching sample would make the noise look far "
            "stronger than it is. Record repeats of one static field of view; for ordinary noisy images use "
            "estimate_noise_model; or pass check_static=False if you are sure."
        )
    if motion.excess > WARN_EXCESS:
        warnings.warn(
            f"The calibration stack is not quite static: {what}. The noise model will overestimate the noise by "
            "about that much; register the frames or crop the moving/bleaching part if you can.",
            NonStaticStackWarning,
            stacklevel=3,
        )
    return motion
