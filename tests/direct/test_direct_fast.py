"""The CPU fast path of the direct denoiser (direct/fast_inference.py): the same function as the U-Net's own
forward, tiles that fit the plane, and the network left as it was."""

import numpy as np
import pytest
import torch
from factories import tiny_model

import napari_hdn
from napari_hdn.direct import DirectUNet
from napari_hdn.direct.denoise import DirectJob
from napari_hdn.direct.fast_inference import FastUNet, cpu_tiling, plane_tile
from napari_hdn.checks.inputs import check_tiling
from napari_hdn.inference.driver import Tiling, numpy_events
from napari_hdn.inference.tiling import axis_tiles
from napari_hdn.foundation.progress import drive


def random_net(depth=2, width=8, seed=0):
    torch.manual_seed(seed)
    net = DirectUNet(depth, width).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)  # far from the identity, so that every branch matters
    return net


@pytest.mark.parametrize("depth, width", [(1, 4), (2, 8), (3, 4)])
@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (2, 1, 37, 50)])
def test_fast_forward_is_the_networks_own_forward(depth, width, shape):
    net = random_net(depth, width)
    x = torch.randn(*shape)
    with torch.inference_mode():
        expected, got = net(x), FastUNet(net)(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    scale = float(expected.abs().max())
    assert float((got - expected).abs().max()) <= 1e-5 * scale


def test_fast_path_leaves_the_network_as_it_was():
    net = random_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    FastUNet(net)(torch.randn(1, 1, 32, 32))
    for name, value in net.state_dict().items():
        assert value.is_contiguous() and torch.equal(value, before[name]), name


def test_plane_tile_fits_a_2048_plane_with_four_tiles():
    side = plane_tile((2048, 2048), overlap=64, stride=16)
    assert side % 16 == 0 and side * side <= 1088 * 1088
    assert len(axis_tiles(2048, side, 64, 16)) == 2  # 2 x 2 tiles
    assert 4 * side * side < 1.1 * 2048 * 2048  # today's 512-pixel tiles compute the plane 1.56 times over


@pytest.mark.parametrize("shape", [(64, 64), (300, 40), (1000, 1100), (5000, 700)])
def test_plane_tile_is_a_multiple_of_the_stride_and_bounded(shape):
    side = plane_tile(shape, overlap=32, stride=8, max_pixels=512 * 512)
    assert side % 8 == 0 and 40 <= side <= 512
    if max(shape) <= 512:
        assert side >= max(shape)  # one tile


def test_denoise_on_cpu_matches_the_plain_network_on_the_same_tiles():
    model = tiny_model(data_mean=120.0, data_std=25.0, data_range=(0.0, 255.0))
    net = random_net(2, 8)
    with torch.no_grad():
        net.out.weight.mul_(0.01)  # a residual of a sensible size
    model.direct_denoisers = {"all-on": net}
    image = np.random.default_rng(0).normal(120, 25, (200, 230)).astype(np.float32)
    old = DirectJob(model, net, bf16=False, fast=False)
    assert old.forward is net
    stride = max(model.network.stride, net.stride)
    today = drive(numpy_events(old, image, Tiling(64, 32, stride), 0, None, "denoise"))[0][0]
    fast = napari_hdn.denoise(model, image, precision="float32")  # fitted tiles, fast forward
    tiled = napari_hdn.denoise(model, image, tile=64, overlap=32, precision="float32")
    assert np.isfinite(fast).all()
    value_range = float(np.ptp(today))
    assert float(np.abs(tiled - today).max()) <= 1e-5 * value_range
    fitted = cpu_tiling(check_tiling(None, None, stride), image.shape)
    assert len(fitted.grid(image.shape)) == 1  # the plane in one tile
    one_tile = drive(numpy_events(old, image, fitted, 0, None, "denoise"))[0][0]
    assert float(np.abs(fast - one_tile).max()) <= 1e-5 * value_range
