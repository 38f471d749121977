"""Written files and folders get the mode the user's umask gives any new file (issue 13, item 7)."""

import os
import stat

import pytest

from napari_hdn.io.atomic import atomic_write_text
from napari_hdn.noise_models import GaussianNoiseModel
from napari_hdn.model import LadderVAE, ModelConfig
from napari_hdn.model.bundle import HDNModel


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_files_follow_the_umask(tmp_path, umask):
    atomic_write_text(tmp_path / "a.txt", "x")
    assert mode(tmp_path / "a.txt") == 0o666 & ~umask


def test_noise_model_files_follow_the_umask(tmp_path, umask):
    GaussianNoiseModel(3.0).save(tmp_path / "nm.npz")
    assert mode(tmp_path / "nm.npz") == 0o666 & ~umask


def test_model_folders_follow_the_umask(tmp_path, umask):
    config = ModelConfig(n_latent_layers=2, z_channels=2, n_filters=4, blocks_per_layer=1)
    folder = HDNModel(LadderVAE(config), GaussianNoiseModel(5.0), 100.0, 20.0).save(tmp_path / "model")
    assert mode(folder) == 0o777 & ~umask
    for child in folder.iterdir():
        assert mode(child) == 0o666 & ~umask, child.name
