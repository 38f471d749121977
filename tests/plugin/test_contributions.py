"""napari contributions without Qt: sample data providers and the reader for model / noise-model files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from napari_hdn.plugin import contributions as _contributions

from napari_hdn.io import sample_data
from napari_hdn.plugin.layer_roles import CALIBRATION, GROUND_TRUTH, layer_role


def _by_name(layers):
    return {kwargs["name"]: (data, kwargs, kind) for data, kwargs, kind in layers}


@pytest.mark.parametrize("structured", [False, True])
def test_nuclei_samples_are_the_benchmark_images(structured):
    layers = _by_name(_contributions.sample_nuclei_structured() if structured else _contributions.sample_nuclei())
    variant = "nuclei-struct" if structured else "nuclei"
    assert set(layers) == {f"{variant} noisy stack", f"{variant} noisy", f"{variant} ground truth"}
    stack, _, kind = layers[f"{variant} noisy stack"]
    noisy, noisy_kwargs, _ = layers[f"{variant} noisy"]
    truth, truth_kwargs, _ = layers[f"{variant} ground truth"]
    assert kind == "image"
    assert stack.shape == (60, 256, 256) and noisy.shape == truth.shape == (256, 256)
    assert stack.dtype == noisy.dtype == truth.dtype == np.float32
    np.testing.assert_allclose(noisy, sample_data.test_image(structured), rtol=1e-6)
    # The ground truth is shown in camera units, so that it compares with the noisy image and the MMSE.
    np.testing.assert_allclose(truth, sample_data.GAIN * sample_data.ground_truth() + sample_data.OFFSET, rtol=1e-6)
    assert truth_kwargs["visible"] is False
    low, high = noisy_kwargs["contrast_limits"]
    assert noisy.min() <= low < high <= noisy.max()
    assert noisy_kwargs["metadata"]["napari_hdn_sample"] == variant
    # The ground truth is marked, so that the widgets never offer it as training data.
    assert layer_role(truth_kwargs["metadata"]) == GROUND_TRUTH and layer_role(noisy_kwargs["metadata"]) is None


def test_calibration_sample_is_100_repeats_of_the_test_slice():
    ((stack, kwargs, kind),) = _contributions.sample_calibration()
    assert kind == "image" and kwargs["name"] == "nuclei calibration"
    assert stack.shape == (100, 256, 256) and stack.dtype == np.float32
    assert layer_role(kwargs["metadata"]) == CALIBRATION  # the Noise model widget's default stack
    # Repeats of one static scene: the frame mean approaches the clean slice in camera units.
    clean = sample_data.GAIN * sample_data.ground_truth() + sample_data.OFFSET
    assert np.abs(stack.mean(axis=0) - clean).mean() < 0.7


def test_reader_declines_other_files(tmp_path):
    other_npz = tmp_path / "weights.npz"
    np.savez(other_npz, weights=np.zeros(3))
    broken_npz = tmp_path / "broken.npz"
    broken_npz.write_bytes(b"not a zip file")
    image = tmp_path / "image.tif"
    image.write_bytes(b"II*\x00")
    empty_folder = tmp_path / "folder"
    empty_folder.mkdir()
    for path in (other_npz, broken_npz, image, empty_folder, tmp_path / "missing.npz", [str(other_npz)] * 2):
        assert _contributions.get_reader(path) is None, path


def test_reader_loads_noise_model_files(tmp_path):
    from napari_hdn.noise_models import PoissonGaussianNoiseModel

    path = tmp_path / "nm.npz"
    PoissonGaussianNoiseModel(2.0, 100.0, 4.0).save(path)
    reference = tmp_path / "reference.npz"  # the reference HDN / PPN2V GMM format
    np.savez(reference, trained_weight=np.zeros((9, 2)), min_signal=np.array(0.0), max_signal=np.array(100.0),
             min_sigma=np.array(1.0))
    assert _contributions.get_reader(reference) is _contributions._read_noise_model
    reader = _contributions.get_reader(str(path))
    assert reader is _contributions._read_noise_model
    # Outside a napari viewer nothing is handed over, and no layer is made (napari's "empty" sentinel).
    assert reader(str(path)) == [(None,)]


@pytest.fixture(scope="module")
def training_folder(tmp_path_factory):
    """The output folder of a two-step training of a tiny network (best/ and last/ bundles)."""
    from napari_hdn.noise_models import GaussianNoiseModel
    from napari_hdn.training import train

    out = tmp_path_factory.mktemp("training") / "run"
    noisy = np.random.default_rng(0).normal(100, 3, (2, 32, 32)).astype(np.float32)
    train(noisy, GaussianNoiseModel(3.0), steps=2, out=out, patch_size=16, n_latent_layers=2, z_channels=2,
          n_filters=4, blocks_per_layer=1, batch_size=2, steps_per_epoch=2, val_patches=2, threads=1)
    return out


def test_reader_loads_model_bundles_and_training_folders(training_folder):
    out = training_folder
    for path in (out, out / "best", out / "last" / "model.json"):
        reader = _contributions.get_reader(path)
        assert reader is _contributions._read_model, path
        assert reader(path) == [(None,)]


def test_reader_reports_a_corrupt_model_clearly(tmp_path):
    from napari_hdn.foundation.errors import FileFormatError

    bundle = tmp_path / "model"
    bundle.mkdir()
    (bundle / "model.json").write_text("{not json")
    reader = _contributions.get_reader(bundle)
    with pytest.raises(FileFormatError, match="not valid JSON"):
        reader(bundle)


def test_contributions_import_neither_qt_nor_torch():
    code = (
        "import sys, napari_hdn.plugin.contributions as c; c.get_reader('x.npz'); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui', 'superqt', 'torch')); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.qt
def test_opening_files_in_napari_loads_them_into_the_widgets(make_napari_viewer, tmp_path, training_folder):
    from napari_hdn.plugin.session import session_for
    from napari_hdn.noise_models import PoissonGaussianNoiseModel

    viewer = make_napari_viewer()
    path = tmp_path / "nm.npz"
    PoissonGaussianNoiseModel(2.0, 100.0, 4.0).save(path)
    viewer.open(path, plugin="napari-hdn")
    session = session_for(viewer)
    assert session.noise_model.describe().startswith("Poisson-Gaussian, gain 2")
    assert session.noise_model_source == str(path)
    assert len(viewer.layers) == 0
    _, widget = viewer.window.add_plugin_dock_widget("napari-hdn", "Noise model")
    assert "camera model: 2 units per photon" in widget.description.text()  # the reader opened it there (plain words)

    viewer.open(training_folder, plugin="napari-hdn")
    assert session.model is not None and session.model.n_layers == 2
    _, restore = viewer.window.add_plugin_dock_widget("napari-hdn", "Restore")
    assert len(restore.latent.toggles) == 2
