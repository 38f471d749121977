"""Adapting a trained model to new data: what each mode may change, the parent untouched, the record kept."""

from __future__ import annotations

import importlib
import hashlib

import numpy as np
import pytest
import torch
from factories import TINY, noisy_stack, run

from napari_hdn.direct import denoise, train_direct_denoiser
from napari_hdn.foundation.errors import InputError
from napari_hdn.model import load_model
from napari_hdn.noise_models.poisson_gaussian import PoissonGaussianNoiseModel
from napari_hdn.training import adapt, adapt_events
from napari_hdn.training.warm_start import weights_fingerprint

# The new data: another light level and camera (gain 2, offset 300).
NEW_NOISE = PoissonGaussianNoiseModel(2.0, 300.0, 2.0)
ADAPT_SETTINGS = {k: v for k, v in TINY.items() if k in ("batch_size", "patch_size", "steps_per_epoch", "val_patches",
                                                          "threads", "precision")}


def new_data() -> np.ndarray:
    return ((noisy_stack(seed=5).astype(np.float64) - 100) * 2 + 300).astype(np.uint16)


@pytest.fixture(scope="module")
def parent_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parent") / "m"
    run(steps=10, out=folder)
    return folder / "best"


def _weights_file_digest(folder) -> str:
    return hashlib.sha256((folder / "weights.safetensors").read_bytes()).hexdigest()


def _changed(before: dict, after: dict) -> dict[str, bool]:
    return {k: not torch.equal(before[k], after[k]) for k in before}


def test_gains_mode_changes_only_per_channel_gains_and_biases_and_leaves_the_parent(parent_folder):
    digest = _weights_file_digest(parent_folder)
    parent = load_model(parent_folder, device="cpu")
    before = {k: v.clone() for k, v in parent.network.named_parameters()}
    adapted = adapt(parent, new_data(), noise_model=NEW_NOISE, minutes=None, steps=6, mode="gains", device="cpu",
                    lr=1e-2, **ADAPT_SETTINGS)
    after = dict(adapted.network.named_parameters())
    changed = _changed(before, after)
    assert not any(changed[k] for k, v in before.items() if v.dim() > 1)  # every other weight identical
    assert any(changed[k] for k, v in before.items() if v.dim() == 1)
    # The parent, in memory and on disk, is untouched.
    assert all(torch.equal(before[k], v) for k, v in parent.network.named_parameters())
    assert _weights_file_digest(parent_folder) == digest
    assert adapted.network is not parent.network
    assert all(p.requires_grad for p in adapted.network.parameters())


def test_all_mode_trains_every_kind_of_weight(parent_folder):
    parent = load_model(parent_folder, device="cpu")
    before = {k: v.clone() for k, v in parent.network.named_parameters()}
    adapted = adapt(parent_folder, new_data(), noise_model=NEW_NOISE, minutes=None, steps=6, mode="all",
                    device="cpu", **ADAPT_SETTINGS)
    changed = _changed(before, dict(adapted.network.named_parameters()))
    assert any(changed[k] for k, v in before.items() if v.dim() > 1)


def test_adapted_model_takes_the_new_data_and_records_its_parent(parent_folder, tmp_path):
    parent = load_model(parent_folder, device="cpu")
    data = new_data()
    events = list(_drain(adapt_events(parent_folder, data, noise_model=NEW_NOISE, minutes=None, steps=6,  # default mode
                                      out=tmp_path / "a", device="cpu", **ADAPT_SETTINGS)))
    assert events[-1].kind == "done"
    loaded = load_model(tmp_path / "a" / "best", device="cpu")
    assert loaded.parent["path"] == str(parent_folder.resolve())
    assert loaded.parent["weights_sha256"] == weights_fingerprint(parent.network)
    assert loaded.parent["mode"] == "gains" and loaded.parent["step"] == parent.step
    assert loaded.noise_model.offset == 300.0  # the new noise model
    assert loaded.data_mean == pytest.approx(float(data.astype(np.float64).mean()), rel=0.02)  # new normalisation
    assert loaded.config == parent.config
    assert loaded.step == 6  # the adaptation's own steps
    assert (tmp_path / "a" / "last").is_dir()


def test_without_a_noise_model_the_parents_is_kept(parent_folder):
    parent = load_model(parent_folder, device="cpu")
    adapted = adapt(parent, noisy_stack(seed=9), minutes=None, steps=2, device="cpu", **ADAPT_SETTINGS)
    assert adapted.noise_model.kind == parent.noise_model.kind


def test_the_direct_denoiser_is_adapted_with_the_model(parent_folder, tmp_path):
    parent = load_model(parent_folder, device="cpu")
    train_direct_denoiser(parent, noisy_stack(), steps=3, depth=1, width=8, patch_size=16, batch_size=4)
    before = {k: v.clone() for k, v in parent.direct_denoisers["all-on"].state_dict().items()}
    events = list(_drain(adapt_events(parent, new_data(), noise_model=NEW_NOISE, minutes=None, steps=10,
                                      out=tmp_path / "a", device="cpu", **ADAPT_SETTINGS)))
    assert any(e.kind == "direct" for e in events) and events[-1].kind == "done"
    loaded = load_model(tmp_path / "a" / "best", device="cpu")
    after = loaded.direct_denoisers["all-on"]
    assert (after.depth, after.width) == (1, 8)  # the parent's network, trained further
    assert any(_changed(before, after.state_dict()).values())
    assert all(torch.equal(v, parent.direct_denoisers["all-on"].state_dict()[k]) for k, v in before.items())
    image = new_data()[0]
    assert np.isfinite(denoise(loaded, image)).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "biases"}, "not an adaptation mode"),
        ({"n_filters": 16}, "keeps its parent's network"),
        ({"epochs": 3}, "does not take"),
        ({"minutes": -1}, "minutes must be a positive"),
        ({"minutes": True}, "minutes must be a positive"),
        ({"noise_model": "auto", "gaussian_sigma": 2.0}, "not both"),
    ],
)
def test_bad_arguments_fail_when_called(parent_folder, kwargs, match):
    settings = {"minutes": 1.0, **kwargs}
    with pytest.raises(InputError, match=match):
        adapt_events(parent_folder, new_data(), device="cpu", **settings)  # no next(): the call itself checks


def test_no_budget_means_the_default_two_minutes(parent_folder, monkeypatch):
    adapt_module = importlib.import_module("napari_hdn.training.adapt")

    budgets = []
    settings = adapt_module._adapted_settings
    monkeypatch.setattr(adapt_module, "_adapted_settings",
                        lambda parent, minutes, steps, *rest: budgets.append((minutes, steps))
                        or settings(parent, minutes, steps, *rest))
    adapt_events(parent_folder, new_data(), device="cpu", minutes=None).close()
    assert budgets == [(adapt_module.DEFAULT_MINUTES, None)] and adapt_module.DEFAULT_MINUTES == 2.0


def test_the_adapted_model_cannot_replace_its_parent(parent_folder):
    with pytest.raises(InputError, match="holds the model being adapted"):
        adapt_events(parent_folder, new_data(), minutes=1.0, out=parent_folder.parent, overwrite=True, device="cpu")


def test_not_a_model_is_refused():
    with pytest.raises(InputError, match="trained napari-hdn model"):
        adapt_events(np.zeros((4, 4)), new_data(), minutes=1.0)


def _drain(gen):
    while True:
        try:
            yield next(gen)
        except StopIteration:
            return
