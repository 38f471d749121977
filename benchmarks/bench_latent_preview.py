"""Latency of the latent-layer panel: switching a layer off until the preview layer shows the new MMSE.

Drives the Restore widget in a real napari window (a virtual X server when
there is no display) on the sample test image (256 x 256), with the ``fast``
preset's network (untrained: the time does not depend on the weights). Each
round unticks or ticks z1 and waits for the preview layer to update; the time
includes the widget's debounce (PREVIEW_DEBOUNCE_MS), the restoration of the region in view
(``--samples`` posterior samples, the widget's default) in a thread worker and
the layer update. The restoration alone (the core call; the widget runs it on
one thread) is timed too, on one thread and on all cores; its CPU seconds on
one thread approximate the wall time on an otherwise idle core (the machine is
shared).

    .venv/bin/python benchmarks/bench_latent_preview.py [--rounds 6] [--samples 8]

Results (JSON) go to benchmarks/results/latent_preview.json; the target is
about 2 s on this 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 2.0


def fast_model():
    import torch

    from napari_hdn.model import LadderVAE
    from napari_hdn.model.bundle import HDNModel
    from napari_hdn.noise_models import GaussianNoiseModel
    from napari_hdn.training import PRESETS

    torch.manual_seed(0)
    network = LadderVAE(PRESETS["fast"].model).eval()
    return HDNModel(network, GaussianNoiseModel(3.0), data_mean=110.0, data_std=6.0)


def core_seconds(model, image, samples: int, rounds: int, threads: int | None) -> dict[str, list[float]]:
    """Wall and CPU seconds of the restoration the widget runs (z1 off and on in turn)."""
    from napari_hdn.inference import restore

    restore(model, image, samples, 0, deactivate=(1,), threads=threads)  # warm-up
    wall, cpu = [], []
    for k in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        restore(model, image, samples, 0, deactivate=(1,) if k % 2 == 0 else (), threads=threads)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"wall_s": wall, "cpu_s": cpu}


def widget_seconds(model, image, samples: int, rounds: int) -> list[float]:
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.add_image(image, name="nuclei noisy")
    _, widget = viewer.window.add_plugin_dock_widget("napari-hdn", "Restore")
    widget.session.set_model(model, "fast preset, untrained")
    widget.input_layer.set_layer("nuclei noisy")
    widget.preview_samples.setValue(samples)
    ended: list[str] = []
    widget.preview_task.finished.connect(ended.append)
    viewer.window.resize(1600, 1000)
    viewer.reset_view()  # the whole 256 x 256 image in view: the preview region
    settle = time.perf_counter()
    while time.perf_counter() - settle < 1.0:
        QApplication.processEvents()
        time.sleep(0.01)

    def toggle_and_wait(on: bool) -> float:
        ended.clear()
        start = time.perf_counter()
        widget.latent.toggles[0].setChecked(on)
        while not ended:
            if time.perf_counter() - start > 300:
                raise TimeoutError("no preview within 300 s")
            QApplication.processEvents()
            time.sleep(0.005)
        assert ended == ["done"], widget.preview_task.status.text()
        return time.perf_counter() - start

    toggle_and_wait(False)  # warm-up: z1 off
    times = [toggle_and_wait(k % 2 == 0) for k in range(rounds)]  # on, off, on, ...: every click changes it
    shape = viewer.layers["nuclei noisy preview"].data.shape
    viewer.close()
    assert shape == image.shape, shape
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--samples", type=int, default=None, help="posterior samples (default: the widget's)")
    args = parser.parse_args()
    display = None
    if not os.environ.get("DISPLAY"):
        from pyvirtualdisplay import Display

        display = Display(size=(1400, 900), color_depth=24)
        display.start()
    try:
        import numpy as np

        from napari_hdn.io import sample_data
        from napari_hdn._qt.restore_widget import DEFAULT_PREVIEW_SAMPLES, PREVIEW_DEBOUNCE_MS

        samples = args.samples or DEFAULT_PREVIEW_SAMPLES
        model = fast_model()
        image = sample_data.test_image().astype(np.float32)
        load_before = list(os.getloadavg())
        core_one = core_seconds(model, image, samples, args.rounds, threads=1)
        core_all = core_seconds(model, image, samples, args.rounds, threads=None)
        widget = widget_seconds(model, image, samples, args.rounds)
    finally:
        if display is not None:
            display.stop()
    result = {
        "benchmark": "latent_preview",
        "network": "fast preset, untrained",
        "region": list(image.shape),
        "samples": samples,
        "debounce_ms": PREVIEW_DEBOUNCE_MS,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "core_restore_one_thread": {"median_wall_s": statistics.median(core_one["wall_s"]),
                                    "median_cpu_s": statistics.median(core_one["cpu_s"]), **core_one},
        "core_restore_all_cores": {"median_wall_s": statistics.median(core_all["wall_s"]), **core_all},
        "toggle_to_preview_s": {"median": statistics.median(widget), "all": widget},
        "target_s": TARGET_S,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latent_preview.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
