"""Fault injection: ``hdn train`` killed (SIGKILL) at random moments always leaves a loadable, resumable folder.

Checkpoints are built in hidden folders and renamed into place, so a kill at any moment
(start-up, a step, the middle of writing a checkpoint) leaves either the previous
checkpoint or the new one, never a broken one (issue 13).
"""

import os
import random
import shutil
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
from napari_hdn.foundation.progress import drive
from napari_hdn.training import training_events

SRC = str(Path(__file__).resolve().parents[2] / "src")
# Checkpoints every 2 steps: kills often land while one is written.
TINY = [*cli_network_settings(), "--set", "steps_per_epoch=2", "--set", "val_patches=4", "--set", "precision=float32",
        "--patch-size", "16", "--batch-size", "2", "--threads", "1", "--device", "cpu"]
KILLS = 6
EARLY = {0, 3}  # these rounds are killed during start-up, the others while training


def start(data: Path, nm: Path, out: Path) -> subprocess.Popen:
    resume = ["--resume"] if (out / "last" / "model.json").is_file() else []
    argv = [sys.executable, "-c", "import sys; from napari_hdn.cli import main; sys.exit(main())", "train", str(data),
            "--noise-model", str(nm), "--out", str(out), "--minutes", "1", *TINY, *resume]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def check_loads_and_resumes(out: Path, data: np.ndarray, scratch: Path) -> int:
    """What is on disk loads (best via the folder, last) and a copy of it resumes for a step; returns its step."""
    last = load_model(out / "last")
    assert load_model(out).step > 0  # best/ (what 'hdn predict OUT' uses); a kill between the two saves of an
    # epoch's end may leave it one epoch ahead of last/, which is fine: each is a complete model
    copy = scratch / f"resume-{last.step}-{time.monotonic_ns()}"
    shutil.copytree(out, copy)
    resumed = drive(training_events(data, steps=last.step + 1, out=copy, resume=True, device="cpu", threads=1))
    assert resumed.step == last.step + 1
    shutil.rmtree(copy)
    return last.step


@pytest.mark.slow
def test_sigkill_at_random_moments_never_breaks_the_training_folder(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.poisson(20, (4, 32, 32)) + 100).astype(np.float32)
    np.save(tmp_path / "noisy.npy", data)
    PoissonGaussianNoiseModel(1.0, 100.0, 3.0).save(tmp_path / "nm.npz")
    out = tmp_path / "model"
    moments = random.Random(13)
    steps_seen = []
    for round_ in range(KILLS):
        proc = start(tmp_path / "noisy.npy", tmp_path / "nm.npz", out)
        if round_ in EARLY:
            time.sleep(moments.uniform(0.0, 1.5))
        else:  # timed from its first step, as start-up time depends on how busy the machine is
            line = b""
            while b"training on" not in line:  # the last set-up message, right before the first step
                line = proc.stderr.readline()
                assert line or proc.poll() is None, "training ended during set-up"
            time.sleep(moments.uniform(0.3, 3.0))  # steps, validations and checkpoints every few tenths of a second
        if proc.poll() is not None:
            pytest.fail(f"training ended before the kill: {proc.stderr.read().decode()}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
        if (out / "last" / "model.json").is_file():
            steps_seen.append(check_loads_and_resumes(out, data, tmp_path))
        else:  # killed before the first checkpoint: nothing but hidden work folders, and a new start works
            assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]
    assert len(steps_seen) >= 3, "too few kills after a checkpoint to test resuming"
    assert steps_seen == sorted(steps_seen)  # every run resumed from the one before
