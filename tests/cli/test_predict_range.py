"""``hdn predict`` on images unlike the training data: one warning line, or exit status 2 and nothing written."""

import numpy as np
from factories import tiny_model

from napari_hdn.cli import main


def save_model(path, data_range):
    return tiny_model(data_mean=120.0, data_std=25.0, data_range=data_range).save(path)


def image(scale=1.0, offset=0.0):
    rng = np.random.default_rng(0)
    return (rng.normal(120, 25, (32, 32)) * scale + offset).astype(np.float32)


def predict(tmp_path, model, data):
    np.save(tmp_path / "in.npy", data)
    return main(["predict", str(model), str(tmp_path / "in.npy"), "--out", str(tmp_path / "out"), "--samples", "2",
                 "--quiet"])


def test_a_non_finite_restoration_exits_2_and_writes_nothing(tmp_path, capsys):
    model = save_model(tmp_path / "m", None)
    assert predict(tmp_path, model, image(scale=1e30)) == 2
    err = capsys.readouterr().err
    assert err.startswith("hdn predict: error:") and "NaN or infinite" in err
    assert not list((tmp_path / "out").glob("*.tif")) if (tmp_path / "out").exists() else True


def test_an_offset_removed_image_gives_one_warning_line(tmp_path, capsys):
    model = save_model(tmp_path / "m", (60.0, 180.0))
    assert predict(tmp_path, model, image(offset=-100)) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("hdn predict: warning: The image's intensities")


def test_an_image_ten_times_brighter_is_refused(tmp_path, capsys):
    model = save_model(tmp_path / "m", (60.0, 180.0))
    assert predict(tmp_path, model, image(scale=10)) == 2
    assert "meaningless" in capsys.readouterr().err
