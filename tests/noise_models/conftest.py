"""Fixtures of simulated calibration data (see simulated.py)."""

import pytest

from .simulated import camera_stack


@pytest.fixture(scope="session")
def pg_data():
    return camera_stack(2.0, 5.0)


def _tiny_models():
    """tests/inference/tiny_models.py (that folder is not a package), loaded by path."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "inference" / "tiny_models.py"
    spec = importlib.util.spec_from_file_location("tiny_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_models():
    return _tiny_models()
