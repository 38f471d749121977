"""Reading noise models: our ``.npz`` format and the reference HDN / PPN2V GMM files.

Our files hold ``format_version``, ``kind`` and the arrays of
:meth:`NoiseModel.to_arrays`. The reference code writes ``trained_weight``,
``min_signal``, ``max_signal`` and ``min_sigma`` (our GMM files carry the same
keys, so the reference code can read them too). Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..foundation.errors import FileFormatError, InputError
from ..io.atomic import existing_file, load_error_reason
from .base import FORMAT_VERSION, NoiseModel
from .gaussian import GaussianNoiseModel
from .gmm import REFERENCE_TOLERANCE, GaussianMixtureNoiseModel
from .histogram import DEFAULT_FLOOR, HistogramNoiseModel
from .poisson_gaussian import PoissonGaussianNoiseModel

REFERENCE_KEYS = ("trained_weight", "min_signal", "max_signal", "min_sigma")


class _Fields:
    """Typed access to the arrays of one source, with errors naming the source and the key."""

    def __init__(self, arrays: Mapping[str, Any], source: str) -> None:
        self.arrays = arrays
        self.source = source

    def array(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise FileFormatError(f"{self.source} lacks the entry {key!r}: the noise model is incomplete.")
        value = self.arrays[key]
        if hasattr(value, "detach"):  # torch tensor (models embed noise models as tensors)
            value = value.detach().cpu().numpy()
        value = np.asarray(value)
        if value.dtype.kind not in "uifU":
            raise FileFormatError(f"{self.source}: entry {key!r} has unexpected data type {value.dtype}.")
        return value

    def number(self, key: str, default: float | None = None) -> float:
        if default is not None and key not in self.arrays:
            return default
        value = self.array(key)
        if value.size != 1 or value.dtype.kind == "U":
            raise FileFormatError(f"{self.source}: entry {key!r} must be one number, got {value!r}.")
        return float(value.reshape(()))

    def text(self, key: str) -> str:
        value = self.array(key)
        if value.size != 1 or value.dtype.kind != "U":
            raise FileFormatError(f"{self.source}: entry {key!r} must be text, got {value!r}.")
        return str(value.reshape(()))

    def pair(self, key: str) -> tuple[float, float]:
        value = self.array(key)
        if value.shape != (2,) or value.dtype.kind == "U":
            raise FileFormatError(f"{self.source}: entry {key!r} must be two numbers, got {value!r}.")
        return (float(value[0]), float(value[1]))


def _gmm(f: _Fields, tolerance: float) -> GaussianMixtureNoiseModel:
    return GaussianMixtureNoiseModel(
        f.array("trained_weight"), f.number("min_signal"), f.number("max_signal"), f.number("min_sigma"), tolerance
    )


def _build(kind: str, f: _Fields) -> NoiseModel:
    if kind == "gmm":
        return _gmm(f, f.number("tolerance", REFERENCE_TOLERANCE))
    if kind == "histogram":
        return HistogramNoiseModel(
            f.array("probabilities"),
            f.pair("signal_range"),
            f.pair("observation_range"),
            f.number("floor", DEFAULT_FLOOR),
        )
    if kind == "poisson_gaussian":
        return PoissonGaussianNoiseModel(
            f.number("gain"), f.number("offset"), f.number("read_sigma"), f.pair("signal_range")
        )
    if kind == "gaussian":
        return GaussianNoiseModel(f.number("sigma"), f.pair("signal_range"))
    raise FileFormatError(
        f"{f.source} holds an unknown noise-model kind {kind!r}; known kinds are gmm, histogram, "
        "poisson_gaussian and gaussian."
    )


def _provenance(f: _Fields) -> dict[str, Any]:
    """How the model was obtained, if recorded (files written before provenance existed have none)."""
    if "provenance" not in f.arrays:
        return {}
    try:
        value = json.loads(f.text("provenance"))
    except json.JSONDecodeError as err:
        raise FileFormatError(f"{f.source}: entry 'provenance' is not valid JSON ({err}).") from err
    if not isinstance(value, dict):
        raise FileFormatError(f"{f.source}: entry 'provenance' must be a JSON object.")
    return value


def noise_model_from_arrays(arrays: Mapping[str, Any], source: str = "The noise model") -> NoiseModel:
    """Rebuild a noise model from :meth:`NoiseModel.to_arrays` output (numpy, torch or Python values)
    or from the arrays of a reference HDN / PPN2V GMM file."""
    f = _Fields(arrays, source)
    try:
        if "format_version" in arrays:
            version = f.number("format_version")
            if version > FORMAT_VERSION:
                raise FileFormatError(
                    f"{source} was written by a newer napari-hdn (noise-model format {version:g}; this version "
                    f"reads up to {FORMAT_VERSION}): upgrade napari-hdn."
                )
            if version < 1 or version != int(version):
                raise FileFormatError(f"{source} has an invalid noise-model format version {version:g}.")
            model = _build(f.text("kind"), f)
            model.provenance = _provenance(f)
            return model
        if all(key in arrays for key in REFERENCE_KEYS):
            return _gmm(f, REFERENCE_TOLERANCE)
    except InputError as err:  # a constructor rejected the stored values
        raise FileFormatError(f"{source} holds invalid noise-model parameters: {err}") from err
    raise FileFormatError(
        f"{source} is not a noise model: it has entries {sorted(arrays)}, but a napari-hdn noise model has "
        "'format_version' and 'kind', and a reference HDN/PPN2V one has "
        f"{list(REFERENCE_KEYS)}. Calibrate one with napari_hdn.calibrate(stack)."
    )


def load_noise_model(path: str | os.PathLike) -> NoiseModel:
    """Read a noise model saved by napari-hdn or by the reference HDN / PPN2V code."""
    p = existing_file(path, "Noise model file")
    source = f"The noise model file {p}"
    try:
        data = np.load(p, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise FileFormatError(f"{source} holds a single array, not a noise model (.npz with named entries).")
        with data:
            arrays = {key: data[key] for key in data.files}
    except FileFormatError:
        raise
    # zipfile raises NotImplementedError for a zip version or compression it does not know (a corrupt header)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, NotImplementedError) as err:
        raise FileFormatError(
            f"Cannot read {p} as a noise model (.npz): {load_error_reason(err)}. Is the file complete?"
        ) from err
    return noise_model_from_arrays(arrays, source)
