"""The core's messages in the widgets' words: what to click instead of a command or a function to call.

The core speaks the API in its messages: "Train one first with
napari_hdn.train_direct_denoiser(model, images)" (the CLI translates them into flags:
``cli/cli_words.py``). A widget user has
neither a terminal nor a Python prompt at hand, so every message a widget shows
passes through :func:`gui_message`, which replaces those hints by the control that
does the same, the core's "direct denoiser" by the button's "one-pass denoiser" and "latent layer" by the panel's
"detail layer".
:data:`CODE_TEXT` finds what is left (the tests check that nothing is).
"""

from __future__ import annotations

import re
from typing import Any

ONE_PASS_BUTTON = "'Train the one-pass denoiser' (Restore widget)"
ESTIMATE_SOURCE = "the source 'Noisy images only (estimate the camera)' in the Noise model widget"
PAIR_SOURCE = "the source 'Noisy image + pseudo-clean image' in the Noise model widget"

# (pattern, replacement), applied in order; each names the control that does what the hint asked for.
REPLACEMENTS: tuple[tuple[str, Any], ...] = (
    # bioimageio_export: no direct denoiser to export
    (r"Train one first with\s+napari_hdn\.train_direct_denoiser\(model, images\)", f"Train one first with {ONE_PASS_BUTTON}"),
    # direct.denoise: none for these layers
    (r"Train one with napari_hdn\.train_direct_denoiser\(model, images(?:, deactivate=\([\d, ]*\))?\)",
     f"Train one with {ONE_PASS_BUTTON}, with the same detail layers switched off"),
    # noise_models.stack_check: not a static stack
    (r"for ordinary noisy images use\s+estimate_noise_model; or pass check_static=False if you are sure\.",
     f"for ordinary noisy images choose {ESTIMATE_SOURCE}."),
    # noise_models.pairs: one 2-D image as a calibration stack
    (r"use fit_noise_model\(signal, observation\)\.", f"choose {PAIR_SOURCE}."),
    # intensity_range: data outside the noise model's range
    (r"\(estimate_noise_model\)", f"({ESTIMATE_SOURCE})"),
    # training.loop: a checkpoint could not be written
    (r"continue the training \(resume=True\)",
     "continue the training (Train widget: Advanced settings > If that folder has a model: continue its training)"),
    # model.bundle: a pickled model file
    (r"train a model with napari-hdn \(napari_hdn\.train\)", "train a model with napari-hdn (Train widget)"),
    # training.adapt: other network settings
    (r"\(napari_hdn\.train\)", "(untick 'Start from a trained model' in the Train widget)"),
    # training.loop: the noise-layers event of a training
    (r"\s*\(restore with deactivate=\"auto\"\)", ""),
    # noise_models.files: not a noise-model file
    (r"Calibrate one with napari_hdn\.calibrate\(stack\)\.", "Fit one with 'Fit noise model' in the Noise model widget."),
    # noise_models.poisson_gaussian: an offset that cannot be fitted
    (r"\(offset=\.\.\.\)", "(tick 'known dark offset' under Advanced in the Noise model widget)"),
    # training.checkpoints: the output folder holds a model
    (r"resume its training \(resume=True\)\s+or replace it \(overwrite=True\)",
     "continue its training or replace it (Train widget: Advanced settings > If that folder has a model)"),
    # resume_check: a resumed training keeps its settings
    (r"preset='(\w+)' \(or leave preset out\)", r"network size '\1'"),
    (r"\s*\(leave noise_model out\)", ""),
    # _device: no such GPU
    (r"use device=\"cpu\" or \"auto\"\.", "choose 'CPU' or 'auto' under Run on (Train widget: Advanced settings)."),
    # bioimageio_export: the test image
    (r"\(image=\.\.\.\)", "(the input layer)"),
    # omezarr_io: samples of a time series, an existing output
    (r"Use keep_samples=0", "Set 'Samples to show' to 0"),
    (r"or pass overwrite=True to replace it", "or allow replacing it"),
    # what is left: a yes/no option in brackets ("(overwrite=True)") says nothing to a widget user
    (r"\s*\(\w+=True\)", ""),
    # inference.suggest: its progress
    (r"(\d+)/(\d+) restorations of the crop", r"checking the layers: \1 of \2 restorations of the region in view"),
    # training.loop: a snapshot of the model in training (the Train widget counts "batches of tiles")
    (r"\bmodel at step (\d+)", r"the model after \1 batches of tiles"),
    # the widgets call the latent layers "detail layers" (the precise term is in the tooltips)
    (r"\b([Ll])atent layer(s?)\b", lambda m: ("D" if m.group(1) == "L" else "d") + "etail layer" + m.group(2)),
    (r"\bdirect denoisers\b", "one-pass denoisers"),
    (r"\bdirect denoiser\b", "one-pass denoiser"),
)

# A command line or a call in a message: `...`, "hdn train", "--flag", "napari_hdn.", "name(", "name=value".
CODE_TEXT = re.compile(r"`|(?<![\w-])hdn [a-z]|(?<![\w-])--[a-z]|napari_hdn\.|\b[A-Za-z_]\w*\(|\b[a-z_]+=[\w'\"(]")


def gui_message(message: str) -> str:
    """``message`` with the core's command and API hints replaced by what to click."""
    for pattern, replacement in REPLACEMENTS:
        message = re.sub(pattern, replacement, message)
    return message


def has_code(message: str) -> bool:
    """Whether ``message`` still names a command, a flag or a function call."""
    return CODE_TEXT.search(message) is not None
