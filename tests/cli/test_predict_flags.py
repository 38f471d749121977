"""``hdn predict`` refuses flags it would ignore (issue 29): exit status 2, a reason, nothing written."""

import numpy as np
import pytest
from factories import tiny_model

from napari_hdn.cli import main
from napari_hdn.direct import DirectUNet


@pytest.fixture(scope="module")
def direct_model_dir(tmp_path_factory):
    """A tiny model with a direct denoiser: without the checks, every call below would exit 0."""
    model = tiny_model()
    model.direct_denoisers = {"all-on": DirectUNet(depth=1, width=4).eval()}
    return model.save(tmp_path_factory.mktemp("model") / "direct")


@pytest.fixture
def noisy(tmp_path):
    np.save(tmp_path / "in.npy", np.random.default_rng(0).normal(100, 20, (32, 32)).astype(np.float32))
    return tmp_path / "in.npy"


@pytest.mark.parametrize("flags, reason", [
    (["--direct", "--tta"], "--tta"),
    (["--direct", "--samples", "5"], "--samples"),
    (["--direct", "--keep-samples", "2"], "--keep-samples"),
    (["--direct", "--activations"], "--activations"),
    (["--direct", "--calibrate"], "--calibrate"),
    (["--direct", "--second-opinion"], "--second-opinion"),
    (["--second-opinion"], "add --deactivate auto"),
    (["--second-opinion", "--deactivate", "1"], "add --deactivate auto"),
    (["--multiscale"], "--multiscale"),
    (["--multiscale", "--direct"], "--multiscale"),
])
def test_ignored_flags_are_refused_and_nothing_is_written(direct_model_dir, noisy, tmp_path, capsys, flags, reason):
    out = tmp_path / "out"
    assert main(["predict", str(direct_model_dir), str(noisy), "--out", str(out), "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hdn predict: error:") and reason in err
    assert not out.exists()


def test_multiscale_with_an_ome_zarr_out_is_still_accepted_by_the_check():
    import argparse

    from napari_hdn.cli.predict import check_flags

    args = argparse.Namespace(direct=False, tta=False, samples=None, keep_samples=None, activations=False,
                              calibrate=False, multiscale=True, out="x.ome.zarr",
                              second_opinion=False, deactivate=())
    check_flags(args)
