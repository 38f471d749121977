"""The Restore widget's "Export to BioImage Model Zoo..." button: refusal without a direct denoiser, then a package."""

from __future__ import annotations

import zipfile

import pytest
from qt_helpers import dock, noisy_stack, run_task
from qtpy.QtWidgets import QFileDialog

from napari_hdn.direct import DirectUNet

pytestmark = pytest.mark.qt


def test_export_button_refuses_then_writes_a_package(qtbot, viewer, trained_model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path / "cache"))
    viewer.add_image(noisy_stack(1)[0], name="noisy")
    widget = dock(viewer, "Restore")
    assert widget.load_model(trained_model_path)
    widget.input_layer.set_layer("noisy")
    out = tmp_path / "shared.zip"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "Zip (*.zip)"))

    assert not widget.export.export_dialog()  # no direct denoiser: says what to do, starts nothing
    assert "Train the one-pass denoiser" in widget.export.task.status.text() and not out.exists()

    widget.session.model.direct_denoisers = {"all-on": DirectUNet(depth=1, width=8).eval()}
    assert run_task(qtbot, widget.export.task, widget.export.export_dialog) == "done"
    with zipfile.ZipFile(out) as z:
        assert {"rdf.yaml", "weights.pt", "weights_torchscript.pt", "test_input.npy"} <= set(z.namelist())
    done = widget.export.task.status.text()
    assert str(out) in done and "passed" in done and "bioimageio test" not in done  # no check to run again
