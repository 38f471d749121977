import numpy as np
import pytest

from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import (
    GaussianNoiseModel,
    PoissonGaussianNoiseModel,
    noise_model_diagnostics,
    save_diagnostics_plot,
)


def test_the_true_model_matches_its_data(pg_data):
    signal, stack, truth = pg_data
    d = noise_model_diagnostics(truth, stack=stack, n_levels=4, n_bins=20, grid_size=40)
    assert d.signal_levels.shape == (4,) and np.all(np.diff(d.signal_levels) > 0)
    assert d.observation_grid.shape == d.model_density.shape == d.empirical_density.shape == (4, 40)
    assert d.signal.shape == d.data_variance.shape == d.model_variance.shape == (20,)
    widths = d.observation_grid[:, 1] - d.observation_grid[:, 0]
    # densities of all the level's observations; the grid leaves out the 0.1 % tails on each side
    np.testing.assert_allclose((d.empirical_density.sum(axis=1) * widths), 0.998, atol=0.002)
    assert d.max_relative_variance_error < 0.15
    # total variation distance between the model's and the data's p(x|s) at each level
    tv = 0.5 * np.abs(d.model_density - d.empirical_density).sum(axis=1) * widths
    assert np.all(tv < 0.15)


def test_a_wrong_model_shows_up(pg_data):
    _, stack, truth = pg_data
    d = noise_model_diagnostics(GaussianNoiseModel(truth.read_sigma), stack=stack)
    assert d.max_relative_variance_error > 0.5  # it ignores the shot noise


def test_pairs_input_and_plot(pg_data, tmp_path):
    signal, stack, truth = pg_data
    d = noise_model_diagnostics(truth, signal=signal, observation=stack[:3])
    path = tmp_path / "nm.png"
    save_diagnostics_plot(d, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match="already exists"):
        save_diagnostics_plot(d, path, overwrite=False)
    assert [p.name for p in tmp_path.iterdir()] == ["nm.png"]


def test_data_must_be_given_one_way(pg_data):
    signal, stack, _ = pg_data
    model = PoissonGaussianNoiseModel(2.0, 100.0, 5.0)
    with pytest.raises(InputError, match="either"):
        noise_model_diagnostics(model, stack=stack, signal=signal, observation=stack)
    with pytest.raises(InputError, match="either"):
        noise_model_diagnostics(model, signal=signal)


def test_histograms_of_camera_counts_have_no_empty_bins_in_the_bulk(pg_data):
    _, stack, truth = pg_data
    d = noise_model_diagnostics(truth, stack=np.round(stack).astype(np.uint16), n_levels=3, grid_size=40)
    for level, grid, density, expected in zip(d.signal_levels, d.observation_grid, d.empirical_density,
                                             d.model_density):
        bulk = np.abs(grid - level) < float(truth.moments(level)[1].sqrt())
        ratio = density[bulk] / expected[bulk]
        assert ratio.min() > 0.5 and ratio.max() < 1.6  # an empty bin would give 0, a doubled one ~2


def test_noise_model_curves_without_data():
    from napari_hdn.noise_models import PoissonGaussianNoiseModel, noise_model_curves

    model = PoissonGaussianNoiseModel(2.0, 100.0, 1.5, signal_range=(100.0, 140.0))
    curves = noise_model_curves(model)
    np.testing.assert_allclose(curves.variance, 2.0 * (curves.signal - 100.0) + 1.5**2, rtol=1e-5)
    assert curves.signal[0] == 100.0 and curves.signal[-1] == 140.0
    assert curves.density.shape == curves.observation_grid.shape == (5, 120)
    step = np.diff(curves.observation_grid, axis=1)[:, :1]
    np.testing.assert_allclose((curves.density * step).sum(axis=1), 1.0, atol=0.01)  # each p(x|s) integrates to 1
    with pytest.raises(InputError, match="finite signal range"):
        noise_model_curves(PoissonGaussianNoiseModel(1.0, 0.0, 1.0))  # no calibrated range, none given
