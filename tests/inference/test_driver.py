import pytest

from napari_hdn.inference.driver import aligned_chunks


@pytest.mark.parametrize(
    "chunks, stride, minimum",
    [((50, 50, 30), 8, 8), ((100,), 8, 8), ((10, 10, 10, 10, 10), 8, 16), ((64, 64, 64), 64, 64), ((33, 1), 8, 8)],
)
def test_aligned_chunks_keep_size_stride_grid_and_minimum(chunks, stride, minimum):
    aligned = aligned_chunks(chunks, stride, minimum)
    assert sum(aligned) == sum(chunks)
    boundaries = [sum(aligned[: i + 1]) for i in range(len(aligned) - 1)]
    assert all(b % stride == 0 for b in boundaries)
    assert len(aligned) == 1 or min(aligned) >= minimum


def test_aligned_chunks_move_boundaries_to_the_nearest_multiple():
    assert aligned_chunks((50, 50, 30), 8, 8) == (48, 48, 34)
