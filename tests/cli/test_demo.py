import json

import numpy as np
import pytest
import tifffile

from napari_hdn.cli import main
from napari_hdn.model import load_model


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "2", "--samples", "3", "--kind", "poisson_gaussian"]) == 0
    for name in ("noise_model.npz", "noise_model.png", "overview.png", "mmse.tif", "variance.tif", "samples.tif"):
        assert (out / name).stat().st_size > 0
    assert (out / "model" / "best").is_dir()
    assert tifffile.imread(out / "mmse.tif").shape == (256, 256)
    assert tifffile.imread(out / "samples.tif").shape == (2, 256, 256)
    activations = tifffile.imread(out / "activations.tif")
    assert activations.shape[1:] == (256, 256) and activations.shape[0] >= 2  # one plane per latent layer
    summary = json.loads((out / "summary.json").read_text())
    assert summary["psnr_db"]["noisy"] == pytest.approx(18.30, abs=0.01)
    assert np.isfinite(summary["psnr_db"]["mmse"])
    # The one-pass direct denoiser is distilled, stored with the model and scored beside the samples.
    assert tifffile.imread(out / "mmse_direct.tif").shape == (256, 256)
    assert np.isfinite(summary["psnr_db"]["direct (one pass)"])
    assert set(summary["restoration_seconds"]) == {"mmse", "direct (one pass)"}
    assert "all-on" in load_model(out / "model" / "best").direct_denoisers
    assert "PSNR" in capsys.readouterr().out

    # A second run neither overwrites silently ...
    assert main(["demo", "--out", str(out), "--steps", "1", "--samples", "2"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == json.dumps(summary, indent=2)


@pytest.mark.slow
def test_structured_demo_also_restores_with_the_finest_layers_off(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--steps", "2", "--samples", "2", "--kind", "poisson_gaussian", "--structured"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["structured"] and summary["psnr_db"]["noisy"] == pytest.approx(18.27, abs=0.02)
    for suffix in ("_layer_1_off", "_layers_1_2_off"):
        assert tifffile.imread(out / f"mmse{suffix}.tif").shape == (256, 256)
        assert np.isfinite(summary["psnr_db"][f"mmse{suffix}"])
    # switching layers off changes the restoration
    assert not np.array_equal(tifffile.imread(out / "mmse.tif"), tifffile.imread(out / "mmse_layer_1_off.tif"))


def test_demo_refuses_to_replace_a_folder_it_did_not_write(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("user data")
    assert main(["demo", "--out", str(tmp_path), "--steps", "1", "--overwrite"]) == 2
    assert "not a folder written by 'hdn demo'" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "user data"


@pytest.mark.parametrize("args, message", [(["--minutes", "0"], "--minutes"), (["--steps", "0"], "--steps"),
                                           (["--samples", "1"], "--samples"),
                                           (["--direct-minutes", "0"], "--direct-minutes")])
def test_demo_rejects_bad_budgets(tmp_path, capsys, args, message):
    assert main(["demo", "--out", str(tmp_path / "d"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
