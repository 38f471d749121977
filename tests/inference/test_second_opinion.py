"""The second opinion: the error estimate of each layer choice beside the suggestion."""

import math

import numpy as np
import pytest
from tiny_models import make_image, make_model

from napari_hdn import suggest_deactivation
from napari_hdn.foundation.errors import InputError
from napari_hdn.foundation.progress import StopToken, drive
from napari_hdn.inference.error_estimate import SAMPLES, estimate_error
from napari_hdn.inference.restore import restore_events
from napari_hdn.inference.second_opinion import (
    ChoiceEstimate,
    SecondOpinion,
    choice_name,
    layer_choices,
    second_opinion,
    second_opinion_events,
    suggestion_with_opinion_events,
)
from napari_hdn.inference.suggest import DeactivationSuggestion


@pytest.fixture(scope="module")
def model():
    return make_model()


def suggestion_of(layers):
    return DeactivationSuggestion(tuple(layers), (), (), (0, 0, 64, 64), 0.05)


def test_choices_are_the_first_prefixes_and_the_suggested_one():
    assert layer_choices(5, (), ()) == [(), (1,), (1, 2)]
    assert layer_choices(5, (), (1, 2, 3)) == [(), (1,), (1, 2), (1, 2, 3)]
    assert layer_choices(2, (), ()) == [(), (1,)]  # never every layer
    # A trained-off layer is off in every choice and not counted: all on, z2 off, z2-z3 off.
    assert layer_choices(4, (1,), (1,)) == [(1,), (1, 2), (1, 2, 3)]
    assert layer_choices(3, (1,), ()) == [(1,), (1, 2)]
    assert choice_name((), ()) == "all layers on"
    assert choice_name((1,), ()) == "z1 off" and choice_name((1, 2), ()) == "z1-z2 off"
    assert choice_name((1, 3), (1,)) == "z3 off"


def test_each_choice_gets_the_estimate_restore_would_give(model):
    image = make_image()
    opinion = second_opinion(model, image, suggestion_of((1,)), n_samples=20, seed=4)
    assert [e.layers_off for e in opinion.estimates] == [(), (1,), (1, 2)]
    assert opinion.suggested == (1,) and opinion.pixels == image.size
    for estimate in opinion.estimates:
        assert estimate.mse > 0 and math.isfinite(estimate.psnr) and -0.05 < estimate.passed_through < 1
    # The same numbers as estimate_error on that restoration (one seed): nothing else enters.
    alone = drive(estimate_error(
        lambda crop, part: restore_events_of(model, crop, (1, 2)), model.noise_model, image, 20, 1.0, 4))
    assert opinion.estimate((1, 2)).mse == pytest.approx(alone.mse, rel=1e-6)
    assert opinion.best == min(opinion.estimates, key=lambda e: e.mse).layers_off
    assert opinion.agrees == (opinion.best == (1,))
    record = opinion.to_metadata()
    assert record["best"] == list(opinion.best) and len(record["estimates"]) == 3


def restore_events_of(model, crop, off):
    return restore_events(model, crop, n_samples=SAMPLES, keep_samples=0, seed=4 + 3, deactivate=off)


def opinion_with(psnrs, suggested, reliable=True):
    estimates = tuple(ChoiceEstimate(off, 10.0 ** (-p / 10), p, 0.1) for off, p in psnrs.items())
    return SecondOpinion(suggested, estimates, (), reliable, "the noise model is a guess", 4096)


def test_summary_says_whether_it_agrees_in_plain_words():
    agree = opinion_with({(): 26.9, (1,): 27.1, (1, 2): 25.0}, (1,))
    assert agree.agrees and agree.best == (1,)
    assert agree.summary.startswith("The error estimate agrees: z1 off has the smallest estimated error (about 27.1")
    assert "all layers on 26.9 dB" in agree.summary and "z1-z2 off 25.0 dB" in agree.summary
    disagree = opinion_with({(): 27.3, (1,): 27.1, (1, 2): 25.0}, (1,))
    assert not disagree.agrees
    assert "prefers all layers on (about 27.3 dB) to the suggestion, z1 off (about 27.1 dB)" in disagree.summary
    assert "compare the two restorations" in disagree.summary
    flat = SecondOpinion((), (ChoiceEstimate((), 4.0, float("nan"), 0.1), ChoiceEstimate((1,), 9.0, float("nan"), 0.1)),
                         (), True, "", 64)
    assert "about \u00b12;" in flat.summary and "nan" not in flat.summary
    doubtful = opinion_with({(): 27.3, (1,): 27.1}, (), reliable=False)
    assert doubtful.summary.endswith("The estimate may be off: the noise model is a guess.")


def test_without_a_suggestion_it_asks_the_one_auto_would_use(model):
    image = make_image()
    opinion = second_opinion(model, image, n_samples=10)
    assert opinion.suggested == tuple(suggest_deactivation(model, image).layers)


def test_progress_runs_forward_and_a_stop_ends_it(model):
    image = make_image()
    events = []
    second_opinion(model, image, suggestion_of(()), n_samples=10, on_event=events.append)
    fractions = [e.done / e.total for e in events if e.stage == "second opinion"]
    assert fractions == sorted(fractions) and fractions[-1] > 0.8
    assert "estimating the error with all layers on (1 of 3)" in events[0].message
    token = StopToken()
    token.request_stop()
    assert drive(second_opinion_events(model, image, suggestion_of(()), stop=token)) is None


@pytest.mark.parametrize("bad, words", [
    ({"n_samples": 0}, "n_samples"),
    ({"crop": 3}, "crop"),
    ({"suggestion": [1]}, "DeactivationSuggestion"),
    ({"seed": -1}, "seed"),
    ({"threads": 0}, "threads"),
    ({"precision": "float8"}, "precision"),
])
def test_bad_options_are_named(model, bad, words):
    image = make_image()
    suggestion = bad.pop("suggestion", None)
    with pytest.raises(InputError, match=words):
        second_opinion_events(model, image, suggestion, **bad)


def test_with_the_suggestion_first_a_bad_sample_count_fails_when_called(model):
    with pytest.raises(InputError, match="n_samples"):
        suggestion_with_opinion_events(model, make_image(), second_opinion=True, n_samples=0)


def test_bad_images_are_refused_before_any_work(model):
    with pytest.raises(InputError, match="dimension"):
        second_opinion_events(model, np.zeros(64, np.float32))
    bad = make_image()
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        second_opinion_events(model, bad)


def test_a_stack_is_judged_on_the_centre_of_its_middle_plane(model):
    stack = np.stack([make_image(seed=s) for s in range(3)])
    opinion = second_opinion(model, stack, suggestion_of(()), n_samples=10, crop=32)
    assert opinion.pixels == 32 * 32
    middle = second_opinion(model, stack[1, 16:48, 16:48], suggestion_of(()), n_samples=10)
    assert [e.mse for e in opinion.estimates] == pytest.approx([e.mse for e in middle.estimates], rel=1e-6)


def test_with_the_suggestion_first_the_bar_runs_forward_over_both(model):
    events = []
    outcome = drive(suggestion_with_opinion_events(model, make_image(), second_opinion=True, n_samples=10),
                    events.append)
    suggestion, opinion = outcome
    assert opinion.suggested == tuple(suggestion.layers)
    fractions = [e.done / e.total for e in events if e.total]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any(e.stage == "suggest" for e in events) and any(e.stage == "second opinion" for e in events)
    alone = drive(suggestion_with_opinion_events(model, make_image(), second_opinion=False))
    assert alone[1] is None and alone[0].layers == suggestion.layers
