import dask.array as da
import numpy as np
import pytest

pytest.importorskip("ome_zarr")

from napari_hdn.foundation.errors import InputError  # noqa: E402
from napari_hdn.inference import restore  # noqa: E402
from napari_hdn.plugin.omezarr_layers import get_ome_zarr_reader, write_ome_zarr_layers  # noqa: E402

from inference.tiny_models import make_image, make_model  # noqa: E402


def test_saved_result_layers_open_again_with_pixel_sizes(tmp_path):
    image = make_image((48, 48))
    result = restore(make_model(), da.from_array(image, chunks=(32, 32)), n_samples=2, keep_samples=1, device="cpu")
    layers = [(result.mmse, {"name": "noisy MMSE", "scale": [0.5, 0.25]}, "image"),
              (result.variance, {"name": "noisy variance", "scale": [0.5, 0.25]}, "image")]
    out = tmp_path / "saved.ome.zarr"
    assert write_ome_zarr_layers(str(out), layers) == [str(out)]
    reader = get_ome_zarr_reader(str(out / "noisy_MMSE"))
    (data, meta, kind), = reader(str(out / "noisy_MMSE"))
    assert kind == "image" and meta["scale"] == [0.5, 0.25]
    np.testing.assert_allclose(np.asarray(data), result.mmse.compute(), atol=1e-5)
    # an OME-Zarr layer (dask) is valid input to restore
    again = restore(make_model(), data, n_samples=2, keep_samples=0, device="cpu")
    assert again.lazy and again.mmse.compute().shape == (48, 48)
    with pytest.raises(InputError, match="already exists"):
        write_ome_zarr_layers(str(out), layers)


def test_reader_declines_other_paths_and_writer_refuses_labels(tmp_path):
    assert get_ome_zarr_reader(str(tmp_path / "x.tif")) is None
    assert get_ome_zarr_reader([str(tmp_path)]) is None
    with pytest.raises(InputError, match="Only image layers"):
        write_ome_zarr_layers(str(tmp_path / "l.ome.zarr"), [(np.zeros((8, 8), int), {}, "labels")])
    assert not (tmp_path / "l.ome.zarr").exists()
