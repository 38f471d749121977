"""Property-based tests (Hypothesis) of the input validators and file readers (issue 13).

Random shapes, dtypes, NaN/Inf, empty and corrupted files must give either a correct result
or napari-hdn's own clear error (HDNError) - never another exception - and a failed write
must leave nothing partly written. Few examples and no deadline: CI has 2 cores.
"""

import io
import os

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from napari_hdn.io.atomic import atomic_path, read_image
from napari_hdn.foundation.errors import HDNError
from napari_hdn.checks.inputs import check_image
from napari_hdn.model.bundle import load_model
from napari_hdn.noise_models import PoissonGaussianNoiseModel
from napari_hdn.noise_models.files import load_noise_model
from napari_hdn.noise_models.pairs import checked_stack
from napari_hdn.training import resolve_config
from napari_hdn.training.data import prepare_data

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
DTYPES = st.sampled_from(["uint8", "uint16", "int16", "int32", "float16", "float32", "float64", "bool", "complex64"])
arrays = hnp.arrays(dtype=DTYPES, shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=12))


def with_specials(array: np.ndarray, data) -> np.ndarray:
    """Sprinkle NaN/Inf into float arrays."""
    if array.dtype.kind == "f" and array.size:
        flat = array.reshape(-1)
        for value in data.draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=3)):
            flat[data.draw(st.integers(0, flat.size - 1))] = value
    return array


@FEW
@given(array=arrays, data=st.data())
def test_restoration_input_check_gives_an_image_or_a_clear_error(array, data):
    array = with_specials(array, data)
    try:
        checked = check_image(array, 8)
    except HDNError:
        return
    assert checked.ndim >= 2 and min(checked.shape[-2:]) >= 8
    assert np.isfinite(np.asarray(checked, dtype=np.float64)).all()


@FEW
@given(array=arrays, data=st.data())
def test_calibration_stack_check_gives_a_stack_or_a_clear_error(array, data):
    array = with_specials(array, data)
    try:
        stack = checked_stack(array)
    except HDNError:
        return
    assert stack.ndim >= 3 and stack.shape[0] >= 2 and np.isfinite(stack.astype(np.float64)).all()


@FEW
@given(array=hnp.arrays(dtype=DTYPES, shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=40)),
       data=st.data())
def test_training_data_preparation_gives_data_or_a_clear_error(array, data):
    array = with_specials(array, data)
    _, cfg = resolve_config("fast", steps=1, patch_size=8, val_patches=2, n_latent_layers=2)
    try:
        prepared = prepare_data(array, cfg)
    except HDNError:
        return
    assert np.isfinite(prepared.data_mean) and prepared.data_std > 0


def _valid_file_bytes(kind: str, array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    if kind == "tif":
        tifffile.imwrite(buffer, array)
    else:
        np.save(buffer, array)
    return buffer.getvalue()


def _corrupt(content: bytes, data) -> bytes:
    action = data.draw(st.sampled_from(["truncate", "flip", "empty", "random", "keep"]))
    if action == "empty":
        return b""
    if action == "random":
        return data.draw(st.binary(max_size=300))
    if action == "truncate" and content:
        return content[: data.draw(st.integers(0, len(content) - 1))]
    if action == "flip" and content:
        out = bytearray(content)
        for _ in range(data.draw(st.integers(1, 8))):
            out[data.draw(st.integers(0, len(out) - 1))] ^= data.draw(st.integers(1, 255))
        return bytes(out)
    return content


@FEW
@given(kind=st.sampled_from(["tif", "npy"]),
       array=hnp.arrays(dtype=st.sampled_from(["uint8", "uint16", "float32"]),
                        shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=16)),
       data=st.data())
def test_image_reader_gives_the_image_or_a_clear_error(tmp_path_factory, kind, array, data):
    content = _valid_file_bytes(kind, array)
    corrupted = _corrupt(content, data)
    path = tmp_path_factory.mktemp("img") / f"image.{kind}"
    path.write_bytes(corrupted)
    try:
        result = np.asarray(read_image(path))
    except HDNError:
        return
    if corrupted == content:
        np.testing.assert_array_equal(result, array)


@pytest.fixture(scope="module")
def noise_model_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("nm") / "nm.npz"
    PoissonGaussianNoiseModel(1.5, 100.0, 3.0).save(path)
    return path.read_bytes()


@FEW
@given(data=st.data())
def test_noise_model_reader_gives_the_model_or_a_clear_error(tmp_path_factory, noise_model_bytes, data):
    corrupted = _corrupt(noise_model_bytes, data)
    path = tmp_path_factory.mktemp("nm") / "nm.npz"
    path.write_bytes(corrupted)
    try:
        model = load_noise_model(path)
    except HDNError:
        return
    assert model.kind == "poisson_gaussian"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from napari_hdn.model import LadderVAE, ModelConfig
    from napari_hdn.model.bundle import HDNModel

    config = ModelConfig(n_latent_layers=2, z_channels=2, n_filters=4, blocks_per_layer=1)
    return HDNModel(LadderVAE(config), PoissonGaussianNoiseModel(1.0, 0.0, 2.0), 10.0, 2.0).save(
        tmp_path_factory.mktemp("model") / "m")


@FEW
@given(name=st.sampled_from(["model.json", "weights.safetensors"]), data=st.data())
def test_model_reader_gives_the_model_or_a_clear_error(tmp_path_factory, model_folder, name, data):
    import shutil

    folder = tmp_path_factory.mktemp("bundle") / "m"
    shutil.copytree(model_folder, folder)
    content = (folder / name).read_bytes()
    corrupted = _corrupt(content, data)
    (folder / name).write_bytes(corrupted)
    try:
        load_model(folder)
    except HDNError:
        return
    assert corrupted == content or name == "model.json"  # a changed weights file must fail its checksum


class Boom(Exception):
    pass


@FEW
@given(old=st.one_of(st.none(), st.binary(max_size=64)), new=st.binary(max_size=2000),
       fail_after=st.one_of(st.none(), st.integers(0, 2000)))
def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path_factory, old, new, fail_after):
    folder = tmp_path_factory.mktemp("write")
    target = folder / "out.bin"
    if old is not None:
        target.write_bytes(old)
    try:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                if fail_after is not None and fail_after < len(new):
                    handle.write(new[:fail_after])
                    raise Boom
                handle.write(new)
    except Boom:
        assert (target.read_bytes() if target.exists() else None) == old
    else:
        assert target.read_bytes() == new
    assert os.listdir(folder) == (["out.bin"] if target.exists() else [])
