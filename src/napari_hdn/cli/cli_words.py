"""The core's messages in the command line's words: the flag or the command instead of the argument or the call.

The core speaks the API: "allow overwriting (overwrite=True)", "use estimate_noise_model",
"Train one with napari_hdn.train_direct_denoiser(model, images, deactivate=(1,))". A user at the
terminal types flags and commands, so every error, warning and progress line ``hdn`` prints passes
through :func:`cli_message`. The widgets have their own translator (``_qt/gui_words.py``).
"""

from __future__ import annotations

import re
from typing import Any


def _distill_command(match: re.Match) -> str:
    layers = re.findall(r"\d+", match.group(1) or "")
    return "`hdn distill MODEL DATA.tif" + "".join(f" --deactivate {n}" for n in layers) + "`"


# (pattern, replacement), applied in order; each names the flag or the command that does what the hint asked for.
REPLACEMENTS: tuple[tuple[str, Any], ...] = (
    # direct.denoise, bioimageio_export: no (such) direct denoiser
    (r"napari_hdn\.train_direct_denoiser\(model, images(?:, deactivate=\(([\d, ]*)\))?\)", _distill_command),
    # noise_models.stack_check: not a static stack
    (r"use estimate_noise_model; or pass check_static=False", "use `hdn calibrate DATA --from-noisy`; or add "
     "--no-static-check"),
    # intensity_range: data outside the noise model's range
    (r"\(estimate_noise_model\)", "(hdn calibrate DATA --from-noisy)"),
    # noise_models.pairs: one 2-D image as a calibration stack
    (r"use fit_noise_model\(signal, observation\)", "use `hdn calibrate NOISY.tif --signal CLEAN.tif`"),
    # noise_models.files: not a noise-model file
    (r"napari_hdn\.calibrate\(stack\)", "`hdn calibrate`"),
    # training.adapt, model.bundle: train from scratch
    (r"\(napari_hdn\.train\)", "(hdn train)"),
    # training.resume_check: a resumed training keeps its preset and its noise model
    (r"preset='(\w+)' \(or leave preset out\)", r"--preset \1 (or without --preset)"),
    (r"\(leave noise_model out\)", "(without --noise-model)"),
    # _device: no such GPU
    (r"device=\"(\w+)\" or \"auto\"", r"--device \1 or auto"),
    # omezarr_io: samples of a time series, an existing output
    (r"keep_samples=(\d+)", r"--keep-samples \1"),
    (r"pass overwrite=True", "add --overwrite"),
    # noise_models.poisson_gaussian: an offset that cannot be fitted
    (r"\(offset=\.\.\.\)", "(--offset)"),
    # bioimageio_export: the test image
    (r"\(image=\.\.\.\)", "(--image DATA.tif)"),
    # training.loop: the noise-layers event of a training
    (r"\(restore with deactivate=\"auto\"\)", "(hdn predict --deactivate auto)"),
    # what is left: a yes/no option in brackets, "(resume=True)", "(overwrite=True)"
    (r"\((\w+)=True\)", lambda m: "(--" + m.group(1).replace("_", "-") + ")"),
)


def cli_message(message: str) -> str:
    """``message`` with the core's API hints replaced by the command line's flags and commands."""
    for pattern, replacement in REPLACEMENTS:
        message = re.sub(pattern, replacement, message)
    return message
