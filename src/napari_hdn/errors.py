"""Errors raised for bad user input or bad files.

Every message names the problem and says what to do about it; front ends (CLI,
widgets) show the message as it is, without a traceback.
"""


class HDNError(Exception):
    """Base class of napari-hdn's expected errors."""


class InputError(HDNError, ValueError):
    """An argument, array or option the user gave cannot be used."""


class FileFormatError(HDNError, ValueError):
    """A file is missing, corrupt, foreign or of an unsupported version."""


class TrainingError(HDNError, RuntimeError):
    """Training could not go on (e.g. the loss became NaN)."""
