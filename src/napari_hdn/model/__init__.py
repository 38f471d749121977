"""The HDN network (ladder VAE), its objective and model bundles."""

from .bundle import HDNModel, load_model
from .config import ModelConfig
from .lvae import LadderVAE, TopDownResult
from .objective import LossTerms, free_bits_kl, hdn_loss

__all__ = ["ModelConfig", "LadderVAE", "TopDownResult", "LossTerms", "free_bits_kl", "hdn_loss", "HDNModel", "load_model"]
