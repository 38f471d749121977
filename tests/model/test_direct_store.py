"""The one-pass denoisers as a declared part of HDNModel: add, find, list, save in place, copy, to."""

from __future__ import annotations

import json

import pytest
import torch

from factories import tiny_model
from napari_hdn.foundation.errors import FileFormatError
from napari_hdn.model import load_model
from napari_hdn.model.direct_network import DirectUNet
from napari_hdn.model.direct_store import DIRECT_WEIGHTS, DirectDenoisers, layer_set_key


def test_a_new_model_has_an_empty_store():
    model = tiny_model()
    assert isinstance(model.direct_denoisers, DirectDenoisers)
    assert not model.direct_denoisers and model.direct_denoisers.list() == []
    assert model.direct_denoisers.find() is None


def test_add_find_and_list_speak_in_switched_off_layers():
    store = DirectDenoisers()
    net = DirectUNet(depth=1, width=4)
    net.train()
    assert store.add(net, (2, 1)) == "off-1-2" == layer_set_key([1, 2, 2])
    assert store.find((1, 2)) is net and not net.training  # kept in evaluation mode
    assert store.find(()) is None
    store.add(DirectUNet(depth=1, width=4))
    assert store.list() == ["all-on", "off-1-2"] == list(store)


def test_a_plain_dict_assigned_becomes_a_store_and_foreign_values_are_refused():
    model = tiny_model()
    model.direct_denoisers = {"all-on": DirectUNet(depth=1, width=4)}
    assert isinstance(model.direct_denoisers, DirectDenoisers) and model.direct_denoisers.list() == ["all-on"]
    with pytest.raises(TypeError, match="torch module"):
        model.direct_denoisers["off-1"] = "weights.pt"


def test_copy_keeps_independent_denoisers():
    model = tiny_model()
    model.direct_denoisers.add(DirectUNet(depth=1, width=4))
    twin = model.copy()
    original, copied = model.direct_denoisers["all-on"], twin.direct_denoisers["all-on"]
    assert copied is not original
    assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), copied.state_dict().values()))
    with torch.no_grad():
        next(copied.parameters()).add_(1.0)
    assert not torch.equal(next(copied.parameters()), next(original.parameters()))


def test_to_moves_the_denoisers_with_the_model():
    model = tiny_model()
    net = DirectUNet(depth=1, width=4).to(torch.float64)  # a stand-in for another device: .to() must reach it
    model.direct_denoisers.add(net)
    moved = []
    original_to = net.to
    net.to = lambda device: (moved.append(device), original_to(device))[1]
    model.to("cpu")
    assert moved == ["cpu"]


def test_save_in_place_adds_only_the_denoisers(tmp_path):
    model = tiny_model()
    model.save(tmp_path / "m")
    weights_before = (tmp_path / "m" / "weights.safetensors").read_bytes()
    model.direct_denoisers.add(DirectUNet(depth=1, width=4), (1,))
    model.direct_denoisers.save(tmp_path / "m")
    assert (tmp_path / "m" / "weights.safetensors").read_bytes() == weights_before
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["direct_denoisers"] == {"file": DIRECT_WEIGHTS, "layer_sets": ["off-1"]}
    assert load_model(tmp_path / "m").direct_denoisers.list() == ["off-1"]


def test_save_in_place_refuses_a_folder_without_a_model(tmp_path):
    store = DirectDenoisers({"all-on": DirectUNet(depth=1, width=4)})
    with pytest.raises(FileFormatError, match="not a napari-hdn model folder"):
        store.save(tmp_path)
    assert not list(tmp_path.iterdir())
