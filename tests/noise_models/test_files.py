import zipfile

import numpy as np
import pytest
import torch

from napari_hdn.foundation.errors import FileFormatError, InputError
from napari_hdn.noise_models import GaussianMixtureNoiseModel, GaussianNoiseModel, HistogramNoiseModel, PoissonGaussianNoiseModel, load_noise_model
from napari_hdn.noise_models.files import noise_model_from_arrays

from .test_gmm import random_model, reference_likelihood


def every_kind():
    gmm, _ = random_model(n_coeff=3)
    histogram = HistogramNoiseModel(np.random.default_rng(0).random((5, 7)), (100.0, 400.0), (50.0, 450.0))
    return [
        gmm,
        histogram,
        PoissonGaussianNoiseModel(2.0, 100.0, 3.0, signal_range=(100.0, 300.0)),
        GaussianNoiseModel(4.0),
    ]


@pytest.mark.parametrize("model", every_kind(), ids=lambda m: m.kind)
def test_save_load_round_trip(model, tmp_path):
    path = tmp_path / "nm.npz"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["nm.npz"]  # no temporary file left behind
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == 1 and str(data["kind"]) == model.kind
    loaded = load_noise_model(path)
    assert type(loaded) is type(model) and loaded.signal_range == model.signal_range
    rng = np.random.default_rng(0)
    s = rng.uniform(80, 420, 500)
    x = s + rng.normal(0, 20, 500)
    torch.testing.assert_close(loaded.log_likelihood(x, s), model.log_likelihood(x, s), rtol=0, atol=0)
    torch.testing.assert_close(loaded.moments(s)[1], model.moments(s)[1], rtol=0, atol=0)


@pytest.mark.parametrize("model", every_kind(), ids=lambda m: m.kind)
def test_from_arrays_accepts_tensors_and_python_scalars(model):
    arrays = {
        k: (v.item() if v.ndim == 0 else torch.from_numpy(np.ascontiguousarray(v)))
        for k, v in model.to_arrays().items()
    }
    rebuilt = noise_model_from_arrays(arrays)
    assert rebuilt.to_arrays().keys() == model.to_arrays().keys()
    torch.testing.assert_close(rebuilt.log_likelihood(150.0, 160.0), model.log_likelihood(150.0, 160.0))


def test_reference_hdn_file_loads_and_gives_the_reference_likelihoods(tmp_path):
    # Exactly what the reference GaussianMixtureNoiseModel.train writes with np.savez.
    rng = np.random.default_rng(7)
    weight = rng.normal(0, 1, (9, 2)).astype(np.float32)
    weight[:3] *= 20
    weight[3:6] += np.float32(np.log(300.0))
    path = tmp_path / "GMMNoiseModel.npz"
    np.savez(
        path,
        trained_weight=weight,
        min_signal=np.array([484.85], dtype=np.float32),
        max_signal=np.array([3235.01], dtype=np.float32),
        min_sigma=50,
    )
    model = load_noise_model(path)
    assert isinstance(model, GaussianMixtureNoiseModel)
    assert model.min_sigma == 50 and model.tolerance == 1e-10
    s = rng.uniform(300, 3500, 3000)
    x = s + rng.normal(0, 40, s.shape)
    expected = np.log(reference_likelihood(weight, x, s, np.float32(484.85), np.float32(3235.01), 50))
    np.testing.assert_allclose(model.log_likelihood(x, s).numpy(), expected, rtol=1e-5, atol=2e-5)


def test_our_gmm_files_carry_the_reference_keys(tmp_path):
    model, weight = random_model()
    model.save(tmp_path / "nm.npz")
    with np.load(tmp_path / "nm.npz", allow_pickle=False) as data:
        np.testing.assert_array_equal(data["trained_weight"], weight)
        assert data["min_signal"].shape == (1,) and float(data["min_sigma"]) == 2.0


def test_save_refuses_to_overwrite_when_asked(tmp_path):
    path = tmp_path / "nm.npz"
    path.write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists"):
        GaussianNoiseModel(1.0).save(path, overwrite=False)
    assert path.read_bytes() == b"keep me"


def _write_bad(tmp_path, kind):
    path = tmp_path / "bad.npz"
    if kind == "garbage":
        path.write_bytes(b"this is not a zip file at all")
    elif kind == "truncated":
        PoissonGaussianNoiseModel(2.0, 100.0, 3.0).save(path)
        path.write_bytes(path.read_bytes()[:150])
    elif kind == "foreign":
        np.savez(path, image=np.zeros((4, 4)))
    elif kind == "pickled":
        np.savez(path, kind=np.array([{"a": 1}], dtype=object), format_version=1)
    elif kind == "npy":
        path = tmp_path / "bad.npy"
        np.save(path, np.zeros(3))
    elif kind == "newer":
        np.savez(path, format_version=99, kind="gmm")
    elif kind == "unknown kind":
        np.savez(path, format_version=1, kind="wavelet")
    elif kind == "incomplete":
        np.savez(path, format_version=1, kind="poisson_gaussian", gain=2.0, offset=100.0)
    elif kind == "invalid value":
        np.savez(path, format_version=1, kind="poisson_gaussian", gain=-2.0, offset=100.0, read_sigma=3.0,
                 signal_range=np.array([0.0, 1.0]))
    elif kind == "bad weight":
        np.savez(path, trained_weight=np.zeros((4, 2)), min_signal=[0.0], max_signal=[1.0], min_sigma=1.0)
    elif kind == "empty zip":
        with zipfile.ZipFile(path, "w"):
            pass
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("garbage", "Cannot read"),
        ("truncated", "Cannot read"),
        ("foreign", "not a noise model"),
        ("pickled", "Cannot read"),
        ("npy", "single array"),
        ("newer", "newer napari-hdn"),
        ("unknown kind", "unknown noise-model kind 'wavelet'"),
        ("incomplete", "lacks the entry 'read_sigma'"),
        ("invalid value", "invalid noise-model parameters.*gain"),
        ("bad weight", "shape"),
        ("empty zip", "not a noise model"),
    ],
)
def test_corrupt_or_foreign_files_are_named(tmp_path, kind, message):
    path = _write_bad(tmp_path, kind)
    with pytest.raises(FileFormatError, match=message) as err:
        load_noise_model(path)
    assert str(path) in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        load_noise_model(tmp_path / "nope.npz")


def test_a_zip_header_asking_for_an_unknown_zip_version_is_a_clear_file_error(tmp_path):
    # Found by the property test: zipfile raises NotImplementedError("zip file version 10.9") for such a header.
    good = tmp_path / "good.npz"
    PoissonGaussianNoiseModel(1.5, 100.0, 3.0).save(good)
    data = bytearray(good.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first entry of the central directory, which zipfile reads
    data[central + 6] = 109  # its "version needed to extract": 10.9
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="Cannot read .*bad.npz as a noise model"):
        load_noise_model(bad)
