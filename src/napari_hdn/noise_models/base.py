"""The :class:`NoiseModel` interface shared by every pixel noise model p(x|s).

All models work in raw camera units: ``s`` is the noise-free value of a pixel in
the units of the user's data (so that E[x|s] = s for the physical models) and
``x`` is the recorded value. Inputs may be numpy arrays, Python numbers or
torch tensors. Tensors keep their device and their float32/float64 dtype (so
that gradients can be checked in double precision); everything else becomes a
float32 tensor on the model's device.
"""

from __future__ import annotations

import abc
import json
import math
import os
from typing import Any, ClassVar

import numpy as np
import torch

from ..foundation.errors import InputError
from ..io.atomic import atomic_path

FORMAT_VERSION = 1

# Bounds that keep every log-density finite for any finite input: a variance
# below _MIN_VARIANCE would divide by ~0, one above _MAX_VARIANCE (or a
# standardised residual beyond _MAX_Z) would overflow float32 when squared.
_MIN_VARIANCE = 1e-12
_MAX_VARIANCE = 1e30
_MAX_Z = 1e6
_LOG_2PI = math.log(2.0 * math.pi)


def _as_tensor(value: Any, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.dtype in (torch.float32, torch.float64):
            return value
        return value.to(torch.float32)
    return torch.as_tensor(np.asarray(value, dtype=np.float32), device=device)


def checked_range(value, name: str = "signal_range") -> tuple[float, float]:
    """``(low, high)`` as floats with low < high (infinite ends allowed), or a clear error naming ``name``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be two numbers (low, high); got {value!r}.") from err
    if math.isnan(low) or math.isnan(high) or not low < high:
        raise InputError(f"{name} must satisfy low < high; got ({low}, {high}).")
    return (low, high)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be stored in a noise model's provenance.")


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, variance), kept finite for every finite input (see the bounds above)."""
    variance = variance.clamp(_MIN_VARIANCE, _MAX_VARIANCE)
    z = ((x - mean) / variance.sqrt()).clamp(-_MAX_Z, _MAX_Z)
    return -0.5 * (z * z + _LOG_2PI + variance.log())


class NoiseModel(abc.ABC):
    """A pixel noise model p(x|s) in raw data units (see ``docs/architecture.md``)."""

    kind: ClassVar[str]

    def __init__(self, signal_range, device: str | torch.device | None = None) -> None:
        self._signal_range = checked_range(signal_range)
        # How the model was obtained (JSON-ready dict; "source": calibration_stack, pairs,
        # known_parameters, estimated or bootstrapped, plus that method's numbers). Saved with the model.
        self.provenance: dict[str, Any] = {}
        self._device = torch.device(device) if device is not None else torch.device("cpu")

    # -- public interface -------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def signal_range(self) -> tuple[float, float]:
        """The range of s the model was calibrated on (it extrapolates safely outside)."""
        return self._signal_range

    def log_likelihood(self, x: Any, s: Any) -> torch.Tensor:
        """Elementwise log p(x|s) for broadcastable ``x`` and ``s``; differentiable in ``s``."""
        x_t, s_t = self._inputs(x, s)
        x_t, s_t = torch.broadcast_tensors(x_t, s_t)
        return self._log_likelihood(x_t, s_t)

    def moments(self, s: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of x given ``s``, elementwise."""
        (s_t,) = self._inputs(s)
        return self._moments(s_t)

    def to(self, device: str | torch.device) -> NoiseModel:
        """Move the model's parameters to ``device``; returns ``self``."""
        self._device = torch.device(device)
        self._move(self._device)
        return self

    def save(self, path: str | os.PathLike, overwrite: bool = True) -> None:
        """Write the model as ``.npz`` (no pickle), atomically."""
        arrays = self.to_arrays()
        with atomic_path(path, overwrite=overwrite) as tmp:
            # Writing through a file object stops numpy from appending ".npz" to the temporary name.
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The model as named numpy arrays (what :meth:`save` writes and ``load_noise_model`` reads).

        Scalars are 0-d arrays; ``kind`` is a 0-d string array, and so is ``provenance`` (JSON), if known.
        """
        arrays = {"format_version": np.array(FORMAT_VERSION, dtype=np.int64), "kind": np.array(self.kind)}
        arrays.update(self._parameter_arrays())
        if self.provenance:
            arrays["provenance"] = np.array(json.dumps(self.provenance, default=_json_default))
        return arrays

    @abc.abstractmethod
    def describe(self) -> str:
        """One human-readable line naming the model and its main parameters."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"

    # -- for subclasses ---------------------------------------------------------------------
    @abc.abstractmethod
    def _log_likelihood(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """log p(x|s) for tensors of equal shape, dtype and device."""

    @abc.abstractmethod
    def _moments(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def _move(self, device: torch.device) -> None:
        """Move the parameter tensors to ``device`` (nothing to do for parameters held as Python floats)."""

    @abc.abstractmethod
    def _parameter_arrays(self) -> dict[str, np.ndarray]: ...

    def _inputs(self, *values: Any) -> list[torch.Tensor]:
        """Tensors on one device with one floating dtype (float64 only if a tensor input is float64)."""
        device = next((v.device for v in values if isinstance(v, torch.Tensor)), self._device)
        tensors = [_as_tensor(v, device) for v in values]
        dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
        return [t.to(device=device, dtype=dtype) for t in tensors]
