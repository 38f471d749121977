"""A small deterministic U-Net mapping a normalised noisy image to its MMSE (or median) estimate."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.1),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.LeakyReLU(0.1))


class DirectUNet(nn.Module):
    """U-Net of ``depth`` poolings and ``width`` filters at full resolution (doubling per level).

    Predicts a residual on top of the input, so an untrained network starts at the identity.
    """

    def __init__(self, depth: int = 2, width: int = 32):
        super().__init__()
        self.depth, self.width = int(depth), int(width)
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(1 if i == 0 else widths[i - 1], widths[i]) for i in range(depth + 1)])
        self.up = nn.ModuleList([_block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth))])
        self.out = nn.Conv2d(width, 1, 1)

    @property
    def stride(self) -> int:
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        y = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        skips = []
        for i, block in enumerate(self.down):
            y = block(y if i == 0 else F.max_pool2d(y, 2))
            skips.append(y)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            y = block(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), skip], 1))
        return x + self.out(y).float()[..., :h, :w]
