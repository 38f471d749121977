"""A model's direct denoiser as a BioImage Model Zoo package (bioimageio.spec format 0.5).

The package holds the network (``pytorch_state_dict`` with its architecture file, and TorchScript),
the normalisation as pre/post-processing, test tensors from a crop of the user's image, a cover,
documentation and the napari-hdn ``model.json`` as an attachment. Needs ``napari-hdn[bioimageio]``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Collection, Generator
from pathlib import Path
from typing import Any

import numpy as np

from ..checks.inputs import as_deactivation, check_model_input, renamed_option, resolve_model
from ..foundation.errors import InputError
from ..foundation.progress import Progress, StopToken, drive
from .atomic import atomic_path

CITATIONS = (
    ("Prakash, Delbracio, Milanfar, Jug. Interpretable Unsupervised Diversity Denoising and Artefact Removal. ICLR 2022.",
     "10.48550/arXiv.2104.01374"),
    ("Salmon, Krull. Direct Unsupervised Denoising. ICCV Workshops 2023 (arXiv 2310.18116).",
     "10.48550/arXiv.2310.18116"),
)
ARCHITECTURE_FILE = "direct_unet.py"
CROP = 64


def _spec():
    try:
        from bioimageio.spec.model import v0_5
    except ImportError as err:
        raise InputError("Exporting to the BioImage Model Zoo needs bioimageio.core and bioimageio.spec: "
                         "pip install 'napari-hdn[bioimageio]'.") from err
    return v0_5


def _choose_denoiser(model: Any, deactivate: Collection[int] | str, image: Any):
    from ..direct.denoise import auto_layers, direct_denoiser

    nets = model.direct_denoisers
    if not nets:
        raise InputError("This model has no direct denoiser, and only a direct denoiser can be exported to the "
                         "BioImage Model Zoo. Train one first with "
                         "napari_hdn.train_direct_denoiser(model, images), then export again.")
    deactivate = as_deactivation(deactivate)
    if deactivate == "auto":  # the layers the model recorded as holding noise, else the suggestion's on the image
        deactivate = auto_layers(model, check_model_input(model, image, model.network.stride, "test image"))
    elif not deactivate and "all-on" not in nets and len(nets) == 1:
        deactivate = _layers(next(iter(nets)))  # the default, all layers on, is absent: the only one there is
    return model.direct_key(deactivate), direct_denoiser(model, deactivate)


def _layers(key: str) -> tuple[int, ...]:
    return () if key == "all-on" else tuple(int(i) for i in key.split("-")[1:])


def _test_crop(image: Any, stride: int) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    while image.ndim > 2:
        image = image[0]
    if image.ndim != 2 or min(image.shape) < stride:
        raise InputError(f"The test image must be 2D (or a stack of 2D images) of at least {stride} x {stride} "
                         f"pixels; got shape {np.shape(image)}.")
    if not np.isfinite(image).all():
        raise InputError("The test image contains NaN or infinite values: pass another image or crop.")
    h, w = (min(CROP, s) // stride * stride for s in image.shape)
    y0, x0 = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    return np.ascontiguousarray(image[y0:y0 + h, x0:x0 + w])


def _apply(model: Any, net: Any, crop: np.ndarray) -> np.ndarray:
    import torch

    x = torch.from_numpy(((crop - model.data_mean) / model.data_std).astype(np.float32))[None, None]
    with torch.inference_mode():
        y = net.cpu().eval()(x).float()
    return (y.numpy() * model.data_std + model.data_mean).astype(np.float32)


def _cover(crop: np.ndarray, out: np.ndarray, path: Path) -> None:
    from PIL import Image

    lo, hi = np.percentile(out, [0.5, 99.5])
    side = np.concatenate([crop, np.full((crop.shape[0], 2), hi), out], axis=1)
    grey = np.clip((side - lo) / max(hi - lo, 1e-12) * 255, 0, 255).astype(np.uint8)
    Image.fromarray(grey).resize((grey.shape[1] * 4, grey.shape[0] * 4), Image.NEAREST).save(path)


def _onnx_weights(v: Any, model: Any, net: Any, scripted: Any, crop: np.ndarray, folder: Path) -> Any:
    """ONNX weights beside the TorchScript ones, written only if they agree with them on the test tensor."""
    import torch

    from ..direct.onnx_export import OPSET, write_onnx

    x = ((crop - model.data_mean) / model.data_std).astype(np.float32)[None, None]
    with torch.inference_mode():
        reference = scripted(torch.from_numpy(x)).float().numpy()
    write_onnx(net, x, folder / "weights.onnx", reference)
    return v.OnnxWeightsDescr(source=folder / "weights.onnx", opset_version=OPSET, parent="pytorch_state_dict")


def _documentation(model: Any, key: str, name: str) -> str:
    return f"""# {name}

Direct denoiser (Salmon & Krull 2023) distilled from a Hierarchical DivNoising model (Prakash et al. 2022),
exported by napari-hdn. It maps a noisy 2D image to the MMSE estimate of the HDN posterior in one pass,
with latent layers `{key}`.

## Input and output
One channel, 2D, any size that is a multiple of the network's stride. The input is normalised with the
training data's mean {model.data_mean:g} and standard deviation {model.data_std:g}; the output is scaled back to
the input's units.

## Validation
The test input is a crop of the user's image; the test output is napari-hdn's own estimate for it.
The package was checked with `bioimageio.core`'s test (`bioimageio test PACKAGE.zip`). The estimate is only
as good as the HDN model it was distilled from: check it on your data against `hdn predict` (many posterior
samples) and on data of the same microscope, noise level and content as the training data.

## Attachment
`model.json`: the napari-hdn model's noise model, normalisation and training settings.
"""


def _build(v: Any, model: Any, net: Any, key: str, crop: np.ndarray, folder: Path, name: str,
           authors: list[str], license: str, onnx: bool = False) -> Any:
    import torch

    from .. import __version__
    from ..model import direct_network as network

    out = _apply(model, net, crop)
    np.save(folder / "test_input.npy", crop[None, None], allow_pickle=False)
    np.save(folder / "test_output.npy", out, allow_pickle=False)
    _cover(crop, out[0, 0], folder / "cover.png")
    (folder / "README.md").write_text(_documentation(model, key, name), encoding="utf-8")
    (folder / "model.json").write_text(json.dumps(model.metadata(), indent=1), encoding="utf-8")
    (folder / ARCHITECTURE_FILE).write_text(Path(network.__file__).read_text(encoding="utf-8"), encoding="utf-8")
    torch.save(net.state_dict(), folder / "weights.pt")
    with warnings.catch_warnings():  # the traced padding branch is fixed, and never needed: sizes are stride multiples
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        scripted = torch.jit.trace(net.eval(), torch.from_numpy(crop)[None, None], check_trace=False)
    scripted.save(str(folder / "weights_torchscript.pt"))
    onnx_weights = _onnx_weights(v, model, net, scripted, crop, folder) if onnx else None

    stride = net.stride
    size = v.ParameterizedSize(min=stride, step=stride)
    data = v.IntervalOrRatioDataDescr(type="float32")
    inp = v.InputTensorDescr(
        id=v.TensorId("input"), description="noisy image", test_tensor=v.FileDescr(source=folder / "test_input.npy"),
        axes=[v.BatchAxis(), v.ChannelAxis(channel_names=[v.Identifier("intensity")]),
              v.SpaceInputAxis(id=v.AxisId("y"), size=size), v.SpaceInputAxis(id=v.AxisId("x"), size=size)],
        data=data, preprocessing=[v.FixedZeroMeanUnitVarianceDescr(
            kwargs=v.FixedZeroMeanUnitVarianceKwargs(mean=model.data_mean, std=model.data_std))])
    ref = {a: v.SizeReference(tensor_id=v.TensorId("input"), axis_id=v.AxisId(a)) for a in "yx"}
    outp = v.OutputTensorDescr(
        id=v.TensorId("output"), description="MMSE estimate", test_tensor=v.FileDescr(source=folder / "test_output.npy"),
        axes=[v.BatchAxis(), v.ChannelAxis(channel_names=[v.Identifier("intensity")]),
              v.SpaceOutputAxis(id=v.AxisId("y"), size=ref["y"]), v.SpaceOutputAxis(id=v.AxisId("x"), size=ref["x"])],
        data=data, postprocessing=[v.ScaleLinearDescr(
            kwargs=v.ScaleLinearKwargs(gain=model.data_std, offset=model.data_mean))])
    torch_version = v.Version(torch.__version__.split("+")[0])
    weights = v.WeightsDescr(
        pytorch_state_dict=v.PytorchStateDictWeightsDescr(
            source=folder / "weights.pt", pytorch_version=torch_version,
            architecture=v.ArchitectureFromFileDescr(source=folder / ARCHITECTURE_FILE, callable="DirectUNet",
                                                     kwargs={"depth": net.depth, "width": net.width})),
        torchscript=v.TorchscriptWeightsDescr(source=folder / "weights_torchscript.pt", pytorch_version=torch_version,
                                              parent="pytorch_state_dict"),
        onnx=onnx_weights)
    return v.ModelDescr(
        name=name, description=f"Direct denoiser distilled from a Hierarchical DivNoising model (napari-hdn {__version__}).",
        authors=[v.Author(name=a) for a in authors], license=license,
        cite=[v.CiteEntry(text=t, doi=v.Doi(d)) for t, d in CITATIONS],
        documentation=v.FileDescr(source=folder / "README.md"), covers=[v.FileDescr(source=folder / "cover.png")],
        attachments=[v.FileDescr(source=folder / "model.json")],
        tags=["denoising", "unsupervised", "hdn", "divnoising", "2d", "napari-hdn"],
        inputs=[inp], outputs=[outp], weights=weights, config={"napari_hdn": {"layers": key}})


def export_bioimageio_events(model: Any, out: str | os.PathLike | None = None, image: Any = None,
                             deactivate: Collection[int] | str = (), name: str = "HDN direct denoiser",
                             authors: Collection[str] = ("napari-hdn user",), license: str = "CC-BY-4.0",
                             overwrite: bool = False, check: bool = True, *,
                             stop: StopToken | None = None, onnx: bool | None = None,
                             path: str | os.PathLike | None = None) -> Generator[Progress, None, Path | None]:
    """Events of :func:`export_bioimageio`; checks its arguments when called. Returns the path (None if stopped).

    ``path`` is the old name of ``out`` (deprecated)."""
    from ..direct.onnx_export import onnx_available, require_onnx

    path = renamed_option("path", path, "out", out)
    if path is None:
        raise InputError("Give the package's file: out=\"model.zip\".")
    v = _spec()
    if onnx not in (None, True, False):
        raise InputError(f"onnx must be True, False or None (ONNX weights when onnx and onnxruntime are installed); "
                         f"got {onnx!r}.")
    if onnx:
        require_onnx()
    onnx = onnx_available() if onnx is None else onnx
    model = resolve_model(model, "cpu")
    if image is None:
        raise InputError("Pass a noisy image like the training data (image=...): a crop of it becomes the "
                         "package's test input and output.")
    key, net = _choose_denoiser(model, deactivate, image)
    crop = _test_crop(check_model_input(model, image, net.stride, "test image"), net.stride)
    if not overwrite and Path(path).exists():
        raise InputError(f"{path} already exists: choose another name or allow overwriting (overwrite=True).")
    return _export(v, model, net, key, crop, Path(path), name, list(authors), license, overwrite, check, stop, onnx)


def _export(v, model, net, key, crop, path, name, authors, license, overwrite, check, stop, onnx=False):
    from bioimageio.spec import save_bioimageio_package

    total = 3 if check else 2
    yield Progress("export", 0, total, f"building the BioImage Model Zoo package of '{key}'")
    with tempfile.TemporaryDirectory(prefix=".hdn-bioimageio-") as folder:
        descr = _build(v, model, net, key, crop, Path(folder), name, authors, license, onnx)
        yield Progress("export", 1, total, "writing the package")
        if stop:
            return None
        package = Path(folder) / "package.zip"
        save_bioimageio_package(descr, output_path=package)
        if check:
            yield Progress("export", 2, total, "running the BioImage Model Zoo test on the package")
            if stop:
                return None
            _check(package)
        # Only a finished (and tested) package reaches `path`, in one atomic move.
        with atomic_path(path, overwrite) as tmp:
            shutil.copyfile(package, tmp)
    yield Progress("export", total, total, f"wrote {path}")
    return path


def export_bioimageio(model: Any, out: str | os.PathLike | None = None, image: Any = None, *,
                      on_event: Callable[[Progress], Any] | None = None, **options: Any) -> Path:
    """Write ``model``'s direct denoiser as a BioImage Model Zoo package (a .zip) at ``out``, atomically.

    ``image``: a 2D noisy image like the training data (a centred crop becomes the test tensors);
    ``deactivate``: which direct denoiser (default all-on, or the only one; "auto": the layers the model
    recorded as holding noise); ``name``, ``authors``,
    ``license``: the package's; ``overwrite``: replace an existing ``out`` (refused by default);
    ``check``: run bioimageio.core's test on the package before it is put
    at ``out`` (a failure writes nothing); ``onnx``: also ONNX weights (None, the default: when
    ``napari-hdn[onnx]`` is installed), checked to agree with the TorchScript weights on the test tensor;
    ``stop``; ``on_event``: called with each progress event.
    Needs ``napari-hdn[bioimageio]``.
    """
    return drive(export_bioimageio_events(model, out, image, **options), on_event)


def _check(package: Path) -> None:
    from bioimageio.core import test_model

    summary = test_model(package)
    if summary.status != "passed":
        failed = [d.name + ": " + "; ".join(e.msg for e in d.errors) for d in summary.details if d.errors]
        raise InputError("The exported package fails the BioImage Model Zoo test: " + " | ".join(failed))
