import dask.array as da
import numpy as np
import pytest

from napari_hdn.checks.arrays import as_real_array, check_finite, check_not_rgb
from napari_hdn.foundation.errors import InputError


def test_accepts_numbers_lists_and_dask():
    assert as_real_array([[1, 2], [3, 4]]).shape == (2, 2)
    lazy = da.zeros((4, 4), chunks=2)
    assert as_real_array(lazy) is lazy


@pytest.mark.parametrize(
    "bad, message",
    [
        (None, "No image"),
        (np.zeros((0, 5)), "empty"),
        (np.zeros((3, 3), dtype=complex), "data type"),
        (np.array([["a"]]), "data type"),
        (np.zeros((3, 3), dtype=bool), "data type"),
    ],
)
def test_rejects_unusable_arrays(bad, message):
    with pytest.raises(InputError, match=message):
        as_real_array(bad)


def test_nan_and_inf_are_reported_with_their_count():
    image = np.ones((4, 4))
    image[0, 0] = np.nan
    image[1, 1] = np.inf
    with pytest.raises(InputError, match="2 NaN or infinite"):
        check_finite(image)


def test_rgb_images_are_rejected():
    with pytest.raises(InputError, match="RGB"):
        check_not_rgb(np.zeros((32, 32, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="RGB"):
        check_not_rgb(np.zeros((32, 32, 4), dtype=np.float32), rgb=True)
    check_not_rgb(np.zeros((3, 32, 32), dtype=np.uint8))  # a 3-plane stack is fine


def test_a_ragged_list_of_images_is_a_project_error():
    # issue 29: numpy's "inhomogeneous shape" reached the user
    with pytest.raises(InputError, match="different shapes") as error:
        as_real_array([np.ones((32, 32)), np.ones((16, 16))])
    assert "(16, 16)" in str(error.value) and "inhomogeneous" not in str(error.value)


def test_a_ragged_list_is_refused_by_restore_in_plain_words():
    from factories import tiny_model

    import napari_hdn

    with pytest.raises(InputError, match="different shapes"):
        napari_hdn.restore(tiny_model(), [np.ones((32, 32)), np.ones((16, 16))], n_samples=1)
