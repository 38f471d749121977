"""The direct denoiser trained beside the VAE: it learns, is saved with every checkpoint and resumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_hdn.direct import denoise
from napari_hdn.foundation.errors import InputError
from napari_hdn.model import load_model
from napari_hdn.training import TrainConfig

from factories import TINY, noisy_stack, run, steps


def test_concurrent_direct_denoiser_learns_and_is_stored_in_the_checkpoints(tmp_path):
    events, model = run(steps=40, direct_denoiser=True, direct_width=8, direct_depth=1, out=tmp_path / "m")
    losses = [e.direct_loss for e in steps(events)]
    assert all(v is not None and np.isfinite(v) for v in losses)
    assert np.mean(losses[-10:]) < np.mean(losses[:10])  # it follows the VAE's outputs better as it trains
    assert set(model.direct_denoisers) == {"all-on"}
    for name in ("best", "last"):
        loaded = load_model(tmp_path / "m" / name, device="cpu")
        assert set(loaded.direct_denoisers) == {"all-on"}
    image = noisy_stack(1)[0]
    out = denoise(load_model(tmp_path / "m" / "last", device="cpu"), image)
    assert out.shape == image.shape and np.isfinite(out).all()


def test_without_the_option_no_direct_denoiser_is_made_and_the_vae_training_is_unchanged():
    events_a, model_a = run(steps=10)
    events_b, model_b = run(steps=10, direct_denoiser=True, direct_width=8, direct_depth=1)
    assert not model_a.direct_denoisers
    assert all(e.direct_loss is None for e in steps(events_a))
    # The denoiser draws no numbers from the VAE's random streams: the VAE learns exactly the same.
    assert [e.loss for e in steps(events_a)] == pytest.approx([e.loss for e in steps(events_b)])


def test_resume_continues_the_direct_denoiser(tmp_path):
    run(steps=10, direct_denoiser=True, direct_width=8, direct_depth=1, out=tmp_path / "m")
    before = load_model(tmp_path / "m" / "last", device="cpu").direct_denoisers["all-on"]
    _, model = run(steps=20, out=tmp_path / "m", resume=True)
    after = model.direct_denoisers["all-on"]
    changed = [not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values())]
    assert any(changed)


def test_bad_direct_settings_are_refused():
    with pytest.raises(InputError, match="direct_loss"):
        TrainConfig(steps=1, direct_loss="l3")
    with pytest.raises(InputError, match="direct_denoiser"):
        TrainConfig(steps=1, direct_denoiser="yes")
