import pytest
import torch
from factories import tiny_config

from napari_hdn.foundation.errors import InputError
from napari_hdn.model import LadderVAE, ModelConfig

TINY = tiny_config(n_latent_layers=3, z_channels=4, n_filters=8)


def tiny_model(seed=0, **changes):
    torch.manual_seed(seed)
    config = ModelConfig(**{**TINY.__dict__, **changes})
    return LadderVAE(config).eval()


def test_paper_configuration_has_the_papers_parameter_count():
    # Prakash et al. (ICLR 2022): 6 layers x 32 channels, 5 gated blocks, 64 filters -> 7.301 M parameters.
    assert LadderVAE(ModelConfig()).n_parameters() == 7_301_697


@pytest.mark.parametrize(
    "change",
    [
        {"gated": False},
        {"batchnorm": False},
        {"stochastic_skip": False},
        {"merge_type": "linear"},
    ],
)
def test_every_ablation_switch_changes_the_architecture(change):
    assert LadderVAE(ModelConfig(**change)).n_parameters() < LadderVAE(ModelConfig()).n_parameters()


def test_any_image_size_is_padded_and_cropped_back():
    model = tiny_model()
    with torch.inference_mode():
        result = model(torch.randn(2, 1, 19, 30))
    assert result.out.shape == (2, 1, 19, 30)
    assert [k.shape for k in result.kl] == [(2,)] * 3
    # z1 lives at half resolution of the padded 24x32 input, z3 at 1/8.
    assert [tuple(s.shape) for s in result.kl_spatial] == [(2, 12, 16), (2, 6, 8), (2, 3, 4)]


def test_kl_is_finite_and_non_negative():
    model = tiny_model()
    model.train()
    result = model(torch.randn(3, 1, 16, 16))
    for kl, kl_map in zip(result.kl, result.kl_spatial):
        assert torch.isfinite(kl).all() and (kl >= 0).all()
        assert (kl_map >= -1e-6).all()
        torch.testing.assert_close(kl_map.sum((1, 2)), kl, rtol=1e-4, atol=1e-4)


def test_under_bfloat16_autocast_the_kl_and_the_signal_stay_float32_and_close_to_float32_ones():
    model = tiny_model()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        exact = model(x, posterior_mean=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(x, posterior_mean=True)
    assert mixed.out.dtype == torch.float32
    assert all(kl.dtype == torch.float32 for kl in mixed.kl)
    # The convolutions run in bfloat16, so agreement is to bf16's precision, but a KL of O(1e-2) nats
    # per element is not lost to cancellation: every layer's total keeps its size.
    for kl_exact, kl_mixed in zip(exact.kl, mixed.kl):
        torch.testing.assert_close(kl_mixed, kl_exact, rtol=0.1, atol=0.05)
    torch.testing.assert_close(mixed.out, exact.out, rtol=0.05, atol=0.05)


def test_deactivating_every_layer_makes_the_output_independent_of_the_input():
    model = tiny_model()
    with torch.inference_mode():
        a = model(torch.randn(1, 1, 16, 16), deactivate=[1, 2, 3]).out
        b = model(torch.randn(1, 1, 16, 16) * 5 + 3, deactivate=[1, 2, 3]).out
    torch.testing.assert_close(a, b)


def test_deactivated_layers_carry_no_kl_and_the_others_do():
    model = tiny_model()
    with torch.inference_mode():
        result = model(torch.randn(2, 1, 16, 16), deactivate=[1])
    assert torch.all(result.kl[0] == 0) and result.kl_spatial[0] is None
    assert all(torch.all(k > 0) for k in result.kl[1:])


def test_active_layers_pass_information_from_the_input():
    model = tiny_model()
    with torch.inference_mode():
        a = model(torch.zeros(1, 1, 16, 16), posterior_mean=True).out
        b = model(torch.ones(1, 1, 16, 16), posterior_mean=True).out
    assert not torch.allclose(a, b)


def test_posterior_mean_is_deterministic_and_samples_vary():
    model = tiny_model()
    x = torch.randn(1, 1, 16, 16)
    with torch.inference_mode():
        m1 = model(x, posterior_mean=True).out
        m2 = model(x, posterior_mean=True).out
        s1 = model(x).out
        s2 = model(x).out
    torch.testing.assert_close(m1, m2)
    assert not torch.allclose(s1, s2)


def test_shared_bottom_up_gives_the_same_samples_as_copied_features():
    model = tiny_model()
    x = torch.randn(1, 1, 16, 16)
    with torch.inference_mode():
        bu = model.bottom_up(x)
        torch.manual_seed(3)
        shared = model.top_down(bu, n_samples=4).out
        torch.manual_seed(3)
        copied = model.top_down([b.expand(4, -1, -1, -1) for b in bu]).out
    assert shared.shape == (4, 1, 16, 16)
    torch.testing.assert_close(shared, copied)
    assert shared.std(0).mean() > 0  # four different samples


def test_generation_from_the_prior():
    model = tiny_model()
    with torch.inference_mode():
        out = model.top_down(None, n_prior=3, prior_size=(16, 24)).out
    assert out.shape == (3, 1, 16, 24)


@pytest.mark.parametrize("layers", [[0], [4], [1.5], ["1"], [True]])
def test_unknown_latent_layers_are_rejected_with_their_range(layers):
    model = tiny_model()
    with pytest.raises(InputError, match="layers 1 .* to 3"):
        model(torch.zeros(1, 1, 16, 16), deactivate=layers)


def test_bottom_up_rejects_unpadded_sizes():
    with pytest.raises(InputError, match="multiple of 8"):
        tiny_model().bottom_up(torch.zeros(1, 1, 12, 16))


@pytest.mark.parametrize(
    "bad", [{"n_latent_layers": 0}, {"dropout": 1.0}, {"free_bits": -1}, {"nonlinearity": "tanh"}, {"z_channels": 0}]
)
def test_bad_model_settings_are_rejected(bad):
    with pytest.raises(InputError, match="Invalid model setting"):
        ModelConfig(**bad)


def test_a_private_generator_gives_reproducible_samples_without_touching_the_global_one():
    model = tiny_model()
    bu = model.bottom_up(torch.randn(1, 1, 16, 16))
    global_state = torch.get_rng_state()
    with torch.inference_mode():
        a = model.top_down(bu, n_samples=3, generator=torch.Generator().manual_seed(7)).out
        b = model.top_down(bu, n_samples=3, generator=torch.Generator().manual_seed(7)).out
    torch.testing.assert_close(a, b)
    assert torch.equal(torch.get_rng_state(), global_state)
