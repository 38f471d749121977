"""Seeds: whole numbers from 0 to 2**63 - 1 (what torch.manual_seed takes, with room for derived seeds),
numpy integers included; anything else is refused with a clear error before any work starts (issue 29)."""

from __future__ import annotations

import numpy as np
import pytest
from factories import cli_network_settings, tiny_model
from factories import noisy_stack, run

from napari_hdn import cli
from napari_hdn.cli import main
from napari_hdn.direct import distill_events
from napari_hdn.foundation.errors import InputError
from napari_hdn.training import TrainConfig, adapt_events

TOO_LARGE = (2**63, 2**64 - 1, 2**64, 10**30)


@pytest.mark.parametrize("seed", [*TOO_LARGE, -1, 1.5, True, "3"])
def test_train_config_refuses_seeds_torch_cannot_take(seed):
    with pytest.raises(InputError, match="seed"):
        TrainConfig(steps=1, seed=seed)


@pytest.mark.parametrize("seed", [0, 2**63 - 1, np.int64(7), np.uint64(2**63 - 1), np.int32(3)])
def test_train_config_takes_whole_seeds_up_to_2_63_minus_1(seed):
    config = TrainConfig(steps=1, seed=seed)
    assert config.seed == int(seed) and type(config.seed) is int


@pytest.mark.parametrize("seed", TOO_LARGE)
def test_training_refuses_a_too_large_seed_before_it_starts(seed):
    with pytest.raises(InputError, match=r"seed .*2\*\*63 - 1"):
        run(steps=1, seed=seed)


def test_training_takes_a_numpy_seed_and_the_largest_one():
    _, model = run(steps=1, seed=np.int64(2**63 - 1))
    assert model.train_config.seed == 2**63 - 1


@pytest.mark.parametrize("seed", [2**64 - 1, -3])
def test_adapt_and_distill_refuse_bad_seeds_when_called(seed):
    model = tiny_model()
    with pytest.raises(InputError, match="seed"):
        adapt_events(model, noisy_stack(), steps=1, device="cpu", seed=seed, **{"threads": 1})
    with pytest.raises(InputError, match="seed"):
        distill_events(model, noisy_stack(), steps=1, patch_size=16, seed=seed)


def test_hdn_train_with_a_too_large_seed_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    import tifffile

    monkeypatch.setattr(cli, "SUBCOMMANDS", ("train",))
    tifffile.imwrite(tmp_path / "noisy.tif", noisy_stack())
    argv = ["train", str(tmp_path / "noisy.tif"), "--gaussian-sigma", "3", "--out", str(tmp_path / "m"),
            "--steps", "1", "--seed", str(2**64), *cli_network_settings(), "--patch-size", "16", "--device", "cpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()
