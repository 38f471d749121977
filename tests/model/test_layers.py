import pytest
import torch
import torch.nn.functional as F

from napari_hdn.model.layers import Gate


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_gate_is_the_nonlinear_half_of_a_1x1_conv_times_the_sigmoid_of_the_other_half(memory_format):
    torch.manual_seed(0)
    gate = Gate(6, torch.nn.ELU)
    x = torch.randn(2, 6, 9, 7).contiguous(memory_format=memory_format)
    both = F.conv2d(x, gate.conv.weight, gate.conv.bias)  # one conv to 12 channels, split in two
    expected = F.elu(both[:, :6]) * torch.sigmoid(both[:, 6:])
    torch.testing.assert_close(gate(x), expected, rtol=1e-5, atol=1e-6)


def test_gate_keeps_one_weight_tensor_so_model_files_stay_compatible():
    gate = Gate(4, torch.nn.ELU)
    assert {k: tuple(v.shape) for k, v in gate.state_dict().items()} == {"conv.weight": (8, 4, 1, 1), "conv.bias": (8,)}


def test_gate_gradients_reach_both_halves_of_the_weight():
    gate = Gate(3, torch.nn.ELU)
    gate(torch.randn(1, 3, 5, 5)).sum().backward()
    grad = gate.conv.weight.grad
    assert grad[:3].abs().sum() > 0 and grad[3:].abs().sum() > 0
