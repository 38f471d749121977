"""Tooltips explaining the widgets' technical words (latent layer, KL, samples, variance, MMSE, ...).

The labels themselves use plain words; each function here adds the technical
explanation to one widget's controls.
"""

from __future__ import annotations

from typing import Any


def explain_fit_options(widget: Any) -> None:
    """Tooltips: what the technical choices of the fit mean."""
    widget.stack_layer.setToolTip("Many images of the same, unchanging field of view taken one after another: "
                                  "their differences are pure camera noise. A z-stack or the frames of a moving "
                                  "sample would make the noise look much stronger than it is.")
    widget.kind.setToolTip(
        "How the noise is described. Gaussian mixture: the most flexible (any camera); histogram: measured "
        "directly, needs much data; Poisson-Gaussian: photon noise plus read noise (a standard camera model); "
        "Gaussian: the same noise at every brightness."
    )
    widget.clip_low.setToolTip("Brightness range used for the fit, as percentiles of the image's intensities: "
                               "the extremes (hot pixels, saturation) are left out.")
    widget.clip_high.setToolTip(widget.clip_low.toolTip())
    widget.max_pairs.setToolTip("At most this many (true brightness, measured value) pixel pairs are used.")
    widget.n_gaussians.setToolTip("Number of Gaussian bumps mixed to describe the noise at each brightness.")
    widget.degree.setToolTip("How the mixture changes with brightness: a polynomial of this degree.")
    widget.min_sigma.setToolTip("Smallest allowed noise width (standard deviation); 'auto' derives it from the data.")
    widget.steps.setToolTip("Optimisation steps of the Gaussian-mixture fit.")


def explain_training_options(widget: Any) -> None:
    """Tooltips: what the technical choices of training mean."""
    widget.preset.setToolTip("How large the network is (hover over a choice for details): larger learns finer "
                             "structure but trains longer.")
    widget.patch_size.setToolTip("Training looks at square tiles of this many pixels cut from the images "
                                 "(the patch size); larger tiles see more context but train slower.")
    widget.budget.setToolTip("How long to train: minutes, epochs (passes over the data) or steps (batches).")
    widget.val_fraction.setToolTip("Share of the data kept out of training to check how well the model does on "
                                   "images it has not learnt from (the validation loss).")
    widget.existing.setToolTip("What to do if the folder already holds a trained model: stop, continue training "
                               "it, or replace it.")
    widget.noise_source.setToolTip("The noise model describes the camera's noise at each brightness: training "
                                   "needs it to tell noise from structure.")


def explain_restoration_options(widget: Any) -> None:
    """Tooltips: what the technical words of restoration mean."""
    widget.n_samples.setToolTip(
        "HDN draws this many possible clean images (posterior samples) that agree with the noisy one; their "
        "average (the MMSE, minimum mean squared error estimate) is the denoised image and their spread the "
        "variance layer (how uncertain each pixel is). More samples: a smoother, more reliable average, slower.")
    widget.keep_samples.setToolTip("How many of the drawn samples to show as a layer, to see how they differ.")
    widget.tta.setToolTip("Restores the image flipped and rotated 8 ways and averages (test-time augmentation): "
                          "fewer artefacts, 8 times slower.")
    widget.activations.setToolTip(
        "Adds two hidden layers with one plane per detail layer (latent layer): what each contributes to the "
        "image (activations) and how much information it takes from the input at each pixel (KL maps).")
    widget.preview_samples.setToolTip("Samples averaged for the quick preview of the region in view.")
    widget.apply_button.setToolTip("Restores the whole input with the layers switched off as above, into a new "
                                   "layer named after them, e.g. '... denoised (no z1)'; earlier results stay.")
    widget.save_button.setToolTip("Writes the result layers you choose as TIFF (or OME-Zarr) files with the "
                                  "input's pixel size; asks before replacing a file.")
    widget.suggest_button.setToolTip("Looks at the region in view and marks the latent layers whose contribution "
                                     "looks like noise rather than image content (nothing is switched off).")
    widget.second_opinion.setToolTip(
        "Also estimates, without a clean image, how far the centre of the region in view (at most 256x256 pixels) "
        "would be from the truth with every layer on, z1 off and z1-z2 off (two quick restorations each), and says "
        "whether that agrees with the suggestion. "
        "The ranking is more trustworthy than the dB figures, which lean on the noise model.")
    widget.check_error.setToolTip(
        "After the restoration, estimates its error without a clean image (from the noisy image and the noise "
        "model: a few more restorations of a crop) and shows it as '\u00b1 intensity (about ... dB)'. It leans on "
        "the noise model: a few per cent off there moves it by a dB or more. Best for comparing two restorations "
        "of the same image, e.g. with and without z1. Also widens or narrows the spread to match it.")
