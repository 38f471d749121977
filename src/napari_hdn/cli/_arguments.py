"""Argument types shared by the ``hdn`` subcommands."""

from __future__ import annotations

import argparse


def latent_layers(text: str) -> tuple[int, ...]:
    """``--deactivate 1,2`` -> (1, 2): latent layer numbers, 1 = z1 (the finest), as in the paper."""
    text = text.strip()
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of latent layer numbers: write e.g. 1,2 (1 = z1, the finest)."
        ) from None


def latent_layers_or_auto(text: str) -> tuple[int, ...] | str:
    """As :func:`latent_layers`, or ``auto``: the layers ``napari_hdn.suggest_deactivation`` finds noise-like."""
    if text.strip().lower() == "auto":
        return "auto"
    return latent_layers(text)
