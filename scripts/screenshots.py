"""Render screenshots of the napari-hdn widgets in use on the sample data into docs/images/.

    xvfb-run -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshots.py --sizes 1366x768 \
        [--model MODEL] [--train-seconds 300] [--shot-after-steps 100] [--out docs/images]

(one size per run, on a screen of that size: a laptop's 1366x768, then 1920x1080)

Opens napari as a user gets it (the launch helper: the three widgets as tabs of
one dock, napari's layer list and controls beside them), clicks through the
widgets as a user would and saves, at each screen size, one PNG per step:
noise_model-WxH.png (calibration and its diagnostics), train-WxH.png (training
with live losses and preview), restore-WxH.png (noisy input, ground truth and MMSE
truth side by side) and latent_layers-WxH.png (z1 switched off, preview of the
region in view). The window fills the whole screen of each size, as a
maximised window would.

The training screenshot is taken at the first live preview after --shot-after-steps
steps (previews come every few seconds), and training is then stopped. Without --model the
restoration uses that briefly trained model; give a model trained for the full
budget (e.g. ``hdn-demo/model`` from ``./dev demo``) for a representative result.
Without a display, a virtual one as large as the largest size is started.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

SIZES = ((1366, 768), (1920, 1080))  # a laptop and a desktop screen


def _wait(condition, timeout_s: float, what: str) -> None:
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        QApplication.processEvents()
        time.sleep(0.02)


def _settle(seconds: float = 1.0) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def _run(task, start, timeout_s: float, what: str) -> None:
    """Start a widget's job and wait for it to end successfully."""
    outcome: list[str] = []
    task.finished.connect(outcome.append)
    if not start():
        raise RuntimeError(f"{what} did not start: {task.status.text()}")
    _wait(lambda: bool(outcome), timeout_s, what)
    if outcome[0] != "done":
        raise RuntimeError(f"{what} ended with {outcome[0]}: {task.status.text()}")


def _show(viewer, dock_name: str, visible: list[str]) -> None:
    """Bring a widget's tab to the front and show only the named layers."""
    dock, _ = viewer.window.add_plugin_dock_widget("napari-hdn", dock_name)
    dock.show()
    dock.raise_()
    for layer in viewer.layers:
        layer.visible = layer.name in visible
    viewer.reset_view()


def _save(viewer, out: Path, name: str, sizes: tuple[tuple[int, int], ...], page=None, show=None) -> None:
    """One screenshot of the whole window per screen size: ``<name>-<width>x<height>.png``.

    ``page`` (a widget's scrolling page) is scrolled to the widget ``show`` once laid out at each size.
    """
    window = viewer.window._qt_window
    for width, height in sizes:
        window.move(0, 0)
        window.resize(width, height)
        _settle(1.0)
        if page is not None:
            page.ensureWidgetVisible(show)
        viewer.reset_view()  # fit what is shown (also each cell of a grid)
        _settle(1.5)
        if (window.width(), window.height()) != (width, height):  # the window cannot be made that small
            raise RuntimeError(f"the window is {window.width()}x{window.height()}, not {width}x{height}: "
                               "its minimum size does not fit the screen")
        path = out / f"{name}-{width}x{height}.png"
        viewer.screenshot(path=str(path), canvas_only=False, flash=False)
        print(f"wrote {path}")


def render(out: Path, model_path: str | None, train_seconds: float, sizes: tuple[tuple[int, int], ...],
           shot_after_steps: int = 100) -> None:
    from napari_hdn._qt.launch import open_viewer
    from napari_hdn._qt.result_names import output_name

    viewer = open_viewer(sample="nuclei", calibration=True, show=True)
    viewer.window.resize(*sizes[0])
    _settle(2.0)
    noise, train, restore = (viewer.window.add_plugin_dock_widget("napari-hdn", name)[1]
                             for name in ("Noise model", "Train", "Restore"))

    # 1. Noise model: a GMM calibrated on the 100 repeated acquisitions.
    noise.set_source("stack")
    noise.stack_layer.set_layer("nuclei calibration")
    noise.set_kind("gmm")
    noise.max_pairs.setValue(1_000_000)
    _run(noise.task, noise.fit, 300, "the noise-model fit")
    _show(viewer, "Noise model", ["nuclei calibration"])
    viewer.dims.set_current_step(0, 0)
    _save(viewer, out, "noise_model", sizes)

    # 2. Training on the noisy stack, caught in the middle (after its second live preview), then stopped.
    train.layers.set_checked(["nuclei noisy stack"])
    # One thread: the live previews (every few seconds) take the other core.
    train.set_overrides(threads=1)
    train.budget_kind.setCurrentText("minutes")
    train.budget.setValue(train_seconds / 60.0)
    train.output.setText(str(Path(tempfile.mkdtemp(prefix="hdn-screenshots-")) / "model"))
    _show(viewer, "Train", ["nuclei noisy stack"])
    previews: list[str] = []
    train.preview_task.finished.connect(previews.append)
    if not train.start():
        raise RuntimeError(f"training did not start: {train.task.status.text()}")
    # Let it learn for a while (previews come every few seconds), then show the next fresh preview.
    _wait(lambda: len(train.loss_plot.steps) >= shot_after_steps or not train.task.running, train_seconds + 120,
          f"{shot_after_steps} steps")
    seen = previews.count("done")
    _wait(lambda: previews.count("done") > seen or not train.task.running, 120, "a training preview")
    for layer in viewer.layers:
        layer.visible = layer.name in ("nuclei noisy stack", output_name("nuclei noisy stack", "training preview"))
    viewer.dims.set_current_step(0, 30)
    _save(viewer, out, "train", sizes, train.page, train.loss_plot)  # the page scrolls: show the live losses
    train.stop()
    _wait(lambda: not train.task.running, 300, "the end of training")
    if model_path is not None and not restore.load_model(model_path):
        raise RuntimeError(f"could not load {model_path}: {restore.task.status.text()}")

    # 3. Restoration of the test slice: noisy input and MMSE side by side.
    restore.input_layer.set_layer("nuclei noisy")
    restore.n_samples.setValue(50)
    restore.keep_samples.setValue(5)
    _run(restore.task, restore.restore, 600, "the restoration")
    _show(viewer, "Restore", ["nuclei noisy", output_name("nuclei noisy", "MMSE"), "nuclei ground truth"])
    grid = viewer.canvas.grid
    grid.shape = (1, 3)  # noisy | ground truth | MMSE (napari fills the grid from the layer list)
    grid.enabled = True
    _save(viewer, out, "restore", sizes, restore.page, restore.task)

    # 4. Latent layers: z1 off, previewed on the region in view (the middle of the image, zoomed in).
    grid.enabled = False
    _show(viewer, "Restore", ["nuclei noisy"])
    viewer.scene.camera.zoom *= 1.6
    _settle(1.0)
    outcome: list[str] = []
    restore.preview_task.finished.connect(outcome.append)
    restore.latent.toggles[0].setChecked(False)
    _wait(lambda: bool(outcome), 120, "the latent-layer preview")
    _show(viewer, "Restore", [output_name("nuclei noisy", "MMSE"), output_name("nuclei noisy", "preview")])
    grid.shape = (1, 2)  # all layers on | z1 off
    grid.enabled = True
    # The latent-layer panel, below the restoration.
    _save(viewer, out, "latent_layers", sizes, restore.page, restore.apply_button)
    viewer.close()


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a screen size such as 1366x768") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained model folder to restore with (default: the one trained here)")
    parser.add_argument("--train-seconds", type=float, default=300.0,
                        help="training budget of the screenshot run (it is stopped after its second live preview)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    parser.add_argument("--shot-after-steps", type=int, default=100,
                        help="training steps before the training screenshot (taken while training runs)")
    parser.add_argument("--sizes", nargs="+", type=_size, default=SIZES, metavar="WxH",
                        help="screen sizes to render at (default: 1366x768 1920x1080)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = tuple(args.sizes)
    display = None
    if not os.environ.get("DISPLAY"):
        from pyvirtualdisplay import Display  # installed with pytest-xvfb

        largest = (max(w for w, _ in sizes), max(h for _, h in sizes))
        display = Display(size=largest, color_depth=24)
        display.start()
    try:
        render(args.out, args.model, args.train_seconds, sizes, args.shot_after_steps)
    finally:
        if display is not None:
            display.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
