"""The converged hint: rounds since the best validation loss, in plain words once there are enough."""

from napari_hdn.training.convergence import (
    CONVERGED_ROUNDS,
    converged_hint,
    rounds_without_improvement,
)


def test_rounds_since_the_best_validation_loss():
    assert rounds_without_improvement([]) == 0
    assert rounds_without_improvement([1.0, 0.8, 0.7]) == 0  # still improving
    assert rounds_without_improvement([1.0, 0.7, 0.8, 0.75]) == 2
    assert rounds_without_improvement([0.5, float("nan"), 0.6]) == 2  # a NaN round is never the best
    assert rounds_without_improvement([float("nan")]) == 0


def test_the_hint_appears_after_the_given_rounds_without_improvement():
    losses = [0.5] + [0.6] * (CONVERGED_ROUNDS - 1)
    assert converged_hint(losses) == ""
    hint = converged_hint([*losses, 0.6])
    assert f"has not improved for {CONVERGED_ROUNDS} rounds" in hint and "you may stop" in hint
    assert converged_hint([0.5, 0.6, 0.7], rounds=2).startswith("The validation loss has not improved for 2 rounds")
