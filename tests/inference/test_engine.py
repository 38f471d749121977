import numpy as np
import pytest
import torch
from tiny_models import make_model

from napari_hdn.foundation.errors import InputError
from napari_hdn.inference.engine import (
    MAX_BATCH,
    TTA_TRANSFORMS,
    RandomStream,
    SamplingSettings,
    TileEngine,
    auto_batch_size,
    central_half_width,
    pixelwise_median,
    tile_seed,
    transform,
    untransform,
)
from napari_hdn.foundation.progress import drive
from napari_hdn.foundation.threads import configure_threads


@pytest.mark.parametrize("n", [1, 2, 5, 6])
def test_pixelwise_median_is_exact(n):
    values = torch.randn(n, 3, 4)
    np.testing.assert_allclose(pixelwise_median(values).numpy(), np.median(values.numpy(), 0), rtol=1e-6)


@pytest.mark.parametrize("n", [2, 3, 10, 21, 100])
@pytest.mark.parametrize("level", [0.5, 0.9, 0.95])
def test_central_half_width_matches_numpys_quantiles(n, level):
    values = torch.randn(n, 3, 4, generator=torch.Generator().manual_seed(n))
    low, high = np.quantile(values.numpy(), [(1 - level) / 2, (1 + level) / 2], axis=0)
    np.testing.assert_allclose(central_half_width(values, level).numpy(), (high - low) / 2, rtol=1e-5, atol=1e-6)


def test_central_half_width_of_one_sample_is_zero():
    assert not central_half_width(torch.randn(1, 3, 4)).any()


def test_central_half_width_of_a_gaussian_is_1_645_sigma():
    values = 3.0 * torch.randn(4000, 2, 2, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(central_half_width(values, 0.9).numpy(), 1.645 * 3.0, rtol=0.06)


def test_the_8_transforms_are_distinct_and_undone():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    seen = set()
    for turns, mirror in TTA_TRANSFORMS:
        t = transform(x, turns, mirror)
        seen.add(tuple(t.flatten().tolist()) + tuple(t.shape))
        assert torch.equal(untransform(t, turns, mirror), x)
    assert len(seen) == 8


def test_tile_seeds_depend_on_seed_and_place_only():
    assert tile_seed(0, 1, 2, 3) == tile_seed(0, 1, 2, 3)
    seeds = {tile_seed(s, p, y, x) for s in (0, 1) for p in (0, 1) for y in (-8, 0, 8) for x in (0, 8)}
    assert len(seeds) == 24
    assert all(0 <= s < 2**63 for s in seeds)


def test_random_stream_is_private_and_resumable():
    device = torch.device("cpu")
    torch.manual_seed(5)
    expected_global = torch.rand(2)
    torch.manual_seed(5)
    a, b = RandomStream(7, device), RandomStream(7, device)
    first = torch.randn(3, generator=a.generator)
    # an interleaved stream with the same seed starts from the same place
    assert torch.equal(torch.randn(3, generator=b.generator), first)
    second = torch.randn(3, generator=a.generator)  # and a stream resumes where it stopped
    assert not torch.equal(first, second)
    assert torch.equal(torch.rand(2), expected_global)


def test_auto_batch_size_bounds():
    cpu = torch.device("cpu")
    assert auto_batch_size(8, (64, 64), 5, cpu) == 5  # all samples when they fit
    assert auto_batch_size(8, (64, 64), 1000, cpu) == MAX_BATCH
    assert auto_batch_size(64, (8192, 8192), 100, cpu) == 1  # never 0


def test_configure_threads():
    configure_threads(1)
    assert torch.get_num_threads() == 1
    with pytest.raises(InputError, match="threads"):
        configure_threads(0)


def test_sample_tile_reports_progress_per_batch_and_stops(model, image):
    engine = TileEngine(model, torch.device("cpu"))
    settings = SamplingSettings(6, 2, (), False, False, batch_size=2)
    events = engine.sample_tile(image, settings, seed=0)
    fractions = []
    while True:
        try:
            fractions.append(next(events))
        except StopIteration as done:
            averaged, deviations = done.value
            break
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert averaged.shape == (4, *image.shape) and deviations.shape == (2, *image.shape)

    class Stop:
        def __bool__(self):
            return True

    stopped = engine.sample_tile(image, settings, seed=0, stop=Stop())
    with pytest.raises(StopIteration) as finished:
        next(stopped)
    assert finished.value.value is None


def test_bf16_autocast_runs_and_stays_close(image):
    settings = SamplingSettings(1, 0, (), False, True, None)
    means = []
    for bf16 in (False, True):
        engine = TileEngine(make_model(), torch.device("cpu"), bf16=bf16)
        averaged, _ = drive(engine.sample_tile(image, settings, 0))
        means.append(averaged[0])
    exact, fast = means
    assert fast.dtype == np.float32
    assert 0 < np.abs(exact - fast).max() < 0.01 * np.abs(exact).max()


def test_the_thread_policy_for_a_second_job():
    from napari_hdn.foundation.threads import threads_beside_other_jobs

    assert threads_beside_other_jobs(None, others_running=False) is None  # all cores
    assert threads_beside_other_jobs(None, others_running=True) == 1
    assert threads_beside_other_jobs(3, others_running=True) == 3  # the user's choice wins
    with pytest.raises(InputError, match="whole number"):
        configure_threads(1.5)
