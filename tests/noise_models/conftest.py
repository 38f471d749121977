"""Fixtures of simulated calibration data (see simulated.py)."""

import pytest

from .simulated import camera_stack


@pytest.fixture(scope="session")
def pg_data():
    return camera_stack(2.0, 5.0)
