"""A trained HDN model and its self-describing file bundle.

A bundle is a folder holding ``model.json`` (format, versions, network and
training configuration, normalisation, noise model scalars, training history,
the latent layers switched off during training) and ``weights.safetensors``
(the network's weights and the noise model's arrays). Nothing is pickled.
Loading checks every part and says what is wrong with a bad or foreign file.

A training output folder (see :func:`napari_hdn.training.training_events`)
holds two bundles, ``best`` and ``last``; :func:`load_model` given such a
folder loads ``best`` (or ``last`` when no validation has happened yet).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._version import __version__
from ..config import ModelConfig, TrainConfig
from ..config.validated import config_from_dict, config_to_dict
from ..foundation.errors import FileFormatError, InputError
from ..io.atomic import give_normal_modes, make_temporary_folder, replace_folder, write_file
from .direct_store import DirectDenoisers, layer_set_key
from .folder_checks import check_planned_network, header_shapes, load_noise_model_part, read_limited_text, whole_number
from .lvae import LadderVAE
from .metadata_file import MODEL_JSON, json_safe
from .noise_layers import checked_noise_layers

if TYPE_CHECKING:
    from ..noise_models.base import NoiseModel

FORMAT = "napari-hdn-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
BEST = "best"
LAST = "last"
_NETWORK_PREFIX = "network."
_NOISE_PREFIX = "noise_model."


class HDNModel:
    """A ladder VAE with everything needed to use it on raw images.

    ``network``: the :class:`LadderVAE` (works on normalised images).
    ``noise_model``: the pixel noise model p(x|s) in raw units it was trained with
    (a Gaussian one when training used a known sigma).
    ``data_mean`` / ``data_std``: the normalisation of the training data.
    ``train_config``: the :class:`napari_hdn.config.TrainConfig` used (None if untrained).
    ``history``: one record (dict) per validation round of training.
    ``trained_deactivated``: latent layers (1-based) switched off during training;
    they stay off in every use of the model.
    ``step`` / ``epoch``: how far training got.
    ``data_range``: the training data's intensity range (0.1 and 99.9 percentiles); restoration
    warns about images outside it (None for models saved before it was recorded: no check).
    ``noise_layers``: which latent layers hold the camera's correlated noise, as found at the end of
    training (the record of a :class:`~napari_hdn.inference.suggest.DeactivationSuggestion`); ``deactivate="auto"``
    switches them off. None where nothing was recorded (the suggestion then runs on the image restored).
    ``direct_denoisers``: the one-pass denoisers (:class:`~napari_hdn.model.direct_store.DirectDenoisers`),
    one per switched-off layer set; saved, loaded, copied and moved with the model.
    """

    def __init__(
        self,
        network: LadderVAE,
        noise_model: Any,
        data_mean: float,
        data_std: float,
        *,
        train_config: TrainConfig | None = None,
        history: list[dict[str, Any]] | None = None,
        trained_deactivated: Collection[int] = (),
        step: int = 0,
        epoch: int = 0,
        data_range: tuple[float, float] | None = None,
        parent: dict[str, Any] | None = None,
        noise_layers: dict[str, Any] | None = None,
        direct_denoisers: Mapping[str, torch.nn.Module] | None = None,
    ):
        if not isinstance(network, LadderVAE):
            raise InputError(f"HDNModel needs a LadderVAE network, not {type(network).__name__}.")
        if noise_model is None:
            raise InputError("HDNModel needs a noise model (use a Gaussian noise model when the noise sigma is known).")
        data_mean, data_std = float(data_mean), float(data_std)
        if not (math.isfinite(data_mean) and math.isfinite(data_std) and data_std > 0):
            raise InputError(f"Invalid normalisation mean={data_mean}, std={data_std}: std must be positive and finite.")
        self.network = network
        self.noise_model = noise_model
        self.data_mean = data_mean
        self.data_std = data_std
        self.train_config = train_config
        self.history = list(history or [])
        self.trained_deactivated = tuple(sorted(i + 1 for i in network.layer_indices(trained_deactivated)))
        self.step = int(step)
        self.epoch = int(epoch)
        self.data_range = None if data_range is None else checked_data_range(data_range)
        # The model this one was adapted from (napari_hdn.adapt): where it was, its weights' checksum, its step.
        self.parent = None if parent is None else dict(parent)
        self.noise_layers = None if noise_layers is None else checked_noise_layers(noise_layers, network.n_layers)
        self.direct_denoisers = direct_denoisers

    # -- properties -------------------------------------------------------------------------------------
    @property
    def direct_denoisers(self) -> DirectDenoisers:
        return self._direct_denoisers

    @direct_denoisers.setter
    def direct_denoisers(self, nets: Mapping[str, torch.nn.Module] | None) -> None:
        self._direct_denoisers = nets if isinstance(nets, DirectDenoisers) else DirectDenoisers(nets)

    @property
    def config(self) -> ModelConfig:
        return self.network.config

    @property
    def n_layers(self) -> int:
        return self.network.n_layers

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: str | torch.device) -> HDNModel:
        """Move the network and the noise model to ``device``; returns self."""
        self.network.to(device)
        self.noise_model = self.noise_model.to(device)
        self.direct_denoisers.to(device)
        return self

    def copy(self) -> HDNModel:
        """An independent copy: its own network weights (same device, contiguous, no gradients, evaluation
        mode) and history list; the noise model, which nothing modifies, is shared. Torch's global random
        stream is left untouched, so copying during a seeded training does not change that training."""
        with torch.random.fork_rng(devices=[]):  # building a network draws its initial weights
            network = LadderVAE(self.config)
        network.load_state_dict(self.network.state_dict())  # copies the weights
        network.to(self.device).eval()
        return HDNModel(network, self.noise_model, self.data_mean, self.data_std, train_config=self.train_config,
                        history=[dict(record) for record in self.history],
                        trained_deactivated=self.trained_deactivated, step=self.step, epoch=self.epoch,
                        data_range=self.data_range, parent=self.parent, noise_layers=self.noise_layers,
                        direct_denoisers=self.direct_denoisers.copy())

    def direct_key(self, deactivate: Collection[int] = ()) -> str:
        """The one-pass denoisers' key for a use with ``deactivate`` off (training's own switched-off layers too)."""
        return layer_set_key(self.deactivated_layers(deactivate))

    def deactivated_layers(self, deactivate: Collection[int] = ()) -> tuple[int, ...]:
        """The layers to switch off in a use of the model: those asked for plus those off during training."""
        asked = {i + 1 for i in self.network.layer_indices(deactivate)}
        return tuple(sorted(asked | set(self.trained_deactivated)))

    # -- normalisation ----------------------------------------------------------------------------------
    def normalize(self, x):
        """Raw data units -> the network's normalised units (numpy or torch)."""
        return (x - self.data_mean) / self.data_std

    def denormalize(self, s):
        """The network's normalised units -> raw data units (numpy or torch)."""
        return s * self.data_std + self.data_mean

    def __repr__(self) -> str:
        c = self.config
        return (
            f"HDNModel({c.n_latent_layers} latent layers x {c.z_channels}, {c.n_filters} filters, "
            f"{c.blocks_per_layer} blocks/layer, noise model {getattr(self.noise_model, 'kind', '?')}, "
            f"step {self.step}, trained with layers {list(self.trained_deactivated)} off)"
        )

    def describe(self) -> str:
        """One line about the model in plain words (the widgets' labels, ``hdn`` messages)."""
        text = (f"{self.n_layers} latent layers, {self.config.n_filters} filters, trained {self.step} steps, "
                f"{getattr(self.noise_model, 'kind', '?')} noise model")
        if self.trained_deactivated:
            text += ", " + ", ".join(f"z{i}" for i in self.trained_deactivated) + " off since training"
        if self.parent:
            text += f", adapted from {self.parent.get('path') or 'a model in memory'}"
        return text

    def training_kl_per_pixel(self) -> list[float] | None:
        """Mean KL of each latent layer (z1 first) in the last training record, in nats per image pixel
        (the records hold nats per patch); None for a model without a training record."""
        for record in reversed(self.history or []):
            per_layer = record.get("kl_per_layer")
            if per_layer and self.train_config is not None:
                area = float(self.train_config.patch_size) ** 2
                return [float(v) / area if v is not None else float("nan") for v in per_layer]
        return None

    # -- saving -----------------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The JSON part of the bundle (without the weights' checksum)."""
        train_config = self.train_config
        if dataclasses.is_dataclass(train_config):
            train_config = config_to_dict(train_config)
        noise_scalars, _ = split_noise_arrays(self.noise_model)
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "package_version": __version__,
            "model_config": config_to_dict(self.config),
            "normalization": {"mean": self.data_mean, "std": self.data_std,
                              **({} if self.data_range is None else {"range": list(self.data_range)})},
            "noise_model": {"kind": self.noise_model.kind, "scalars": noise_scalars},
            "trained_deactivated_layers": list(self.trained_deactivated),
            "train_config": train_config,
            "training": {"step": self.step, "epoch": self.epoch, "history": json_safe(self.history)},
            **({} if self.parent is None else {"parent": json_safe(self.parent)}),
            **({} if self.noise_layers is None else {"noise_layers": json_safe(self.noise_layers)}),
            **({"direct_denoisers": self.direct_denoisers.record()} if self.direct_denoisers else {}),
        }

    def save(self, path: str | os.PathLike, overwrite: bool = False, extra_files: Mapping[str, bytes] = ()) -> Path:
        """Write the bundle folder ``path`` (``model.json`` + ``weights.safetensors``) atomically.

        An existing bundle at ``path`` is replaced only with ``overwrite=True``; a
        folder holding anything else is never replaced. ``extra_files`` (name ->
        bytes) are written into the folder too (training checkpoints use it).
        """
        from safetensors.torch import save as serialize

        path = Path(path)
        if path.exists():
            if not overwrite:
                raise InputError(f"{path} already exists: choose another name or allow overwriting.")
            if not (path.is_dir() and (path / MODEL_JSON).is_file()):
                raise InputError(f"{path} exists and is not a napari-hdn model folder: it will not be replaced.")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temporary_folder(path.parent, path.name)
        try:
            tensors = {_NETWORK_PREFIX + k: v.detach().to("cpu").contiguous().clone() for k, v in self.network.state_dict().items()}
            _, noise_arrays = split_noise_arrays(self.noise_model)
            tensors.update({_NOISE_PREFIX + k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in noise_arrays.items()})
            # Serialised here and written by Python, so that a full disk is an OSError (ENOSPC), not a SafetensorError.
            write_file(tmp / WEIGHTS_FILE, serialize(tensors, metadata={"format": FORMAT}))
            meta = self.metadata()
            meta["weights"] = {"file": WEIGHTS_FILE, "sha256": _sha256(tmp / WEIGHTS_FILE)}
            write_file(tmp / MODEL_JSON, json.dumps(meta, indent=1, allow_nan=False).encode("utf-8"))
            # The one-pass denoisers travel with the bundle in their own file.
            for name, data in {**dict(extra_files), **self.direct_denoisers.files()}.items():
                write_file(tmp / name, data)
            give_normal_modes(tmp)
            replace_folder(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path


def checked_data_range(value: Any) -> tuple[float, float]:
    """The training data's intensity range (low, high percentiles): two finite numbers, low <= high."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError, OverflowError) as err:
        raise InputError(f"data_range must be two numbers (low, high); got {value!r}.") from err
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise InputError(f"data_range must be finite with low <= high; got ({low}, {high}).")
    return (low, high)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def split_noise_arrays(noise_model: NoiseModel) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The noise model's ``to_arrays()``: scalars (JSON, with their dtype) and arrays (safetensors)."""
    scalars: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, value in noise_model.to_arrays().items():
        value = np.asarray(value)
        if value.ndim == 0:
            scalars[name] = {"value": value.item(), "dtype": value.dtype.str}
        elif value.dtype.kind in "biuf":
            arrays[name] = value
        else:
            raise TypeError(f"Noise model array {name!r} of dtype {value.dtype} cannot be stored.")
    return scalars, arrays


# -- loading ----------------------------------------------------------------------------------------------
def resolve_bundle_path(path: str | os.PathLike) -> Path:
    """The bundle folder for ``path``: a bundle, its ``model.json``, or a training folder (-> best, else last)."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"Model {p} does not exist: check the path (a model is a folder with {MODEL_JSON}).")
    if p.is_file():
        if p.name == MODEL_JSON:
            return p.parent
        if p.suffix.lower() in (".net", ".pt", ".pth", ".pkl", ".ckpt"):
            raise FileFormatError(
                f"{p} looks like a pickled PyTorch model (e.g. from the reference HDN code). napari-hdn never "
                "unpickles files, which could run arbitrary code: train a model with napari-hdn (napari_hdn.train)."
            )
        raise FileFormatError(f"{p} is a file, not a napari-hdn model folder (a folder with {MODEL_JSON}).")
    if (p / MODEL_JSON).is_file():
        return p
    for name in (BEST, LAST):
        if (p / name / MODEL_JSON).is_file():
            return p / name
    raise FileFormatError(
        f"{p} is not a napari-hdn model: it has no {MODEL_JSON} (nor {BEST}/ or {LAST}/ checkpoints of a training run)."
    )


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The checked ``model.json`` of the bundle at ``path`` (format and version validated)."""
    folder = resolve_bundle_path(path)
    meta_path = folder / MODEL_JSON
    try:
        meta = json.loads(read_limited_text(meta_path))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise FileFormatError(f"{meta_path} is not valid JSON ({err}): the model file is corrupt.") from err
    except OSError as err:  # e.g. a checkpoint being replaced by a training running at the same time
        raise FileFormatError(f"Cannot read {meta_path} ({err}): try again, or check the folder.") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FileFormatError(f"{meta_path} is not a napari-hdn model description (no \"format\": \"{FORMAT}\").")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise FileFormatError(f"{meta_path}: format_version is missing or not a whole number.")
    if version > FORMAT_VERSION:
        raise FileFormatError(
            f"{meta_path} uses model format {version}, made by napari-hdn {meta.get('package_version', '?')}; "
            f"this napari-hdn ({__version__}) reads format {FORMAT_VERSION} or older: upgrade napari-hdn."
        )
    if version < 1:
        raise FileFormatError(f"{meta_path}: unknown model format version {version}.")
    for key in ("model_config", "normalization", "noise_model", "weights"):
        if not isinstance(meta.get(key), dict):
            raise FileFormatError(f"{meta_path} lacks the {key!r} section: the model file is incomplete.")
    return meta


def load_model(path: str | os.PathLike, device: str | torch.device | None = "auto") -> HDNModel:
    """Load and validate a model bundle (or the best model of a training folder).

    Raises :class:`napari_hdn.foundation.errors.FileFormatError` naming what is wrong with a
    bad, incomplete, corrupt, foreign or hostile file: every size it describes is bounded and the
    network is compared with the weights file's header before anything is allocated
    (:mod:`napari_hdn.model.folder_checks`). The model is in eval mode on ``device``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..foundation.device import resolve_device

    folder = resolve_bundle_path(path)
    meta = read_metadata(folder)
    where = folder / MODEL_JSON
    config = _config_from_file(ModelConfig, meta["model_config"], "model_config", where)
    mean, std = _checked_normalization(meta["normalization"], where)
    weights_path = _checked_weights_file(folder, meta["weights"], where)
    try:
        stored = header_shapes(weights_path)
        check_planned_network(lambda: LadderVAE(config), _network_part(stored), f"network described in {MODEL_JSON}",
                              weights_path)
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        if isinstance(err, FileFormatError):
            raise
        raise FileFormatError(f"{weights_path} is not a readable safetensors file ({err}).") from err

    network = LadderVAE(config)
    state = _network_part(tensors)
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise FileFormatError(f"{weights_path}: weight {name} holds NaN or infinite values; the model is broken.")
    network.load_state_dict(state)
    network.eval()

    noise_model = load_noise_model_part(meta["noise_model"], tensors, _NOISE_PREFIX, where)
    train_config = None
    if meta.get("train_config") is not None:
        train_config = _config_from_file(TrainConfig, meta["train_config"], "train_config", where)
    training = meta.get("training") or {}
    if not isinstance(training, dict):
        raise FileFormatError(f"{where}: 'training' must be a record (step, epoch, history).")
    history = training.get("history") or []
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise FileFormatError(f"{where}: the training history must be a list of records.")
    deactivated = meta.get("trained_deactivated_layers") or []
    if not isinstance(deactivated, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in deactivated):
        raise FileFormatError(f"{where}: trained_deactivated_layers must be a list of latent layer numbers.")
    try:
        model = HDNModel(
            network,
            noise_model,
            mean,
            std,
            train_config=train_config,
            history=history,
            trained_deactivated=deactivated,
            step=whole_number(training.get("step", 0), "training.step", where),
            epoch=whole_number(training.get("epoch", 0), "training.epoch", where),
            data_range=(meta.get("normalization") or {}).get("range"),  # absent from older bundles: no range checks
            parent=_checked_parent(meta.get("parent"), where),
            noise_layers=meta.get("noise_layers"),
        )
    except (InputError, TypeError, ValueError) as err:
        if isinstance(err, FileFormatError):
            raise
        raise FileFormatError(f"{where}: {err}") from err
    # The one-pass denoisers, if the bundle has any; older bundles have none.
    model.direct_denoisers = DirectDenoisers.load(folder)
    return model.to(resolve_device(device))


def _network_part(tensors: Mapping[str, Any]) -> dict[str, Any]:
    return {k[len(_NETWORK_PREFIX) :]: v for k, v in tensors.items() if k.startswith(_NETWORK_PREFIX)}


def _config_from_file(cls: type, data: Any, what: str, where: Path) -> Any:
    """A configuration read from a model file; a value out of range is a FileFormatError naming the file."""
    try:
        return config_from_dict(cls, data, what, from_file=True)
    except InputError as err:
        raise FileFormatError(f"{where}: {err}") from err


def _checked_normalization(norm: dict[str, Any], where: Path) -> tuple[float, float]:
    mean, std = norm.get("mean"), norm.get("std")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (mean, std)):
        raise FileFormatError(f"{where}: normalization mean/std must be numbers, got {mean!r}, {std!r}.")
    try:
        mean, std = float(mean), float(std)
    except OverflowError:
        mean = std = math.inf
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise FileFormatError(f"{where}: invalid normalization mean={mean}, std={std} (std must be positive).")
    return mean, std


def _checked_weights_file(folder: Path, weights_info: dict[str, Any], where: Path) -> Path:
    """The bundle's weights file, its checksum verified."""
    weights_name = weights_info.get("file")
    if not isinstance(weights_name, str) or not weights_name or Path(weights_name).name != weights_name:
        raise FileFormatError(f"{where}: invalid weights file name {weights_name!r}.")
    weights_path = folder / weights_name
    if not weights_path.is_file():
        raise FileFormatError(f"{weights_path} is missing: a model folder needs both {MODEL_JSON} and its weights.")
    try:
        checksum = _sha256(weights_path)
    except OSError as err:  # e.g. a checkpoint being replaced by a training running at the same time
        raise FileFormatError(f"Cannot read {weights_path} ({err}): try again, or check the folder.") from err
    if weights_info.get("sha256") != checksum:
        raise FileFormatError(
            f"{weights_path} does not match its checksum in {MODEL_JSON}: the weights are corrupt or come from "
            "another model. Copy the whole model folder again."
        )
    return weights_path


def _checked_parent(value: Any, where: Path) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise FileFormatError(f"{where}: 'parent' must be a record of the model this one was adapted from.")
    return value
