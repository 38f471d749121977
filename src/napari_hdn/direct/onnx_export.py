"""The direct denoiser's U-Net as ONNX, for the BioImage Model Zoo package and ONNX Runtime.

ONNX is what most consumers of Model Zoo packages run (ilastik, deepImageJ's runtimes, QuPath
extensions). The graph takes (N, 1, H, W) float32 with H and W multiples of the network's stride
(as the package's input description says) and any N, H, W of that kind. Needs the optional extra
``napari-hdn[onnx]`` (the ``onnx`` and ``onnxruntime`` CPU wheels).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..foundation.errors import InputError

OPSET = 17
# The ONNX and TorchScript outputs on the package's test tensor must agree this closely (in units of the
# output's data range); float32 rounding differences are about 1e-6.
AGREEMENT = 1e-3


def onnx_available() -> bool:
    """Whether ``onnx`` and ``onnxruntime`` can be imported (the optional extra ``napari-hdn[onnx]``)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def require_onnx() -> None:
    if not onnx_available():
        raise InputError("ONNX weights need the onnx and onnxruntime packages: pip install 'napari-hdn[onnx]'.")


def onnx_bytes(net: Any, example: np.ndarray) -> bytes:
    """The ONNX model of ``net`` (a ``DirectUNet``), traced on ``example`` (N, 1, H, W) float32 whose H and W
    are multiples of the stride; batch, height and width are left free in the graph."""
    import torch

    require_onnx()
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "y", 3: "x"}
    with warnings.catch_warnings():  # the padding branch is traced away: sizes are stride multiples
        warnings.simplefilter("ignore")
        torch.onnx.export(net.cpu().eval(), (torch.from_numpy(np.ascontiguousarray(example, np.float32)),), buffer,
                          input_names=["input"], output_names=["output"], opset_version=OPSET,
                          dynamic_axes={"input": axes, "output": axes}, dynamo=False)
    return buffer.getvalue()


def session(model_bytes: bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU execution provider (``threads``: intra-op threads, None: its default)."""
    require_onnx()
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def run(sess: Any, x: np.ndarray) -> np.ndarray:
    """The session's output for (N, 1, H, W) float32 input."""
    return sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def write_onnx(net: Any, example: np.ndarray, path: str | Path, reference: np.ndarray) -> Path:
    """Write ``net`` as ONNX to ``path`` after checking that ONNX Runtime reproduces ``reference`` (the network's
    TorchScript/PyTorch output for ``example``) within ``AGREEMENT`` of its data range."""
    data = onnx_bytes(net, example)
    got = run(session(data, threads=1), example)
    check_agreement(got, reference, "ONNX Runtime")
    Path(path).write_bytes(data)
    return Path(path)


def check_agreement(got: np.ndarray, reference: np.ndarray, what: str) -> float:
    """The largest difference between ``got`` and ``reference`` in units of the reference's data range; an
    InputError when it exceeds ``AGREEMENT`` or the shapes differ."""
    got, reference = np.asarray(got, np.float64), np.asarray(reference, np.float64)
    if got.shape != reference.shape or not np.isfinite(got).all():
        raise InputError(f"{what} gives an output of shape {got.shape} (finite: {bool(np.isfinite(got).all())}) "
                         f"where the network gives {reference.shape}: the ONNX export is broken; export without ONNX.")
    value_range = max(float(np.ptp(reference)), 1e-12)
    difference = float(np.abs(got - reference).max()) / value_range
    if difference > AGREEMENT:
        raise InputError(f"{what} and the network differ by {difference:.2g} of the data range on the test tensor "
                         f"(at most {AGREEMENT:g} allowed): the ONNX export is not faithful; export without ONNX.")
    return difference
