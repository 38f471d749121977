"""Pixel noise models p(x|s) in raw data units, their calibration, files and diagnostics.

    nm = calibrate(stack, kind="gmm")                     # repeated acquisitions (frames first)
    nm = fit_noise_model(signal, observation)             # pseudo-clean + noisy (bootstrapping)
    nm = PoissonGaussianNoiseModel(gain=2.0, offset=100.0, read_sigma=5.0)   # known parameters
    est = estimate_noise_model(noisy); nm = est.model     # ordinary noisy images only
    nm = bootstrap_noise_model(hdn_model, noisy)          # GMM from a trained model's restorations
    nm.provenance                                         # how the model was obtained (saved with it)
    nm.log_likelihood(x, s), nm.moments(s), nm.save("nm.npz")
    nm = load_noise_model("nm.npz")                       # ours or reference HDN / PPN2V files
"""

from .base import NoiseModel
from .bootstrap import bootstrap_events, bootstrap_noise_model, bootstrap_with_signal_events
from .calibration import calibrate, calibrate_events, fit_noise_model, fit_noise_model_events
from .diagnostics import (
    NoiseModelCurves,
    NoiseModelDiagnostics,
    noise_model_curves,
    noise_model_diagnostics,
    save_diagnostics_plot,
)
from .estimate import CorrelatedNoiseWarning, EstimateOptions, NoiseEstimate, estimate_events, estimate_noise_model
from .estimate_plot import save_estimate_plot
from .files import load_noise_model
from .gaussian import GaussianNoiseModel
from .gmm import FitProgress, GaussianMixtureNoiseModel
from .histogram import HistogramNoiseModel
from .options import FitOptions, GaussianOptions, GMMOptions, HistogramOptions, PoissonGaussianOptions
from .poisson_gaussian import PoissonGaussianNoiseModel
from .stack_check import NonStaticStackWarning

__all__ = [
    "CorrelatedNoiseWarning",
    "EstimateOptions",
    "FitOptions",
    "FitProgress",
    "GMMOptions",
    "GaussianMixtureNoiseModel",
    "GaussianNoiseModel",
    "GaussianOptions",
    "HistogramNoiseModel",
    "HistogramOptions",
    "NoiseModel",
    "NoiseEstimate",
    "NoiseModelDiagnostics",
    "NonStaticStackWarning",
    "PoissonGaussianNoiseModel",
    "PoissonGaussianOptions",
    "bootstrap_events",
    "bootstrap_noise_model",
    "bootstrap_with_signal_events",
    "calibrate",
    "calibrate_events",
    "estimate_events",
    "estimate_noise_model",
    "fit_noise_model",
    "fit_noise_model_events",
    "load_noise_model",
    "noise_model_curves",
    "noise_model_diagnostics",
    "NoiseModelCurves",
    "save_diagnostics_plot",
    "save_estimate_plot",
]
