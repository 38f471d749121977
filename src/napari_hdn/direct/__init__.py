"""Direct denoiser (Salmon & Krull 2023): a U-Net distilled from the HDN's posterior in one pass."""

from .denoise import denoise, denoise_events
from .distill import direct_step, distill_events, train_direct_denoiser
from .network import DirectUNet
from .store import layer_key

__all__ = ["DirectUNet", "denoise", "denoise_events", "direct_step", "distill_events", "layer_key", "train_direct_denoiser"]
