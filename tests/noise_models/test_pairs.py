import numpy as np

from napari_hdn.noise_models.pairs import image_pairs, stack_pairs
from napari_hdn.noise_models.pairs import binned_residuals


def test_stack_pairs_restore_the_per_pixel_sample_variance():
    rng = np.random.default_rng(0)
    stack = rng.normal(50, 2, (5, 6, 7)) + np.arange(42).reshape(6, 7)
    pairs = stack_pairs(stack)
    assert len(pairs) == 5 * 42 and pairs.n_frames == 5
    residual = (pairs.observation.astype(np.float64) - pairs.signal).reshape(5, 42)
    np.testing.assert_allclose(pairs.signal.reshape(5, 42)[0], stack.mean(axis=0).ravel(), rtol=1e-6)
    np.testing.assert_allclose(
        (residual**2).sum(axis=0) / 5, stack.reshape(5, 42).var(axis=0, ddof=1), rtol=1e-4
    )


def test_clipping_and_subsampling():
    signal = np.arange(100.0).reshape(10, 10)
    observation = np.stack([signal + 1, signal - 1])
    pairs = image_pairs(signal, observation, clip_percentiles=(10, 90))
    np.testing.assert_allclose(pairs.signal_range, (9.9, 89.1))
    assert pairs.signal.min() >= 9.9 and pairs.signal.max() <= 89.1 and len(pairs) == 2 * 80
    np.testing.assert_allclose(np.abs(pairs.observation - pairs.signal), 1.0)
    small = image_pairs(signal, observation, max_pairs=50, seed=3)
    assert len(small) == 50
    np.testing.assert_allclose(np.abs(small.observation - small.signal), 1.0)  # still true pairs


def test_integer_valued_observations_are_detected():
    stack = np.random.default_rng(0).poisson(20, (3, 8, 8))
    assert stack_pairs(stack.astype(np.uint16)).integer_valued
    assert stack_pairs(stack.astype(np.float32)).integer_valued
    assert not stack_pairs(stack + 0.5 * np.random.default_rng(1).random((3, 8, 8))).integer_valued


def test_binned_residuals_measure_the_variance_per_signal_level():
    rng = np.random.default_rng(0)
    signal = np.repeat([10.0, 20.0], 50_000)
    observation = signal + rng.normal(0, 1, signal.size) * np.sqrt(signal)
    binned = binned_residuals(image_pairs(signal, observation), n_bins=2)
    np.testing.assert_allclose(binned.signal, [10.0, 20.0])
    np.testing.assert_allclose(binned.variance, [10.0, 20.0], rtol=0.02)
    np.testing.assert_array_equal(binned.counts, [50_000, 50_000])
