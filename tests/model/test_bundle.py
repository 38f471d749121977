"""Model bundles: save -> load reproduces the model exactly; bad, corrupt or foreign files get clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from factories import tiny_config

from napari_hdn import __version__
from napari_hdn.foundation.errors import FileFormatError, InputError
from napari_hdn.model import HDNModel, LadderVAE, load_model
from napari_hdn.model.bundle import FORMAT_VERSION, MODEL_JSON, WEIGHTS_FILE
from napari_hdn.noise_models import (
    GaussianNoiseModel,
    PoissonGaussianNoiseModel,
    load_noise_model,
)

TINY = tiny_config(z_channels=3, n_filters=6)


def tiny_model(seed: int = 0, noise_model=None, **kwargs) -> HDNModel:
    torch.manual_seed(seed)
    network = LadderVAE(TINY)
    with torch.no_grad():  # non-trivial batch-norm statistics, which must survive the round trip too
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
    return HDNModel(
        network.eval(), noise_model or PoissonGaussianNoiseModel(1.5, 100.0, 3.0), data_mean=123.25, data_std=17.5,
        **kwargs,
    )


def outputs(model: HDNModel, seed: int = 3) -> torch.Tensor:
    """Decoded posterior samples of a fixed image (random, but fixed by ``seed``)."""
    x = torch.from_numpy(np.random.default_rng(1).normal(0, 1, (2, 1, 16, 12)).astype(np.float32))
    torch.manual_seed(seed)
    with torch.no_grad():
        return model.network(x.to(model.device)).out


def test_save_then_load_reproduces_outputs_exactly(tmp_path):
    model = tiny_model(history=[{"step": 5, "val_loss": 1.5}], trained_deactivated=(1,), step=5, epoch=1)
    path = model.save(tmp_path / "m")
    loaded = load_model(path)
    assert torch.equal(outputs(model), outputs(loaded))
    assert loaded.data_mean == model.data_mean and loaded.data_std == model.data_std
    assert loaded.config == model.config
    assert loaded.trained_deactivated == (1,) and loaded.deactivated_layers((2,)) == (1, 2)
    assert loaded.history == [{"step": 5, "val_loss": 1.5}]
    assert (loaded.step, loaded.epoch) == (5, 1)
    assert loaded.noise_model.kind == "poisson_gaussian"
    assert loaded.noise_model.gain == 1.5 and loaded.noise_model.read_sigma == 3.0
    assert not loaded.network.training  # loaded in eval mode
    for name, tensor in model.network.state_dict().items():
        assert torch.equal(tensor, loaded.network.state_dict()[name]), name


def test_model_json_describes_the_model(tmp_path):
    path = tiny_model().save(tmp_path / "m")
    assert sorted(p.name for p in path.iterdir()) == [MODEL_JSON, WEIGHTS_FILE]
    meta = json.loads((path / MODEL_JSON).read_text())
    assert meta["format"] == "napari-hdn-model" and meta["format_version"] == FORMAT_VERSION
    assert meta["package_version"] == __version__
    assert meta["model_config"]["n_filters"] == 6
    assert meta["normalization"] == {"mean": 123.25, "std": 17.5}
    assert meta["noise_model"]["kind"] == "poisson_gaussian"
    assert meta["noise_model"]["scalars"]["offset"]["value"] == 100.0
    assert meta["trained_deactivated_layers"] == []
    assert len(meta["weights"]["sha256"]) == 64


@pytest.mark.parametrize(
    "noise_model",
    [GaussianNoiseModel(4.0), PoissonGaussianNoiseModel(2.0, 90.0, 1.5, signal_range=(90.0, 400.0))],
    ids=["gaussian", "poisson_gaussian"],
)
def test_every_noise_model_kind_round_trips(tmp_path, noise_model):
    loaded = load_model(tiny_model(noise_model=noise_model).save(tmp_path / "m")).noise_model
    assert loaded.kind == noise_model.kind
    x, s = torch.tensor([95.0, 130.0, 300.0]), torch.tensor([100.0, 120.0, 310.0])
    assert torch.equal(loaded.log_likelihood(x, s), noise_model.log_likelihood(x, s))
    assert loaded.signal_range == noise_model.signal_range


def test_embedded_gmm_noise_model_round_trips(tmp_path):
    from napari_hdn.noise_models import GaussianMixtureNoiseModel

    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.1, (3 * 3, 2)).astype(np.float32)  # 3 Gaussians, polynomials of degree 1
    noise_model = GaussianMixtureNoiseModel(weights, 90.0, 500.0, 1.0)
    path = tmp_path / "nm.npz"
    noise_model.save(path)
    noise_model = load_noise_model(path)
    loaded = load_model(tiny_model(noise_model=noise_model).save(tmp_path / "m")).noise_model
    x, s = torch.tensor([95.0, 130.0, 300.0]), torch.tensor([100.0, 120.0, 310.0])
    assert torch.equal(loaded.log_likelihood(x, s), noise_model.log_likelihood(x, s))


def test_normalize_and_denormalize_are_inverse():
    model = tiny_model()
    x = np.array([100.0, 123.25, 200.0])
    np.testing.assert_allclose(model.denormalize(model.normalize(x)), x)
    assert model.normalize(123.25) == 0.0


def test_save_never_replaces_without_permission(tmp_path):
    model = tiny_model()
    path = model.save(tmp_path / "m")
    with pytest.raises(InputError, match="already exists"):
        model.save(path)
    other = tiny_model(seed=1)
    other.save(path, overwrite=True)
    assert torch.equal(outputs(load_model(path)), outputs(other))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left behind

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="not a napari-hdn model folder"):
        model.save(foreign, overwrite=True)
    assert (foreign / "holiday.jpg").exists()


def test_training_folder_loads_best_then_last(tmp_path):
    run = tmp_path / "run"
    tiny_model(seed=1).save(run / "last")
    assert torch.equal(outputs(load_model(run)), outputs(load_model(run / "last")))
    tiny_model(seed=2).save(run / "best")
    assert torch.equal(outputs(load_model(run)), outputs(load_model(run / "best")))
    assert torch.equal(outputs(load_model(run / "best" / MODEL_JSON)), outputs(load_model(run / "best")))


def test_invalid_models_are_rejected():
    network = LadderVAE(TINY)
    with pytest.raises(InputError, match="std must be positive"):
        HDNModel(network, GaussianNoiseModel(1.0), data_mean=0.0, data_std=0.0)
    with pytest.raises(InputError, match="noise model"):
        HDNModel(network, None, data_mean=0.0, data_std=1.0)
    with pytest.raises(InputError, match="does not exist"):
        HDNModel(network, GaussianNoiseModel(1.0), data_mean=0.0, data_std=1.0, trained_deactivated=(3,))


# -- bad files --------------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    return tiny_model().save(tmp_path / "m")


def edit_json(path, change):
    meta = json.loads((path / MODEL_JSON).read_text())
    change(meta)
    (path / MODEL_JSON).write_text(json.dumps(meta))


def test_missing_and_foreign_paths(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="not a napari-hdn model"):
        load_model(tmp_path / "empty")
    pickled = tmp_path / "model_best_vae.net"
    pickled.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(FileFormatError, match="never unpickles"):
        load_model(pickled)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FileFormatError, match="is a file"):
        load_model(tmp_path / "notes.txt")


def test_corrupt_or_foreign_json(saved):
    (saved / MODEL_JSON).write_text("{not json")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        load_model(saved)
    (saved / MODEL_JSON).write_text(json.dumps({"name": "some other tool's model"}))
    with pytest.raises(FileFormatError, match="not a napari-hdn model description"):
        load_model(saved)


def test_newer_format_asks_to_upgrade(saved):
    edit_json(saved, lambda m: m.update(format_version=FORMAT_VERSION + 1, package_version="9.9"))
    with pytest.raises(FileFormatError, match="upgrade napari-hdn"):
        load_model(saved)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("normalization"), "lacks the 'normalization' section"),
        (lambda m: m["normalization"].update(std=-1.0), "invalid normalization"),
        (lambda m: m["normalization"].update(mean="a lot"), "must be numbers"),
        (lambda m: m["model_config"].update(n_filters="many"), "n_filters"),
        (lambda m: m["model_config"].update(wings=2), "Unknown model_config setting"),
        (lambda m: m["model_config"].update(n_filters=7), "does not fit|shape"),
        (lambda m: m["weights"].update(file="../elsewhere.safetensors"), "invalid weights file name"),
        (lambda m: m["noise_model"]["scalars"].pop("kind"), "lacks the entry 'kind'"),
        (lambda m: m["noise_model"]["scalars"]["gain"].update(value=-1.0), "invalid noise-model parameters"),
        (lambda m: m.update(trained_deactivated_layers=[5]), "does not exist"),
    ],
)
def test_inconsistent_descriptions_are_explained(saved, change, message):
    edit_json(saved, change)
    with pytest.raises(FileFormatError, match=message):
        load_model(saved)


def test_missing_or_corrupt_weights(saved):
    data = (saved / WEIGHTS_FILE).read_bytes()
    (saved / WEIGHTS_FILE).write_bytes(data[:-10] + b"0123456789")
    with pytest.raises(FileFormatError, match="checksum"):
        load_model(saved)
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(FileFormatError, match="is missing"):
        load_model(saved)


def test_weights_with_nan_are_rejected(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.network.output_conv.weight[0, 0, 0, 0] = math.nan
    path = model.save(tmp_path / "m")
    with pytest.raises(FileFormatError, match="NaN"):
        load_model(path)


def test_unreadable_files_are_reported_as_file_errors(tmp_path, monkeypatch):
    import pathlib

    from napari_hdn.foundation.errors import FileFormatError
    from napari_hdn.model.bundle import read_metadata

    (tmp_path / "model.json").write_text("{}")

    def vanished(self, *args, **kwargs):  # a checkpoint replaced while it is read
        raise FileNotFoundError(2, "No such file or directory", str(self))

    monkeypatch.setattr(pathlib.Path, "read_text", vanished)
    with pytest.raises(FileFormatError, match="Cannot read"):
        read_metadata(tmp_path)


def test_copy_is_independent_and_leaves_the_global_random_stream_alone():
    model = tiny_model()
    model.history = [{"step": 1, "val_loss": 2.0}]
    torch.manual_seed(11)
    expected_draw = torch.rand(3)
    torch.manual_seed(11)
    copy = model.copy()
    assert torch.equal(torch.rand(3), expected_draw)  # copying drew nothing from torch's generator
    assert torch.equal(outputs(copy), outputs(model))
    assert not copy.network.training and copy.noise_model is model.noise_model
    with torch.no_grad():
        next(model.network.parameters()).add_(1.0)
    assert not torch.equal(outputs(copy), outputs(model))
    copy.history[0]["val_loss"] = 0.0
    assert model.history[0]["val_loss"] == 2.0


def test_describe_says_what_the_model_is_in_one_line(tmp_path):
    model = tiny_model()
    text = model.describe()
    assert "2 latent layers" in text and "6 filters" in text and "\n" not in text
    model.parent = {"path": "/models/parent/best", "mode": "gains"}
    model.save(tmp_path / "m")
    assert "adapted from /models/parent/best" in load_model(tmp_path / "m").describe()


def test_training_kl_per_pixel_from_the_last_record():
    from napari_hdn.config import TrainConfig

    model = tiny_model(train_config=TrainConfig(steps=1, patch_size=16))
    assert model.training_kl_per_pixel() is None  # never trained
    model.history = [{"kl_per_layer": [512.0, 256.0]}, {"loss": 1.0}]
    assert model.training_kl_per_pixel() == [2.0, 1.0]  # nats per 16x16 patch -> per pixel
