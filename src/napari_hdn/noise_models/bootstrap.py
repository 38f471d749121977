"""Bootstrapping a noise model from a trained HDN model (as PN2V and the HDN authors do).

The model's restoration (MMSE of its posterior samples) of the noisy training images serves as a
pseudo-clean signal; a GMM (or histogram) fitted to (restoration, noisy) pixel pairs describes the
camera better than a first Poisson-Gaussian estimate, and training can continue with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator
from typing import Any

import numpy as np

from ..foundation.errors import InputError
from ..foundation.progress import Progress, StopToken, drive
from .base import NoiseModel
from .calibration import fit_noise_model_events
from .options import make_options

BOOTSTRAP_KINDS = ("gmm", "histogram")


def _source_of(model: Any) -> str:
    return str(model) if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__") else "an HDN model in memory"


def bootstrap_events(
    model: Any,
    images: Any,
    kind: str = "gmm",
    *,
    n_samples: int = 20,
    deactivate: Collection[int] = (),
    stop: StopToken | None = None,
    **options: Any,
) -> Generator[Progress, None, NoiseModel | None]:
    """Generator version of :func:`bootstrap_noise_model` (arguments are checked when called).

    Returns None if a stop request ended the restoration before it was complete.
    """
    events = bootstrap_with_signal_events(model, images, kind, n_samples=n_samples, deactivate=deactivate, stop=stop,
                                          **options)
    return _model_only(events)


def _model_only(events):
    result = yield from events
    return None if result is None else result[0]


def bootstrap_with_signal_events(
    model: Any,
    images: Any,
    kind: str = "gmm",
    *,
    n_samples: int = 20,
    deactivate: Collection[int] = (),
    stop: StopToken | None = None,
    **options: Any,
) -> Generator[Progress, None, tuple[NoiseModel, np.ndarray] | None]:
    """As :func:`bootstrap_events`, returning (noise model, the restoration it was fitted to), e.g. for
    ``noise_model_diagnostics(nm, signal=restoration, observation=images)``."""
    from ..inference import restore_events
    from ..model import load_model

    if kind not in BOOTSTRAP_KINDS:
        raise InputError(f"Bootstrapping fits a noise model of kind {list(BOOTSTRAP_KINDS)}; got {kind!r}.")
    opts = make_options(kind, options)  # bad options fail now, not after the restoration
    source = _source_of(model)
    hdn = load_model(model) if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__") else model
    restoration = restore_events(hdn, images, n_samples=n_samples, keep_samples=1, seed=opts.seed, stop=stop,
                                 deactivate=tuple(deactivate))
    return _bootstrap(hdn, images, restoration, kind, options, stop, source)


def _bootstrap(hdn, images, restoration, kind, options, stop, source):
    result = yield from restoration
    if not result.complete:
        return None
    signal = np.asarray(result.mmse, dtype=np.float64)
    noise_model = yield from fit_noise_model_events(signal, np.asarray(images), kind, stop=stop, **options)
    previous = getattr(hdn.noise_model, "provenance", {}) or {}
    noise_model.provenance = {
        "source": "bootstrapped",
        "kind": kind,
        "restored_with": source,
        "restoration_samples": result.n_samples,
        "restored_with_layers_off": list(result.deactivate),
        "previous_noise_model": {"kind": hdn.noise_model.kind, **previous},
    }
    return noise_model, signal


def bootstrap_noise_model(model: Any, images: Any, kind: str = "gmm", *, n_samples: int = 20,
                          deactivate: Collection[int] = (), on_event: Callable[[Progress], Any] | None = None, **options: Any):
    """A noise model fitted to (restoration, noisy) pairs of ``images`` restored by ``model``.

    ``model``: an HDN model or the path of a model folder; ``images``: the noisy (training) images, raw units;
    ``kind``: "gmm" or "histogram"; ``n_samples``: posterior samples averaged into the restoration (MMSE);
    ``deactivate``: latent layers left out of the restoration (those that learnt noise: a restoration that
    keeps noise would make the fitted noise smaller than it is); ``options``: those of :class:`GMMOptions`
    or :class:`HistogramOptions`; ``on_event``: called with each progress event.
    """
    return drive(bootstrap_events(model, images, kind, n_samples=n_samples, deactivate=deactivate, **options),
                 on_event)
