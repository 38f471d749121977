"""The Restore widget's "Save results...": chosen result layers written with the input's pixel size, never
replacing files without confirmation."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from qt_helpers import dock, noisy_stack, run_task
from qtpy.QtWidgets import QMessageBox

from napari_hdn._qt import save_results

pytestmark = pytest.mark.qt


@pytest.fixture
def restored(viewer, qtbot, trained_model_path):
    viewer.add_image(noisy_stack(1)[0], name="noisy", scale=(0.5, 0.25), units=("micrometer", "micrometer"))
    widget = dock(viewer, "Restore")
    assert widget.load_model(trained_model_path)
    widget.input_layer.set_layer("noisy")
    widget.n_samples.setValue(4)
    widget.keep_samples.setValue(2)
    widget.activations.setChecked(False)
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    return widget


def _answer_dialogs(monkeypatch, folder, fmt="tiff", replace=None):
    """The results dialog accepted as offered (in format ``fmt``), ``folder`` chosen, replacing answered."""
    asked = []

    def accept(dialog):
        dialog.format.setCurrentIndex(list(save_results.FORMAT_TEXT).index(fmt))
        return 1

    def question(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Yes if replace else QMessageBox.StandardButton.No

    monkeypatch.setattr(save_results.SaveResultsDialog, "exec", accept)
    monkeypatch.setattr(save_results.QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    monkeypatch.setattr(save_results.QMessageBox, "question", question)
    return asked


def test_save_results_writes_the_input_results_with_its_pixel_size(viewer, restored, tmp_path, monkeypatch,
                                                                   messages):
    widget = restored
    asked = _answer_dialogs(monkeypatch, tmp_path)
    widget.save_button.click()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy denoised.tif", "noisy uncertainty.tif",
                                                            "noisy variance.tif"]
    with tifffile.TiffFile(tmp_path / "noisy denoised.tif") as tif:
        np.testing.assert_array_equal(tif.asarray(), viewer.layers["noisy denoised"].data)
        assert tif.pages.first.resolution == pytest.approx((4.0, 2.0))  # pixels per micron along x, y
        assert tif.imagej_metadata["unit"] == "micron"
    assert asked == [] and "Saved" in widget.task.status.text()

    # Saving again: asked first; "No" keeps the files as they are.
    (tmp_path / "noisy denoised.tif").write_bytes(b"older result")
    asked = _answer_dialogs(monkeypatch, tmp_path, replace=False)
    widget.save_button.click()
    assert len(asked) == 1 and "noisy denoised.tif" in asked[0]
    assert (tmp_path / "noisy denoised.tif").read_bytes() == b"older result"
    asked = _answer_dialogs(monkeypatch, tmp_path, replace=True)
    widget.save_button.click()
    assert len(asked) == 1
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "noisy denoised.tif"),
                                  viewer.layers["noisy denoised"].data)
    assert messages == []


def test_save_results_as_ome_zarr(viewer, restored, tmp_path, monkeypatch, messages):
    pytest.importorskip("ome_zarr")
    from napari_hdn.io.omezarr import read_ome_zarr

    _answer_dialogs(monkeypatch, tmp_path, fmt="ome-zarr")
    restored.save_button.click()
    data, meta = read_ome_zarr(tmp_path / "noisy denoised.ome.zarr" / "noisy_denoised")
    np.testing.assert_array_equal(np.asarray(data), viewer.layers["noisy denoised"].data)
    assert meta.scale == (0.5, 0.25) and meta.units == {"y": "micrometer", "x": "micrometer"}
    assert messages == []


def test_the_dialog_offers_only_results_and_ticks_the_input_mmse_variance_and_uncertainty(viewer, restored):
    viewer.add_image(noisy_stack(1)[0], name="other image")
    dialog = save_results.SaveResultsDialog(restored.viewer, "noisy")
    offered = [dialog.layers.item(i).text() for i in range(dialog.layers.count())]
    assert sorted(offered) == ["noisy denoised", "noisy samples", "noisy uncertainty", "noisy variance"]
    assert sorted(dialog.chosen()[0]) == ["noisy denoised", "noisy uncertainty", "noisy variance"]
