"""ONNX weights in the BioImage Model Zoo package (napari-hdn[onnx]): they pass bioimageio.core's test and agree
with the TorchScript weights on the test tensor; without the extra, the export says what to install."""

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import napari_hdn
from napari_hdn.direct import DirectUNet
from napari_hdn.errors import InputError

sys.path.insert(0, str(Path(__file__).parent / "inference"))
from tiny_models import make_image, make_model  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    import socket

    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise AssertionError("the export tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def model_and_image():
    torch.manual_seed(0)
    model = make_model()
    net = DirectUNet(depth=2, width=8)
    with torch.no_grad():
        net.out.weight.normal_(0, 0.1)  # not the identity
    model.direct_denoisers = {"all-on": net.eval()}
    return model, make_image((80, 72))


def test_onnx_weights_pass_the_zoo_test_and_agree_with_torchscript(model_and_image, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("bioimageio.core")
    from bioimageio.core import test_model

    model, image = model_and_image
    out = napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, onnx=True)  # checked by the zoo's test
    with zipfile.ZipFile(out) as z:
        assert {"weights.onnx", "weights_torchscript.pt"} <= set(z.namelist())
        z.extractall(tmp_path / "x")
    for weights in ("onnx", "torchscript"):
        summary = test_model(out, weight_format=weights)
        assert summary.status == "passed", summary.format()
    from napari_hdn.direct.onnx_export import run, session

    x = np.load(tmp_path / "x" / "test_input.npy", allow_pickle=False)
    normalised = ((x - model.data_mean) / model.data_std).astype(np.float32)
    scripted = torch.jit.load(str(tmp_path / "x" / "weights_torchscript.pt"))
    with torch.inference_mode():
        expected = scripted(torch.from_numpy(normalised)).numpy()
    got = run(session((tmp_path / "x" / "weights.onnx").read_bytes()), normalised)
    assert got.shape == expected.shape == (1, 1, 64, 64)
    assert np.abs(got - expected).max() <= 1e-3 * np.ptp(expected)
    # The graph takes other sizes and batches (multiples of the stride), as the package's description says.
    batch = np.random.default_rng(0).normal(size=(2, 1, 32, 48)).astype(np.float32)
    with torch.inference_mode():
        np.testing.assert_allclose(run(session((tmp_path / "x" / "weights.onnx").read_bytes()), batch),
                                   scripted(torch.from_numpy(batch)).numpy(), atol=1e-4)


def test_onnx_false_leaves_them_out(model_and_image, tmp_path):
    model, image = model_and_image
    out = napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, check=False, onnx=False)
    with zipfile.ZipFile(out) as z:
        assert "weights.onnx" not in z.namelist()


def test_bad_onnx_option_is_refused_before_anything_is_written(model_and_image, tmp_path):
    model, image = model_and_image
    with pytest.raises(InputError, match="onnx must be"):
        napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, onnx="yes")
    assert not (tmp_path / "m.zip").exists()


def test_onnx_true_without_the_extra_says_what_to_install(model_and_image, tmp_path, monkeypatch):
    import napari_hdn.direct.onnx_export as onnx_export

    monkeypatch.setattr(onnx_export, "onnx_available", lambda: False)
    model, image = model_and_image
    with pytest.raises(InputError, match=r"napari-hdn\[onnx\]"):
        napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, onnx=True)
    assert not (tmp_path / "m.zip").exists()


def test_a_disagreeing_export_is_refused():
    from napari_hdn.direct.onnx_export import check_agreement

    reference = np.linspace(0, 10, 64).reshape(1, 1, 8, 8)
    assert check_agreement(reference + 1e-5, reference, "ONNX") < 1e-3
    with pytest.raises(InputError, match="not faithful"):
        check_agreement(reference + 0.1, reference, "ONNX")
    with pytest.raises(InputError, match="shape"):
        check_agreement(reference[..., :4], reference, "ONNX")
