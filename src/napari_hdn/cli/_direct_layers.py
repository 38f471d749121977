"""``--deactivate auto`` with ``--direct``: which one-pass denoiser to use, and its record for deactivation.json."""

from __future__ import annotations

import argparse
import warnings
from typing import Any

from ..foundation.errors import IntensityRangeWarning
from .cli_words import cli_message


def auto_layers_for_direct(args: argparse.Namespace, model: Any, image: Any) -> tuple[tuple[int, ...], dict[str, Any]]:
    """--deactivate auto with --direct: the layers to switch off and their record for deactivation.json."""
    from ..inference.suggest import auto_deactivation

    # The suggestion needs the VAE (a few restorations of one crop); the whole image then goes
    # through the direct denoiser trained for the chosen layer set.
    with warnings.catch_warnings():  # the intensity check warns once, when the image is denoised
        warnings.simplefilter("ignore", IntensityRangeWarning)
        suggestion = auto_deactivation(model, image, precision=args.precision)
    deactivate = tuple(suggestion.layers)
    if not args.quiet:
        print(f"hdn predict: {cli_message(suggestion.summary)} Switched off: {list(deactivate) or 'none'}")
    return deactivate, {"deactivated_layers": list(deactivate), "suggestion": suggestion.to_metadata()}
