"""Building blocks of the ladder VAE: gated residual blocks, merges, stochastic layers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_NONLINEARITIES = {"elu": nn.ELU, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "selu": nn.SELU}


def nonlinearity(name: str) -> type[nn.Module]:
    return _NONLINEARITIES[name]


@dataclass(frozen=True)
class BlockSettings:
    """What every residual block in the network shares."""

    nonlin: type[nn.Module]
    batchnorm: bool
    dropout: float
    gated: bool


class Gate(nn.Module):
    """1x1 conv to twice the channels; one half, through a sigmoid, gates the other."""

    def __init__(self, channels: int, nonlin: type[nn.Module]):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, 1)
        self.nonlin = nonlin()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Two convolutions with the halves of one weight rather than one convolution split in two: the
        # halves of a channels-last output are strided views, on which CPU activations run several times
        # slower (with fused Adam, this took the fast preset's CPU step from 0.27 to 0.21 s; README).
        c = self.conv.out_channels // 2
        weight, bias = self.conv.weight, self.conv.bias
        value = F.conv2d(x, weight[:c], None if bias is None else bias[:c])
        gate = F.conv2d(x, weight[c:], None if bias is None else bias[c:])
        return self.nonlin(value) * torch.sigmoid(gate)


class ResidualBlock(nn.Module):
    """x + gate(f(x)), f = 2 x (batch norm, activation, 3x3 conv, dropout)."""

    def __init__(self, channels: int, settings: BlockSettings, gated: bool | None = None):
        super().__init__()
        gated = settings.gated if gated is None else gated
        modules: list[nn.Module] = []
        for _ in range(2):
            if settings.batchnorm:
                modules.append(nn.BatchNorm2d(channels))
            modules.append(settings.nonlin())
            modules.append(nn.Conv2d(channels, channels, 3, padding=1))
            if settings.dropout > 0:
                modules.append(nn.Dropout2d(settings.dropout))
        if gated:
            modules.append(Gate(channels, settings.nonlin))
        self.block = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResampleBlock(nn.Module):
    """A residual block, preceded by a 2x down- (bottom-up) or up-sampling (top-down) conv."""

    def __init__(self, channels: int, settings: BlockSettings, resample: str | None = None, gated: bool | None = None):
        super().__init__()
        if resample == "down":
            self.resample: nn.Module = nn.Conv2d(channels, channels, 3, padding=1, stride=2)
        elif resample == "up":
            self.resample = nn.ConvTranspose2d(channels, channels, 3, padding=1, stride=2, output_padding=1)
        else:
            self.resample = nn.Identity()
        self.res = ResidualBlock(channels, settings, gated=gated)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.resample(x))


def resample_stack(channels: int, n_blocks: int, settings: BlockSettings, resample: str) -> nn.Sequential:
    """``n_blocks`` residual blocks of which the first one resamples by 2."""
    return nn.Sequential(
        *(ResampleBlock(channels, settings, resample if i == 0 else None) for i in range(n_blocks))
    )


class Merge(nn.Module):
    """Concatenate two feature maps, 1x1 conv back to ``channels``, then (residual) a gated block."""

    def __init__(self, channels: int, settings: BlockSettings, merge_type: str = "residual"):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(2 * channels, channels, 1)]
        if merge_type == "residual":
            layers.append(ResidualBlock(channels, settings, gated=True))
        self.layer = nn.Sequential(*layers)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape[0] != b.shape[0]:  # bottom-up features shared by a batch of samples
            a, b = torch.broadcast_tensors(a, b)
        return self.layer(torch.cat((a, b), dim=1))


def gaussian_kl(q_mu, q_logvar, p_mu, p_logvar) -> torch.Tensor:
    """Elementwise KL(N(q_mu, e^q_logvar) || N(p_mu, e^p_logvar))."""
    return 0.5 * (p_logvar - q_logvar + (q_logvar.exp() + (q_mu - p_mu) ** 2) / p_logvar.exp() - 1.0)


def gaussian_log_prob(z, mu, logvar) -> torch.Tensor:
    return -0.5 * (logvar + (z - mu) ** 2 / logvar.exp() + torch.log(torch.tensor(2 * torch.pi, device=z.device)))
