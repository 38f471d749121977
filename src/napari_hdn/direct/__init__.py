"""Direct denoiser (Salmon & Krull 2023): a U-Net distilled from the HDN's posterior in one pass."""

from ..model.direct_network import DirectUNet
from .denoise import denoise, denoise_events
from .distill import distill_events, train_direct_denoiser

__all__ = ["DirectUNet", "denoise", "denoise_events", "distill_events", "train_direct_denoiser"]
