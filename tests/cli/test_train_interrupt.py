"""Ctrl-C / SIGTERM during ``hdn train`` save ``last/`` even before the first epoch ends (issue 13, item 5)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from factories import cli_network_settings

from napari_hdn.model import load_model
from napari_hdn.noise_models import PoissonGaussianNoiseModel

SRC = str(Path(__file__).resolve().parents[2] / "src")
# One epoch would take far longer than the test: only the stop path can save anything.
TINY = [*cli_network_settings(), "--set", "steps_per_epoch=100000", "--set", "val_patches=4", "--set", "precision=float32",
        "--patch-size", "16", "--batch-size", "2", "--threads", "1", "--device", "cpu"]


def start_training(tmp_path: Path, *extra: str) -> subprocess.Popen:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "noisy.npy", (rng.poisson(30, (4, 32, 32)) + 100).astype(np.float32))
    PoissonGaussianNoiseModel(1.0, 100.0, 3.0).save(tmp_path / "nm.npz")
    argv = [sys.executable, "-c", "import sys; from napari_hdn.cli import main; sys.exit(main())", "train", str(tmp_path / "noisy.npy"), "--noise-model",
            str(tmp_path / "nm.npz"), "--out", str(tmp_path / "model"), "--minutes", "5", *TINY, *extra]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_steps(proc: subprocess.Popen) -> None:
    """Wait until the training reaches its first step (its last set-up message), then let it take some steps."""
    seen = ""
    while "training on" not in seen:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            pytest.fail(f"training ended early: {seen}")
        seen += line
    time.sleep(1.5)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_last_before_the_first_epoch(tmp_path, sig):
    proc = start_training(tmp_path)
    wait_for_steps(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"interrupted by {sig.name}" in err and "--resume" in err
    model = load_model(tmp_path / "model" / "last")
    assert model.step > 0
    assert load_model(tmp_path / "model").step == model.step  # best/ exists too: 'hdn predict MODEL' works


def test_second_ctrl_c_aborts_at_once(tmp_path):
    proc = start_training(tmp_path)
    wait_for_steps(proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
