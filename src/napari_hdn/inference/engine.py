"""The per-tile computation on the network: one bottom-up pass per tile, then the
top-down pass for all samples in batches sized to the memory available.

Everything here works on one tile (an (h, w) array in the input's intensity units)
and returns numpy arrays in the same units; tiling, stacks and dask live in
:mod:`.driver`.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..checks.inputs import check_precision, whole_number
from ..foundation.device import bfloat16_autocast, use_bfloat16
from ..foundation.progress import StopToken

if TYPE_CHECKING:
    from ..model.bundle import HDNModel

# Top-down activation memory per sample, in bytes per pixel of the tile per filter
# of the network: several full-resolution feature maps are alive at once in the
# last residual blocks (float32). Measured with benchmarks/bench_memory.py.
TOP_DOWN_BYTES_PER_PIXEL_PER_FILTER = 48
# Memory for one batch of samples. On CPU a fixed budget (not the free memory of the
# moment) keeps the batch size, and with it the drawn samples, the same from run to run.
CPU_BATCH_BUDGET_BYTES = 1 << 30
CUDA_BATCH_FRACTION = 0.4  # of the GPU's total memory
MAX_BATCH = 64

# The 8 dihedral transforms of test-time augmentation: (quarter turns, mirror after turning).
TTA_TRANSFORMS: tuple[tuple[int, bool], ...] = tuple((k, flip) for flip in (False, True) for k in range(4))



def tile_seed(seed: int, *position: int) -> int:
    """A seed for one tile, derived from the user's seed and the tile's place in the data.

    Seeding by place (plane, y, x) rather than by processing order makes the
    result independent of the order in which tiles or dask blocks are computed.
    """
    # Zigzag-encode positions: tiles of overlapping dask blocks may start left of or above the image.
    entropy = [seed, *(2 * p if p >= 0 else -2 * p - 1 for p in position)]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class RandomStream:
    """A private random stream for one tile: a ``torch.Generator`` seeded by the tile's place, passed to the
    network's top-down pass. It never touches torch's global generator, so tiles computed in any order or in
    parallel (dask threads) draw exactly the same numbers, and a caller's own random stream is left alone."""

    def __init__(self, seed: int, device: torch.device):
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)



def transform(x: torch.Tensor, quarter_turns: int, mirror: bool) -> torch.Tensor:
    x = torch.rot90(x, quarter_turns, dims=(-2, -1))
    return x.flip(-1) if mirror else x


def untransform(x: torch.Tensor, quarter_turns: int, mirror: bool) -> torch.Tensor:
    if mirror:
        x = x.flip(-1)
    return torch.rot90(x, -quarter_turns, dims=(-2, -1))


def pixelwise_median(samples: torch.Tensor) -> torch.Tensor:
    """Exact median over dim 0 (the mean of the two middle values for an even count)."""
    n = samples.shape[0]
    lower = torch.kthvalue(samples, (n + 1) // 2, dim=0).values
    if n % 2:
        return lower
    upper = torch.kthvalue(samples, n // 2 + 1, dim=0).values
    return 0.5 * (lower + upper)


def central_half_width(samples: torch.Tensor, level: float = 0.9) -> torch.Tensor:
    """Half the width of the central ``level`` interval over dim 0: (q_high - q_low) / 2, with the quantiles
    linearly interpolated between order statistics (numpy's default, as ``inference.metrics`` measures)."""
    n = samples.shape[0]
    if n < 2:
        return torch.zeros_like(samples[0])
    ends = []
    for q in ((1.0 - level) / 2.0, (1.0 + level) / 2.0):
        position = q * (n - 1)
        below = int(np.floor(position))
        weight = position - below
        lower = torch.kthvalue(samples, below + 1, dim=0).values
        upper = torch.kthvalue(samples, min(below + 2, n), dim=0).values if weight > 0 else lower
        ends.append(lower + weight * (upper - lower))
    return 0.5 * (ends[1] - ends[0])


def batch_memory_budget(device: torch.device) -> int:
    if device.type == "cuda":
        return int(CUDA_BATCH_FRACTION * torch.cuda.get_device_properties(device).total_memory)
    return CPU_BATCH_BUDGET_BYTES


def auto_batch_size(n_filters: int, tile_shape: Sequence[int], n_samples: int, device: torch.device) -> int:
    """How many samples go through the top-down pass at once for a tile of this shape."""
    per_sample = TOP_DOWN_BYTES_PER_PIXEL_PER_FILTER * n_filters * int(np.prod(tile_shape))
    return int(max(1, min(n_samples, MAX_BATCH, batch_memory_budget(device) // per_sample)))


@dataclass(frozen=True)
class SamplingSettings:
    """What to draw for each tile (validated by the public functions)."""

    n_samples: int
    keep_samples: int
    deactivate: tuple[int, ...]
    tta: bool
    posterior_mean: bool
    batch_size: int | None

    @property
    def transforms(self) -> tuple[tuple[int, bool], ...]:
        return TTA_TRANSFORMS if self.tta else TTA_TRANSFORMS[:1]

    @property
    def n_draws(self) -> int:
        """Decoded images per tile: the samples, or one posterior-mean image per orientation."""
        return len(self.transforms) if self.posterior_mean else self.n_samples

    @property
    def n_kept(self) -> int:
        return min(self.keep_samples, self.n_draws)


# Channels of the averaged output of a sampled tile; HALF_WIDTH_90: half the central 90 % interval's width.
MEAN, VARIANCE, MEDIAN, HALF_WIDTH_90 = 0, 1, 2, 3
N_STATISTICS = 4


class TileEngine:
    """Runs the network of an HDN model on single tiles.

    With ``bf16`` the passes run in bfloat16 autocast. On CPUs, and with bf16,
    tensors are channels-last (the layout of oneDNN's and cuDNN's fast
    convolutions); the network's weights are then switched to channels-last in
    place (same values).
    """

    def __init__(self, model: HDNModel, device: torch.device, bf16: bool = False):
        self.model = model
        self.network = model.network
        self.device = device
        self.bf16 = bf16
        self.n_layers = int(self.network.n_layers)
        self.stride = int(self.network.stride)
        config = getattr(self.network, "config", None)
        self.n_filters = int(getattr(config, "n_filters", 64))
        channels_last = bf16 or device.type == "cpu"  # also faster in float32 on CPUs (oneDNN)
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.network.to(memory_format=torch.channels_last)

    # -- helpers -----------------------------------------------------------------
    def _prepare(self, tile: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """Normalised, padded (1, 1, H, W) tensor of a raw tile and the tile's own (h, w)."""
        x = torch.as_tensor(np.ascontiguousarray(tile, dtype=np.float32), device=self.device)[None, None]
        padded, size = self.network.pad(self.model.normalize(x))
        return padded, (int(size[0]), int(size[1]))

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The bottom-up pass (once per tile and orientation)."""
        with bfloat16_autocast(self.device, self.bf16):
            return self.network.bottom_up(x.contiguous(memory_format=self._memory_format))

    def _top_down(self, bu: list[torch.Tensor], batch: int, stream: RandomStream | None, **kwargs):
        """Top-down pass of ``batch`` images sharing the (batch 1) bottom-up features ``bu``."""
        if stream is not None:
            kwargs["generator"] = stream.generator
        with bfloat16_autocast(self.device, self.bf16):
            return self.network.top_down(bu, n_samples=batch, **kwargs)

    # -- sampling --------------------------------------------------------------------
    def sample_tile(
        self, tile: np.ndarray, settings: SamplingSettings, seed: int, stop: StopToken | None = None
    ) -> Generator[float, None, tuple[np.ndarray, np.ndarray] | None]:
        """Draw the samples of one tile; yields the fraction done after each batch.

        Returns ``(averaged, deviations)``: (4, h, w) mean, variance, median and the half-width of the
        central 90 % interval of the samples and (K, h, w) the first K samples minus the mean, all in the
        input's units; None if stopped.
        """
        n = settings.n_draws
        transforms = settings.transforms
        stream = None if settings.posterior_mean else RandomStream(seed, self.device)
        with torch.inference_mode():
            x, (h, w) = self._prepare(tile)
            samples = torch.empty((n, h, w), device=self.device)
        # Sample j is drawn in orientation j % 8, so that any first K samples mix orientations.
        per_transform = [torch.tensor(range(t, n, len(transforms)), device=self.device) for t in range(len(transforms))]
        batch = settings.batch_size or auto_batch_size(self.n_filters, x.shape[-2:], n, self.device)
        done = 0
        for (turns, mirror), indices in zip(transforms, per_transform):
            if len(indices) == 0:
                continue
            with torch.inference_mode():
                bu = self._features(transform(x, turns, mirror))
            for start in range(0, len(indices), batch):
                if stop:
                    return None
                chosen = indices[start : start + batch]
                with torch.inference_mode():
                    result = self._top_down(
                        bu,
                        len(chosen),
                        stream,
                        deactivate=settings.deactivate,
                        posterior_mean=settings.posterior_mean,
                    )
                    out = untransform(result.out.float(), turns, mirror)[:, 0, :h, :w]
                    samples[chosen] = self.model.denormalize(out)
                done += len(chosen)
                yield done / n
        with torch.inference_mode():
            mean = samples.mean(0)
            averaged = torch.stack([mean, samples.var(0, unbiased=False), pixelwise_median(samples),
                                    central_half_width(samples, 0.9)])
            deviations = samples[: settings.keep_samples] - mean
            return averaged.cpu().numpy(), deviations.cpu().numpy()

    # -- activations ---------------------------------------------------------------
    def activations_tile(self, tile: np.ndarray, always_off: Collection[int] = ()) -> np.ndarray:
        """(2n, h, w): n per-layer contributions (input units), then n KL maps (nats per pixel).

        Contribution i: the image decoded when layer i alone takes its posterior
        mean and every other layer its conditional prior's mean. KL map i: the
        KL divergence of layer i with every layer at its posterior mean, spread
        evenly over the pixels each latent pixel covers. Layers in ``always_off``
        (switched off in training, so their posterior was never learned) stay off
        everywhere: their contribution is the prior-mean image, their KL map 0.
        """
        layers = range(1, self.n_layers + 1)
        always_off = set(always_off)
        with torch.inference_mode():
            x, (h, w) = self._prepare(tile)
            bu = self._features(x)
            planes = []
            for i in layers:
                off = tuple(j for j in layers if j != i or j in always_off)
                out = self._top_down(bu, 1, None, deactivate=off, posterior_mean=True).out
                planes.append(self.model.denormalize(out.float()[0, 0, :h, :w]))
            full = self._top_down(bu, 1, None, deactivate=tuple(sorted(always_off)), posterior_mean=True)
            height, width = x.shape[-2:]
            for kl in full.kl_spatial:
                if kl is None:  # a deactivated layer takes no information from the input
                    planes.append(torch.zeros((h, w), device=self.device))
                    continue
                fy, fx = height // kl.shape[-2], width // kl.shape[-1]
                density = kl.float()[0] / (fy * fx)
                planes.append(density.repeat_interleave(fy, 0).repeat_interleave(fx, 1)[:h, :w])
            return torch.stack(planes).cpu().numpy()


def inference_engine(model: HDNModel, threads: int | None, precision: str) -> TileEngine:
    """The engine every restoration, activation map and suggestion runs on (threads and precision checked)."""
    if threads is not None:
        whole_number(threads, "threads", 1)
    check_precision(precision)
    model.network.eval()  # dropout and batch-norm statistics as in inference
    # "auto": bf16 where it is fast (CUDA, CPUs with matrix units), as in training. It costs no accuracy:
    # 0.001 dB on the benchmark with a fast-preset model (benchmarks/bench_sampling_speed.py --check-bf16).
    return TileEngine(model, model.device, use_bfloat16(precision, model.device))
