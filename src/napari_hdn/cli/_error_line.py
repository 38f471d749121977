"""The line ``hdn predict --calibrate`` prints: the restoration's error estimated without ground truth."""

from __future__ import annotations

from typing import Any

from .cli_words import cli_message


def print_error_estimate(result: Any) -> None:
    """The error estimated without ground truth (where it was asked for), in words, on one line."""
    uncertainty = getattr(result, "uncertainty", None)
    if uncertainty is not None:
        print(f"hdn predict: {cli_message(uncertainty.describe())} (from the noisy image and the noise model alone)")
