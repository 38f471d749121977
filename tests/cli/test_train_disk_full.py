"""``hdn train`` on a disk that fills up: one line, exit 2, the last good ``last/`` kept, ``--resume`` continues
(issue 29). The small disk is emulated: every write into the model folder fails with ENOSPC once the folder
would grow past a capacity (a tmpfs would need root)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import safetensors.torch
from test_train import TINY, noisy_tif  # noqa: F401 (a fixture)

from napari_hdn import cli
from napari_hdn.cli import main
from napari_hdn.model import bundle, load_model


def _used(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


class SmallDisk:
    """Writes into ``folder`` fail with ENOSPC once the files there would take more than ``capacity`` bytes."""

    def __init__(self, folder: Path, capacity: int):
        self.folder, self.capacity, self.refused = folder, capacity, 0

    def check(self, path, size: int) -> None:
        if _used(self.folder) + size > self.capacity:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

    def install(self, monkeypatch) -> None:
        real_write_file = getattr(bundle, "write_file", None)
        real_save_file = safetensors.torch.save_file

        def write_file(path, data):
            self.check(path, len(data))
            return real_write_file(path, data)

        def save_file(tensors, filename, metadata=None):  # the Rust writer: fails as it does on a full disk
            size = len(safetensors.torch.save(tensors, metadata=metadata))
            try:
                self.check(filename, size)
            except OSError as err:
                raise safetensors.SafetensorError(f"Error while serializing: IoError({err})") from None
            return real_save_file(tensors, filename, metadata=metadata)

        monkeypatch.setattr(bundle, "write_file", write_file, raising=False)
        monkeypatch.setattr(safetensors.torch, "save_file", save_file)


@pytest.fixture(autouse=True)
def only_train(monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("train",))


def test_full_disk_says_so_in_one_line_keeps_last_and_resume_continues(noisy_tif, tmp_path, monkeypatch, capsys):  # noqa: F811
    out = tmp_path / "model"
    base = ["train", str(noisy_tif), "--out", str(out), "--quiet", *TINY]
    assert main([*base, "--gaussian-sigma", "3", "--steps", "3"]) == 0  # one epoch: best/ and last/
    one_epoch = _used(out)
    capsys.readouterr()

    disk = SmallDisk(out, capacity=one_epoch + 1024)  # too small for a new checkpoint beside the old ones
    with monkeypatch.context() as patch:
        disk.install(patch)
        assert main([*base, "--resume", "--steps", "9"]) == 2
    assert disk.refused >= 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
    assert "--resume" in err
    assert load_model(out / "last").step == 3  # the last good checkpoint is intact
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no half-written checkpoint left

    assert main([*base, "--resume", "--steps", "9"]) == 0  # space freed: the training continues
    assert load_model(out / "last").step == 9
