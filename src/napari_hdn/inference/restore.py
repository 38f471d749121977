"""The public restoration functions: posterior samples and their statistics, per-layer activations."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Collection, Generator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks.arrays import is_dask
from ..config.validated import checked_seed
from ..foundation.errors import InputError, IntensityRangeWarning
from ..checks.inputs import (
    as_deactivation,
    check_image,
    check_model_input,
    check_tiling,
    resolve_model,
    whole_number,
)
from ..checks.intensity_range import check_finite_result, check_some_layer_active
from ..foundation.progress import StopToken, drive
from .self_calibration import lazily, self_calibrated
from .driver import (
    ActivationsJob,
    JobSpec,
    PlaneProgress,
    SamplingJob,
    activations_job,
    dask_map,
    dask_model,
    numpy_events,
    sampling_job,
)
from ..foundation.threads import configure_threads
from .engine import (
    HALF_WIDTH_90,
    MEAN,
    MEDIAN,
    N_STATISTICS,
    TTA_TRANSFORMS,
    VARIANCE,
    SamplingSettings,
    TileEngine,
    inference_engine,
)

if TYPE_CHECKING:
    from ..model.bundle import HDNModel
    from ..foundation.types import ModelLike

DEFAULT_KEPT = 10  # samples returned when keep_samples is not given (at most n_samples)


@dataclass
class RestorationResult:
    """Statistics of the posterior samples, in the input's intensity units (float32).

    ``mmse``, ``variance``, ``std``, ``median`` and ``half_width_90`` have the input's shape; ``samples``
    has shape (K, *input shape) (the first K of the N samples). ``half_width_90``: half the width of the
    central 90 % interval of the N samples at each pixel (the truth lies within ``mmse`` ± about this at 9
    pixels in 10 when the uncertainty is calibrated; see the README's "Reading the uncertainty"). For a dask input
    all of them are lazy dask arrays sharing one graph: compute them together
    (:meth:`compute` or ``dask.compute``) to run the network once.
    ``complete`` is False when a stop request ended the restoration early; the
    parts not restored are NaN.
    """

    mmse: Any
    variance: Any
    std: Any
    median: Any
    samples: Any
    n_samples: int
    deactivate: tuple[int, ...]
    complete: bool = True
    half_width_90: Any = None
    # With deactivate="auto": the suggestion that chose the layers (napari_hdn.suggest_deactivation).
    suggestion: Any = None
    # The self-calibration of the uncertainty and the error estimate (inference.uncertainty); None for lazy
    # (dask) results and posterior means.
    uncertainty: Any = None

    @property
    def estimated_mse(self) -> float | None:
        """The MMSE's expected squared error (input units^2), estimated without ground truth."""
        return None if self.uncertainty is None else self.uncertainty.estimated_mse

    @property
    def estimated_psnr(self) -> float | None:
        """The PSNR that error means (dB, with the MMSE's own range max - min: no truth is known)."""
        return None if self.uncertainty is None else self.uncertainty.estimated_psnr

    @property
    def lazy(self) -> bool:
        return is_dask(self.mmse)

    def compute(self, **kwargs: Any) -> RestorationResult:
        """A numpy copy of a lazy result, computed in one pass (``kwargs`` go to ``dask.compute``)."""
        if not self.lazy:
            return self
        import dask

        mmse, variance, std, median, half_width, samples = dask.compute(
            self.mmse, self.variance, self.std, self.median, self.half_width_90, self.samples, **kwargs
        )
        return replace(self, mmse=mmse, variance=variance, std=std, median=median, half_width_90=half_width,
                       samples=samples)

    def images(self) -> dict[str, Any]:
        """The result images by their file names (as ``hdn predict`` writes them): ``mmse``, ``variance``,
        ``median``, ``half_width_90``, and ``samples`` where any were kept."""
        images = {"mmse": self.mmse, "variance": self.variance, "median": self.median,
                  "half_width_90": self.half_width_90}
        return {**images, "samples": self.samples} if self.samples.shape[0] else images


def _job_spec(model_arg: Any, engine: TileEngine, make_job: Any, settings: SamplingSettings | None, threads) -> JobSpec:
    return JobSpec(dask_model(model_arg, engine.model), str(engine.device), engine.bf16, make_job, settings, threads)


def restore_events(
    model: Any,
    image: Any,
    n_samples: int = 100,
    keep_samples: int | None = None,
    deactivate: Collection[int] | str = (),
    tta: bool = False,
    tile: int | None = None,
    seed: int = 0,
    *,
    overlap: int | None = None,
    posterior_mean: bool = False,
    batch_size: int | None = None,
    precision: str = "auto",
    device: Any = "auto",
    threads: int | None = None,
    calibrate: bool = False,
    stop: StopToken | None = None,
) -> Generator[PlaneProgress, None, RestorationResult]:
    """The generator behind :func:`restore`: yields progress per batch of samples, returns the result.

    Arguments are checked when this function is called (not at the first step).
    """
    model_arg = model
    model = resolve_model(model, device)
    engine = inference_engine(model, threads, precision)
    image = check_model_input(model, image, engine.stride)
    n_samples = whole_number(n_samples, "n_samples", 1)
    keep_samples = _kept(keep_samples, n_samples)
    seed = checked_seed(seed)
    if not isinstance(calibrate, (bool, np.bool_)):
        raise InputError(f"calibrate must be True or False, not {calibrate!r}.")
    if tta and not posterior_mean and n_samples < len(TTA_TRANSFORMS):
        raise InputError(
            f"Test-time augmentation spreads the samples over {len(TTA_TRANSFORMS)} rotations/mirrorings: "
            f"draw at least {len(TTA_TRANSFORMS)} samples (n_samples={n_samples})."
        )
    if batch_size is not None:
        batch_size = whole_number(batch_size, "batch_size", 1)
    deactivate = as_deactivation(deactivate)
    auto = deactivate == "auto"
    layers_off = tuple(model.deactivated_layers(() if auto else deactivate))
    check_some_layer_active(layers_off, model.n_layers)
    settings = SamplingSettings(
        n_samples=n_samples,
        keep_samples=keep_samples,
        deactivate=layers_off,
        tta=bool(tta),
        posterior_mean=bool(posterior_mean),
        batch_size=batch_size,
    )
    tiling = check_tiling(tile, overlap, engine.stride)

    def start(settings: SamplingSettings) -> Generator[PlaneProgress, None, RestorationResult]:
        n_drawn, layers_off = settings.n_draws, settings.deactivate
        check_some_layer_active(layers_off, model.n_layers)
        calibrated = calibrate and not settings.posterior_mean and n_drawn >= 2
        options = {"tile": tile, "overlap": overlap, "precision": precision, "threads": threads, "tta": tta,
                   "batch_size": batch_size}
        if is_dask(image):
            spec = _job_spec(model_arg, engine, sampling_job, settings, threads)
            events = _lazy_restoration(spec, image, tiling, seed, n_drawn, layers_off)
            return lazily(restore_events, events, model, image, seed, options) if calibrated else events
        events = _finite(_restoration(SamplingJob(engine, settings), image, tiling, seed, stop, threads, n_drawn,
                                      layers_off), model)
        return (self_calibrated(restore_events, events, model, image, seed, stop, options, n_drawn) if calibrated
                else events)

    if not auto:
        return start(settings)
    from .suggest import recorded_or_suggested

    with warnings.catch_warnings():  # the intensity warning was given above, once
        warnings.simplefilter("ignore", IntensityRangeWarning)
        suggestion = recorded_or_suggested(model, image, device=device, threads=threads, stop=stop)
    return _auto_restoration(suggestion, model, settings, start)


def _kept(keep_samples: Any, n_samples: int) -> int:
    """How many samples to return: by default min(10, N); more than N drawn is an error, not silently cut."""
    if keep_samples is None:
        return min(DEFAULT_KEPT, n_samples)
    keep_samples = whole_number(keep_samples, "keep_samples", 0)
    if keep_samples > n_samples:
        raise InputError(
            f"keep_samples={keep_samples} is more than the {n_samples} samples drawn (n_samples): keep at most "
            f"{n_samples}, or draw more samples."
        )
    return keep_samples


def _finite(events, model):
    """The restoration, refused (RestorationError) if any output holds NaN or infinite values."""
    result = yield from events
    if result.complete:
        check_finite_result({"MMSE": result.mmse, "variance": result.variance, "median": result.median,
                             "90 % interval": result.half_width_90, "samples": result.samples}, model)
    return result


def _auto_restoration(suggestion_events, model, settings, start):
    """deactivate="auto": the suggestion first, then the restoration with the layers it chose."""
    suggestion = yield from suggestion_events
    chosen = () if suggestion is None else suggestion.layers  # None: stopped (the restoration then stops at once)
    settings = replace(settings, deactivate=tuple(model.deactivated_layers(chosen)))
    result = yield from start(settings)
    return replace(result, suggestion=suggestion)


def _restoration(job, image, tiling, seed, stop, threads, n_drawn, layers_off):
    configure_threads(threads)
    averaged, deviations, complete = yield from numpy_events(job, image, tiling, seed, stop, "restore")
    if deviations is None:
        deviations = np.empty((0, *image.shape), dtype=np.float32)
    return _result(averaged, deviations, n_drawn, layers_off, complete)


def _lazy_restoration(spec, image, tiling, seed, n_drawn, layers_off):
    stacked = dask_map(spec, N_STATISTICS + spec.settings.n_kept, image, tiling, seed)
    yield PlaneProgress("restore", 1, 1, "lazy result ready: computing it runs the restoration")
    return _result(stacked[:N_STATISTICS], stacked[N_STATISTICS:], n_drawn, layers_off, True)


def _result(averaged, deviations, n_drawn, layers_off, complete) -> RestorationResult:
    variance = averaged[VARIANCE]
    return RestorationResult(
        mmse=averaged[MEAN],
        variance=variance,
        std=np.sqrt(variance),
        median=averaged[MEDIAN],
        half_width_90=averaged[HALF_WIDTH_90],
        samples=deviations,
        n_samples=n_drawn,
        deactivate=layers_off,
        complete=complete,
    )


def restore(
    model: Any,
    image: Any,
    n_samples: int = 100,
    keep_samples: int | None = None,
    deactivate: Collection[int] | str = (),
    tta: bool = False,
    tile: int | None = None,
    seed: int = 0,
    *,
    on_event: Callable[[PlaneProgress], Any] | None = None,
    **options: Any,
) -> RestorationResult:
    """Restore ``image`` with an HDN model: N posterior samples and their statistics.

    ``model``: an :class:`~napari_hdn.model.bundle.HDNModel` or the path of a model folder.
    ``image``: a 2-D image (Y, X) or a stack (..., Y, X), restored plane by plane;
    numpy gives numpy results, dask gives lazy dask results (block by block with
    overlap, also on a dask distributed cluster).
    ``n_samples``: posterior samples drawn (N); ``keep_samples``: how many of them
    are returned (K, at most N; default min(10, N)). ``deactivate``: latent layers (1 = z1, finest) that take
    their conditional prior's mean instead of the posterior (removes structured
    noise captured there; the layers switched off in training stay off), or
    "auto": the layers :func:`~napari_hdn.suggest_deactivation` finds noise-like
    (the suggestion is kept in ``result.suggestion``; nothing is switched off by default).
    ``tta``: 8-fold test-time augmentation (the N samples are spread over the 8
    rotations/mirrorings, so the cost stays the same). ``tile``: tile size for
    large planes (default 512; memory grows with the tile, not the image).
    ``seed``: the same seed gives the same result (tiles are seeded by position).

    Keyword options: ``overlap`` (pixels shared by neighbouring tiles),
    ``posterior_mean`` (decode the posterior means instead of sampling:
    deterministic, one image), ``batch_size`` (samples per top-down batch; by
    default sized to the memory available), ``precision`` ("auto": bfloat16
    on CUDA and on CPUs with matrix units, float32 elsewhere; "float32";
    "bfloat16"), ``device``, ``threads`` (torch threads), ``calibrate``
    (off by default: estimate the error without ground truth and scale the
    posterior spread to match it where that estimate is reliable, else by a
    factor found on a simulated copy of a central crop, see
    :mod:`napari_hdn.inference.self_calibration`), ``stop`` (a
    :class:`~napari_hdn.foundation.progress.StopToken`). ``on_event``: called with each progress event.

    Returns a :class:`RestorationResult` (``mmse``, ``variance``, ``std``,
    ``median``, ``half_width_90``, ``samples``; with ``calibrate``: ``uncertainty``,
    ``estimated_mse``, ``estimated_psnr``) in the input's intensity units, float32.
    """
    return drive(restore_events(model, image, n_samples, keep_samples, deactivate, tta, tile, seed, **options), on_event)


def layer_activations_events(
    model: Any,
    image: Any,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    precision: str = "auto",
    device: Any = "auto",
    threads: int | None = None,
    stop: StopToken | None = None,
) -> Generator[PlaneProgress, None, tuple[Any, Any]]:
    """The generator behind :func:`layer_activations` (arguments checked when called)."""
    model_arg = model
    model = resolve_model(model, device)
    engine = inference_engine(model, threads, precision)
    image = check_image(image, engine.stride)
    tiling = check_tiling(tile, overlap, engine.stride)
    n = engine.n_layers
    if is_dask(image):
        spec = _job_spec(model_arg, engine, activations_job, None, threads)
        return _lazy_activations(spec, n, image, tiling)
    return _activations(ActivationsJob(engine), n, image, tiling, stop, threads)


def _activations(job, n, image, tiling, stop, threads):
    configure_threads(threads)
    averaged, _, _ = yield from numpy_events(job, image, tiling, 0, stop, "activations")
    return averaged[:n], averaged[n:]


def _lazy_activations(spec, n, image, tiling):
    stacked = dask_map(spec, 2 * n, image, tiling, 0)
    yield PlaneProgress("activations", 1, 1, "lazy result ready: computing it runs the network")
    return stacked[:n], stacked[n:]


def layer_activations(model: ModelLike, image: Any, *, on_event: Callable[[PlaneProgress], Any] | None = None,
                      **options: Any) -> tuple[Any, Any]:
    """What each latent layer holds, as two stacks with one plane per layer (z1 first).

    ``contributions[i - 1]``: the image decoded when layer i alone takes its
    posterior mean and every other layer its conditional prior's mean (input
    units). ``kl_maps[i - 1]``: the KL divergence of layer i (information taken
    from the input at each place), in nats per pixel, upsampled to the image size.
    Both have shape (n_layers, *image.shape), float32. Options as
    :func:`layer_activations_events` (``tile``, ``overlap``, ``precision``,
    ``device``, ``threads``, ``stop``); ``on_event``: called with each progress event.
    """
    return drive(layer_activations_events(model, image, **options), on_event)
