"""A second opinion on which latent layers to switch off: the error of each choice, estimated without ground truth.

The suggestion (``inference.suggest``) looks at the residual: whether a layer makes the restoration follow the
noisy pixels closer than the noise model allows. The error estimate (``inference.error_estimate``) asks the
question a user cares about directly: which choice restores the image with the smallest error. It is a second
opinion, not the decision: its absolute level leans on the noise model's variance (a few per cent off in the
variance moves it by about as much as the error itself), while the *difference* between two choices depends
on that variance only through twice the difference of the noise shares they pass through, so the ranking is
the estimate's safest use (``benchmarks/bench_uncertainty.py``: it ranks nuclei-struct's all on, z1 off and
z1-z2 off as the truth does). Where the two opinions disagree, the user is told so and left to compare.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

from ..checks.inputs import check_model_input, check_precision, resolve_model, whole_number
from ..config.validated import checked_seed
from ..foundation.errors import InputError
from ..foundation.progress import StopToken, drive
from ..foundation.threads import check_threads
from .error_estimate import SAMPLES, ErrorEstimate, central_plane_crop, estimate_error
from .restore import restore_events
from .suggest import DeactivationSuggestion, SuggestionProgress, recorded_or_suggested, suggest_deactivation_events

CHOICES = 3  # all layers on, z1 off, z1-z2 off (and the suggested prefix, where it is longer)
DEFAULT_SIDE = 256  # the estimate's central square of the middle plane (pixels per side)
STAGE = "second opinion"
SUGGESTION = 20.0  # the share of the bar (of 100) for the suggestion where it runs first


@dataclass(frozen=True)
class ChoiceEstimate:
    """One layer choice: ``layers_off`` (the trained-off layers included) and its estimated error: ``mse``
    (input units^2), ``psnr`` (dB, one range for all choices: the all-on restoration's), ``passed_through``
    (the share of the noise the restoration keeps)."""

    layers_off: tuple[int, ...]
    mse: float
    psnr: float
    passed_through: float


@dataclass(frozen=True)
class SecondOpinion:
    """The error estimate of each layer choice beside the suggestion's ``suggested`` layers.

    ``reliable`` / ``note``: whether the noise model can carry the estimate (as ``ErrorEstimate``);
    ``pixels``: how many pixels each estimate was measured on.
    """

    suggested: tuple[int, ...]
    estimates: tuple[ChoiceEstimate, ...]
    always_off: tuple[int, ...]
    reliable: bool
    note: str
    pixels: int

    @property
    def best(self) -> tuple[int, ...]:
        """The layers off in the choice with the smallest estimated error."""
        return min(self.estimates, key=lambda e: e.mse).layers_off

    @property
    def agrees(self) -> bool:
        return self.best == self.suggested

    def estimate(self, layers_off: tuple[int, ...]) -> ChoiceEstimate | None:
        return next((e for e in self.estimates if e.layers_off == tuple(layers_off)), None)

    def name(self, layers_off: tuple[int, ...]) -> str:
        return choice_name(layers_off, self.always_off)

    @property
    def summary(self) -> str:
        best, suggested = self.best, self.suggested
        others = "; ".join(f"{self.name(e.layers_off)} {_level(e)}" for e in self.estimates if e.layers_off != best)
        others = f"; {others}" if others else ""
        head = (f"The error estimate agrees: {self.name(best)} has the smallest estimated error "
                f"(about {_level(self.estimate(best))}{others})." if self.agrees else
                f"The error estimate prefers {self.name(best)} (about {_level(self.estimate(best))}) to the "
                f"suggestion, {self.name(suggested)}"
                + (f" (about {_level(self.estimate(suggested))})" if self.estimate(suggested) else "")
                + ": compare the two restorations before choosing.")
        return head if self.reliable else f"{head} The estimate may be off: {self.note}."

    def to_metadata(self) -> dict[str, Any]:
        return {"method": "Stein's unbiased risk estimate of each layer choice (napari_hdn.second_opinion)",
                "suggested": list(self.suggested), "best": list(self.best), "agrees": self.agrees,
                "reliable": self.reliable, "note": self.note, "pixels": self.pixels, "summary": self.summary,
                "estimates": [{"layers_off": list(e.layers_off), "mse": e.mse,
                               "psnr": e.psnr if math.isfinite(e.psnr) else None,  # JSON has no NaN
                               "passed_through": e.passed_through} for e in self.estimates]}


def _level(estimate: ChoiceEstimate) -> str:
    """The estimate in dB, or in intensity units where the restoration is flat (no range, no PSNR)."""
    return f"{estimate.psnr:.1f} dB" if math.isfinite(estimate.psnr) else f"\u00b1{math.sqrt(estimate.mse):.3g}"


def choice_name(layers_off: tuple[int, ...], always_off: tuple[int, ...] = ()) -> str:
    """A choice in words: "all layers on", "z1 off", "z1-z2 off" (trained-off layers are not named)."""
    named = [k for k in layers_off if k not in always_off]
    if not named:
        return "all layers on"
    if len(named) > 1 and named == list(range(named[0], named[-1] + 1)):
        return f"z{named[0]}-z{named[-1]} off"
    return ", ".join(f"z{k}" for k in named) + " off"


def layer_choices(n_layers: int, always_off: tuple[int, ...], suggested: tuple[int, ...]) -> list[tuple[int, ...]]:
    """All on, z1 off, z1-z2 off (as far as the suggested prefix where it is longer), the trained-off layers
    off in each and not counted (with z1 off in training: z2 off, z2-z3 off), never every layer."""
    switchable = [k for k in range(1, n_layers + 1) if k not in always_off]
    longest = min(max(CHOICES - 1, len(set(suggested) - set(always_off))), len(switchable) - 1)
    choices: list[tuple[int, ...]] = []
    for k in range(max(longest, 0) + 1):
        off = tuple(sorted(set(always_off) | set(switchable[:k])))
        if off not in choices:
            choices.append(off)
    if suggested and tuple(suggested) not in choices and len(suggested) < n_layers:
        choices.append(tuple(suggested))
    return choices


def second_opinion_events(
    model: Any,
    image: Any,
    suggestion: DeactivationSuggestion | None = None,
    *,
    n_samples: int = 100,
    crop: int = DEFAULT_SIDE,
    seed: int = 0,
    precision: str = "auto",
    device: Any = "auto",
    threads: int | None = None,
    stop: StopToken | None = None,
) -> Generator[SuggestionProgress, None, SecondOpinion | None]:
    """The generator behind :func:`second_opinion` (arguments checked when called); returns None if stopped."""
    model = resolve_model(model, device)
    check_precision(precision)
    threads = check_threads(threads)
    image = check_model_input(model, image, model.config.stride)
    n_samples = whole_number(n_samples, "n_samples", 1)
    side = whole_number(crop, "crop", model.config.stride)
    seed = checked_seed(seed)
    if suggestion is not None and not isinstance(suggestion, DeactivationSuggestion):
        raise InputError(f"suggestion must be a DeactivationSuggestion (napari_hdn.suggest_deactivation), not "
                         f"{type(suggestion).__name__}.")
    options = {"precision": precision, "device": device, "threads": threads}
    return _opinion(model, image, suggestion, n_samples, side, seed, options, stop)


def _opinion(model, image, suggestion, n_samples, side, seed, options, stop):
    if suggestion is None:  # the suggestion first: a fifth of the bar (deterministic restorations, quick)
        suggestion = yield from within(recorded_or_suggested(model, image, stop=stop, **options), 0, SUGGESTION)
        if suggestion is None:
            return None
        return (yield from within(_estimates(model, image, suggestion, n_samples, side, seed, options, stop),
                                  SUGGESTION, 100))
    return (yield from _estimates(model, image, suggestion, n_samples, side, seed, options, stop))


def within(events, start: float, end: float, stage: str | None = None, message: str = ""):
    """The events of one part of a job placed on one scale of 100 (from ``start`` to ``end``), so that the bar
    never runs backwards between parts; returns the part's result. With ``stage``, each becomes a
    :class:`SuggestionProgress` of that stage and ``message`` (a nested restoration's own are dropped)."""
    while True:
        try:
            event = next(events)
        except StopIteration as finished:
            return finished.value
        if event.total:
            done = start + (end - start) * event.done / event.total
            event = (replace(event, done=done, total=100.0) if stage is None
                     else SuggestionProgress(stage, done, 100.0, message))
        elif stage is not None:
            continue
        yield event


def _estimates(model, image, suggestion, n_samples, side, seed, options, stop):
    always_off = tuple(model.deactivated_layers(()))
    suggested = tuple(model.deactivated_layers(suggestion.layers))
    choices = layer_choices(model.n_layers, always_off, suggested)
    region = central_plane_crop(image, side)
    total = 2 * len(choices)
    spans: list[float] = []
    found: list[ErrorEstimate] = []
    for i, off in enumerate(choices):
        restore_crop = _crop_restorer(model, off, always_off, seed, stop, options, (2 * i, total), spans)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the restoration of the image itself warns, once
            estimate = yield from estimate_error(restore_crop, model.noise_model, region, n_samples, 1.0, seed)
        if estimate is None:
            return None
        found.append(estimate)
    span = spans[0]  # the all-on restoration's range: one scale, so that the PSNRs rank as the errors do
    estimates = tuple(ChoiceEstimate(off, e.mse, _psnr(span, e.mse), e.passed_through)
                      for off, e in zip(choices, found))
    doubtful = next((e for e in found if not e.reliable), found[0])  # one doubtful choice makes the ranking so
    return SecondOpinion(suggested, estimates, always_off, doubtful.reliable, doubtful.note, region.size)


def _psnr(span: float, mse: float) -> float:
    return 10.0 * math.log10(span**2 / mse) if span > 0 and mse > 0 else float("nan")


def _crop_restorer(model, off, always_off, seed, stop, options, place: tuple[int, int], spans: list[float]):
    """``restore_crop`` for ``estimate_error`` with ``off`` switched off; records the first restoration's range."""
    def restore_crop(region, part):
        events = restore_events(model, region, n_samples=SAMPLES, keep_samples=0, seed=seed + 3, deactivate=off,
                                calibrate=False, stop=stop, **options)
        first, total = place
        done = first + part
        message = f"estimating the error with {choice_name(off, always_off)} ({done // 2 + 1} of {total // 2})"
        result = yield from within(events, 100.0 * done / total, 100.0 * (done + 1) / total, STAGE, message)
        if part == 0 and result is not None and result.complete:
            spans.append(float(result.mmse.max() - result.mmse.min()))
        return result

    return restore_crop


def suggestion_with_opinion_events(model: Any, image: Any, *, second_opinion: bool, n_samples: int = 100,
                                   threads: int | None = None, stop: StopToken | None = None, **options: Any):
    """The suggestion judged on ``image`` (:func:`suggest_deactivation_events`) and, with ``second_opinion``, the
    error estimate of each layer choice held against it: returns (suggestion, opinion or None); None if stopped.
    The suggestion's arguments are checked when called."""
    events = suggest_deactivation_events(model, image, threads=threads, stop=stop, **options)
    if second_opinion:  # checked now too: the opinion's own call comes after the suggestion
        n_samples = whole_number(n_samples, "n_samples", 1)
    return _with_opinion(events, model, image, second_opinion, n_samples, threads, stop, options)


def _with_opinion(events, model, image, wanted, n_samples, threads, stop, options):
    suggestion = yield from (within(events, 0, SUGGESTION) if wanted else events)
    if suggestion is None or not wanted:
        return None if suggestion is None else (suggestion, None)
    opinion = yield from within(second_opinion_events(model, image, suggestion, n_samples=n_samples,
                                                      threads=threads, stop=stop, **options), SUGGESTION, 100)
    return None if opinion is None else (suggestion, opinion)


def second_opinion(model: Any, image: Any, suggestion: DeactivationSuggestion | None = None, *,
                   on_event: Callable[[SuggestionProgress], Any] | None = None, **options: Any) -> SecondOpinion:
    """The error of each layer choice (all on, z1 off, z1-z2 off, and the suggested one), estimated without
    ground truth on the central square (``crop`` pixels, default 256) of the middle plane of ``image``.

    ``suggestion``: the suggestion to hold it against (default: what ``deactivate="auto"`` would use: the
    model's recorded layers, else :func:`suggest_deactivation` on ``image``). ``n_samples``: the number of
    samples the restoration will draw (default 100; the estimate is of that restoration). Options:
    ``seed``, ``precision``, ``device``, ``threads``, ``stop``; ``on_event``: called with each event.
    Returns a :class:`SecondOpinion`: ``estimates`` per choice, ``best``, ``agrees``, ``summary`` in words.
    It costs two restorations of the square with 10 samples per choice.
    """
    opinion = drive(second_opinion_events(model, image, suggestion, **options), on_event)
    if opinion is None:
        raise InputError("The second opinion was stopped before it finished.")
    return opinion


__all__ = ["ChoiceEstimate", "SecondOpinion", "choice_name", "layer_choices", "second_opinion", "second_opinion_events",
           "suggestion_with_opinion_events"]
