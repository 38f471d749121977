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


class RestorationError(HDNError, RuntimeError):
    """A restoration could not give a meaningful result (e.g. it became NaN or infinite)."""


class IntensityRangeWarning(UserWarning):
    """Data lie well outside the intensities a model was trained on or its noise model was calibrated on.

    Results may then be biased (restoration) or the model may learn the wrong noise (training).
    """


class SaturationWarning(UserWarning):
    """Many pixels sit at the largest value of their integer type: the camera clipped them."""
