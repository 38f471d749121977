"""One-pass MMSE estimates with a distilled direct denoiser, tiled without seams like ``restore``."""

from __future__ import annotations

import warnings

from collections.abc import Callable, Collection, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._device import bfloat16_autocast, use_bfloat16
from .._validation import is_dask
from ..errors import InputError, IntensityRangeWarning
from ..input_checks import (
    as_deactivation,
    check_model_input,
    check_precision,
    check_tiling,
    renamed_option,
    resolve_model,
    whole_number,
)
from ..progress import Progress, StopToken, drive
from .fast_inference import cpu_forward, cpu_tiling

if TYPE_CHECKING:
    from ..model.bundle import HDNModel
    from .._types import ModelLike


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


def default_batch(device: torch.device) -> int:
    """Tiles per network call when the caller does not say: 8 on a GPU, 1 on a CPU (see :class:`DirectJob`)."""
    return 8 if device.type in ("cuda", "mps") else 1


def direct_denoiser(model: HDNModel, deactivate: Collection[int] = ()) -> torch.nn.Module:
    """The model's direct denoiser for ``deactivate``, or a clear error saying how to train one."""
    key = model.direct_key(deactivate)
    nets = model.direct_denoisers
    if key not in nets:
        flag = "".join(f" --deactivate {i}" for i in model.deactivated_layers(deactivate))
        have = ", ".join(sorted(nets)) or "none"
        raise InputError(
            f"This model has no direct denoiser for latent layers {key} (it has: {have}). Train one with "
            f"`hdn distill MODEL DATA.tif{flag}` or napari_hdn.train_direct_denoiser(model, images, "
            f"deactivate={tuple(model.deactivated_layers(deactivate))})."
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
                   batch_size: int | None = None, *, stop: StopToken | None = None,
                   batch: int | None = None) -> Generator[Progress, None, Any]:
    """Events of :func:`denoise`; checks its arguments when called. Returns the estimate.

    ``batch`` is the old spelling of ``batch_size`` (deprecated)."""
    from ..inference.driver import numpy_events

    batch_size = renamed_option("batch", batch, "batch_size", batch_size)
    model = resolve_model(model, device)
    check_precision(precision)
    batch = default_batch(model.device) if batch_size is None else whole_number(batch_size, "batch_size", 1)
    deactivate = as_deactivation(deactivate)
    if deactivate == "auto":  # the layers the model recorded as holding noise, else those the suggestion finds
        check_model_input(model, image, model.network.stride)
        deactivate = auto_layers(model, image, precision)
    job = DirectJob(model, direct_denoiser(model, deactivate), use_bfloat16(precision, model.device), batch)
    stride = max(model.network.stride, job.denoiser.stride)
    image = check_model_input(model, image, stride)
    tiling = check_tiling(tile, overlap, stride)
    if tile is None and model.device.type == "cpu" and not is_dask(image):
        tiling = cpu_tiling(tiling, image.shape[-2:])  # the fewest tiles that fit the plane
    if is_dask(image):
        return _lazy(job, image, tiling)
    return _numpy(numpy_events(job, np.asarray(image), tiling, 0, stop, "denoise"))


def _lazy(job: DirectJob, image: Any, tiling: Any) -> Generator[Progress, None, Any]:
    from ..inference.driver import aligned_chunks, numpy_events

    depth = -(-max(tiling.overlap, tiling.stride) // tiling.stride) * tiling.stride
    # As in restore's dask path: chunks at least `depth` wide (aligned to the stride), and no overlap on an
    # axis held in one chunk, so that small images or thin chunks never ask dask for more than they have.
    ndim = image.ndim
    image = image.rechunk({a: aligned_chunks(image.chunks[a], tiling.stride, depth) for a in (ndim - 2, ndim - 1)})
    depths = {a: (depth if a >= ndim - 2 and len(image.chunks[a]) > 1 else 0) for a in range(ndim)}

    def block(chunk: np.ndarray) -> np.ndarray:
        return drive(numpy_events(job, np.asarray(chunk), tiling, 0, None, "denoise"))[0][0]

    yield from ()
    return image.map_overlap(block, depth=depths, boundary="none", dtype=np.float32)


def _numpy(events) -> Generator[Progress, None, Any]:
    averaged, _, complete = yield from events
    return averaged[0]


def denoise(model: ModelLike, image: Any, deactivate: Collection[int] | str = (), tile: int | None = None, *,
            on_event: Callable[[Progress], Any] | None = None, **options: Any) -> Any:
    """One-pass MMSE estimate of ``image`` (numpy -> numpy, dask -> lazy dask) in the input's units.

    Needs a direct denoiser for the layer set (:func:`napari_hdn.train_direct_denoiser`).
    Options: ``overlap``, ``precision``, ``device`` as for ``restore``; ``batch_size``: tiles of one size
    per network call (default 8 on a GPU, 1 on a CPU); ``stop``; ``on_event``: called with each progress event.
    On a CPU without ``tile``, the fewest tiles of at most 1088² pixels that cover the plane
    (fast_inference.py; the network runs there in float32 through
    :class:`~napari_hdn.direct.fast_inference.FastUNet`).
    Parts not done after a stop request are NaN.
    """
    return drive(denoise_events(model, image, deactivate, tile, **options), on_event)
