"""Pixel noise models p(x|s) in raw data units, their calibration, files and diagnostics.

    nm = calibrate(stack, kind="gmm")                     # repeated acquisitions (frames first)
    nm = fit_noise_model(signal, observation)             # pseudo-clean + noisy (bootstrapping)
    nm = PoissonGaussianNoiseModel(gain=2.0, offset=100.0, read_sigma=5.0)   # known parameters
    nm.log_likelihood(x, s), nm.moments(s), nm.save("nm.npz")
    nm = load_noise_model("nm.npz")                       # ours or reference HDN / PPN2V files
"""

from .base import FORMAT_VERSION, NoiseModel
from .calibration import calibrate, calibrate_events, fit_noise_model, fit_noise_model_events
from .diagnostics import NoiseModelDiagnostics, noise_model_diagnostics, save_diagnostics_plot
from .files import load_noise_model, noise_model_from_arrays
from .gaussian import GaussianNoiseModel
from .gmm import FitProgress, GaussianMixtureNoiseModel
from .histogram import HistogramNoiseModel
from .options import (
    KINDS,
    FitOptions,
    GaussianOptions,
    GMMOptions,
    HistogramOptions,
    PoissonGaussianOptions,
    make_options,
)
from .pairs import CalibrationPairs, image_pairs, stack_pairs
from .poisson_gaussian import PoissonGaussianNoiseModel

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "CalibrationPairs",
    "FitOptions",
    "FitProgress",
    "GMMOptions",
    "GaussianMixtureNoiseModel",
    "GaussianNoiseModel",
    "GaussianOptions",
    "HistogramNoiseModel",
    "HistogramOptions",
    "NoiseModel",
    "NoiseModelDiagnostics",
    "PoissonGaussianNoiseModel",
    "PoissonGaussianOptions",
    "calibrate",
    "calibrate_events",
    "fit_noise_model",
    "fit_noise_model_events",
    "image_pairs",
    "load_noise_model",
    "make_options",
    "noise_model_diagnostics",
    "noise_model_from_arrays",
    "save_diagnostics_plot",
    "stack_pairs",
]
