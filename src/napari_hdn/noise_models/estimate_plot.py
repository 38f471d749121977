"""The diagnostic plot of a noise estimate: variance vs mean of the local statistics used, with the fit.

Drawn like the calibration diagnostics (``diagnostics.py``): matplotlib's Agg backend, imported only
when a figure is drawn, written atomically.
"""

from __future__ import annotations

import os

import numpy as np

from ..io.atomic import atomic_path
from .estimate import NoiseEstimate


def relative_fit_error(estimate: NoiseEstimate) -> float:
    """max |model / data - 1| of the variance over the bins the line was fitted to."""
    used = estimate.bins_used
    model = estimate.model.moments(estimate.signal[used])[1].double().numpy()
    return float(np.max(np.abs(model / np.maximum(estimate.variance[used], 1e-30) - 1.0)))


def save_estimate_plot(estimate: NoiseEstimate, path: str | os.PathLike, overwrite: bool = True) -> None:
    """Variance of the noise residual vs local mean (bins used and dropped) with the fitted model, as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    e = estimate
    figure = Figure(figsize=(6.5, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    used = e.bins_used
    axes.plot(e.signal[used], e.variance[used], "o", markersize=4, color="0.3", label="flat pixels (bins fitted)")
    if (~used).any():
        axes.plot(e.signal[~used], e.variance[~used], "x", color="C1", label="bins left out (structure)")
    s = np.linspace(min(e.offset, np.nanmin(e.signal)), np.nanmax(e.signal), 200)
    axes.plot(s, e.model.moments(s)[1].double().numpy(), "-", color="C3", label="model")
    axes.axvline(e.offset, color="0.6", linestyle=":", label=f"offset {e.offset:.4g}")
    axes.set_xlabel("local mean signal (raw units)")
    axes.set_ylabel("noise variance")
    axes.set_title(f"variance vs signal (max error {100 * relative_fit_error(e):.1f} %)", fontsize="medium")
    axes.legend(fontsize="small")
    figure.suptitle(e.describe().replace(", from ", "\nfrom "), fontsize="small")
    dark = (e.spatial_correlation.get("correlation") or {}).get("dark")
    if dark:
        axes.text(0.02, 0.97, f"correlation between neighbours at the dark level: vertical {dark['y'][0]:.2f}, "
                  f"horizontal {dark['x'][0]:.2f}" + (" (included in the variance)" if e.spatial_correlation.get(
                      "correction_weight") else ""), transform=axes.transAxes, va="top", fontsize="x-small")
    figure.tight_layout()
    with atomic_path(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, format="png")
