"""When training has converged: the validation loss no longer improves (a hint for the user, not a rule).

The training loop's own early stopping (``TrainConfig.early_stopping_patience``)
counts the same rounds; this only words it for a front end that lets the user
decide (the Train widget).
"""

from __future__ import annotations

import math

# Validation rounds without a better validation loss after which training is called converged (a hint only:
# the learning-rate schedule may still find a little).
CONVERGED_ROUNDS = 10


def rounds_without_improvement(val_losses: list[float]) -> int:
    """Validation rounds since the best (lowest) validation loss so far; 0 when the last one is the best.

    Rounds whose loss is not finite never count as the best.
    """
    finite = [(value, i) for i, value in enumerate(val_losses) if math.isfinite(value)]
    if not finite:
        return 0
    best_round = min(finite)[1]
    return len(val_losses) - 1 - best_round


def converged_hint(val_losses: list[float], rounds: int = CONVERGED_ROUNDS) -> str:
    """The plain-words hint that training may stop, or "" while the validation loss still improves."""
    stale = rounds_without_improvement(val_losses)
    if stale < rounds:
        return ""
    return (f"The validation loss has not improved for {stale} rounds: the model has probably learned what it "
            "can; you may stop training (Stop keeps the model trained so far).")
