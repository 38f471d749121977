import math

import torch

from napari_hdn.model import LadderVAE, ModelConfig
from napari_hdn.model.objective import free_bits_kl, hdn_loss


class UnitGaussian:
    """Minimal noise model: x ~ N(s, 1) in raw units."""

    def log_likelihood(self, x, s):
        return -0.5 * (x - s) ** 2 - 0.5 * math.log(2 * math.pi)


def test_free_bits_floor_each_images_kl():
    kl = torch.tensor([[0.2, 3.0], [2.0, 5.0]])
    torch.testing.assert_close(free_bits_kl(kl, 1.0), torch.tensor([1.5, 4.0]))
    torch.testing.assert_close(free_bits_kl(kl, 0.0), torch.tensor([1.1, 4.0]))


def test_loss_terms_are_per_pixel_and_leave_out_deactivated_layers():
    torch.manual_seed(0)
    model = LadderVAE(ModelConfig(n_latent_layers=2, z_channels=2, n_filters=4, blocks_per_layer=1))
    x = torch.randn(2, 1, 8, 8)
    result = model(x, deactivate=[1])
    terms = hdn_loss(result, x * 2 + 10, UnitGaussian(), data_mean=10.0, data_std=2.0, free_bits=1.0, deactivated=[1])
    kl = torch.stack(result.kl, 1)
    expected_kl = kl[:, 1].clamp(min=1.0).mean() / 64
    torch.testing.assert_close(terms.kl, expected_kl)
    s_raw = result.out * 2 + 10
    expected_rec = (0.5 * (x * 2 + 10 - s_raw) ** 2 + 0.5 * math.log(2 * math.pi)).mean()
    torch.testing.assert_close(terms.reconstruction, expected_rec)
    torch.testing.assert_close(terms.total, expected_rec + expected_kl)
    assert terms.kl_per_layer.shape == (2,) and terms.kl_per_layer[0] == 0
    terms.total.backward()  # differentiable end to end
    assert model.output_conv.weight.grad is not None
