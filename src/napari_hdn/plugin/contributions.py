"""napari contributions that need no Qt: sample data and the reader for model and noise-model files.

Declared in ``napari.yaml``. Nothing here imports napari, Qt or torch at module
import time (napari imports this module to list the contributions); the reader
touches napari only when it runs, to hand what it loaded to the open viewer's
widgets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .layer_roles import CALIBRATION, GROUND_TRUTH, with_role

LayerData = tuple  # (data, kwargs, layer type), napari's LayerDataTuple

# Names of the files the reader recognises. The model bundle layout belongs to
# napari_hdn.model.bundle (MODEL_JSON, BEST, LAST); these cheap checks only
# decide whether to offer the reader, the core then validates the files.
_MODEL_JSON = "model.json"
_CHECKPOINT_FOLDERS = ("best", "last")
_NOISE_MODEL_KEYS = ("kind", "trained_weight")  # ours / the reference HDN and PPN2V GMM files


def _contrast(image: np.ndarray) -> list[float]:
    low, high = np.percentile(image, (0.5, 99.8))
    return [float(low), float(high)]


def _nuclei_layers(structured: bool) -> list[LayerData]:
    from ..io import sample_data

    variant = "nuclei-struct" if structured else "nuclei"
    noise = (
        "row-correlated read noise (kernel 0.2, 0.6, 1, 0.6, 0.2)" if structured else "white read noise"
    )
    about = {
        "napari_hdn_sample": variant,
        "description": (
            f"cells3d nuclei with simulated camera noise: gain {sample_data.GAIN}, offset {sample_data.OFFSET}, "
            f"read sigma {sample_data.READ_SIGMA}, {noise}; peak {sample_data.PEAK_PHOTONS} photons"
        ),
    }
    stack = sample_data.noisy_stack(structured).astype(np.float32)
    test = sample_data.test_image(structured).astype(np.float32)
    # The ground truth in camera units, so that it compares directly with the noisy image and the MMSE.
    truth = (sample_data.GAIN * sample_data.ground_truth() + sample_data.OFFSET).astype(np.float32)
    limits = _contrast(test)
    return [
        (stack, {"name": f"{variant} noisy stack", "contrast_limits": limits, "metadata": dict(about)}, "image"),
        (
            test,
            {
                "name": f"{variant} noisy",
                "contrast_limits": limits,
                "metadata": dict(about, slice=sample_data.TEST_SLICE),
            },
            "image",
        ),
        (
            truth,
            {
                "name": f"{variant} ground truth",
                "contrast_limits": limits,
                "visible": False,
                # Marked: the training list and the noise-model widget leave the ground truth out.
                "metadata": with_role(dict(about, slice=sample_data.TEST_SLICE), GROUND_TRUTH),
            },
            "image",
        ),
    ]


def sample_nuclei() -> list[LayerData]:
    """The training stack (60 slices), the test slice and its ground truth, Poisson-Gaussian noise."""
    return _nuclei_layers(structured=False)


def sample_nuclei_structured() -> list[LayerData]:
    """As :func:`sample_nuclei` with row-correlated read noise (the "nuclei-struct" benchmark)."""
    return _nuclei_layers(structured=True)


def sample_calibration() -> list[LayerData]:
    """100 repeated acquisitions of the test slice, to calibrate a noise model from."""
    from ..io import sample_data

    stack = sample_data.calibration_stack(100).astype(np.float32)
    meta = with_role(
        {
            "napari_hdn_sample": "nuclei calibration",
            "description": "100 noisy acquisitions of one static slice (seeds 1000-1099) for noise-model calibration",
        },
        CALIBRATION,  # the Noise model widget offers it as the calibration stack
    )
    return [(stack, {"name": "nuclei calibration", "contrast_limits": _contrast(stack[0]), "metadata": meta}, "image")]


# -- reader ---------------------------------------------------------------------------------------------
def _is_noise_model_file(path: Path) -> bool:
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as npz:
            return any(key in npz.files for key in _NOISE_MODEL_KEYS)
    except Exception:  # not a readable .npz: leave it to other readers
        return False


def _is_model_path(path: Path) -> bool:
    if path.is_file():
        return path.name == _MODEL_JSON
    return path.is_dir() and (
        (path / _MODEL_JSON).is_file() or any((path / name / _MODEL_JSON).is_file() for name in _CHECKPOINT_FOLDERS)
    )


def get_reader(path: str | os.PathLike | list) -> Callable[[Any], list[LayerData]] | None:
    """Offer a reader for napari-hdn model bundles (folders) and noise-model ``.npz`` files.

    Returns None for anything else, so that napari asks its other readers.
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if _is_noise_model_file(p):
        return _read_noise_model
    if _is_model_path(p):
        return _read_model
    return None


def _read_noise_model(path: Any) -> list[LayerData]:
    from ..noise_models import load_noise_model

    p = Path(path[0] if isinstance(path, (list, tuple)) else path)
    noise_model = load_noise_model(p)
    _hand_to_viewer("noise_model", noise_model, str(p))
    return [(None,)]  # napari's sentinel for "read, but no layers to add"


def _read_model(path: Any) -> list[LayerData]:
    from ..model.bundle import load_model, resolve_bundle_path

    p = Path(path[0] if isinstance(path, (list, tuple)) else path)
    model = load_model(p, device="auto")  # the GPU when there is one, as napari_hdn.restore(path) does
    _hand_to_viewer("model", model, str(p), str(resolve_bundle_path(p)))
    return [(None,)]


# Which widget shows each kind of object when it is opened.
_WIDGET_FOR = {"noise_model": "Noise model", "model": "Restore"}


def _hand_to_viewer(what: str, obj: Any, source: str, folder: str = "") -> None:
    """Put a loaded object into the current viewer's session and show the widget that uses it."""
    import napari

    from .session import session_for

    viewer = napari.current_viewer()
    if viewer is None:  # read outside a viewer (e.g. napari's reader test utilities): nothing to hand over
        return
    session = session_for(viewer)
    if what == "noise_model":
        session.set_noise_model(obj, source)
    else:
        session.set_model(obj, source, folder)
    window = getattr(viewer, "window", None)
    if window is not None and hasattr(window, "add_plugin_dock_widget"):
        window.add_plugin_dock_widget("napari-hdn", _WIDGET_FOR[what])
