"""Fixtures of the widget tests: tiny images, a tiny trained model, docked widgets, captured messages.

Every test here runs a real napari viewer under Xvfb (pytest-xvfb) and keeps
its computations to a tiny network and 64 x 64 images, so that each takes seconds.
"""

from __future__ import annotations

import pytest
from qt_helpers import TINY, TINY_PATCH, noisy_stack


@pytest.fixture(scope="session")
def trained_model_path(tmp_path_factory):
    """A tiny HDN model trained for a few steps with the core (no Qt), saved as a bundle."""
    from napari_hdn.noise_models import GaussianNoiseModel
    from napari_hdn.training import train

    out = tmp_path_factory.mktemp("trained") / "run"
    train(noisy_stack(), GaussianNoiseModel(3.0), steps=6, out=out, patch_size=TINY_PATCH, device="cpu", **TINY)
    return out


@pytest.fixture
def messages(monkeypatch):
    """The error notifications the widgets show, in order; none may name a command or a function call."""
    from napari_hdn._qt.gui_words import has_code

    shown: list[str] = []
    monkeypatch.setattr("napari_hdn._qt._errors.show_error", shown.append)
    yield shown
    assert not [m for m in shown if has_code(m)], "a widget showed a command or an API call"


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()
