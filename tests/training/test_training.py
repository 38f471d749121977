"""The training engine on tiny networks (CPU, seconds): learning, events, stop, resume, checkpoints, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from napari_hdn.foundation.errors import HDNError, InputError, TrainingError
from napari_hdn.model import load_model
from napari_hdn.noise_models import GaussianNoiseModel, PoissonGaussianNoiseModel
from napari_hdn.foundation.progress import Progress, StopToken
from napari_hdn.training import PRESETS, TrainConfig, TrainingEvent, resolve_config, train, training_events
from napari_hdn.training.data import prepare_data
from napari_hdn.training.threads import ThreadTuner

from factories import NOISE, TINY, noisy_stack, run, steps  # noqa: F401 (shared with other training tests)


def test_loss_falls():
    events, model = run(steps=60, lr=3e-3)
    losses = [e.loss for e in steps(events)]
    assert len(losses) == 60 and model.step == 60
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.05
    val = [r["val_loss"] for r in model.history]
    assert val[-1] < val[0]


def test_kl_per_layer_is_finite_non_negative_and_floored_by_free_bits():
    free_bits = 2.0
    events, _ = run(steps=10, free_bits=free_bits)
    for e in steps(events):
        assert len(e.kl_per_layer) == 2
        assert all(math.isfinite(k) and k >= 0 for k in e.kl_per_layer)
        # The KL term is at least free_bits nats per active layer and patch, divided by the pixel count.
        assert e.kl_loss >= 2 * free_bits / 16**2 - 1e-7
        assert e.loss == pytest.approx(e.reconstruction_loss + e.kl_loss, rel=1e-5)


def test_events_report_progress():
    events, model = run(epochs=2)
    assert all(isinstance(e, TrainingEvent) and isinstance(e, Progress) for e in events)
    kinds = [e.kind for e in events]
    assert kinds[0] == "setup" and kinds[-1] == "done"
    assert kinds.count("step") == 10 and kinds.count("validation") == 2
    step = steps(events)[-1]
    assert step.step == 10 and step.done == 10 and step.total == 10 and step.fraction == 1.0
    assert step.lr > 0 and step.patches_per_s > 0 and step.eta_s is not None
    validation = [e for e in events if e.kind == "validation"]
    assert all(math.isfinite(v.val_loss) for v in validation)
    assert [r["step"] for r in model.history] == [5, 10]
    assert all(e.checkpoint is None for e in events)  # no output folder: nothing written


def test_snapshots_are_independent_copies_of_the_model_in_training():
    events, model = run(steps=6, snapshot_every_s=1e-9, val_fraction=0.0)  # a snapshot after every step
    snapshots = [e for e in events if e.kind == "snapshot"]
    assert [e.step for e in snapshots] == [1, 2, 3, 4, 5, 6]
    first, last = snapshots[0].model, snapshots[-1].model
    assert first.step == 1 and not first.network.training
    assert first.network is not model.network and first.noise_model is model.noise_model
    assert (first.data_mean, first.data_std) == (model.data_mean, model.data_std)
    x = torch.from_numpy(model.normalize(noisy_stack()[:1, None].astype(np.float32)))
    with torch.no_grad():
        early = first.network(x, posterior_mean=True).out
        late = last.network(x, posterior_mean=True).out
        final = model.network.eval()(x, posterior_mean=True).out
    assert not torch.equal(early, late)  # training went on without touching the first copy
    assert torch.equal(late, final)  # no validation: the model returned is the last step's, as snapshotted
    assert not [e for e in run(steps=3)[0] if e.kind == "snapshot"]  # none unless asked for


def test_snapshots_do_not_change_a_seeded_training():
    plain = [e.loss for e in steps(run(steps=6, seed=5)[0])]
    with_snapshots = [e.loss for e in steps(run(steps=6, seed=5, snapshot_every_s=1e-9)[0])]
    assert with_snapshots == plain


@pytest.mark.parametrize("every", [0, -1.0, "3", True])
def test_bad_snapshot_interval_is_refused(every):
    with pytest.raises(InputError, match="snapshot_every_s"):
        run(steps=2, snapshot_every_s=every)


def test_adam_optimizer_learns_and_resumes(tmp_path):
    out = tmp_path / "run"
    events, model = run(epochs=2, out=out, optimizer="adam", lr=3e-3, seed=2)
    losses = [e.loss for e in steps(events)]
    assert model.train_config.optimizer == "adam" and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    adamax = [e.loss for e in steps(run(epochs=2, optimizer="adamax", lr=3e-3, seed=2)[0])]
    assert adamax[0] == losses[0] and adamax[1:] != losses[1:]  # same start, other updates
    resumed, model = run(epochs=3, out=out, resume=True)  # Adam's moments come back from the checkpoint
    assert steps(resumed)[0].step == 11 and load_model(out / "last").train_config.optimizer == "adam"


def test_same_seed_gives_the_same_losses_and_another_seed_does_not():
    losses = [[e.loss for e in steps(run(steps=6, seed=seed)[0])] for seed in (3, 3, 4)]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_checkpoints_are_written_and_the_best_model_is_returned(tmp_path):
    out = tmp_path / "run"
    events, model = run(epochs=3, out=out)
    assert sorted(p.name for p in out.iterdir()) == ["best", "last"]
    checkpoints = [e.checkpoint for e in events if e.kind == "checkpoint"]
    assert checkpoints.count(str(out / "last")) == 3
    best_step = min(model.history, key=lambda r: r["val_loss"])["step"]
    assert load_model(out / "best").step == best_step
    assert load_model(out / "last").step == 15
    loaded = load_model(out)  # the training folder -> its best model
    x = torch.from_numpy(model.normalize(noisy_stack()[:1, None].astype(np.float32)))
    with torch.no_grad():
        assert torch.equal(model.network(x, posterior_mean=True).out, loaded.network(x, posterior_mean=True).out)
    assert loaded.train_config == model.train_config and loaded.history == model.history[: len(loaded.history)]


def test_a_stop_request_ends_training_within_one_step_and_leaves_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    stop = StopToken()
    gen = training_events(noisy_stack(), NOISE, out=out, steps=1000, stop=stop, device="cpu", **TINY)
    seen = []
    try:
        while True:
            event = next(gen)
            seen.append(event)
            if event.kind == "step" and event.step == 3:
                stop.request_stop()
    except StopIteration as finished:
        model = finished.value
    assert max(e.step for e in steps(seen)) == 3
    assert seen[-1].kind == "done" and "stopped" in seen[-1].message
    assert model.step == 3
    assert load_model(out / "last").step == 3
    assert load_model(out).step == 3  # with no validation yet, the stopped state is the model


@pytest.mark.parametrize(
    "settings",
    [
        {},
        # bf16 trains channels-last weights, and the fused Adam kernel reads its moments as flat buffers:
        # restored moments must get their weights' memory layout back, or each element gets another's.
        {"precision": "bfloat16", "optimizer": "adam", "lr": 3e-3},
    ],
)
def test_resume_continues_the_step_count_history_and_random_streams(tmp_path, settings):
    # A plateau schedule: a cosine one would decay over 2 epochs in the first run and over 4 in the other.
    uninterrupted = [e.loss for e in steps(run(epochs=4, seed=1, lr_schedule="plateau", lr_patience=0, **settings)[0])]
    out = tmp_path / "run"
    first, _ = run(epochs=2, seed=1, out=out, lr_schedule="plateau", lr_patience=0, **settings)
    with pytest.raises(InputError, match="already holds a model"):
        run(epochs=2, seed=1, out=out)
    second, model = run(epochs=4, out=out, resume=True, precision=settings.get("precision", "float32"))
    assert [e.step for e in steps(second)] == list(range(11, 21))
    assert model.step == 20 and model.epoch == 4
    assert [r["step"] for r in model.history] == [5, 10, 15, 20]
    assert load_model(out / "last").history == model.history
    # Same seed, same data: the resumed run continues exactly where the first one stopped.
    assert [e.loss for e in steps(first) + steps(second)] == uninterrupted


def test_a_resumed_time_budget_carries_on_with_the_cosine_decay(tmp_path):
    out = tmp_path / "run"
    first, _ = run(minutes=0.02, out=out, lr_schedule="cosine", lr=1e-3, min_lr=0.0)
    assert steps(first)[0].lr > 0.95e-3
    second, _ = run(minutes=0.02, out=out, resume=True)
    # Half of the time of both sessions had passed: about half the learning rate, not the full one again.
    assert steps(second)[0].lr < 0.8e-3
    assert steps(second)[-1].lr <= steps(second)[0].lr  # and goes on down


def test_resume_keeps_the_settings(tmp_path):
    out = tmp_path / "run"
    run(steps=5, out=out)
    with pytest.raises(InputError, match="Cannot change"):
        run(steps=10, out=out, resume=True, n_filters=16)
    _, resumed = run(steps=7, out=out, resume=True, threads=2)  # how fast it runs may change
    assert resumed.step == 7 and resumed.train_config.threads == 2
    with pytest.raises(InputError, match="Cannot resume"):
        run(steps=5, out=tmp_path / "elsewhere", resume=True)


def test_overwrite_replaces_an_earlier_model(tmp_path):
    out = tmp_path / "run"
    run(steps=5, out=out)
    _, model = run(steps=3, out=out, overwrite=True)
    assert model.step == 3 and load_model(out / "last").step == 3 and load_model(out / "best").step == 3


def test_overwrite_keeps_the_earlier_model_until_the_new_one_has_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    run(steps=5, out=out)
    settings = {**TINY, "noise_model": NOISE, "device": "cpu"}
    gen = training_events(noisy_stack(), steps=50, out=out, overwrite=True, **settings)
    for event in gen:  # the new training fails (here: is abandoned) before its first checkpoint
        if event.kind == "step":
            break
    gen.close()
    assert load_model(out / "last").step == 5 and load_model(out / "best").step == 5


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    class BreakingNoiseModel(GaussianNoiseModel):
        broken = False

        def _log_likelihood(self, x, s):
            value = super()._log_likelihood(x, s)
            return value * math.nan if self.broken else value

    noise = BreakingNoiseModel(3.0)
    out = tmp_path / "run"
    gen = training_events(noisy_stack(), noise, out=out, steps=100, device="cpu", **TINY)
    with pytest.raises(TrainingError, match=r"NaN.*step 6.*last good checkpoint"):
        for event in gen:
            if event.kind == "checkpoint":
                noise.broken = True
    assert load_model(out / "last").step == 5


def test_training_with_layers_switched_off(tmp_path):
    events, model = run(steps=5, deactivate=(1,), out=tmp_path / "run")
    assert all(e.kl_per_layer[0] == 0 and e.kl_per_layer[1] > 0 for e in steps(events))
    assert model.trained_deactivated == (1,)
    assert load_model(tmp_path / "run").trained_deactivated == (1,)


def test_gaussian_sigma_dask_lists_and_any_dtype():
    import dask.array as da

    images = [noisy_stack(2).astype(np.float64), da.from_array(noisy_stack(3, size=40), chunks=(1, 40, 40)),
              noisy_stack(1, 48)[0].astype(np.int32)]
    events, model = run(images, noise_model=None, gaussian_sigma=5.0, steps=3)
    assert model.noise_model.kind == "gaussian" and model.noise_model.sigma == 5.0
    assert any("training data into memory" in e.message for e in events if e.kind == "setup")


def test_large_dask_data_is_read_lazily(monkeypatch):
    import dask.array as da

    import napari_hdn.training.data as training_data

    monkeypatch.setattr(training_data, "MAX_IN_MEMORY_BYTES", 0)
    events, model = run(da.from_array(noisy_stack(), chunks=(1, 32, 32)), steps=3)
    assert model.step == 3
    assert any("read lazily" in e.message for e in events if e.kind == "setup")


def test_time_budget():
    events, model = run(minutes=0.02, steps_per_epoch=1000)
    assert model.step >= 1
    assert "budget" in events[-1].message
    assert events[-1].elapsed_s < 30


def test_validation_split():
    config = resolve_config("fast", steps=1, **{k: v for k, v in TINY.items() if k in ("patch_size", "n_latent_layers")})[1]
    many = prepare_data(noisy_stack(20), config)  # 10% of 20 planes: 2 whole planes
    assert len(many.train) == 18 and many.val_patches.shape == (8, 1, 16, 16)
    few = prepare_data(noisy_stack(2, size=64), config)  # too few planes: the last rows of each one
    assert [r.shape for r in few.train] == [(48, 64), (48, 64)]
    assert len(few.val_patches) == 8
    stack = noisy_stack(20).astype(np.float64)
    train_pixels = np.concatenate([r.ravel() for r in many.train])
    assert many.data_mean == pytest.approx(train_pixels.mean()) and many.data_std == pytest.approx(train_pixels.std())
    assert many.data_mean != pytest.approx(stack.mean(), abs=1e-9)


def test_presets():
    assert set(PRESETS) == {"paper", "fast"}
    paper_model, paper = resolve_config("paper")
    assert paper_model.n_latent_layers == 6 and paper_model.z_channels == 32 and paper_model.n_filters == 64
    assert paper.lr == 3e-4 and paper.batch_size == 64 and paper.patch_size == 64
    fast_model, fast = resolve_config("fast")
    assert fast.minutes is not None and fast_model.n_filters < paper_model.n_filters
    _, custom = resolve_config("fast", epochs=2, lr=1e-3)
    assert custom.epochs == 2 and custom.minutes is None and custom.lr == 1e-3  # the budget replaces the preset's


def test_train_is_the_blocking_form(tmp_path):
    seen = []
    model = train(noisy_stack(), NOISE, out=tmp_path / "run", device="cpu", on_event=seen.append, steps=4, **TINY)
    assert model.step == 4 and seen[-1].kind == "done"
    json.loads((tmp_path / "run" / "best" / "model.json").read_text())


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        (np.zeros((1, 8, 8)), {}, "smaller than the 16x16 training patches"),
        (np.zeros((8, 8)), {"patch_size": 64, "n_latent_layers": 2}, "smaller than the 64x64"),
        (np.zeros(100), {}, "2-D images"),
        (np.float64(3.0), {}, "2-D images"),
        ("not an image", {}, "is a file name"),  # a path is not read silently as text (issue 13, item 12)
        (np.array([]), {}, "empty"),
        (np.full((2, 32, 32), np.nan), {}, "NaN"),
        (np.full((4, 32, 32), 7.0), {}, "constant"),
        (np.zeros((1, 24, 24)), {}, "too small to hold out a validation region"),
        (None, {"noise_model": None}, "needs a noise model"),
        (None, {"noise_model": "missing.npz"}, "does not exist"),
        (None, {"noise_model": 3.0}, "must be a napari-hdn noise model"),
        (None, {"gaussian_sigma": 2.0}, "not both"),
        (None, {"deactivate": (3,)}, "Latent layer 3 does not exist"),
        (None, {"deactivate": (1, 2)}, "At least one latent layer"),
        (None, {"wings": 2}, "Unknown training option"),
        (None, {"patch_size": 18}, "multiple of 4"),
        (None, {"lr": -1.0}, "lr=-1.0"),
        (None, {"optimizer": "sgd"}, "optimizer"),
        (None, {"preset": "slow"}, "Unknown preset"),
        (None, {"device": "tpu"}, "device"),
        (None, {"steps": 0}, "steps=0"),
    ],
)
def test_bad_inputs_give_clear_errors(tmp_path, images, kwargs, message):
    out = tmp_path / "run"
    with pytest.raises(HDNError, match=message):  # InputError, or FileFormatError for a missing file
        run(noisy_stack() if images is None else images, out=out, **{"steps": 2, **kwargs})
    assert not out.exists()  # nothing written on error


def test_a_folder_holding_other_files_is_never_used(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="other files"):
        run(out=tmp_path, steps=2)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_train_config_validation():
    with pytest.raises(InputError, match="budget"):
        TrainConfig()
    assert TrainConfig(steps=5).max_steps == 5
    assert TrainConfig(epochs=2, steps_per_epoch=10, steps=30).max_steps == 20


def test_bfloat16_training_runs_and_is_reproducible():
    losses = [[e.loss for e in steps(run(steps=3, precision="bfloat16")[0])] for _ in range(2)]
    assert all(math.isfinite(v) for v in losses[0])
    assert losses[0] == losses[1]
    assert run(steps=1, precision="bfloat16")[1].network.training is False  # returned ready for use


def test_thread_tuner_keeps_the_faster_thread_count(monkeypatch):
    import napari_hdn.foundation.threads as thread_policy
    import napari_hdn.training as training

    monkeypatch.setattr(thread_policy, "usable_cores", lambda: 2)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # leave the test process as it is
    tuner = ThreadTuner(None)
    assert tuner.candidates == [1, 2] and tuner.current == 1
    seconds = {1: 1.0, 2: 0.5}  # an idle machine: 2 threads are faster
    for _ in range(40):
        tuner.before_step()
        tuner.after_step(seconds[tuner.trial or tuner.current])
    assert tuner.current == 2
    seconds = {1: 1.0, 2: 8.0}  # now other programs keep a core busy
    for _ in range(60):
        tuner.before_step()
        tuner.after_step(seconds[tuner.trial or tuner.current])
    assert tuner.current == 1
    assert ThreadTuner(3).candidates == [3]


def test_the_optimizer_is_the_fast_implementation_of_the_same_update(monkeypatch):
    from napari_hdn.training.optim import _make_optimizer

    def one_step(optimizer_factory):
        torch.manual_seed(0)
        layer = torch.nn.Linear(5, 3)
        optimizer = optimizer_factory(layer.parameters())
        for _ in range(3):
            optimizer.zero_grad()
            layer(torch.randn(4, 5)).pow(2).sum().backward()
            optimizer.step()
        return optimizer, [p.detach().clone() for p in layer.parameters()]

    for name, reference in (("adam", torch.optim.Adam), ("adamax", torch.optim.Adamax)):
        cfg = TrainConfig(steps=1, optimizer=name, lr=1e-2, weight_decay=1e-4)
        fast, fast_params = one_step(lambda p: _make_optimizer(cfg, p))
        group = fast.param_groups[0]
        assert type(fast) is reference
        if name == "adam" and torch.__version__ >= "2.4":  # torch has a fused CPU Adam since 2.4
            assert group["fused"] is True
        else:
            assert group["foreach"] is True
        _, plain_params = one_step(lambda p: reference(p, lr=1e-2, weight_decay=1e-4, foreach=False))
        for a, b in zip(fast_params, plain_params):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    # Where the fused kernel is missing (older torch, other devices) the multi-tensor Adam takes over.
    real_adam = torch.optim.Adam

    def no_fused(params, **kwargs):
        if kwargs.get("fused"):
            raise RuntimeError("fused=True requires all the params to be floating point Tensors of supported devices")
        return real_adam(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", no_fused)
    fallback = _make_optimizer(TrainConfig(steps=1, optimizer="adam"), torch.nn.Linear(2, 2).parameters())
    assert fallback.param_groups[0]["foreach"] and not fallback.param_groups[0].get("fused")


def test_resume_uses_the_optimizer_implementation_of_the_resuming_machine():
    from napari_hdn.training.checkpoints import _with_implementation_of

    optimizer = torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), foreach=True)
    saved = [{"lr": 0.5, "fused": True, "foreach": None, "params": [0, 1]}]  # saved where a fused kernel ran
    assert _with_implementation_of(optimizer, saved) == [{"lr": 0.5, "fused": None, "foreach": True, "params": [0, 1]}]


def test_the_model_records_the_training_data_intensity_range():
    """Restoration compares images with it (issue 13): it must come from the training data."""
    data = noisy_stack()
    _, model = run(data, steps=2)
    low, high = model.data_range
    assert data.min() <= low < high <= data.max()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"preset": "no-such-preset"},
        {"no_such_option": 1},
        {"snapshot_every_s": -1},
        {"resume": True},  # resume without a training folder
        {"deactivate": (99,)},
    ],
)
def test_training_events_checks_its_arguments_when_called(kwargs):
    # A bad argument fails in the caller's thread, before any worker drives the generator.
    with pytest.raises(InputError):
        training_events(noisy_stack(), gaussian_sigma=1.0, steps=1, **kwargs)
