"""noise_model="auto": estimate a Poisson-Gaussian model, train, bootstrap a GMM part-way, continue."""

from __future__ import annotations

import numpy as np
import pytest

from napari_hdn.foundation.errors import InputError
from napari_hdn.model import load_model
from napari_hdn.training import TrainConfig, training_events

from factories import TINY, run


def blobs(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Photons: smooth blobs, 0-40."""
    yy, xx = np.mgrid[:size, :size]
    clean = np.zeros((n, size, size))
    for k in range(n):
        for _ in range(6):
            cy, cx, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(4, 12)]
            clean[k] += 40 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
    return clean


def blob_stack(n: int = 6, size: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth blobs (0-40 photons) seen by a camera with gain 2, offset 100, read sigma 3 (integers)."""
    rng = np.random.default_rng(seed)
    clean = blobs(n, size, rng)
    return np.round(2.0 * rng.poisson(clean + 1) + rng.normal(0, 3, clean.shape) + 100).astype(np.uint16)


def run_auto(**kwargs):
    return run(blob_stack(), noise_model="auto", **kwargs)


def test_auto_estimates_then_bootstraps_and_records_how(tmp_path):
    events, model = run_auto(steps=20, bootstrap_samples=2, bootstrap_planes=2, patch_size=32, out=tmp_path / "m")
    kinds = [e.kind for e in events]
    assert "bootstrap" in kinds
    first_bootstrap = kinds.index("bootstrap")
    steps_before = [e for e in events[:first_bootstrap] if e.kind == "step"]
    assert 5 <= len(steps_before) <= 15  # half-way through the 20 steps (the default bootstrap_at is 0.5)
    assert any("estimated noise model: gain" in e.message for e in events)
    assert model.noise_model.kind == "gmm"
    provenance = model.noise_model.provenance
    assert provenance["source"] == "bootstrapped"
    assert provenance["previous_noise_model"]["source"] == "estimated"
    saved = load_model(tmp_path / "m" / "last")
    assert saved.noise_model.kind == "gmm" and saved.noise_model.provenance["source"] == "bootstrapped"
    assert saved.train_config.bootstrap_at == 0.5


def test_auto_without_bootstrap_keeps_the_estimate():
    events, model = run_auto(steps=4, bootstrap_at=None, patch_size=32)
    assert "bootstrap" not in [e.kind for e in events]
    assert model.noise_model.kind == "poisson_gaussian"
    assert model.noise_model.provenance["source"] == "estimated"
    assert model.noise_model.gain == pytest.approx(2.0, rel=0.3)


def test_auto_refuses_a_gaussian_sigma_too_and_bad_bootstrap_settings():
    with pytest.raises(InputError, match="auto"):
        training_events(blob_stack(), noise_model="auto", gaussian_sigma=3.0, device="cpu", **TINY, steps=2)
    with pytest.raises(InputError, match="bootstrap_at"):
        TrainConfig(steps=1, bootstrap_at=1.5)


def column_correlated_stack(n: int = 6, size: int = 96, seed: int = 0) -> np.ndarray:
    """Blobs seen by a camera whose read noise (sigma 3) correlates 0.6 between vertical neighbours."""
    rng = np.random.default_rng(seed)
    clean = blobs(n, size, rng)
    kernel = np.array([0.4, 1.0, 0.4]) / np.linalg.norm([0.4, 1.0, 0.4])
    white = rng.normal(0, 3, (n, size + 2, size))
    read = kernel[0] * white[:, :-2] + kernel[1] * white[:, 1:-1] + kernel[2] * white[:, 2:]
    return np.round(2.0 * rng.poisson(clean + 1) + read + 100).astype(np.uint16)


def test_auto_on_correlated_noise_records_the_noise_layers_with_the_model(tmp_path):
    from napari_hdn.inference import restore
    from napari_hdn.noise_models import CorrelatedNoiseWarning
    from napari_hdn.noise_models.correlation import is_correlated, record_of

    with pytest.warns(CorrelatedNoiseWarning):
        events, model = run(column_correlated_stack(), noise_model="auto", steps=12, bootstrap_samples=2,
                            bootstrap_planes=2, patch_size=32, out=tmp_path / "m")
    kinds = [e.kind for e in events]
    assert "noise_layers" in kinds and kinds.index("noise_layers") < kinds.index("done")
    assert any(e.kind == "bootstrap" and "before bootstrapping" in e.message for e in events)
    assert is_correlated(record_of(model.noise_model))  # the record travels through the bootstrap
    record = model.noise_layers
    assert record is not None and record["suggestion"]["decided_by"] == "correlation"
    for name in ("best", "last"):
        assert load_model(tmp_path / "m" / name).noise_layers == record
    result = restore(model, column_correlated_stack(1)[0], n_samples=2, deactivate="auto")
    assert list(result.deactivate) == record["layers"]


def test_white_noise_records_no_noise_layers_when_the_noise_model_knows_nothing_of_correlation():
    _, model = run(blob_stack(), steps=3, patch_size=32)  # a Gaussian noise model: no correlation record
    assert model.noise_layers is None
