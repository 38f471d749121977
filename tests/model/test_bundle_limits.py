"""Untrusted model folders: every size read from ``model.json`` and from the direct denoisers' safetensors
metadata is bounded and checked before anything is allocated, and a hostile folder only ever raises a
napari-hdn error (issue 29)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from factories import tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_hdn.direct import DirectUNet
from napari_hdn.model.direct_store import DIRECT_WEIGHTS
from napari_hdn.foundation.errors import FileFormatError, HDNError
from napari_hdn.model import LadderVAE, load_model
from napari_hdn.model import bundle as bundle_module
from napari_hdn.model.bundle import MODEL_JSON
from napari_hdn.model.folder_checks import MAX_PARAMETERS
from napari_hdn.model import direct_store as store_module


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A tiny model with a direct denoiser, saved as a model folder."""
    model = tiny_model()
    model.direct_denoisers = {"all-on": DirectUNet(depth=1, width=4).eval()}
    return model.save(tmp_path_factory.mktemp("limits") / "model")


def _parameters(network: torch.nn.Module) -> int:
    return sum(t.numel() for t in network.state_dict().values())


@pytest.fixture(autouse=True)
def no_large_network(monkeypatch):
    """A network built for real (not on the meta device) must be within the limits: fail the test otherwise,
    before it allocates anything."""

    class CheckedVAE(LadderVAE):
        def __init__(self, config):
            if torch.get_default_device().type != "meta":
                with torch.device("meta"):
                    probe = LadderVAE(config) if config.n_filters <= 4096 and config.blocks_per_layer <= 64 else None
                assert probe is not None and _parameters(probe) <= MAX_PARAMETERS, f"built {config} for real"
            super().__init__(config)

    class CheckedDirect(DirectUNet):
        def __init__(self, depth=2, width=32):
            if torch.get_default_device().type != "meta":
                assert 1 <= depth <= 8 and 1 <= width <= 1024, f"built DirectUNet({depth}, {width}) for real"
                with torch.device("meta"):
                    assert _parameters(DirectUNet(depth, width)) <= MAX_PARAMETERS, f"built DirectUNet({depth}, {width})"
            super().__init__(depth, width)

    monkeypatch.setattr(bundle_module, "LadderVAE", CheckedVAE)
    monkeypatch.setattr(store_module, "DirectUNet", CheckedDirect)


def _copy(saved: Path, into: str) -> Path:
    folder = Path(into) / "model"
    shutil.copytree(saved, folder)
    return folder


def _set(meta: dict, path: tuple[str, ...], value) -> None:
    for key in path[:-1]:
        meta = meta.setdefault(key, {}) if isinstance(meta.get(key), dict) or key not in meta else meta[key]
        if not isinstance(meta, dict):
            return
    meta[path[-1]] = value


HUGE = st.sampled_from([2**31, 2**40, 2**63, 2**64, 10**30, 10**400, 1e300, float("inf"), float("nan"), -1, 0])
HOSTILE = st.one_of(
    HUGE,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-5, 2**40), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FIELDS = st.sampled_from([
    ("model_config", "z_channels"), ("model_config", "n_filters"), ("model_config", "blocks_per_layer"),
    ("model_config", "n_latent_layers"), ("model_config", "dropout"), ("model_config",),
    ("training", "step"), ("training", "epoch"), ("training", "history"), ("training",),
    ("normalization", "mean"), ("normalization", "std"), ("normalization", "range"),
    ("trained_deactivated_layers",), ("parent",), ("format_version",), ("weights", "file"),
    ("noise_model", "scalars"), ("noise_model", "scalars", "gain", "dtype"), ("noise_model", "scalars", "gain", "value"),
    ("train_config",), ("train_config", "patch_size"), ("train_config", "batch_size"),
    ("train_config", "val_patches"), ("train_config", "direct_width"), ("train_config", "direct_depth"),
    ("train_config", "seed"),
])
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(changes=st.lists(st.tuples(FIELDS, HOSTILE), min_size=1, max_size=3))
def test_fuzzed_model_json_gives_only_napari_hdn_errors(saved, changes):
    with tempfile.TemporaryDirectory() as into:
        folder = _copy(saved, into)
        meta = json.loads((folder / MODEL_JSON).read_text())
        if "train_config" in {path[0] for path, _ in changes} and meta.get("train_config") is None:
            meta["train_config"] = {"steps": 10}
        for path, value in changes:
            _set(meta, path, value)
        (folder / MODEL_JSON).write_text(json.dumps(meta), encoding="utf-8")
        try:
            load_model(folder)
        except HDNError:
            pass


def _write_direct(folder: Path, metadata: dict[str, str] | None) -> None:
    from safetensors.torch import load_file, save_file

    path = folder / DIRECT_WEIGHTS
    save_file(load_file(str(path)), str(path), metadata=metadata)


DIRECT_INFO = st.one_of(
    st.fixed_dictionaries({"all-on": st.fixed_dictionaries({"depth": HOSTILE, "width": HOSTILE})}),
    st.fixed_dictionaries({"all-on": st.fixed_dictionaries({"depth": st.just(1), "width": HOSTILE})}),
    st.fixed_dictionaries({"all-on": st.fixed_dictionaries({"depth": HOSTILE, "width": st.just(4)})}),
    st.dictionaries(st.text(max_size=6), HOSTILE, max_size=2),
    HOSTILE,
)


@SETTINGS
@given(info=DIRECT_INFO, as_json=st.booleans())
def test_fuzzed_direct_metadata_gives_only_napari_hdn_errors(saved, info, as_json):
    with tempfile.TemporaryDirectory() as into:
        folder = _copy(saved, into)
        _write_direct(folder, {"direct_denoisers": json.dumps(info) if as_json else str(info)})
        try:
            load_model(folder)
        except HDNError:
            pass


@pytest.mark.parametrize(("field", "value", "limit"), [
    ("z_channels", 100_000, "512"), ("n_filters", 2**40, "512"), ("blocks_per_layer", 10**6, "16"),
])
def test_a_too_large_network_is_refused_naming_the_field_and_the_limit(saved, tmp_path, field, value, limit):
    folder = _copy(saved, str(tmp_path))
    meta = json.loads((folder / MODEL_JSON).read_text())
    meta["model_config"][field] = value
    (folder / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(FileFormatError, match=rf"{field}={value}.*{limit}"):
        load_model(folder)


def test_a_network_too_large_in_all_is_refused_before_it_is_built(saved, tmp_path):
    folder = _copy(saved, str(tmp_path))
    meta = json.loads((folder / MODEL_JSON).read_text())
    meta["model_config"].update(n_latent_layers=10, n_filters=512, blocks_per_layer=16, z_channels=512)
    (folder / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(FileFormatError, match="parameters"):
        load_model(folder)


@pytest.mark.parametrize(("shape", "message"), [
    ({"depth": 1, "width": 10**9}, "width"), ({"depth": 10**6, "width": 4}, "depth"), ({"depth": 8, "width": 512}, "parameters"),
])
def test_a_too_large_direct_denoiser_is_refused(saved, tmp_path, shape, message):
    folder = _copy(saved, str(tmp_path))
    _write_direct(folder, {"direct_denoisers": json.dumps({"all-on": shape})})
    with pytest.raises(FileFormatError, match=message):
        load_model(folder)


@pytest.mark.parametrize("value", ["abc", 1e300, float("inf"), -1, [1]])
def test_a_bad_training_step_is_a_file_error_naming_it(saved, tmp_path, value):
    folder = _copy(saved, str(tmp_path))
    meta = json.loads((folder / MODEL_JSON).read_text())
    meta["training"]["step"] = value
    (folder / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(FileFormatError, match="training.step") as error:
        load_model(folder)
    assert "invalid literal" not in str(error.value)


def test_hdn_predict_on_a_hostile_folder_says_so_in_one_line(saved, tmp_path, capsys):
    import numpy as np
    import tifffile

    from napari_hdn.cli import main

    folder = _copy(saved, str(tmp_path))
    meta = json.loads((folder / MODEL_JSON).read_text())
    meta["model_config"]["n_filters"] = 2**40
    (folder / MODEL_JSON).write_text(json.dumps(meta))
    tifffile.imwrite(tmp_path / "x.tif", np.zeros((16, 16), np.uint16))
    assert main(["predict", str(folder), str(tmp_path / "x.tif"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "n_filters" in err and "Traceback" not in err


def test_an_oversized_model_json_is_refused_unread(saved, tmp_path, monkeypatch):
    from napari_hdn.model import folder_checks

    folder = _copy(saved, str(tmp_path))
    monkeypatch.setattr(folder_checks, "MAX_METADATA_BYTES", 100)
    with pytest.raises(FileFormatError, match="more than the 100 bytes"):
        load_model(folder)


def test_a_deeply_nested_model_json_is_a_file_error(saved, tmp_path):
    folder = _copy(saved, str(tmp_path))
    (folder / MODEL_JSON).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FileFormatError, match="not valid JSON"):
        load_model(folder)
