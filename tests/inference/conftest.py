"""Fixtures of the restoration tests."""

import numpy as np
import pytest
from tiny_models import make_image, make_model

from napari_hdn.model.bundle import HDNModel


@pytest.fixture(scope="session")
def model() -> HDNModel:
    return make_model()


@pytest.fixture(scope="session")
def model_path(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("models") / "tiny"
    model.save(path)
    return path


@pytest.fixture
def image() -> np.ndarray:
    return make_image()
