import numpy as np
import pytest

from napari_hdn.foundation.errors import InputError
from napari_hdn.inference.tiling import TileBlender, TileGrid, axis_tiles, axis_weights


@pytest.mark.parametrize("size, tile, overlap, stride", [(100, 32, 8, 8), (257, 64, 16, 16), (64, 64, 16, 8), (40, 64, 16, 8), (1000, 256, 64, 64)])
def test_axis_tiles_cover_the_axis_on_the_stride_grid(size, tile, overlap, stride):
    tiles = axis_tiles(size, tile, overlap, stride)
    assert tiles[0][0] == 0 and sum(tiles[-1]) == size
    for (start, length), (next_start, _) in zip(tiles[:-1], tiles[1:]):
        assert start % stride == 0 and next_start % stride == 0
        assert length == tile
        assert start + length - next_start >= overlap  # neighbours share at least the overlap
        assert next_start > start
    assert all(0 < length <= tile for _, length in tiles)


def test_axis_tiles_single_tile_when_it_fits():
    assert axis_tiles(50, 64, 16, 8) == [(0, 50)]


def test_axis_tiles_reject_an_overlap_leaving_no_step():
    with pytest.raises(InputError, match="overlap"):
        axis_tiles(100, 32, 30, 8)


def test_weights_sum_to_one_and_fade_smoothly():
    tiles = axis_tiles(200, 64, 32, 8)
    total = np.zeros(200)
    for (start, length), w in zip(tiles, axis_weights(tiles)):
        total[start : start + length] += w
        assert w.min() >= 0 and w.max() == 1
        assert np.abs(np.diff(w)).max() < 0.2  # no jumps
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_grid_weights_partition_the_plane():
    grid = TileGrid((150, 130), 64, 16, 8)
    total = np.zeros((150, 130))
    for tile in grid:
        total[tile.region] += tile.weight
    assert len(grid) == len(list(grid)) > 4
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_blender_gives_each_tiles_values_and_a_smooth_mix():
    grid = TileGrid((40, 100), 64, 32, 8)
    averaged = np.empty((1, 40, 100), dtype=np.float32)
    blender = TileBlender(averaged)
    for k, tile in enumerate(grid):
        blender.add(tile, np.full((1, tile.height, tile.width), float(k), dtype=np.float32))
    blender.finish()
    last = float(len(grid) - 1)
    assert averaged[0, :, 0].tolist() == [0.0] * 40 and averaged[0, :, -1].tolist() == [last] * 40
    assert np.all(np.diff(averaged[0, 0]) >= 0) and np.abs(np.diff(averaged[0, 0])).max() < 0.2


def test_blended_samples_keep_the_variance_and_the_mean():
    rng = np.random.default_rng(0)
    grid = TileGrid((16, 100), 64, 32, 8)
    k = 4000
    averaged = np.empty((1, 16, 100), dtype=np.float32)
    samples = np.empty((k, 16, 100), dtype=np.float32)
    blender = TileBlender(averaged, samples)
    for tile in grid:
        deviations = rng.normal(size=(k, tile.height, tile.width)).astype(np.float32)
        deviations -= deviations.mean(0)
        blender.add(tile, np.full((1, tile.height, tile.width), 5.0, dtype=np.float32), deviations)
    blender.finish()
    np.testing.assert_allclose(samples.mean(0), 5.0, atol=1e-4)
    # Independent unit-variance deviations stay unit-variance also where the tiles overlap.
    np.testing.assert_allclose(samples.var(0).mean(axis=0), 1.0, atol=0.1)


def test_blender_marks_pixels_no_tile_reached():
    averaged = np.empty((2, 32, 32), dtype=np.float32)
    samples = np.empty((1, 32, 32), dtype=np.float32)
    blender = TileBlender(averaged, samples)
    first = next(iter(TileGrid((32, 32), 16, 0, 8)))
    blender.add(first, np.ones((2, 16, 16), dtype=np.float32), np.zeros((1, 16, 16), dtype=np.float32))
    blender.finish()
    assert np.all(averaged[:, :16, :16] == 1) and np.isnan(averaged[:, 16:, :]).all()
    assert np.isnan(samples[:, :, 16:]).all() and np.all(samples[:, :16, :16] == 1)
