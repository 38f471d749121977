"""``hdn adapt``: a trained model adapted to new data, written to a new folder; the parent untouched."""

import hashlib

import numpy as np
import pytest
import tifffile
from test_train import TINY, noise_model_file, noisy_tif  # noqa: F401 (fixtures)

from napari_hdn import cli
from napari_hdn.cli import main
from napari_hdn.model import load_model
from napari_hdn.noise_models import PoissonGaussianNoiseModel

FAST = ["--set", "steps_per_epoch=3", "--set", "val_patches=4", "--set", "precision=float32", "--set", "threads=1",
        "--set", "patch_size=16", "--set", "batch_size=4", "--device", "cpu"]


@pytest.fixture(autouse=True)
def train_and_adapt(monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("train", "adapt"))


@pytest.fixture
def parent(noisy_tif, noise_model_file, tmp_path):  # noqa: F811
    out = tmp_path / "parent"
    assert main(["train", str(noisy_tif), "--noise-model", str(noise_model_file), "--out", str(out),
                 "--steps", "3", "--quiet", *TINY]) == 0
    return out


@pytest.fixture
def new_tif(tmp_path):
    rng = np.random.default_rng(3)
    clean = np.kron(rng.uniform(0, 10, (4, 4, 4)), np.ones((1, 8, 8)))
    path = tmp_path / "new.tif"
    tifffile.imwrite(path, (2 * rng.poisson(clean) + rng.normal(0, 2, clean.shape) + 300).astype(np.uint16))
    return path


def test_adapt_writes_a_new_model_and_leaves_the_parent(parent, new_tif, tmp_path, capsys):
    digest = hashlib.sha256((parent / "best" / "weights.safetensors").read_bytes()).hexdigest()
    nm = tmp_path / "new_nm.npz"
    PoissonGaussianNoiseModel(2.0, 300.0, 2.0).save(nm)
    code = main(["adapt", str(parent), str(new_tif), "--noise-model", str(nm), "--out", str(tmp_path / "a"),
                 "--steps", "4", "--mode", "gains", *FAST])
    assert code == 0, capsys.readouterr().err
    assert "hdn predict" in capsys.readouterr().out
    adapted = load_model(tmp_path / "a", device="cpu")
    assert adapted.parent["mode"] == "gains" and adapted.parent["path"].endswith("best")
    assert adapted.noise_model.offset == 300.0
    assert hashlib.sha256((parent / "best" / "weights.safetensors").read_bytes()).hexdigest() == digest


def test_adapt_refuses_network_changes_and_an_existing_folder(parent, new_tif, tmp_path, capsys):
    assert main(["adapt", str(parent), str(new_tif), "--out", str(tmp_path / "a"), "--steps", "1",
                 "--set", "n_filters=32", *FAST]) == 2
    assert "keeps its parent's network" in capsys.readouterr().err
    assert main(["adapt", str(parent), str(new_tif), "--out", str(parent), "--steps", "1", *FAST]) == 2
    assert "holds the model being adapted" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["adapt", str(parent), str(new_tif), "--out", str(tmp_path / "b"), "--mode", "weird"])
    assert exit_info.value.code == 2
    assert not (tmp_path / "b").exists()


def test_help_names_the_modes(capsys):
    with pytest.raises(SystemExit):
        main(["adapt", "--help"])
    text = capsys.readouterr().out
    for word in ("--mode", "gains", "all", "--noise-model", "--minutes", "parent"):
        assert word in text, word
