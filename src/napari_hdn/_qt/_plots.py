"""Matplotlib canvases embedded in the widgets: noise-model diagnostics and live training losses.

They only draw arrays computed by the core (``noise_model_diagnostics``, the
losses of training events).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import QSizePolicy

# napari's dark theme, so that the plots do not glare inside the viewer.
_BACKGROUND = "#262930"
_FOREGROUND = "#d1d2d4"


def _style(ax: Any) -> None:
    ax.set_facecolor(_BACKGROUND)
    for spine in ax.spines.values():
        spine.set_color(_FOREGROUND)
    ax.tick_params(colors=_FOREGROUND, labelsize=7)
    ax.xaxis.label.set_color(_FOREGROUND)
    ax.yaxis.label.set_color(_FOREGROUND)
    ax.title.set_color(_FOREGROUND)


class PlotCanvas(FigureCanvasQTAgg):
    """A figure with ``rows`` stacked axes, styled for napari; ``empty_text`` is shown until there is data."""

    empty_text = "No data yet."

    def __init__(self, rows: int = 2, height: float = 4.2):
        figure = Figure(figsize=(3.6, height), dpi=100, facecolor=_BACKGROUND)
        super().__init__(figure)
        self.figure = figure
        self.axes = [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(int(height * 72))
        self.clear()

    def clear(self, message: str | None = None) -> None:
        """No data: the axes hidden (bare 0-1 axes would look like a result) and a line saying what comes
        (``message``, else :attr:`empty_text`)."""
        self._blank()
        for ax in self.axes:
            ax.set_axis_off()
        self._placeholder = self.axes[0].text(
            0.5, 0.5, message or self.empty_text, transform=self.axes[0].transAxes, ha="center", va="center",
            wrap=True, fontsize=8, color=_FOREGROUND,
        )
        self.draw_idle()

    @property
    def empty(self) -> bool:
        """Whether the plot shows its "no data yet" line rather than data."""
        return self._placeholder is not None

    def _blank(self) -> None:
        self._placeholder = None
        for ax in self.axes:
            ax.clear()
            ax.set_axis_on()
            _style(ax)

    def _legend(self, ax: Any) -> None:
        """The legend beside the axes, on the right, where it covers no curve."""
        legend = ax.legend(fontsize=6, facecolor=_BACKGROUND, edgecolor=_FOREGROUND, labelcolor=_FOREGROUND,
                           loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        legend.get_frame().set_alpha(0.8)

    def _finish(self) -> None:
        self.figure.tight_layout()
        self.draw_idle()


# Plain axis names; the precise ones are in the plots' tooltips.
MEASURED = "measured value"
HOW_OFTEN = "how often"
TRUE_BRIGHTNESS = "true brightness"
NOISE_VARIANCE = "noise (variance)"
NOISE_PLOT_TIP = ("Top: p(x | s), the noise model's probability of each observation x (measured value) for a few "
                  "signal levels s (true brightness): lines, against the data's histograms: bars. Bottom: the "
                  "variance of x given s, model against data.")
LOSS_PLOT_TIP = ("Top: the loss per pixel (the negative ELBO: reconstruction -log p(x | s) plus the KL "
                 "divergence, 'information') on training batches, and on the validation tiles set aside "
                 "('held-back tiles'). Bottom: the KL divergence of each latent layer, in nats per patch "
                 "(symmetric log scale).")


class NoiseModelPlot(PlotCanvas):
    """p(x|s) at a few signal levels (model lines, data bars) and variance vs signal."""

    def __init__(self, rows: int = 2, height: float = 4.2):
        super().__init__(rows, height)
        self.setToolTip(NOISE_PLOT_TIP)

    empty_text = "No data yet: fit a noise model (or load one) to see it here."

    def show_diagnostics(self, d: Any) -> None:
        """Draw a :class:`napari_hdn.noise_models.NoiseModelDiagnostics`."""
        self._blank()
        top, bottom = self.axes
        for i, (level, grid, model_p, data_p) in enumerate(
            zip(d.signal_levels, d.observation_grid, d.model_density, d.empirical_density)
        ):
            colour = f"C{i % 10}"
            top.bar(grid, data_p, width=grid[1] - grid[0], color=colour, alpha=0.35, linewidth=0)
            top.plot(grid, model_p, color=colour, linewidth=1.2, label=f"brightness {level:.4g}")
        top.set_xlabel(MEASURED, fontsize=7)
        top.set_ylabel(HOW_OFTEN, fontsize=7)
        top.set_title("model (lines) vs data (bars)", fontsize=7)
        self._legend(top)
        bottom.plot(d.signal, d.data_variance, "o", markersize=2.5, color="0.75", label="data")
        bottom.plot(d.signal, d.model_variance, "-", color="C3", label="model")
        bottom.set_xlabel(TRUE_BRIGHTNESS, fontsize=7)
        bottom.set_ylabel(NOISE_VARIANCE, fontsize=7)
        bottom.set_title(f"noise vs brightness (max error {100 * d.max_relative_variance_error:.1f} %)", fontsize=7)
        self._legend(bottom)
        self._finish()

    def show_model_only(self, signal: np.ndarray, variance: np.ndarray,
                        levels: np.ndarray, grid: np.ndarray, density: np.ndarray) -> None:
        """Draw a model without data to compare with (known parameters, a loaded file)."""
        self._blank()
        top, bottom = self.axes
        for i, (level, x, p) in enumerate(zip(levels, grid, density)):
            top.plot(x, p, color=f"C{i % 10}", linewidth=1.2, label=f"brightness {level:.4g}")
        top.set_xlabel(MEASURED, fontsize=7)
        top.set_ylabel(HOW_OFTEN, fontsize=7)
        top.set_title("model (no data to compare with)", fontsize=7)
        self._legend(top)
        bottom.plot(signal, variance, "-", color="C3", label="model")
        bottom.set_xlabel(TRUE_BRIGHTNESS, fontsize=7)
        bottom.set_ylabel(NOISE_VARIANCE, fontsize=7)
        self._legend(bottom)
        self._finish()


class LossPlot(PlotCanvas):
    """Training losses per pixel (total, reconstruction, KL) and the KL of each latent layer."""

    empty_text = "No data yet: the losses appear here once training runs."

    def __init__(self) -> None:
        super().__init__(rows=2, height=4.0)
        self.setToolTip(LOSS_PLOT_TIP)
        self.reset()

    def reset(self) -> None:
        self.steps: list[int] = []
        self.total: list[float] = []
        self.reconstruction: list[float] = []
        self.kl: list[float] = []
        self.kl_layers: list[tuple[float, ...]] = []
        self.val_steps: list[int] = []
        self.val: list[float] = []
        self._lines: dict[str, Any] | None = None
        self.clear()

    def add_step(self, step: int, total: float, reconstruction: float, kl: float, kl_layers: tuple[float, ...]) -> None:
        self.steps.append(step)
        self.total.append(total)
        self.reconstruction.append(reconstruction)
        self.kl.append(kl)
        self.kl_layers.append(tuple(kl_layers))

    def add_validation(self, step: int, loss: float) -> None:
        self.val_steps.append(step)
        self.val.append(loss)

    def _create_lines(self, n_layers: int) -> dict[str, Any]:
        """The curves, made once per training run; later redraws only update their data (cheap)."""
        self._blank()
        top, bottom = self.axes
        lines = {
            "total": top.plot([], [], color="C0", linewidth=1, label="total")[0],
            "reconstruction": top.plot([], [], color="C1", linewidth=1, label="fit to the image")[0],
            "kl": top.plot([], [], color="C2", linewidth=1, label="information")[0],
            "validation": top.plot([], [], "o-", color="C3", markersize=3, linewidth=1, label="held-back tiles")[0],
            "layers": [bottom.plot([], [], linewidth=1, color=f"C{i % 10}", label=f"z{i + 1}")[0]
                       for i in range(n_layers)],
        }
        top.set_ylabel("training error", fontsize=7)
        self._legend(top)
        if n_layers:
            bottom.set_yscale("symlog", linthresh=1e-2)
            self._legend(bottom)
        bottom.set_xlabel("batches of tiles trained", fontsize=7)  # a training step (budget unit)
        bottom.set_ylabel("information per detail layer", fontsize=7)
        self._finish()
        return lines

    def redraw(self) -> None:
        if not self.steps:
            return
        n_layers = len(self.kl_layers[-1])
        if self._lines is None:
            self._lines = self._create_lines(n_layers)
        lines = self._lines
        lines["total"].set_data(self.steps, self.total)
        lines["reconstruction"].set_data(self.steps, self.reconstruction)
        lines["kl"].set_data(self.steps, self.kl)
        lines["validation"].set_data(self.val_steps, self.val)
        per_layer = np.array([k if len(k) == n_layers else (np.nan,) * n_layers for k in self.kl_layers])
        for i, line in enumerate(lines["layers"]):
            line.set_data(self.steps, per_layer[:, i])
        for ax in self.axes:
            ax.relim()
            ax.autoscale_view()
        self.draw_idle()
