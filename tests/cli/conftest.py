"""Fixtures shared by the CLI tests."""

import pytest
from factories import tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny untrained model saved as a model folder (for ``hdn predict`` and friends)."""
    return tiny_model().save(tmp_path_factory.mktemp("model") / "tiny")
