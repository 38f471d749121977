"""Resuming from a corrupt training state (``last/training_state.json``) is a FileFormatError, whatever
the damage, never a KeyError or TypeError from deep inside (issue 29)."""

from __future__ import annotations

import json

import pytest
from factories import run

from napari_hdn.foundation.errors import FileFormatError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("state") / "model"
    run(epochs=1, out=out, seed=1)
    return out


@pytest.mark.parametrize("damage", [
    lambda s: [],
    lambda s: {"version": 1},
    lambda s: {**s, "optimizer_scalars": {"x": {}}},
    lambda s: {**s, "optimizer_scalars": []},
    lambda s: {**s, "numpy_rng": {"state": "abc"}},
    lambda s: {**s, "param_groups": "abc"},
    lambda s: {**s, "loop": "abc"},
])
def test_a_corrupt_training_state_cannot_be_resumed_and_says_so(trained, tmp_path, damage):
    import shutil

    out = tmp_path / "model"
    shutil.copytree(trained, out)
    path = out / "last" / "training_state.json"
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    with pytest.raises(FileFormatError, match="training state"):
        run(epochs=2, out=out, resume=True, seed=1)
