"""Gaussian mixture noise model, compatible with the HDN / PPN2V reference code.

p(x|s) is a mixture of K Gaussians whose parameters are polynomials in the
normalised signal t = (s - min_signal) / (max_signal - min_signal). The
parameters are one array ``weight`` of shape (3K, n_coeff), laid out as in the
reference implementation (juglab/HDN ``lib/gaussianMixtureNoiseModel.py``) so
that its files give the same likelihoods here:

- rows 0..K-1: the component means, mu_k(t) = sum_i w[k, i] t**i;
- rows K..2K-1: the component *variances*, v_k(t) = sum_i exp(w[K+k, i]) t**i,
  clamped below at ``min_sigma``. (The reference calls this floor ``min_sigma``
  although it bounds the variance; we keep its name and meaning.)
- rows 2K..3K-1: the mixture weights, alpha = softmax_k(sum_i w[2K+k, i] t**i).

The component means are then shifted so that the mixture mean equals s, and
p(x|s) = sum_k alpha_k N(x; mu_k, v_k) + tolerance (tolerance = 1e-10 in the
reference). We evaluate the same quantity in log space,
log p = logaddexp(logsumexp_k(log alpha_k + log N_k), log tolerance),
which is exact, never takes log(0) and is bounded below by log(tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from ..foundation.device import resolve_device
from ..foundation.errors import InputError
from ..foundation.progress import Progress, StopToken, Timer
from ..foundation.threads import TorchThreads
from .base import NoiseModel, gaussian_log_density
from .options import GMMOptions
from .pairs import BinnedResiduals, CalibrationPairs, binned_residuals

REFERENCE_TOLERANCE = 1e-10
# Normalised signals are clamped to +-_MAX_T so that high-degree polynomials cannot
# overflow float32 for absurd inputs (1000 calibrated ranges away from the data).
_MAX_T = 1e3


def _polynomial(coefficients: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Evaluate each row of ``coefficients`` (R, C) at ``t``; returns shape (R, *t.shape) (Horner)."""
    rows = coefficients.shape[0]
    view = (rows,) + (1,) * t.dim()
    value = coefficients[:, -1].reshape(view).expand((rows, *t.shape))
    for i in range(coefficients.shape[1] - 2, -1, -1):
        value = value * t + coefficients[:, i].reshape(view)
    return value


@dataclass(frozen=True)
class MixtureComponents:
    """Per-component parameters at given signals, each of shape (K, *signal.shape)."""

    means: torch.Tensor  # already shifted so that the mixture mean is the signal
    variances: torch.Tensor
    log_weights: torch.Tensor


def mixture_components(
    weight: torch.Tensor, s: torch.Tensor, min_signal: float, max_signal: float, min_sigma: float
) -> MixtureComponents:
    n_gaussians = weight.shape[0] // 3
    t = ((s - min_signal) / (max_signal - min_signal)).clamp(-_MAX_T, _MAX_T)
    means = _polynomial(weight[:n_gaussians], t)
    variances = _polynomial(weight[n_gaussians : 2 * n_gaussians].exp(), t).clamp(min=min_sigma)
    log_weights = torch.log_softmax(_polynomial(weight[2 * n_gaussians :], t), dim=0)
    mixture_mean = (log_weights.exp() * means).sum(dim=0)
    return MixtureComponents(means - mixture_mean + s, variances, log_weights)


def mixture_log_likelihood(
    weight: torch.Tensor,
    x: torch.Tensor,
    s: torch.Tensor,
    min_signal: float,
    max_signal: float,
    min_sigma: float,
    tolerance: float,
) -> torch.Tensor:
    c = mixture_components(weight, s, min_signal, max_signal, min_sigma)
    log_mixture = torch.logsumexp(c.log_weights + gaussian_log_density(x, c.means, c.variances), dim=0)
    if tolerance <= 0:
        return log_mixture
    return torch.logaddexp(log_mixture, torch.full_like(log_mixture, math.log(tolerance)))


class GaussianMixtureNoiseModel(NoiseModel):
    """K Gaussians with polynomial parameters in the signal (see the module docstring).

    Parameters
    ----------
    weight : (3K, n_coeff) array, the reference layout ("trained_weight" in its files).
    min_signal, max_signal : the signal range that t = 0..1 spans.
    min_sigma : floor on each component's variance (reference name), >= 0.
    tolerance : added to p(x|s) before the log (1e-10 in the reference), >= 0.
    """

    kind = "gmm"

    def __init__(
        self,
        weight,
        min_signal: float,
        max_signal: float,
        min_sigma: float,
        tolerance: float = REFERENCE_TOLERANCE,
        device=None,
    ) -> None:
        w = np.asarray(weight.detach().cpu() if isinstance(weight, torch.Tensor) else weight, dtype=np.float32)
        if w.ndim != 2 or w.shape[0] == 0 or w.shape[0] % 3 or w.shape[1] == 0:
            raise InputError(
                f"A Gaussian mixture weight must have shape (3 * n_gaussians, n_coefficients); got {w.shape}."
            )
        if not np.isfinite(w).all():
            raise InputError("The Gaussian mixture weight contains NaN or infinite values.")
        min_signal, max_signal = float(min_signal), float(max_signal)
        if not (math.isfinite(min_signal) and math.isfinite(max_signal) and min_signal < max_signal):
            raise InputError(
                f"The signal range must be finite with min_signal < max_signal; got {min_signal}, {max_signal}."
            )
        super().__init__((min_signal, max_signal), device)
        if not (math.isfinite(float(min_sigma)) and float(min_sigma) >= 0):
            raise InputError(f"min_sigma (the variance floor) must be a number >= 0; got {min_sigma}.")
        if not (math.isfinite(float(tolerance)) and float(tolerance) >= 0):
            raise InputError(f"The likelihood tolerance must be a number >= 0; got {tolerance}.")
        self._weight = torch.from_numpy(w).to(self.device)
        self.min_signal = min_signal
        self.max_signal = max_signal
        self.min_sigma = float(min_sigma)
        self.tolerance = float(tolerance)

    @property
    def weight(self) -> np.ndarray:
        """A copy of the (3K, n_coeff) parameter array."""
        return self._weight.detach().cpu().numpy().copy()

    @property
    def n_gaussians(self) -> int:
        return self._weight.shape[0] // 3

    @property
    def n_coefficients(self) -> int:
        return self._weight.shape[1]

    def components(self, s) -> MixtureComponents:
        """Means, variances and log-weights of the components at signals ``s``."""
        (s_t,) = self._inputs(s)
        return mixture_components(self._weight_as(s_t), s_t, self.min_signal, self.max_signal, self.min_sigma)

    def describe(self) -> str:
        return (
            f"Gaussian mixture, {self.n_gaussians} components, polynomial degree {self.n_coefficients - 1}, "
            f"signal range {self.min_signal:g}..{self.max_signal:g}, variance floor {self.min_sigma:g}"
        )

    def _weight_as(self, like: torch.Tensor) -> torch.Tensor:
        return self._weight.to(device=like.device, dtype=like.dtype)

    def _log_likelihood(self, x, s):
        return mixture_log_likelihood(
            self._weight_as(s), x, s, self.min_signal, self.max_signal, self.min_sigma, self.tolerance
        )

    def _moments(self, s):
        c = mixture_components(self._weight_as(s), s, self.min_signal, self.max_signal, self.min_sigma)
        weights = c.log_weights.exp()
        mean = (weights * c.means).sum(dim=0)
        variance = (weights * (c.variances + (c.means - mean) ** 2)).sum(dim=0)
        return mean, variance

    def _move(self, device):
        self._weight = self._weight.to(device)

    def _parameter_arrays(self):
        # The reference's key names and shapes, so that its code can read our files too.
        return {
            "trained_weight": self.weight,
            "min_signal": np.array([self.min_signal], dtype=np.float32),
            "max_signal": np.array([self.max_signal], dtype=np.float32),
            "min_sigma": np.array(self.min_sigma),
            "tolerance": np.array(self.tolerance),
        }


# --------------------------------------------------------------------------------------------
# Fitting


class _Adam:
    """Adam (Kingma & Ba 2015) for one tensor.

    torch.optim.Adam would do the same, but its first construction imports
    torch._dynamo, which costs several seconds: more than a whole fit.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.first = torch.zeros_like(param)
        self.second = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self, lr_factor: float = 1.0) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        grad = self.param.grad
        self.first.mul_(beta1).add_(grad, alpha=1 - beta1)
        self.second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = self.lr * lr_factor / (1 - beta1**self.t)
        denominator = (self.second / (1 - beta2**self.t)).sqrt_().add_(self.eps)
        self.param.addcdiv_(self.first, denominator, value=-step_size)


@dataclass(frozen=True)
class FitProgress(Progress):
    """A progress event of a noise-model fit; ``loss`` is the running mean negative log-likelihood."""

    loss: float | None = None


def _least_squares_polynomial(t: np.ndarray, values: np.ndarray, degree: int, weights: np.ndarray) -> np.ndarray:
    """Coefficients c_0..c_degree of the weighted least-squares polynomial through (t, values)."""
    basis = np.stack([t**i for i in range(degree + 1)], axis=1)
    sqrt_w = np.sqrt(weights)[:, None]
    coefficients, *_ = np.linalg.lstsq(basis * sqrt_w, values * sqrt_w[:, 0], rcond=None)
    return coefficients


def initial_weight(
    binned: BinnedResiduals, min_signal: float, max_signal: float, n_gaussians: int, degree: int
) -> np.ndarray:
    """A starting point close to the optimum, from the binned variance v(t) of x - s.

    The components share the data's variance curve; their means sit at
    c_k * sqrt(v(t)) with c_k spread over [-1/2, 1/2] (so that they differ, which
    breaks the symmetry of the mixture) and their variances are reduced by that
    spread, so that the mixture's variance is v(t) from the first step.
    """
    t = (binned.signal - min_signal) / (max_signal - min_signal)
    variance = np.maximum(binned.variance, 1e-12)
    degree_used = min(degree, max(t.size - 1, 0))
    floor = max(1e-3 * float(np.median(variance)), 1e-12)
    var_coef = np.full(degree + 1, floor)
    var_coef[: degree_used + 1] = _least_squares_polynomial(t, variance, degree_used, binned.counts)
    # The variance polynomial has exp(w) coefficients, so each must be positive.
    var_coef = np.maximum(var_coef, floor)
    if var_coef[0] <= floor:  # e.g. a variance curve through zero at t = 0: start at the smallest variance
        var_coef[0] = max(float(np.min(variance)), floor)

    spread = np.linspace(-0.5, 0.5, n_gaussians) if n_gaussians > 1 else np.zeros(1)
    std_coef = np.zeros(degree + 1)
    std_coef[: degree_used + 1] = _least_squares_polynomial(t, np.sqrt(variance), degree_used, binned.counts)

    weight = np.zeros((3 * n_gaussians, degree + 1))
    weight[:n_gaussians] = spread[:, None] * std_coef[None, :]
    weight[n_gaussians : 2 * n_gaussians] = np.log(var_coef * (1.0 - float(np.mean(spread**2))))[None, :]
    return weight.astype(np.float32)


def default_min_sigma(binned: BinnedResiduals, integer_valued: bool) -> float:
    """1 % of the data's smallest binned variance; at least 1/12 (the variance of rounding to whole
    numbers) for integer data, so that no component can collapse onto the integer grid."""
    floor = 0.01 * float(np.min(binned.variance))
    if integer_valued:
        floor = max(floor, 1.0 / 12.0)
    return max(floor, 1e-12)


def fit_gmm_events(
    pairs: CalibrationPairs, options: GMMOptions, stop: StopToken | None = None
) -> Generator[FitProgress, None, GaussianMixtureNoiseModel]:
    """The GMM fit of :func:`_fit_gmm`; its arguments are checked when called."""
    if not isinstance(pairs, CalibrationPairs):
        raise InputError(f"pairs must be CalibrationPairs (signal, observation), not {type(pairs).__name__}.")
    if not isinstance(options, GMMOptions):
        raise InputError(f"options must be GMMOptions, not {type(options).__name__}.")
    return _fit_gmm(pairs, options, stop)


def _fit_gmm(
    pairs: CalibrationPairs, options: GMMOptions, stop: StopToken | None = None
) -> Generator[FitProgress, None, GaussianMixtureNoiseModel]:
    """Maximum-likelihood fit with Adam on random batches of (signal, observation) pairs.

    The signal range is the pairs' (clipped) range. The mean rows are optimised
    in units of the data's typical standard deviation, so that one learning rate
    suits data of any scale. The learning rate decays (cosine) to a tenth of its
    start value, which removes most of the batch noise from the final
    parameters. On stop, returns the model as fitted so far.
    """
    timer = Timer()
    min_signal, max_signal = pairs.signal_range
    n_gaussians = options.n_gaussians
    device = resolve_device(options.device)
    binned = binned_residuals(pairs, n_bins=32, max_pairs=1_000_000)
    min_sigma = default_min_sigma(binned, pairs.integer_valued) if options.min_sigma is None else options.min_sigma
    start = initial_weight(binned, min_signal, max_signal, n_gaussians, options.degree)
    scale = float(np.sqrt(max(np.median(binned.variance), 1e-24)))
    scale_rows = torch.ones(3 * n_gaussians, 1, device=device)
    scale_rows[:n_gaussians] = scale
    params = (torch.from_numpy(start).to(device) / scale_rows).requires_grad_(True)

    generator = torch.Generator(device="cpu").manual_seed(options.seed)
    s_all = torch.from_numpy(np.ascontiguousarray(pairs.signal, dtype=np.float32)).to(device)
    x_all = torch.from_numpy(np.ascontiguousarray(pairs.observation, dtype=np.float32)).to(device)
    n_pairs = s_all.shape[0]
    batch_size = min(options.batch_size, n_pairs)
    steps = options.steps
    adam = _Adam(params, options.learning_rate)
    running_loss = None
    report_every = max(1, steps // 100)
    threads = TorchThreads(options.threads)
    threads.enter()
    try:
        for step in range(1, steps + 1):
            if stop is not None and stop:
                break
            index = torch.randint(n_pairs, (batch_size,), generator=generator).to(device)
            loss = -mixture_log_likelihood(
                params * scale_rows, x_all[index], s_all[index], min_signal, max_signal, min_sigma,
                REFERENCE_TOLERANCE,
            ).mean()
            params.grad = None
            loss.backward()
            # Cosine decay to a tenth of the start: removes most of the batch noise from the final parameters.
            adam.step(0.1 + 0.45 * (1.0 + math.cos(math.pi * step / max(steps, 1))))
            if step % report_every == 0 or step == steps:
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise InputError(
                        "The noise-model fit diverged (non-finite loss): check the data for outliers or "
                        "lower the learning rate."
                    )
                running_loss = value if running_loss is None else 0.8 * running_loss + 0.2 * value
                threads.leave()
                yield FitProgress(
                    stage="Fitting noise model",
                    done=step,
                    total=steps,
                    message=f"-log p = {running_loss:.4f}",
                    elapsed_s=timer.elapsed,
                    eta_s=timer.eta(step, steps),
                    loss=running_loss,
                )
                threads.enter()
    finally:
        threads.leave()
    weight = (params.detach() * scale_rows).cpu().numpy()
    return GaussianMixtureNoiseModel(weight, min_signal, max_signal, min_sigma)
