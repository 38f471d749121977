"""Operating-system errors (permissions, full disk, missing paths) end in one line and exit status 2 (issue 13, item 6)."""

import errno
import os

import numpy as np
import pytest
from factories import cli_network_settings, tiny_model

from napari_hdn.cli import main
from napari_hdn.noise_models import PoissonGaussianNoiseModel


@pytest.fixture
def files(tmp_path):
    model = tiny_model()
    rng = np.random.default_rng(0)
    np.save(tmp_path / "img.npy", rng.normal(100, 20, (32, 32)).astype(np.float32))
    np.save(tmp_path / "stack.npy", rng.normal(100, 5, (8, 32, 32)).astype(np.float32))
    PoissonGaussianNoiseModel(1.0, 100.0, 3.0).save(tmp_path / "nm.npz")
    return {"model": model.save(tmp_path / "model"), "img": tmp_path / "img.npy", "stack": tmp_path / "stack.npy",
            "nm": tmp_path / "nm.npz", "tmp": tmp_path}


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "somewhere")


def _denied(*args, **kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "somewhere")


TINY_TRAIN = [*cli_network_settings(), "--set", "steps_per_epoch=2", "--patch-size", "16", "--batch-size", "2",
              "--threads", "1", "--device", "cpu", "--steps", "2", "--quiet"]


def commands(f):
    out = f["tmp"] / "out"
    return {
        "calibrate": ["calibrate", str(f["stack"]), "--out", str(out / "nm.npz")],
        "train": ["train", str(f["img"]), "--noise-model", str(f["nm"]), "--out", str(out / "m"), *TINY_TRAIN],
        "predict": ["predict", str(f["model"]), str(f["img"]), "--out", str(out), "--samples", "2", "--quiet"],
    }


@pytest.mark.parametrize("command", ["calibrate", "train", "predict"])
@pytest.mark.parametrize("fault", [_disk_full, _denied])
def test_write_failures_are_one_line(files, command, fault, monkeypatch, capsys):
    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", fault)
    monkeypatch.setattr(tempfile, "mkdtemp", fault)
    assert main(commands(files)[command]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"hdn {command}: error: ")
    assert err.count("error:") == 1 and "Traceback" not in err


def test_train_into_a_path_below_a_file_fails_before_training(files, capsys):
    (files["tmp"] / "afile").write_text("x")
    argv = commands(files)["train"]
    argv[argv.index("--out") + 1] = str(files["tmp"] / "afile" / "model")
    assert main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_unreadable_model_folder_is_one_line(files, monkeypatch, capsys):
    from pathlib import Path

    real = Path.read_text

    def refuse(self, *args, **kwargs):
        if self.name == "model.json":
            _denied()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)
    assert main(commands(files)["predict"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hdn predict: error:") and err.count("\n") == 1
