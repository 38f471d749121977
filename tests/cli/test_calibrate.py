import dataclasses
import re

import numpy as np
import pytest
import tifffile

from napari_hdn import cli
from napari_hdn.cli import main
from napari_hdn.noise_models import (
    GaussianMixtureNoiseModel,
    GMMOptions,
    HistogramOptions,
    PoissonGaussianNoiseModel,
    load_noise_model,
)


@pytest.fixture(autouse=True)
def only_calibrate(monkeypatch):
    """The real ``hdn`` entry point with just this subcommand (the others are tested on their own)."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("calibrate",))


@pytest.fixture(scope="module")
def calib_tif(tmp_path_factory):
    rng = np.random.default_rng(0)
    photons = np.linspace(0, 40, 48 * 48).reshape(48, 48)
    stack = 2 * rng.poisson(photons, (12, 48, 48)) + rng.normal(100, 4, (12, 48, 48))
    path = tmp_path_factory.mktemp("data") / "calib.tif"
    tifffile.imwrite(path, stack.astype(np.float32))
    return path


def test_help_is_complete_and_states_the_real_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--out", "--kind", "--signal", "--plot", "--overwrite", "--clip-percentiles", "--max-pairs",
                 "--seed", "--n-gaussians", "--degree", "--min-sigma", "--steps", "--batch-size", "--learning-rate",
                 "--device", "--bins", "--signal-bins", "--offset", "poisson_gaussian", "histogram"):
        assert flag in text, flag
    defaults = {f.name: f.default for f in dataclasses.fields(GMMOptions) + dataclasses.fields(HistogramOptions)}
    for name in ("steps", "batch_size", "learning_rate", "n_gaussians", "degree", "bins", "signal_bins"):
        flag = "--" + name.replace("_", "-")
        assert re.search(rf"{flag} \S+ .*?\(default: {defaults[name]}\)", text), flag
    assert "(default: 0.5 99.5)" in text and GMMOptions().clip_percentiles == (0.5, 99.5)


def test_calibrate_writes_model_and_plot(calib_tif, tmp_path, capsys):
    out, plot = tmp_path / "nm.npz", tmp_path / "nm.png"
    argv = ["calibrate", str(calib_tif), "--out", str(out), "--plot", str(plot), "--steps", "50", "--device", "cpu"]
    assert main(argv) == 0
    model = load_noise_model(out)
    assert isinstance(model, GaussianMixtureNoiseModel) and model.n_gaussians == 3
    assert plot.read_bytes()[:4] == b"\x89PNG"
    captured = capsys.readouterr()
    assert str(out) in captured.out and "Gaussian mixture" in captured.out
    assert "Fitting noise model" in captured.err  # the progress bar


def test_poisson_gaussian_with_a_known_offset(calib_tif, tmp_path):
    out = tmp_path / "pg.npz"
    assert main(["calibrate", str(calib_tif), "--out", str(out), "--kind", "poisson_gaussian", "--offset", "100"]) == 0
    model = load_noise_model(out)
    assert isinstance(model, PoissonGaussianNoiseModel)
    assert model.gain == pytest.approx(2.0, rel=0.1) and model.offset == 100.0


def test_pseudo_clean_signal(calib_tif, tmp_path):
    stack = tifffile.imread(calib_tif)
    signal_path, noisy_path = tmp_path / "clean.tif", tmp_path / "noisy.tif"
    tifffile.imwrite(signal_path, stack.mean(axis=0))
    tifffile.imwrite(noisy_path, stack[0])
    out = tmp_path / "h.npz"
    argv = ["calibrate", str(noisy_path), "--signal", str(signal_path), "--out", str(out), "--kind", "histogram",
            "--bins", "32", "--signal-bins", "8"]
    assert main(argv) == 0
    assert load_noise_model(out).probabilities.shape == (8, 32)


def test_existing_output_is_kept_without_overwrite(calib_tif, tmp_path, capsys):
    out = tmp_path / "nm.npz"
    out.write_bytes(b"precious")
    assert main(["calibrate", str(calib_tif), "--out", str(out), "--kind", "gaussian"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    assert main(["calibrate", str(calib_tif), "--out", str(out), "--kind", "gaussian", "--overwrite"]) == 0
    assert load_noise_model(out).kind == "gaussian"


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (lambda p: tifffile.imwrite(p, np.ones((32, 32), np.float32)), [], "shape"),
        (lambda p: tifffile.imwrite(p, np.ones((1, 32, 32), np.float32)), [], "only 1 frame"),
        (lambda p: p.write_bytes(b"not a tiff"), [], "Cannot read"),
        (lambda p: tifffile.imwrite(p, np.ones((5, 8, 8), np.float32)), ["--bins", "8"], "--bins does not apply"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path, capsys, make_input, extra, message):
    calib = tmp_path / "calib.tif"
    make_input(calib)
    out, plot = tmp_path / "nm.npz", tmp_path / "nm.png"
    assert main(["calibrate", str(calib), "--out", str(out), "--plot", str(plot), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hdn calibrate: error:") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.tif"]


def test_missing_input_file(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "nm.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_quiet_prints_nothing_but_writes_the_model(tmp_path, capsys):
    """--quiet as for train and predict (issue 13, item 14)."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(tmp_path / "stack.npy", (rng.uniform(50, 150, (32, 32)) + rng.normal(0, 5, (10, 32, 32))).astype(np.float32))
    assert main(["calibrate", str(tmp_path / "stack.npy"), "--out", str(tmp_path / "nm.npz"), "--kind", "gaussian",
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "" and (tmp_path / "nm.npz").is_file()


def test_a_signal_of_one_frame_for_a_stack_of_scenes_is_refused(tmp_path, capsys):
    # issue 29: 8 different scenes were taken as 8 noisy frames of one signal (gain 3.39, truth 1.0)
    rng = np.random.default_rng(0)
    scenes = rng.uniform(10, 200, (8, 64, 64))
    tifffile.imwrite(tmp_path / "noisy.tif", (rng.poisson(scenes) + 100).astype(np.float32))
    tifffile.imwrite(tmp_path / "clean.tif", (scenes[0] + 100).astype(np.float32))
    out = tmp_path / "nm.npz"
    argv = ["calibrate", str(tmp_path / "noisy.tif"), "--signal", str(tmp_path / "clean.tif"), "--out", str(out),
            "--kind", "poisson_gaussian"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "same shape" in err and "(8, 64, 64)" in err and "(64, 64)" in err
    assert not out.exists()
