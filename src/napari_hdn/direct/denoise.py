"""One-pass MMSE estimates with a distilled direct denoiser, tiled without seams like ``restore``."""

from __future__ import annotations

import warnings

from collections.abc import Callable, Collection, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks.arrays import is_dask
from ..foundation.device import bfloat16_autocast, use_bfloat16
from ..foundation.errors import InputError, IntensityRangeWarning
from ..checks.inputs import (
    as_deactivation,
    check_model_input,
    check_precision,
    check_tiling,
    renamed_option,
    resolve_model,
    whole_number,
)
from ..foundation.progress import Progress, StopToken, drive
from ..foundation.threads import check_threads, configure_threads
from ..inference.driver import JobSpec, dask_map, dask_model, numpy_events
from .fast_inference import cpu_forward, cpu_tiling

if TYPE_CHECKING:
    from ..model.bundle import HDNModel
    from ..foundation.types import ModelLike


class DirectJob:
    """A tile job (see ``inference.driver.BatchedTileJob``): the direct denoiser's estimate, in raw units.

    ``batch`` tiles of one size go through the network in one call: on a GPU that keeps it busy;
    on a CPU it saves nothing and costs memory, so the default there is one.
    """

    n_averaged = 1
    n_deviations = 0

    def __init__(self, model: HDNModel, denoiser: torch.nn.Module, bf16: bool, batch: int = 1, *, fast: bool = True):
        self.model, self.denoiser, self.bf16 = model, denoiser.to(model.device).eval(), bf16
        self.batch = batch
        # On a CPU in float32, the same function computed with less work (fast_inference.py).
        self.forward = cpu_forward(self.denoiser, model.device, bf16) if fast else self.denoiser

    def run_batch(self, tiles: list[np.ndarray]) -> list[np.ndarray]:
        device = self.model.device
        x = np.stack([self.model.normalize(np.asarray(t, dtype=np.float32)) for t in tiles])
        with torch.inference_mode(), bfloat16_autocast(device, self.bf16):
            out = self.forward(torch.from_numpy(x).to(device)[:, None]).float()  # (N, 1, h, w)
        return list(self.model.denormalize(out).cpu().numpy())

    def run(self, tile, seed, stop):
        result = self.run_batch([tile])[0]
        yield 1.0
        return result, None


@dataclass(frozen=True)
class DirectSettings:
    """What a dask worker needs besides the model to rebuild a :class:`DirectJob`."""

    deactivate: tuple[int, ...]
    batch: int


def direct_job(model: HDNModel, device: torch.device, bf16: bool, settings: DirectSettings) -> DirectJob:
    """The job maker of ``inference.driver.JobSpec`` for the one-pass denoiser (restore's dask path)."""
    return DirectJob(model, direct_denoiser(model, settings.deactivate), bf16, settings.batch)


def default_batch(device: torch.device) -> int:
    """Tiles per network call when the caller does not say: 8 on a GPU, 1 on a CPU (see :class:`DirectJob`)."""
    return 8 if device.type in ("cuda", "mps") else 1


def direct_denoiser(model: HDNModel, deactivate: Collection[int] = ()) -> torch.nn.Module:
    """The model's direct denoiser for ``deactivate``, or a clear error saying how to train one."""
    key = model.direct_key(deactivate)
    nets = model.direct_denoisers
    if key not in nets:
        off = tuple(model.deactivated_layers(deactivate))
        have = ", ".join(sorted(nets)) or "none"
        call = f"model, images, deactivate={off}" if off else "model, images"
        raise InputError(
            f"This model has no direct denoiser for latent layers {key} (it has: {have}). Train one with "
            f"napari_hdn.train_direct_denoiser({call})."
        )
    return nets[key]


def auto_layers(model: Any, image: Any, precision: str = "auto") -> tuple[int, ...]:
    """deactivate="auto" for the one-pass path: the model's recorded noise layers, else the suggestion's."""
    from ..inference.suggest import auto_deactivation

    image = image.compute() if is_dask(image) and image.size <= 4096 * 4096 else image
    with warnings.catch_warnings():  # the intensity check warns once, for the denoising itself
        warnings.simplefilter("ignore", IntensityRangeWarning)
        return tuple(auto_deactivation(model, image, precision=precision).layers)


def denoise_events(model: ModelLike, image: Any, deactivate: Collection[int] | str = (), tile: int | None = None,
                   overlap: int | None = None, precision: str = "auto", device: Any = "auto",
                   batch_size: int | None = None, threads: int | None = None, *, stop: StopToken | None = None,
                   batch: int | None = None) -> Generator[Progress, None, Any]:
    """Events of :func:`denoise`; checks its arguments when called. Returns the estimate.

    ``batch`` is the old spelling of ``batch_size`` (deprecated)."""
    batch_size = renamed_option("batch", batch, "batch_size", batch_size)
    threads = check_threads(threads)
    model_arg, model = model, resolve_model(model, device)
    check_precision(precision)
    batch = default_batch(model.device) if batch_size is None else whole_number(batch_size, "batch_size", 1)
    deactivate = as_deactivation(deactivate)
    if deactivate == "auto":  # the layers the model recorded as holding noise, else those the suggestion finds
        check_model_input(model, image, model.network.stride)
        deactivate = auto_layers(model, image, precision)
    settings = DirectSettings(tuple(model.deactivated_layers(deactivate)), batch)
    bf16 = use_bfloat16(precision, model.device)
    stride = max(model.network.stride, direct_denoiser(model, settings.deactivate).stride)
    image = check_model_input(model, image, stride)
    tiling = check_tiling(tile, overlap, stride)
    if is_dask(image):  # restore's dask path: block by block, one torch thread per block, also on a cluster
        # (each block builds its own job: none is built here)
        spec = JobSpec(dask_model(model_arg, model), str(model.device), bf16, direct_job, settings, threads)
        return _lazy(dask_map(spec, 1, image, tiling, 0))
    if tile is None and model.device.type == "cpu":
        tiling = cpu_tiling(tiling, image.shape[-2:])  # the fewest tiles that fit the plane
    job = direct_job(model, model.device, bf16, settings)
    return _numpy(numpy_events(job, np.asarray(image), tiling, 0, stop, "denoise"), threads)


def _lazy(stacked: Any) -> Generator[Progress, None, Any]:
    yield from ()
    return stacked[0]


def _numpy(events, threads: int | None) -> Generator[Progress, None, Any]:
    configure_threads(threads)  # here: in the thread that drives the job (a widget's worker), as restore does
    averaged, _, complete = yield from events
    return averaged[0]


def denoise(model: ModelLike, image: Any, deactivate: Collection[int] | str = (), tile: int | None = None, *,
            on_event: Callable[[Progress], Any] | None = None, **options: Any) -> Any:
    """One-pass MMSE estimate of ``image`` (numpy -> numpy, dask -> lazy dask) in the input's units.

    Needs a direct denoiser for the layer set (:func:`napari_hdn.train_direct_denoiser`).
    Options: ``overlap``, ``precision``, ``device``, ``threads`` as for ``restore``; ``batch_size``: tiles of one size
    per network call (default 8 on a GPU, 1 on a CPU); ``stop``; ``on_event``: called with each progress event.
    On a CPU without ``tile``, the fewest tiles of at most 1088² pixels that cover the plane
    (fast_inference.py; the network runs there in float32 through
    :class:`~napari_hdn.direct.fast_inference.FastUNet`).
    Parts not done after a stop request are NaN.
    """
    return drive(denoise_events(model, image, deactivate, tile, **options), on_event)
