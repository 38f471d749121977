"""hdn calibrate without calibration data: --from-noisy (estimate) and --bootstrap MODEL; the static-stack check."""

import numpy as np
import pytest
import tifffile
from factories import tiny_config, tiny_model

from napari_hdn import cli
from napari_hdn.cli import main
from napari_hdn.noise_models import load_noise_model


@pytest.fixture(autouse=True)
def only_calibrate(monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("calibrate",))


def _blobs(shape, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    image = np.zeros(shape)
    for cy, cx, r in rng.uniform(0, 1, (12, 3)):
        image += np.exp(-((yy - cy * shape[0]) ** 2 + (xx - cx * shape[1]) ** 2) / (2 * (4 + 10 * r) ** 2))
    return image / image.max() * 150


@pytest.fixture(scope="module")
def noisy_tif(tmp_path_factory):
    rng = np.random.default_rng(0)
    photons = np.stack([_blobs((128, 128), k) for k in range(2)])
    noisy = np.round(2 * rng.poisson(photons) + rng.normal(100, 3, photons.shape)).astype(np.uint16)
    path = tmp_path_factory.mktemp("data") / "noisy.tif"
    tifffile.imwrite(path, noisy)
    return path


def test_from_noisy_writes_an_estimated_model_and_its_plot(noisy_tif, tmp_path, capsys):
    out, plot = tmp_path / "nm.npz", tmp_path / "nm.png"
    assert main(["calibrate", str(noisy_tif), "--from-noisy", "--out", str(out), "--plot", str(plot)]) == 0
    text = capsys.readouterr().out
    assert "estimated Poisson-Gaussian: gain" in text and "diagnostics ->" in text
    model = load_noise_model(out)
    assert model.kind == "poisson_gaussian" and model.provenance["source"] == "estimated"
    assert abs(model.gain / 2.0 - 1) < 0.1
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--kind", "gmm"], "--from-noisy estimates a Poisson-Gaussian"),
        (["--bins", "8"], "--bins does not apply to --from-noisy"),
        (["--no-static-check"], "calibration stacks only"),
    ],
)
def test_from_noisy_bad_options(noisy_tif, tmp_path, capsys, extra, message):
    out = tmp_path / "nm.npz"
    assert main(["calibrate", str(noisy_tif), "--from-noisy", "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_from_noisy_refuses_a_constant_image_and_writes_nothing(tmp_path, capsys):
    calib = tmp_path / "flat.tif"
    tifffile.imwrite(calib, np.full((64, 64), 500, np.uint16))
    out, plot = tmp_path / "nm.npz", tmp_path / "nm.png"
    assert main(["calibrate", str(calib), "--from-noisy", "--out", str(out), "--plot", str(plot)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hdn calibrate: error:") and "constant" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.tif"]


def test_different_slices_as_a_calibration_stack_are_refused(tmp_path, capsys):
    rng = np.random.default_rng(1)
    slices = np.stack([_blobs((64, 64), k) for k in range(12)])
    calib = tmp_path / "slices.tif"
    tifffile.imwrite(calib, (2 * rng.poisson(slices) + rng.normal(100, 3, slices.shape)).astype(np.float32))
    out = tmp_path / "nm.npz"
    assert main(["calibrate", str(calib), "--kind", "gaussian", "--out", str(out)]) == 2
    assert "does not look like a calibration stack" in capsys.readouterr().err and not out.exists()
    assert main(["calibrate", str(calib), "--kind", "gaussian", "--out", str(out), "--no-static-check"]) == 0


def test_bootstrap_from_a_model_folder(noisy_tif, tmp_path, capsys):
    config = tiny_config(n_latent_layers=3, z_channels=4, n_filters=8)
    tiny_model(config=config, data_mean=150.0, data_std=60.0).save(tmp_path / "m")
    out, plot = tmp_path / "nm.npz", tmp_path / "nm.png"
    args = ["calibrate", str(noisy_tif), "--bootstrap", str(tmp_path / "m"), "--out", str(out)]
    assert main([*args, "--kind", "histogram", "--bins", "16", "--samples", "1", "--plot", str(plot)]) == 0
    model = load_noise_model(out)
    assert model.kind == "histogram" and model.provenance["source"] == "bootstrapped"
    assert plot.read_bytes()[:4] == b"\x89PNG" and "diagnostics ->" in capsys.readouterr().out
    assert main([*args, "--overwrite", "--kind", "poisson_gaussian"]) == 2
    assert "--bootstrap fits --kind gmm or histogram" in capsys.readouterr().err


def test_help_documents_the_new_sources(capsys):
    with pytest.raises(SystemExit):
        main(["calibrate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--from-noisy", "--bootstrap MODEL", "--samples N", "--n-bootstrap", "--no-static-check"):
        assert flag in text
    assert "hdn calibrate noisy.tif --from-noisy --out pg.npz --plot pg.png" in text
