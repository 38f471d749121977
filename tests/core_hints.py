"""The core's messages that tell the user what to do in API words (the CLI and the widgets translate them).

Each entry: (the core's message, what ``hdn`` must print instead of the API hint). The widgets' test
checks that none of them shows code once translated; the CLI's test checks the flags.
"""

from __future__ import annotations

HINTS: tuple[tuple[str, str], ...] = (
    ("This model has no direct denoiser, and only a direct denoiser can be exported to the BioImage Model Zoo. "
     "Train one first with napari_hdn.train_direct_denoiser(model, images), then export again.",
     "Train one first with `hdn distill MODEL DATA.tif`, then"),
    ("This model has no direct denoiser for latent layers off-1-2 (it has: all-on). Train one with "
     "napari_hdn.train_direct_denoiser(model, images, deactivate=(1, 2)).",
     "`hdn distill MODEL DATA.tif --deactivate 1 --deactivate 2`"),
    ("Cannot save the checkpoint /m/last (No space), so training stopped. Free some disk space, then continue "
     "the training (resume=True).", "continue the training (--resume)."),
    ("An adapted model keeps its parent's network, so ['n_filters'] cannot change. Train a new model from "
     "scratch (napari_hdn.train) to use other network settings.", "from scratch (hdn train)"),
    ("m.pt looks like a pickled PyTorch model. napari-hdn never unpickles files, which could run arbitrary "
     "code: train a model with napari-hdn (napari_hdn.train).", "napari-hdn (hdn train)."),
    ("noise layers: z1 (restore with deactivate=\"auto\")", "(hdn predict --deactivate auto)"),
    ("nm.npz is not a noise model: a reference HDN/PPN2V one has ['min_sigma']. Calibrate one with "
     "napari_hdn.calibrate(stack).", "Calibrate one with `hdn calibrate`."),
    ("m already exists: choose another name or allow overwriting (overwrite=True).", "(--overwrite)."),
    ("out already holds a model: choose another folder, resume its training (resume=True) or replace it "
     "(overwrite=True).", "resume its training (--resume) or replace it (--overwrite)."),
    ("Resume with preset='fast' (or leave preset out), or start a new training.",
     "Resume with --preset fast (or without --preset), or"),
    ("Resume without a noise model (leave noise_model out), or start a new training.",
     "Resume without a noise model (without --noise-model), or"),
    ("Device 'cuda' was requested but no CUDA GPU is available to torch: use device=\"cpu\" or \"auto\".",
     "use --device cpu or auto."),
    ("The offset would reach zero (3); give the camera's real offset (offset=...).", "real offset (--offset)."),
    ("Pass a noisy image like the training data (image=...): a crop of it is the test.", "(--image DATA.tif)"),
    ("Both are taken. Use keep_samples=0, or restore one time point at a time.", "Use --keep-samples 0, or"),
    ("out.ome.zarr already exists: choose another output name or pass overwrite=True to replace it.",
     "or add --overwrite to replace it."),
    ("The training data lie outside the noise model's range: estimate one from these images "
     "(estimate_noise_model).", "(hdn calibrate DATA --from-noisy)."),
)
