"""Faster inference of the direct denoiser's U-Net on CPUs: the same weights, the same function, less work.

Measured on a 2048x2048 plane (benchmarks/bench_direct_cpu.py; results in benchmarks/results/), three
changes pay and are used by :func:`napari_hdn.direct.denoise` on CPUs:

* **Tiles that fit the plane.** The generic 512-pixel tiles with 64 pixels of overlap compute a 2048²
  plane 1.56 times over (5 x 5 tiles); :func:`plane_tile` picks the fewest tiles of at most
  ``MAX_TILE_PIXELS`` that cover the plane with the same overlap (2 x 2 tiles of 1056: 1.06 times over).
* **Channels-last (NHWC) activations and weights**, which oneDNN's convolutions run faster than NCHW.
* **The up-sampling folded into the next convolution.** A 3x3 convolution of a nearest-neighbour
  up-sampled image is, for each of the four output phases, a 2x2 convolution of the low-resolution
  image; and a convolution of the concatenation [up(y), skip] is the sum of the convolutions of its
  parts. :func:`fast_forward` computes it so: no concatenated or up-sampled tensor is made, and the
  up-sampled part costs 4 instead of 9 multiply-adds per weight (18 % fewer FLOPs in all).

The results equal ``DirectUNet.forward``'s up to float32 rounding (tests/test_direct_fast.py).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

from ..model.direct_network import DirectUNet

# Tiles of at most this many pixels: about 0.6 GB of activations in flight for the default U-Net.
MAX_TILE_PIXELS = 1088 * 1088
SLOPE = 0.1  # DirectUNet's LeakyReLU


def plane_tile(shape: tuple[int, int], overlap: int, stride: int, max_pixels: int = MAX_TILE_PIXELS) -> int:
    """The side of square tiles that cover an (H, W) plane with the fewest pixels computed, each tile at most
    ``max_pixels``, neighbours sharing ``overlap`` pixels, the side a multiple of ``stride``."""
    side_limit = max(stride, int(math.isqrt(max_pixels)) // stride * stride)
    best = None
    for n in range(1, 64):
        # n tiles along the longer axis; the side that just covers it, rounded up to the stride
        side = -(-(max(shape) + (n - 1) * overlap) // n)
        side = -(-side // stride) * stride
        if side > side_limit:
            continue
        side = max(side, overlap + stride)
        tiles = [_count(size, side, overlap, stride) for size in shape]
        cost = tiles[0] * tiles[1] * min(side, shape[0]) * min(side, shape[1])
        if best is None or cost < best[0]:
            best = (cost, side)
        if n > 1 and side < side_limit // 2:
            break
    return best[1] if best else side_limit


def _count(size: int, tile: int, overlap: int, stride: int) -> int:
    from ..inference.tiling import axis_tiles

    return len(axis_tiles(size, tile, overlap, stride))


def prepare(net: DirectUNet) -> DirectUNet:
    """``net`` in inference mode with channels-last weights (a no-op on a net already prepared)."""
    return net.eval().to(memory_format=torch.channels_last)


def _conv_act(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    return F.leaky_relu_(F.conv2d(x, conv.weight, conv.bias, padding=1), SLOPE)


def _phase_weights(weight: torch.Tensor) -> torch.Tensor:
    """The (4 * out, in, 2, 2) kernels of a 3x3 convolution of a 2x nearest up-sampled image, one per
    output phase (row parity, column parity), to be run on the low-resolution image padded by one."""
    # Along one axis, phase 0 (even rows) takes rows (i-1, i) with weights (w[0], w[1] + w[2]),
    # phase 1 (odd rows) takes rows (i, i+1) with weights (w[0] + w[1], w[2]).
    rows = [torch.stack([weight[:, :, 0], weight[:, :, 1] + weight[:, :, 2]], 2),
            torch.stack([weight[:, :, 0] + weight[:, :, 1], weight[:, :, 2]], 2)]  # (out, in, 2, 3)
    kernels = []
    for a in (0, 1):
        r = rows[a]
        cols = [torch.stack([r[..., 0], r[..., 1] + r[..., 2]], -1), torch.stack([r[..., 0] + r[..., 1], r[..., 2]], -1)]
        kernels += cols  # phases (a, 0), (a, 1)
    return torch.cat(kernels, 0)


def _up_block(y: torch.Tensor, skip: torch.Tensor, block: torch.nn.Sequential, phases: torch.Tensor) -> torch.Tensor:
    """``block(cat([up(y), skip]))`` without making the up-sampled or concatenated tensor."""
    conv1, conv2 = block[0], block[2]
    n_up = y.shape[1]
    out = F.conv2d(skip, conv1.weight[:, n_up:], conv1.bias, padding=1).contiguous(memory_format=torch.channels_last)
    n, c, h2, w2 = out.shape
    low = F.conv2d(F.pad(y, (1, 1, 1, 1)), phases)  # (N, 4C, h + 1, w + 1)
    h, w = h2 // 2, w2 // 2
    nhwc = out.permute(0, 2, 3, 1).view(n, h, 2, w, 2, c)  # a view when out is channels-last
    low = low.permute(0, 2, 3, 1)
    for k, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        nhwc[:, :, a, :, b, :] += low[:, a : a + h, b : b + w, k * c : (k + 1) * c]
    F.leaky_relu_(out, SLOPE)
    return _conv_act(out, conv2)


class FastUNet:
    """A :class:`DirectUNet` called through :func:`fast_forward`: a channels-last copy of its weights (the
    network itself is left as it is) and its phase kernels, made once."""

    def __init__(self, net: DirectUNet):
        self.net = prepare(copy.deepcopy(net).requires_grad_(False))
        self.stride = net.stride
        skip_widths = reversed([net.width * 2**i for i in range(net.depth)])
        with torch.no_grad():
            self.phases = [_phase_weights(block[0].weight[:, : block[0].weight.shape[1] - skip])
                           .contiguous(memory_format=torch.channels_last) for block, skip in zip(self.net.up, skip_widths)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return fast_forward(self.net, x, self.phases)


def cpu_forward(net: DirectUNet, device: torch.device, bf16: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function that runs ``net`` for :class:`~napari_hdn.direct.denoise.DirectJob`: :class:`FastUNet`
    in float32 on a CPU, the network itself elsewhere (GPUs, bfloat16 autocast)."""
    return FastUNet(net) if device.type == "cpu" and not bf16 else net


def cpu_tiling(tiling: Any, shape: tuple[int, int]) -> Any:
    """``tiling`` (an ``inference.driver.Tiling``) with tiles that fit an (H, W) plane (:func:`plane_tile`)."""
    from ..inference.tiling import Tiling

    return Tiling(plane_tile(shape, tiling.overlap, tiling.stride, MAX_TILE_PIXELS), tiling.overlap, tiling.stride)


def fast_forward(net: DirectUNet, x: torch.Tensor, phases: list[torch.Tensor] | None = None) -> torch.Tensor:
    """``net(x)`` for (N, 1, H, W) float32 input, computed as described in the module docstring."""
    if phases is None:
        return FastUNet(net)(x)
    h, w = x.shape[-2:]
    ph, pw = (-h) % net.stride, (-w) % net.stride
    y = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    y = y.contiguous(memory_format=torch.channels_last)
    skips = []
    for i, block in enumerate(net.down):
        y = _conv_act(_conv_act(y if i == 0 else F.max_pool2d(y, 2), block[0]), block[2])
        skips.append(y)
    for block, skip, phase in zip(net.up, reversed(skips[:-1]), phases):
        y = _up_block(y, skip, block, phase)
    return x + F.conv2d(y, net.out.weight, net.out.bias)[..., :h, :w].float().contiguous()
