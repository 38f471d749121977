"""Which latent layers hold noise: a suggestion for selective deactivation.

The pixel noise model says how far a noisy image may lie from its clean signal:
E[(x - s)^2 | s] = Var(x | s). When the finest latent layers learn noise that
the pixel noise model cannot describe (read noise correlated between
neighbouring pixels, stripes), the restoration follows the noisy image too
closely and its residual x - restoration is *smaller* than the noise model
expects. Switching those layers off brings the residual back to the expected
size; switching off a layer that holds image content makes it larger, because
real structure then goes missing from the restoration.

The suggestion therefore walks the prefixes z1, z1-z2, ... (never all layers),
restoring a central crop of the image deterministically (posterior means) with
each prefix off, and measures the *fit ratio* mean((x - r)^2) / mean(Var(x | r))
of each restoration r. Layer k is suggested when the restoration with layers
1..k-1 off fits the noisy image markedly better than the noise model allows
(ratio below ``1 - tolerance``) and switching k off moves the ratio clearly closer to 1.
Two descriptions of what layer k adds (anisotropy of its spectrum, its
correlation with the image's edges) go into the plain-words reason.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..foundation.errors import InputError
from ..foundation.progress import Progress, StopToken
from ..foundation.threads import configure_threads
from ..noise_models.correlation import is_correlated, record_of
from ..noise_models.estimate import estimate_noise_model
from .engine import TileEngine, inference_engine
from .residual_correlation import best_prefix, distances, excess, noise_correlations, residual_correlations

if TYPE_CHECKING:
    from ..noise_models.base import NoiseModel
    from ..model.bundle import HDNModel
    from ..foundation.types import ModelLike

# Side of the central crop examined (pixels): large enough for stable statistics, small enough for the widget.
DEFAULT_CROP = 256
# How much smaller than the noise model's expectation the residual must be before a layer is called noise.
DEFAULT_TOLERANCE = 0.05
# How much closer to 1 (in |log fit ratio|) switching a layer off must bring the fit: borderline cases, where
# the layer holds about as much detail as noise, keep the layer (nothing is lost by not switching it off).
MIN_SCORE = 0.03
# |log| ratio of vertical to horizontal fine-detail energy above which a layer's contribution is called stripes.
STRIPES = 2.0
# Pixels at the crop's border left out of the statistics (the network sees less context there).
BORDER = 4


@dataclass(frozen=True)
class LayerVerdict:
    """What switching off latent layer ``layer`` (after the finer ones) does to the restoration.

    ``fit_before`` / ``fit_after``: the fit ratio mean((x - r)^2) / mean(Var(x | r)) with
    layers 1..layer-1 off / 1..layer off (1 = as tight as the pixel noise model expects).
    ``score``: how much closer to 1 switching this layer off brings the fit ratio, in
    |log ratio| (positive: the layer's contribution behaves like noise; above ``MIN_SCORE``
    and with ``fit_before`` below 1 - tolerance it is called noise-like).
    ``anisotropy``: log of the ratio of its high-frequency energy along y to that along x
    (0 for isotropic content; large for stripes or row/column-correlated noise).
    ``edge_correlation``: correlation of its local energy with the restoration's gradient
    magnitude (high for image detail, near 0 for noise).
    """

    layer: int
    noise_like: bool
    score: float
    fit_before: float
    fit_after: float
    anisotropy: float
    edge_correlation: float
    reason: str
    # The residual's correlation between neighbours with layers 1..layer-1 / 1..layer off, and the noise's
    # (vertical lag 1); None where the noise's correlation is unknown.
    residual_correlation_before: float | None = None
    residual_correlation_after: float | None = None
    noise_correlation: float | None = None
    decided_by: str = "fit"  # "fit": the fit ratio; "correlation": the residual's correlation between neighbours


@dataclass(frozen=True)
class DeactivationSuggestion:
    """The suggestion: ``layers`` to switch off (a prefix z1..zk, possibly empty) and a verdict per layer examined.

    ``always_off``: the layers switched off in training, off in every use anyway.
    ``crop``: (y0, x0, height, width) of the region examined, in the (last plane of the) image.
    """

    layers: tuple[int, ...]
    verdicts: tuple[LayerVerdict, ...]
    always_off: tuple[int, ...]
    crop: tuple[int, int, int, int]
    tolerance: float
    decided_by: str = "fit"  # which criterion chose ``layers`` (see LayerVerdict.decided_by)
    noise_correlated: bool = False  # whether the noise is correlated between neighbouring pixels

    @property
    def summary(self) -> str:
        if not self.layers:
            return "No latent layer looks like noise: keep every layer on."
        if len(self.layers) == 1:
            return f"Layer z{self.layers[0]} looks like noise: try switching it off."
        names = ", ".join(f"z{k}" for k in self.layers)
        return f"Layers {names} look like noise: try switching them off."

    def verdict(self, layer: int) -> LayerVerdict | None:
        return next((v for v in self.verdicts if v.layer == layer), None)

    @classmethod
    def from_metadata(cls, record: dict[str, Any]) -> DeactivationSuggestion:
        """The suggestion written by :meth:`to_metadata` (e.g. the one a model recorded at the end of training)."""
        try:
            verdicts = tuple(LayerVerdict(**v) for v in record.get("verdicts", ()))
            return cls(tuple(int(k) for k in record["layers"]), verdicts, tuple(record.get("always_off", ())),
                       tuple(record.get("crop", (0, 0, 0, 0))), float(record.get("tolerance", DEFAULT_TOLERANCE)),
                       str(record.get("decided_by", "fit")), bool(record.get("noise_correlated", False)))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"The recorded layer suggestion is malformed ({err}).") from err

    def to_metadata(self) -> dict[str, Any]:
        """A JSON-ready record of the choice (written beside restorations made with deactivate="auto")."""
        return {
            "method": "napari_hdn.suggest_deactivation",
            "layers": list(self.layers),
            "always_off": list(self.always_off),
            "crop": list(self.crop),
            "tolerance": self.tolerance,
            "decided_by": self.decided_by,
            "noise_correlated": self.noise_correlated,
            "summary": self.summary,
            "verdicts": [asdict(v) for v in self.verdicts],
        }


@dataclass(frozen=True)
class SuggestionProgress(Progress):
    """Progress of :func:`suggest_deactivation_events`: ``done`` counts restorations of the crop."""


def central_crop(shape: tuple[int, ...], size: int, stride: int) -> tuple[int, int, int, int]:
    """(y0, x0, h, w) of a centred crop of at most ``size`` pixels per side, a multiple of ``stride`` where possible."""
    height, width = shape[-2:]
    h = min(height, max(size, stride))
    w = min(width, max(size, stride))
    h, w = max(stride, h - h % stride), max(stride, w - w % stride)
    return (height - h) // 2, (width - w) // 2, h, w


def _fit_ratio(noise_model: NoiseModel, x: torch.Tensor, restored: torch.Tensor) -> float:
    """mean((x - E[x|r])^2) / mean(Var(x|r)): 1 when the residual is as large as the noise model expects."""
    mean, variance = noise_model.moments(restored)
    inner = (slice(BORDER, -BORDER or None),) * 2 if min(x.shape) > 4 * BORDER else (slice(None),) * 2
    residual = (x - mean)[inner]
    return float((residual.double() ** 2).mean() / variance[inner].double().clamp_min(1e-12).mean())


def _high_frequency_anisotropy(added: np.ndarray) -> float:
    """log(energy at high vertical frequencies / energy at high horizontal frequencies) of what a layer adds."""
    window = np.outer(np.hanning(added.shape[0]), np.hanning(added.shape[1]))
    power = np.abs(np.fft.fft2((added - added.mean()) * window)) ** 2
    fy = np.abs(np.fft.fftfreq(added.shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(added.shape[1]))[None, :]
    high_y = power[(fy > 0.25) & (fx < 0.125)].sum()
    high_x = power[(fx > 0.25) & (fy < 0.125)].sum()
    tiny = 1e-12 * power.sum() + 1e-30
    return float(math.log((high_y + tiny) / (high_x + tiny)))


def _edge_correlation(added: np.ndarray, restored: np.ndarray) -> float:
    """Correlation of the local energy of what a layer adds with the gradient magnitude of the restoration."""
    gy, gx = np.gradient(restored)
    edges = np.hypot(gy, gx)
    energy = _box3(added**2)
    a, b = energy - energy.mean(), edges - edges.mean()
    denominator = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _box3(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image, 1, mode="reflect")
    h, w = image.shape
    return sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0


def _reason(noise_like: bool, overfit: bool, before: float, after: float, anisotropy: float, edges: float,
            correlation: tuple | None = None) -> str:
    fit = f"residual {before:.2f} -> {after:.2f} of the noise model's variance"
    shape = []
    if abs(anisotropy) > STRIPES:
        shape.append(f"its fine detail runs along {'rows' if anisotropy > 0 else 'columns'} (stripes)")
    shape.append(f"correlation with the image's edges {edges:.2f}")
    if correlation is not None:
        r_before, r_after, r_noise, direction = correlation
        detail = (f"the noise correlates {r_noise:.2f} between {direction} neighbours; the residual "
                  f"{r_before:.2f} with it on, {r_after:.2f} with it off")
        head = ("looks like noise: switching it off leaves a residual that correlates between neighbours "
                "like the camera's noise" if noise_like else
                "holds image content: switching it off does not make the residual more like the camera's noise")
        return f"{head} ({detail}; decided by the noise's correlation, as the noise is correlated between " \
               f"neighbouring pixels); {fit}, {', '.join(shape)}."
    if noise_like:
        head = ("looks like noise: with it on, the restoration follows the noisy pixels closer than the noise "
                "model allows")
    elif overfit:
        head = "holds image content: switching it off would not bring the restoration closer to the noise model"
    else:
        head = "holds image content: the restoration already fits the noisy image as loosely as the noise model expects"
    return f"{head} ({fit}); {', '.join(shape)}."


def _check_options(crop: Any, tolerance: Any) -> tuple[int, float]:
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or crop < 1:
        raise InputError(f"crop must be a whole number of pixels (at least 1), not {crop!r}.")
    try:
        tolerance = float(tolerance)
    except (TypeError, ValueError):
        raise InputError(f"tolerance must be a number between 0 and 1, not {tolerance!r}.") from None
    if not 0 <= tolerance < 1:
        raise InputError(f"tolerance must be between 0 and 1 (a fraction of the noise variance), not {tolerance!r}.")
    return int(crop), tolerance


def suggest_deactivation_events(
    model: Any,
    image: Any,
    *,
    crop: int = DEFAULT_CROP,
    tolerance: float = DEFAULT_TOLERANCE,
    precision: str = "auto",
    device: Any = "auto",
    threads: int | None = None,
    stop: StopToken | None = None,
) -> Generator[SuggestionProgress, None, DeactivationSuggestion | None]:
    """The generator behind :func:`suggest_deactivation` (arguments checked when called); returns None if stopped."""
    from ..checks.inputs import check_model_input, resolve_model

    model = resolve_model(model, device)
    # "auto" is float32 here: the scores are compared with thresholds measured in float32.
    engine = inference_engine(model, threads, "float32" if precision == "auto" else precision)
    image = check_model_input(model, image, engine.stride)
    crop, tolerance = _check_options(crop, tolerance)
    planes = image.reshape(-1, *image.shape[-2:])
    plane = planes[planes.shape[0] // 2]
    y0, x0, h, w = central_crop(plane.shape, crop, engine.stride)
    region = np.asarray(plane[y0 : y0 + h, x0 : x0 + w], dtype=np.float32)
    return _suggestion(engine, model, region, (y0, x0, h, w), tolerance, threads, stop)


def _restorations(engine: TileEngine, model: HDNModel, region: np.ndarray, stop: StopToken | None):
    """Posterior-mean restorations of ``region`` with prefixes 1..k off, k = 0..n-1 (trained-off layers stay off)."""
    always_off = set(model.deactivated_layers(()))
    n = engine.n_layers
    with torch.inference_mode():
        x, (h, w) = engine._prepare(region)
        bu = engine._features(x)
    restored = []
    for k in range(n):
        if stop:
            return None
        off = tuple(sorted(always_off | set(range(1, k + 1))))
        with torch.inference_mode():
            out = engine._top_down(bu, 1, None, deactivate=off, posterior_mean=True).out
            restored.append(model.denormalize(out.float()[0, 0, :h, :w]))
        yield k + 1, n
    return restored


def _suggestion(engine, model, region, where, tolerance, threads, stop):
    configure_threads(threads)
    n = engine.n_layers
    yield SuggestionProgress("suggest", 0, n, "restoring the crop with z1, z1-z2, ... off")
    events = _restorations(engine, model, region, stop)
    while True:
        try:
            done, total = next(events)
        except StopIteration as finished:
            restored = finished.value
            break
        yield SuggestionProgress("suggest", done, total, f"{done}/{total} restorations of the crop")
    if restored is None:
        return None
    images = [r.cpu().numpy() for r in restored]
    return judge(region, images, model.noise_model, tuple(model.deactivated_layers(())), where, tolerance,
                 noise_correlation_record(model.noise_model, region))


def noise_correlation_record(noise_model: Any, image: np.ndarray) -> dict[str, Any] | None:
    """The noise's spatial-correlation record: the one stored with the noise model (measured on the training
    images or the calibration stack), else measured on ``image`` itself; None if neither can be had."""
    record = record_of(noise_model)
    if record is not None:
        return record
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the suggestion reports what it finds; no warning of its own
            return estimate_noise_model(image, n_bootstrap=0).spatial_correlation
    except InputError:  # too small, too flat or too busy to measure: the fit ratio decides alone
        return None


def judge(
    noisy: np.ndarray,
    restored: list[np.ndarray],
    noise_model: Any,
    always_off: tuple[int, ...] = (),
    where: tuple[int, int, int, int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    correlation: dict[str, Any] | None = None,
) -> DeactivationSuggestion:
    """The suggestion from the restorations ``restored[k]`` of ``noisy`` with layers 1..k off (k = 0..n-1).

    Where the noise is white (or its correlation unknown) the fit ratio decides: layer k is noise-like
    when the restoration with layers 1..k-1 off fits the noisy image closer than the noise model allows
    (fit ratio below ``1 - tolerance``) and switching k off brings the fit ratio closer to 1 (by more than
    ``MIN_SCORE`` in |log ratio|); the suggestion is the longest prefix of such layers.

    Where ``correlation`` (the noise's spatial-correlation record, ``noise_models.correlation``) shows noise
    correlated between neighbours, the residual's correlation decides (``residual_correlation``): a pixel
    noise model cannot describe such noise, so its variance says little about which layers learnt it.
    """
    x = torch.as_tensor(np.asarray(noisy, dtype=np.float32))
    with torch.inference_mode():
        ratios = [_fit_ratio(noise_model, x.to(noise_model.device), torch.as_tensor(r).to(noise_model.device))
                  for r in restored]
    images = [np.asarray(r, dtype=np.float64) for r in restored]
    noisy64 = np.asarray(noisy, dtype=np.float64)
    noise = None if correlation is None else noise_correlations(correlation, images[0])
    by_correlation = noise is not None and is_correlated(correlation)
    distance = distances(noisy64, images, noise, BORDER) if noise is not None else None
    if by_correlation:
        over = excess(noisy64, images, noise, BORDER)
        last = best_prefix(distance, [k for k in range(len(images)) if k == 0 or k not in always_off], over)
    main = 0 if noise is None or abs(noise[0]) >= abs(noise[1]) else 1  # the lag (1, 0) or (0, 1) reported
    verdicts, chosen, still_noise = [], [], True
    for k in range(1, len(restored)):
        if k in always_off:
            continue
        before, after = ratios[k - 1], ratios[k]
        overfit = before < 1 - tolerance
        if by_correlation:
            score = distance[k - 1] - distance[k]
            noise_like = k <= last
        else:
            score = abs(math.log(before)) - abs(math.log(after))
            noise_like = overfit and score > MIN_SCORE
        added = images[k - 1] - images[k]
        anisotropy = _high_frequency_anisotropy(added)
        edges = _edge_correlation(added, images[k])
        if noise_like and still_noise:
            chosen.append(k)
        else:
            still_noise = False  # only prefixes: a layer above a content layer is never suggested
        shape = None
        if noise is not None:
            shape = tuple(float(residual_correlations(noisy64, images[j], BORDER)[main]) for j in (k - 1, k))
            shape = (*shape, float(noise[main]), "vertical" if main == 0 else "horizontal")
        reason = _reason(noise_like, overfit, before, after, anisotropy, edges, shape if by_correlation else None)
        verdicts.append(LayerVerdict(
            k, noise_like, score, before, after, anisotropy, edges, reason,
            *(shape[:3] if shape else (None, None, None)), "correlation" if by_correlation else "fit"))
    where = where or (0, 0, *x.shape[-2:])
    return DeactivationSuggestion(tuple(chosen), tuple(verdicts), tuple(always_off), where, tolerance,
                                  "correlation" if by_correlation else "fit", bool(by_correlation))


def recorded_or_suggested(model: Any, image: Any, **options: Any):
    """Events returning the layers for ``deactivate="auto"``: those the model recorded at the end of training
    (``HDNModel.noise_layers``, found where the noise is correlated between pixels), else the suggestion
    judged on ``image``."""
    record = getattr(model, "noise_layers", None)
    if record is None or "suggestion" not in record:
        return suggest_deactivation_events(model, image, **options)
    return _recorded(DeactivationSuggestion.from_metadata(record["suggestion"]))


def auto_deactivation(model: Any, image: Any, **options: Any) -> DeactivationSuggestion:
    """The layers ``deactivate="auto"`` switches off for ``image`` (see :func:`recorded_or_suggested`)."""
    from ..foundation.progress import drive

    suggestion = drive(recorded_or_suggested(model, image, **options))
    if suggestion is None:
        raise InputError("The suggestion was stopped before it finished.")
    return suggestion


def _recorded(suggestion: DeactivationSuggestion) -> Generator[SuggestionProgress, None, DeactivationSuggestion]:
    yield SuggestionProgress("suggest", 1, 1, f"the model's recorded noise layers: {suggestion.summary}")
    return suggestion


def suggest_deactivation(model: ModelLike, image: Any, *, on_event: Callable[[SuggestionProgress], Any] | None = None,
                         **options: Any) -> DeactivationSuggestion:
    """Which latent layers of ``model`` hold noise rather than image content, judged on ``image``.

    Restores a central crop (``crop`` pixels per side, default 256; the middle plane
    of a stack) with the prefixes z1, z1-z2, ... switched off (never all layers),
    deterministically, and suggests the prefix whose layers make the restoration
    follow the noisy pixels closer than the model's pixel noise model allows
    (see the module's docstring). Returns a :class:`DeactivationSuggestion`:
    ``layers`` (possibly empty) and one :class:`LayerVerdict` (score, reason) per
    layer examined. Options: ``crop``, ``tolerance`` (default 0.05), ``precision``
    ("auto", the default, is float32 here), ``device``, ``threads``, ``stop``; ``on_event``: called with each event. Nothing is switched off
    by this call: pass ``layers`` to :func:`restore` (or use ``deactivate="auto"``).
    """
    from ..foundation.progress import drive

    suggestion = drive(suggest_deactivation_events(model, image, **options), on_event)
    if suggestion is None:
        raise InputError("The suggestion was stopped before it finished.")
    return suggestion
