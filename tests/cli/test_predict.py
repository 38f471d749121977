import numpy as np
import pytest
import tifffile

from napari_hdn.cli import main
from napari_hdn.io.tiff import imagej_axes, read_pixel_metadata


@pytest.fixture
def noisy_tif(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "noisy.tif"
    data = rng.normal(100, 20, (2, 32, 40)).clip(0).astype(np.uint16)
    tifffile.imwrite(
        path, data, imagej=True, resolution=(1 / 0.2, 1 / 0.25), metadata={"spacing": 0.5, "unit": "um", "axes": "ZYX"}
    )
    return path


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--samples", "--keep-samples", "--deactivate", "--tile", "--tta", "--activations",
                   "--overwrite", "--seed", "--device", "--precision", "mmse.tif", "variance.tif", "samples.tif", "kl_maps.tif"):
        assert option in text, option


def test_predict_writes_results_with_the_pixel_size(model_dir, noisy_tif, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["predict", str(model_dir), str(noisy_tif), "--out", str(out), "--samples", "3", "--keep-samples", "2",
            "--deactivate", "1", "--activations", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["activations.tif", "half_width_90.tif", "kl_maps.tif", "median.tif", "mmse.tif", "samples.tif",
                       "variance.tif"]
    mmse = tifffile.imread(out / "mmse.tif")
    assert mmse.shape == (2, 32, 40) and mmse.dtype == np.float32
    assert tifffile.imread(out / "samples.tif").shape == (2, 2, 32, 40)
    assert tifffile.imread(out / "activations.tif").shape == (2, 2, 32, 40)  # 2 latent layers x 2 planes
    assert tifffile.imread(out / "variance.tif").min() >= 0
    for name in ("mmse", "samples", "kl_maps"):
        with tifffile.TiffFile(out / f"{name}.tif") as tif:
            assert tif.pages.first.resolution == pytest.approx((5.0, 4.0))
            assert tif.imagej_metadata["spacing"] == 0.5 and tif.imagej_metadata["unit"] == "um"
    with tifffile.TiffFile(out / "samples.tif") as tif:
        assert tif.series[0].axes == "TZYX"
    # The same seed gives the same result: the CLI and the Python API agree.
    from napari_hdn import restore

    expected = restore(str(model_dir), tifffile.imread(noisy_tif), n_samples=3, keep_samples=2, deactivate=(1,), device="cpu")
    np.testing.assert_allclose(mmse, expected.mmse, rtol=1e-6)


def test_predict_calibrate_prints_the_error_estimate(model_dir, noisy_tif, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["predict", str(model_dir), str(noisy_tif), "--out", str(out), "--samples", "3", "--keep-samples", "0",
            "--calibrate", "--device", "cpu"]
    assert main(argv) == 0
    assert not (out / "samples.tif").exists() and (out / "half_width_90.tif").exists()  # none kept: no empty file
    lines = [line for line in capsys.readouterr().out.splitlines() if "estimated error" in line]
    assert len(lines) == 1 and lines[0].startswith("hdn predict: estimated error \u00b1") and " dB" in lines[0]
    assert "noise model alone" in lines[0]
    plain = tmp_path / "plain"
    assert main(["predict", str(model_dir), str(noisy_tif), "--out", str(plain), "--samples", "3", "--device", "cpu"]) == 0
    assert "estimated error" not in capsys.readouterr().out  # only when asked: it costs a few restorations


def test_predict_never_overwrites_without_permission(model_dir, noisy_tif, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mmse.tif").write_bytes(b"precious")
    argv = ["predict", str(model_dir), str(noisy_tif), "--out", str(out), "--samples", "2", "--quiet"]
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "mmse.tif").read_bytes() == b"precious"
    assert sorted(p.name for p in out.iterdir()) == ["mmse.tif"]  # nothing else written either
    assert main([*argv, "--overwrite"]) == 0
    assert tifffile.imread(out / "mmse.tif").shape == (2, 32, 40)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": "missing"}, "does not exist"),
        ({"input": "missing.tif"}, "does not exist"),
        ({"options": ["--deactivate", "3"]}, "Latent layer 3 does not exist"),
        ({"options": ["--samples", "0"]}, "n_samples"),
        ({"options": ["--tile", "2"]}, "stride"),
    ],
)
def test_predict_bad_arguments_give_one_clear_line(model_dir, noisy_tif, tmp_path, capsys, change, message):
    model = str(tmp_path / change["model"]) if "model" in change else str(model_dir)
    image = str(tmp_path / change["input"]) if "input" in change else str(noisy_tif)
    argv = ["predict", model, image, "--out", str(tmp_path / "out"), "--quiet", *change.get("options", [])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_predict_rejects_a_bad_layer_list(model_dir, noisy_tif, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(model_dir), str(noisy_tif), "--out", str(tmp_path), "--deactivate", "one"])
    assert "1,2" in capsys.readouterr().err


def test_predict_rejects_an_unknown_precision(model_dir, noisy_tif, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit):
        main(["predict", str(model_dir), str(noisy_tif), "--out", str(out), "--precision", "half"])
    err = capsys.readouterr().err
    assert "--precision" in err and "bfloat16" in err and "float32" in err
    assert not out.exists()


def test_predict_npy_input_and_progress(model_dir, tmp_path, capsys):
    image = np.random.default_rng(1).normal(100, 20, (36, 36)).astype(np.float32)
    np.save(tmp_path / "noisy.npy", image)
    assert main(["predict", str(model_dir), str(tmp_path / "noisy.npy"), "--out", str(tmp_path / "o"), "--samples", "8",
                 "--tile", "16", "--tta"]) == 0
    assert tifffile.imread(tmp_path / "o" / "mmse.tif").shape == (36, 36)
    captured = capsys.readouterr()
    assert "restore" in captured.err and "mmse.tif" in captured.out


def test_pixel_metadata_of_a_plain_tiff(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint16), resolution=(2.0, 3.0), resolutionunit="CENTIMETER")
    meta = read_pixel_metadata(path)
    assert meta["resolution"] == pytest.approx((2.0, 3.0)) and meta["axes"] is None
    assert read_pixel_metadata(tmp_path / "x.npy") == {}


@pytest.mark.parametrize(
    "ndim, axes, extra, expected",
    [(2, None, False, "YX"), (3, None, True, "TYX"), (4, "ZYX", True, "TZYX"), (4, "TYX", True, None), (3, "CYX", False, "CYX")],
)
def test_imagej_axes(ndim, axes, extra, expected):
    assert imagej_axes(ndim, axes, extra) == expected


def test_predict_deactivate_auto_records_the_choice(model_dir, noisy_tif, tmp_path, capsys):
    import json

    from napari_hdn import restore, suggest_deactivation

    out = tmp_path / "out"
    argv = ["predict", str(model_dir), str(noisy_tif), "--out", str(out), "--samples", "2", "--deactivate", "auto",
            "--device", "cpu"]
    assert main(argv) == 0
    record = json.loads((out / "deactivation.json").read_text())
    image = tifffile.imread(noisy_tif)
    expected = suggest_deactivation(str(model_dir), image, device="cpu")
    assert record["deactivated_layers"] == list(expected.layers)
    assert record["suggestion"]["layers"] == list(expected.layers)
    assert [v["layer"] for v in record["suggestion"]["verdicts"]] == [1]  # 2 layers: never both
    assert record["suggestion"]["verdicts"][0]["reason"]
    assert expected.summary in capsys.readouterr().out
    mmse = tifffile.imread(out / "mmse.tif")
    reference = restore(str(model_dir), image, n_samples=2, deactivate=expected.layers, device="cpu")
    np.testing.assert_allclose(mmse, reference.mmse, rtol=1e-6)
    # The record is a result file like the others: never overwritten without permission.
    (out / "mmse.tif").unlink()
    assert main([*argv, "--quiet"]) == 2
    assert "deactivation.json" in capsys.readouterr().err


def test_predict_second_opinion_is_printed_and_recorded(model_dir, noisy_tif, tmp_path, capsys):
    import json

    out = tmp_path / "out"
    argv = ["predict", str(model_dir), str(noisy_tif), "--out", str(out), "--samples", "4", "--deactivate", "auto",
            "--second-opinion", "--device", "cpu"]
    assert main(argv) == 0
    record = json.loads((out / "deactivation.json").read_text())["second_opinion"]
    assert record["suggested"] == json.loads((out / "deactivation.json").read_text())["deactivated_layers"]
    assert [e["layers_off"] for e in record["estimates"]] == [[], [1]]  # 2 latent layers: never both off
    assert all(e["mse"] > 0 for e in record["estimates"])
    assert "The error estimate " in capsys.readouterr().out and record["summary"].startswith("The error estimate ")


def test_predict_without_auto_writes_no_record(model_dir, noisy_tif, tmp_path):
    out = tmp_path / "out"
    assert main(["predict", str(model_dir), str(noisy_tif), "--out", str(out), "--samples", "2", "--quiet"]) == 0
    assert not (out / "deactivation.json").exists()


def test_predict_rejects_an_unknown_deactivate_word(model_dir, noisy_tif, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(model_dir), str(noisy_tif), "--out", str(tmp_path / "o"), "--deactivate", "best"])
    assert "1,2" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
