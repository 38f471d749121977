import numpy as np
import pytest

from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import FitProgress, GaussianMixtureNoiseModel, GMMOptions, calibrate, calibrate_events, fit_noise_model, fit_noise_model_events
from napari_hdn.noise_models.options import make_options
from napari_hdn.foundation.progress import Progress, StopToken, drive

from .simulated import camera_stack, variance_error


# Done-when: the GMM's variance-vs-signal curve within 5 % of the truth over the 5-95 percentile
# signal range, with the default fit settings (24 frames of 96 x 96 pixels, gain and read noise at the
# ends and in the middle of the 1-4 and 2-10 ranges).
@pytest.mark.parametrize("gain, read_sigma", [(1.0, 10.0), (4.0, 2.0), (2.5, 6.0)])
def test_gmm_variance_curve_within_5_percent(gain, read_sigma):
    signal, stack, _ = camera_stack(gain, read_sigma, n_frames=24, shape=(96, 96))
    model = calibrate(stack, kind="gmm", device="cpu")
    assert isinstance(model, GaussianMixtureNoiseModel)
    assert (model.n_gaussians, model.n_coefficients) == (3, 2)
    assert variance_error(model, signal, gain, read_sigma) < 0.05
    mean = model.moments(np.percentile(signal, [10, 50, 90]))[0].numpy()
    np.testing.assert_allclose(mean, np.percentile(signal, [10, 50, 90]), rtol=1e-5)


def test_gmm_fit_beats_its_starting_point_and_reports_progress(pg_data):
    signal, stack, truth = pg_data
    events = []
    model = drive(calibrate_events(stack, "gmm", steps=60, batch_size=4096), events.append)
    fit_events = [e for e in events if isinstance(e, FitProgress)]
    assert fit_events and fit_events[-1].done == 60 and fit_events[-1].total == 60
    start = calibrate(stack, "gmm", steps=0)
    fresh = truth.sample(signal, seed=123)
    assert model.log_likelihood(fresh, signal).mean() > start.log_likelihood(fresh, signal).mean()


def test_preparing_a_stack_reports_its_steps_before_the_fit(pg_data):
    _, stack, _ = pg_data
    events = []
    drive(calibrate_events(stack, "gaussian"), events.append)
    prepare = [e for e in events if e.stage == "Preparing the calibration stack"]
    assert [e.done for e in prepare] == [0, 1, 2] and all(e.total == 2 for e in prepare)
    assert "pixel pairs" in prepare[-1].message
    assert events.index(prepare[-1]) < len(events) - 1  # the fit's own events follow


def test_stop_token_ends_the_fit_early_with_a_usable_model(pg_data):
    _, stack, _ = pg_data
    stop = StopToken()
    steps_seen = []

    def on_event(event):
        if isinstance(event, FitProgress):
            steps_seen.append(event.done)
            stop.request_stop()

    model = drive(calibrate_events(stack, "gmm", steps=400, stop=stop), on_event)
    assert isinstance(model, GaussianMixtureNoiseModel)
    assert steps_seen == [4]  # reports every steps // 100 steps; stopped right after the first report
    assert np.isfinite(model.weight).all()


def test_fit_from_pseudo_clean_pairs_with_several_observations(pg_data):
    signal, stack, truth = pg_data
    model = fit_noise_model(signal, stack, kind="gmm", steps=100)
    assert variance_error(model, signal, truth.gain, truth.read_sigma) < 0.08
    events = list(fit_noise_model_events(signal, stack[0], kind="gaussian"))
    assert all(isinstance(e, Progress) for e in events)


def test_percentile_clipping_sets_the_signal_range(pg_data):
    signal, stack, _ = pg_data
    model = fit_noise_model(signal, stack, kind="histogram", clip_percentiles=(10, 90))
    np.testing.assert_allclose(model.signal_range, np.percentile(signal, [10, 90]), rtol=1e-6)


def test_options_are_typed_and_validated():
    options = make_options("gmm", {"steps": 10, "clip_percentiles": [1, 99]})
    assert isinstance(options, GMMOptions) and options.clip_percentiles == (1.0, 99.0)
    with pytest.raises(InputError, match=r"Unknown .* \['bins'\]"):
        make_options("gmm", {"bins": 10})
    with pytest.raises(InputError, match="whole number"):
        make_options("gmm", {"steps": "many"})
    with pytest.raises(InputError, match="clip_percentiles"):
        make_options("histogram", {"clip_percentiles": (50, 10)})
    with pytest.raises(InputError, match="n_gaussians"):
        make_options("gmm", {"n_gaussians": 0})
    with pytest.raises(InputError, match="device"):
        make_options("gmm", {"device": "tpu"})
    with pytest.raises(InputError, match="kind 'mixture'"):
        make_options("mixture", {})


def test_unknown_option_fails_before_any_work():
    with pytest.raises(InputError, match="n_gaussians"):
        calibrate(np.zeros((0,)), kind="histogram", n_gaussians=2)


@pytest.mark.parametrize(
    "stack, problem",
    [
        (np.random.default_rng(0).normal(size=(1, 16, 16)), "only 1 frame"),
        (np.random.default_rng(0).normal(size=(16, 16)), "shape"),
        (np.zeros((0, 16, 16)), "empty"),
        (np.zeros((4, 16, 16, 3), dtype=np.uint8), "RGB"),
        (np.full((4, 8, 8), np.nan), "NaN"),
        (np.where(np.eye(8) > 0, np.inf, 1.0)[None].repeat(3, 0), "infinite"),
        (np.full((4, 8, 8), 7.0), "constant"),
        (np.zeros((3, 8, 8), dtype=complex), "data type"),
    ],
)
def test_bad_calibration_stacks_are_named(stack, problem):
    with pytest.raises(InputError, match=problem):
        calibrate(stack, kind="poisson_gaussian")


def test_mismatched_signal_and_observation_are_named():
    with pytest.raises(InputError, match="does not match"):
        fit_noise_model(np.zeros((16, 16)), np.zeros((16, 17)), kind="gaussian")
    with pytest.raises(InputError, match="does not match"):
        fit_noise_model(np.zeros((2, 16, 16)), np.zeros((16, 16)), kind="gaussian")


def _record_fit_threads(monkeypatch):
    """Thread counts seen by the fit's own computation (inside the generator, between yields)."""
    import torch

    from napari_hdn.noise_models import gmm

    seen = []
    original = gmm.mixture_log_likelihood

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(gmm, "mixture_log_likelihood", recording)
    return seen


def test_gmm_fit_runs_on_its_thread_count_and_the_caller_keeps_its_own(pg_data, monkeypatch):
    import torch

    _, stack, _ = pg_data
    torch.set_num_threads(2)
    in_fit = _record_fit_threads(monkeypatch)
    at_events = []
    drive(calibrate_events(stack, "gmm", steps=3, threads=1), lambda e: at_events.append(torch.get_num_threads()))
    assert in_fit and set(in_fit) == {1}
    assert set(at_events) == {2}  # the consumer runs on its own count between the fit's stretches
    assert torch.get_num_threads() == 2


def test_gmm_fit_resumed_in_another_thread_leaves_no_thread_on_its_count(pg_data, monkeypatch):
    import threading

    import torch

    _, stack, _ = pg_data
    torch.set_num_threads(2)
    in_fit = _record_fit_threads(monkeypatch)
    events = calibrate_events(stack, "gmm", steps=200, threads=1)
    while not in_fit:  # started here, into the fit itself
        next(events)
    after_worker = []

    def finish():  # a worker thread resumes it, as a thread pool may
        torch.set_num_threads(2)
        for _ in events:
            pass
        after_worker.append(torch.get_num_threads())

    worker = threading.Thread(target=finish)
    worker.start()
    worker.join()
    assert len(in_fit) > 1 and set(in_fit) == {1}
    assert after_worker == [2]
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda: calibrate_events(np.zeros((3, 8, 8)), kind="no-such-kind"),
        lambda: calibrate_events(np.zeros((3, 8, 8)), kind="gmm", no_such_option=1),
        lambda: fit_noise_model_events(np.zeros((8, 8)), np.zeros((8, 8)), kind="no-such-kind"),
    ],
)
def test_events_check_their_options_when_called(call):
    # A bad option fails in the caller's thread, before any worker drives the generator.
    with pytest.raises(InputError):
        call()
