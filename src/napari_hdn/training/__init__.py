"""Training HDN on noisy images alone: one generator for every front end.

:func:`training_events` prepares the data (random patches with the 8
flips/rotations, a validation split, the normalisation), trains the ladder VAE
with Adamax, gradient clipping, a learning-rate schedule and early stopping,
writes the ``last`` and ``best`` checkpoints into the output folder and yields a
:class:`TrainingEvent` after every step. The CLI drives it with a progress bar,
the napari widget in a thread worker; :func:`train` is the blocking form.

Presets: ``paper`` is the paper's configuration (a GPU job of hours); ``fast``
is a small network tuned by ``benchmarks/bench_fast_preset.py`` to reach the
best quality in 10-15 minutes on a 2-core CPU.

The package: ``data`` (planes, normalisation, patches), ``checkpoints`` (output
folder, saved training state), ``optim`` (optimiser, schedule), ``threads``
(adaptive thread count), ``running`` (loss means), ``events`` and ``loop``; ``adapt`` and
``warm_start`` (a trained model adapted to new data).
"""

from ..config import PRESETS, ModelConfig, Preset, TrainConfig, resolve_config
from .adapt import adapt, adapt_events
from .data import as_planes
from .events import TrainingEvent
from .start import train, training_events

__all__ = [
    "PRESETS",
    "ModelConfig",
    "Preset",
    "TrainConfig",
    "TrainingEvent",
    "adapt",
    "adapt_events",
    "as_planes",
    "resolve_config",
    "train",
    "training_events",
]
