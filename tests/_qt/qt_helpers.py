"""Helpers of the widget tests: tiny settings and data, docking widgets, waiting for jobs."""

from __future__ import annotations

import numpy as np

# A network and a training run small enough for seconds on one core (2 latent layers: stride 4).
TINY = {
    "n_latent_layers": 2,
    "z_channels": 4,
    "n_filters": 8,
    "blocks_per_layer": 1,
    "batch_size": 4,
    "steps_per_epoch": 4,
    "val_patches": 8,
    "threads": 1,
}
TINY_PATCH = 16
WAIT_MS = 60_000  # worker waits: generous for a loaded 2-core machine; a passing test takes far less


def noisy_stack(n: int = 3, size: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth structure plus Gaussian noise (sigma 3) around an offset of 100, float32."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = 100 + 30 * np.sin(yy / 6.0) ** 2 * np.cos(xx / 9.0) ** 2
    return (clean + rng.normal(0, 3, size=(n, size, size))).astype(np.float32)


def dock(viewer, widget_name: str):
    """Dock a napari-hdn widget as napari does from the Plugins menu (through the npe2 manifest)."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-hdn", widget_name)
    if hasattr(widget, "threads"):
        widget.threads = 1  # restorations on one core: the test machine's 2 cores are shared
    return widget


def run_task(qtbot, task, start) -> str:
    """Call ``start()`` (which must start ``task``) and wait for the task to end; returns how it ended."""
    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(task.finished, timeout=WAIT_MS) as blocker:
            assert start(), task.status.text()
    assert not exceptions, exceptions
    return blocker.args[0]


def click_refused_or_run(qtbot, task, start) -> None:
    """Call ``start()``, whether the job is refused before it starts or runs (then wait for its end)."""
    with qtbot.waitSignal(task.finished, timeout=WAIT_MS):
        if not start():  # refused before starting: nothing to wait for
            task.finished.emit("failed")
