"""BioImage Model Zoo export: a tiny model's direct denoiser passes bioimageio.core's own test, offline (also its ONNX weights)."""

import json
import zipfile

import numpy as np
import pytest
import tifffile
import torch

import napari_hdn
from napari_hdn.cli import main
from napari_hdn.direct import DirectUNet
from napari_hdn.foundation.errors import InputError


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No network: a fresh cache, and any attempt to open a socket fails the test."""
    import socket

    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise AssertionError("the export tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def model_and_image():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "inference"))
    from tiny_models import make_image, make_model

    torch.manual_seed(0)
    model = make_model()
    net = DirectUNet(depth=1, width=8)
    with torch.no_grad():
        net.out.weight.normal_(0, 0.1)  # not the identity, so that the test output differs from the input
    model.direct_denoisers = {"all-on": net.eval()}
    return model, make_image((80, 72))


def test_package_passes_bioimageio_test(model_and_image, tmp_path):
    from bioimageio.core import test_model

    model, image = model_and_image
    out = napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, authors=["Ada"])
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        meta = json.loads(z.read("model.json"))
    assert {"rdf.yaml", "direct_unet.py", "weights.pt", "weights_torchscript.pt", "test_input.npy",
            "test_output.npy", "cover.png", "README.md", "model.json"} <= names
    assert meta["normalization"]["mean"] == model.data_mean
    summary = test_model(out)
    assert summary.status == "passed", summary.format()
    assert not list(tmp_path.glob(".*tmp*"))  # nothing temporary left beside the package


def test_test_output_is_napari_hdn_denoise(model_and_image, tmp_path):
    model, image = model_and_image
    out = napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, check=False)
    with zipfile.ZipFile(out) as z:
        z.extractall(tmp_path / "x")
    x = np.load(tmp_path / "x" / "test_input.npy", allow_pickle=False)
    y = np.load(tmp_path / "x" / "test_output.npy", allow_pickle=False)
    assert x.shape == y.shape == (1, 1, 64, 64)
    # The package runs in float32 wherever it is used, so its test output is the float32 estimate.
    expected = napari_hdn.denoise(model, x[0, 0], precision="float32")
    np.testing.assert_allclose(y[0, 0], expected, rtol=1e-4, atol=1e-3)


def test_refuses_without_direct_denoiser(model_and_image, tmp_path):
    model, image = model_and_image
    bare = model.copy()
    assert bare.direct_denoisers.list() == model.direct_denoisers.list()  # a copy keeps its one-pass denoisers
    bare.direct_denoisers = {}
    with pytest.raises(InputError, match=r"train_direct_denoiser\(model, images\)"):
        napari_hdn.export_bioimageio(bare, tmp_path / "m.zip", image)
    assert not list(tmp_path.iterdir())  # nothing written


def test_refuses_unknown_layer_set(model_and_image, tmp_path):
    model, image = model_and_image
    with pytest.raises(InputError, match="no direct denoiser for latent layers off-1"):
        napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, deactivate=[1])


def test_cli(model_and_image, tmp_path, capsys):
    model, image = model_and_image
    model.save(tmp_path / "model")
    tifffile.imwrite(tmp_path / "data.tif", image)
    assert main(["export", str(tmp_path / "model"), "--bioimageio", str(tmp_path / "m.zip"),
                 "--image", str(tmp_path / "data.tif"), "--no-check"]) == 0
    assert zipfile.is_zipfile(tmp_path / "m.zip")
    assert main(["export", str(tmp_path / "model"), "--bioimageio", str(tmp_path / "n.zip")]) == 2
    assert "--image" in capsys.readouterr().err


def test_default_is_the_only_denoiser(model_and_image, tmp_path):
    model, image = model_and_image
    only = model.copy()
    only.direct_denoisers = {"off-1": model.direct_denoisers["all-on"]}
    out = napari_hdn.export_bioimageio(only, tmp_path / "m.zip", image, check=False)
    with zipfile.ZipFile(out) as z:
        assert "latent layers `off-1`" in z.read("README.md").decode()
        assert "## Validation" in z.read("README.md").decode()


def test_stop_writes_nothing(model_and_image, tmp_path):
    from napari_hdn.foundation.progress import StopToken, drive

    model, image = model_and_image
    stop = StopToken()
    events = napari_hdn.export_bioimageio_events(model, tmp_path / "m.zip", image, stop=stop)
    assert drive(events, lambda e: stop.request_stop()) is None
    assert not list(tmp_path.iterdir())


def test_cli_refuses_an_existing_package_without_overwrite(model_and_image, tmp_path, capsys):
    model, image = model_and_image
    model.save(tmp_path / "model")
    tifffile.imwrite(tmp_path / "data.tif", image)
    (tmp_path / "m.zip").write_bytes(b"keep me")
    args = ["export", str(tmp_path / "model"), "--bioimageio", str(tmp_path / "m.zip"),
            "--image", str(tmp_path / "data.tif"), "--no-check", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--overwrite" in err
    assert (tmp_path / "m.zip").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.tif", "m.zip", "model"]  # nothing else written
    assert main(args + ["--overwrite"]) == 0
    assert zipfile.is_zipfile(tmp_path / "m.zip")


def test_api_refuses_an_existing_package_unless_overwrite(model_and_image, tmp_path):
    model, image = model_and_image
    (tmp_path / "m.zip").write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists"):
        napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, check=False)
    assert (tmp_path / "m.zip").read_bytes() == b"keep me"
    napari_hdn.export_bioimageio(model, tmp_path / "m.zip", image, check=False, overwrite=True)
    assert zipfile.is_zipfile(tmp_path / "m.zip")


# -- ONNX weights (napari-hdn[onnx]): they pass the zoo's test and agree with the TorchScript weights --------
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
