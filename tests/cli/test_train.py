"""``hdn train``: options, model folders, never overwriting, resuming and clear errors."""

import numpy as np
import pytest
import tifffile
from factories import cli_network_settings

from napari_hdn import cli
from napari_hdn.cli import main
from napari_hdn.model import load_model
from napari_hdn.noise_models import PoissonGaussianNoiseModel

TINY = [*cli_network_settings(), "--set", "steps_per_epoch=3", "--set", "val_patches=4", "--set", "precision=float32",
        "--patch-size", "16", "--batch-size", "4", "--threads", "1", "--device", "cpu"]


@pytest.fixture(autouse=True)
def only_train(monkeypatch):
    """The real ``hdn`` entry point with just this subcommand (the others are tested on their own)."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("train",))


@pytest.fixture
def noisy_tif(tmp_path):
    rng = np.random.default_rng(0)
    clean = np.kron(rng.uniform(0, 30, (4, 4, 4)), np.ones((1, 8, 8)))
    path = tmp_path / "noisy.tif"
    tifffile.imwrite(path, (rng.poisson(clean) + rng.normal(0, 3, clean.shape) + 100).astype(np.uint16))
    return path


@pytest.fixture
def noise_model_file(tmp_path):
    path = tmp_path / "nm.npz"
    PoissonGaussianNoiseModel(1.0, 100.0, 3.0).save(path)
    return path


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--noise-model", "--gaussian-sigma", "--out", "--preset", "--minutes", "--epochs", "--steps",
                   "--deactivate", "--resume", "--overwrite", "--seed", "--device", "--threads", "--set",
                   "fast", "paper", "best/", "last/"):
        assert option in text, option


def test_train_writes_a_model_folder(noisy_tif, noise_model_file, tmp_path, capsys):
    out = tmp_path / "model"
    argv = ["train", str(noisy_tif), "--noise-model", str(noise_model_file), "--out", str(out), "--epochs", "2",
            "--deactivate", "1", "--seed", "3", *TINY]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "hdn predict" in captured.out and "validation loss" in captured.err
    model = load_model(out)
    assert model.step == 6 and model.trained_deactivated == (1,)
    assert model.noise_model.kind == "poisson_gaussian"
    assert model.train_config.seed == 3 and model.train_config.patch_size == 16
    assert sorted(p.name for p in out.iterdir()) == ["best", "last"]


def test_existing_model_is_kept_unless_resume_or_overwrite(noisy_tif, tmp_path, capsys):
    out = tmp_path / "model"
    base = ["train", str(noisy_tif), "--out", str(out), "--quiet", *TINY]
    assert main([*base, "--gaussian-sigma", "3", "--steps", "3"]) == 0
    assert main([*base, "--gaussian-sigma", "3", "--steps", "3"]) == 2
    assert "already holds a model" in capsys.readouterr().err
    assert load_model(out / "last").step == 3

    assert main([*base, "--resume", "--steps", "5"]) == 0  # the noise model comes from the checkpoint
    assert load_model(out / "last").step == 5
    assert main([*base, "--gaussian-sigma", "3", "--steps", "2", "--overwrite"]) == 0
    assert load_model(out / "last").step == 2


def test_missing_noise_model_and_bad_options_are_explained(noisy_tif, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", str(noisy_tif), "--out", str(out), "--steps", "2", *TINY]) == 2
    assert "needs a noise model" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.tif"), "--gaussian-sigma", "3", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", str(noisy_tif), "--gaussian-sigma", "3", "--out", str(out), "--set", "wings=2"]) == 2
    assert "Unknown training option" in capsys.readouterr().err
    assert not out.exists()
    for bad in (["--deactivate", "a,b"], ["--minutes", "-1"], ["--set", "novalue"],
                ["--minutes", "1", "--epochs", "2"], ["--gaussian-sigma", "3", "--noise-model", "nm.npz"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", str(noisy_tif), "--out", str(out), *bad])
        assert exit_info.value.code == 2


def test_direct_denoiser_option_trains_one_for_predict_direct(noisy_tif, noise_model_file, tmp_path, capsys):
    out = tmp_path / "model"
    argv = ["train", str(noisy_tif), "--noise-model", str(noise_model_file), "--out", str(out), "--steps", "4",
            "--direct-denoiser", "--set", "direct_width=8", *TINY]
    assert main(argv) == 0
    assert set(load_model(out).direct_denoisers) == {"all-on"}
    assert load_model(out).train_config.direct_denoiser is True
    assert main(["train", str(noisy_tif), "--noise-model", str(noise_model_file), "--out", str(tmp_path / "m2"),
                 "--steps", "2", "--no-direct-denoiser", *TINY]) == 0
    assert not load_model(tmp_path / "m2").direct_denoisers
