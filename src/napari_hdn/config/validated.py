"""Typed configuration helpers: dataclasses validated at the edge, stored as JSON."""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from typing import Any, TypeVar

import numpy as np

from ..foundation.errors import FileFormatError, InputError

C = TypeVar("C")

# The largest seed: torch.manual_seed takes up to 2**64 - 1, and the derived seeds (seed + a constant) must fit too.
MAX_SEED = 2**63 - 1


def checked_seed(value: Any, name: str = "seed") -> int:
    """``value`` as a Python int if it is a whole number (numpy integers included) from 0 to 2**63 - 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= MAX_SEED:
        raise InputError(f"{name} must be a whole number from 0 to 2**63 - 1, not {value!r}.")
    return int(value)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass; tuples become lists."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type[C], data: Any, what: str | None = None, *, from_file: bool = False) -> C:
    """Build ``cls`` from a dict, rejecting unknown keys and wrong types with clear errors.

    ``from_file=True`` raises :class:`FileFormatError` (the data came from a file)
    instead of :class:`InputError` (the data came from the user).
    """
    error = FileFormatError if from_file else InputError
    what = what or cls.__name__
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise error(f"{what} must be a mapping of settings, not {type(data).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise error(f"Unknown {what} setting(s) {unknown}; known settings are {sorted(fields)}.")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{what}.{name}", error)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise error(f"Incomplete {what}: {err}") from err


def _coerce(value: Any, hint: Any, where: str, error: type[Exception]) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, error)
            except (InputError, FileFormatError):
                continue
        raise error(f"{where} = {value!r} is not of type {hint}.")
    if origin is typing.Literal:
        if value not in args:
            raise error(f"{where} = {value!r} must be one of {list(args)}.")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise error(f"{where} must be a list, not {value!r}.")
        item = args[0] if args else Any
        coerced = [_coerce(v, item, f"{where}[{i}]", error) for i, v in enumerate(value)]
        return tuple(coerced) if origin is tuple else coerced
    if origin is dict:
        if not isinstance(value, dict):
            raise error(f"{where} must be a mapping, not {value!r}.")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, where, from_file=error is FileFormatError)
    if hint is bool:
        if not isinstance(value, bool):
            raise error(f"{where} must be true or false, not {value!r}.")
        return value
    if hint is int:  # numpy integers are whole numbers too; bools are not
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise error(f"{where} must be a whole number, not {value!r}.")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise error(f"{where} must be a number, not {value!r}.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise error(f"{where} must be text, not {value!r}.")
        return value
    return value
