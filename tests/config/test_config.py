from dataclasses import dataclass
from typing import Literal

import pytest

from napari_hdn.config.validated import config_from_dict, config_to_dict
from napari_hdn.foundation.errors import FileFormatError, InputError
from napari_hdn.model import ModelConfig


@dataclass(frozen=True)
class Inner:
    size: int = 3


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    rate: float = 0.5
    layers: tuple[int, ...] = ()
    mode: Literal["a", "b"] = "a"
    limit: int | None = None
    inner: Inner = Inner()


def test_round_trip_through_json_types():
    config = Outer(name="y", rate=2, layers=(1, 2), mode="b", limit=4, inner=Inner(5))
    data = config_to_dict(config)
    assert data["layers"] == (1, 2) or data["layers"] == [1, 2]
    data["layers"] = list(data["layers"])  # what JSON gives back
    assert config_from_dict(Outer, data) == config


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nme": "x"}, "Unknown"),
        ({"rate": "fast"}, "must be a number"),
        ({"layers": 3}, "must be a list"),
        ({"mode": "c"}, "must be one of"),
        ({"inner": {"size": 1.5}}, "whole number"),
        ({"limit": True}, "not of type"),
    ],
)
def test_bad_settings_are_named(data, message):
    with pytest.raises(InputError, match=message):
        config_from_dict(Outer, data)


def test_file_errors_are_file_format_errors():
    with pytest.raises(FileFormatError):
        config_from_dict(Outer, {"bogus": 1}, from_file=True)
    with pytest.raises(FileFormatError):
        config_from_dict(Outer, [1, 2], from_file=True)


def test_model_config_round_trip_validates_values():
    data = config_to_dict(ModelConfig(n_latent_layers=4))
    assert config_from_dict(ModelConfig, data) == ModelConfig(n_latent_layers=4)
    with pytest.raises(InputError, match="n_latent_layers"):
        config_from_dict(ModelConfig, {**data, "n_latent_layers": 0})
