"""One vocabulary for the public API: each option that several functions take, with its one default and meaning.

``tests/test_api_options.py`` holds every public function's signature against :data:`OPTIONS`, and
``docs/api.md`` is this module's output (``python -m napari_hdn.checks.options > docs/api.md``; a test checks that
it is up to date). A different default for one function is written here, beside the rule, with its reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Option:
    default: Any
    meaning: str
    keyword_only: bool = False
    per_function: Mapping[str, Any] = field(default_factory=dict)  # function name -> its own default (see meaning)
    positional_in: frozenset[str] = frozenset()  # where a keyword-only option may be positional (see meaning)


OPTIONS: dict[str, Option] = {
    "deactivate": Option((), 'latent layers switched off (1 = z1, the finest): numbers, or text such as "1,2"; '
                             '"auto": the layers the model recorded as holding noise, else those the suggestion '
                             'finds on the image. The layers switched off in training stay off.'),
    "seed": Option(0, "the same seed gives the same result"),
    "device": Option("auto", '"auto": a model in memory stays where it is; a model loaded from a folder, and '
                             'training, use CUDA, then Apple MPS, then the CPU. Or "cpu", "cuda", "cuda:N", "mps".'),
    "precision": Option("auto", '"auto": bfloat16 where it is fast (CUDA, CPUs with matrix units), float32 '
                                'elsewhere and for the deactivation suggestion\'s scores; "float32"; "bfloat16"'),
    "threads": Option(None, "torch threads (None: the cores this process may use)"),
    "tile": Option(None, "tile size in pixels for large planes (None: 512; memory grows with the tile)"),
    "overlap": Option(None, "pixels shared by neighbouring tiles (None: chosen from the tile and the network)"),
    "batch_size": Option(None, "inference: samples or tiles per network call (None: sized to the device and "
                               "memory); distillation: patches per training step (8)",
                         per_function={"distill_events": 8}),
    "n_samples": Option(100, "posterior samples averaged into the MMSE; a noise-model bootstrap needs only a "
                             "pseudo-clean image per plane (20)",
                        per_function={"bootstrap_noise_model": 20, "bootstrap_events": 20}),
    "minutes": Option(None, "time budget (None: the job's own: the preset's for training, 2 minutes for "
                            "adaptation; distillation needs minutes or steps)"),
    "steps": Option(None, "step budget (None: none; training ends at the first budget reached)"),
    "epochs": Option(None, "epoch budget (None: the preset's)"),
    "noise_model": Option(None, "a noise model, the path of one, or \"auto\" (estimated from the images); "
                                "training needs one (or gaussian_sigma); adaptation keeps the parent's when None"),
    "gaussian_sigma": Option(None, "Gaussian noise of this known sigma instead of a noise model"),
    "out": Option(None, "where the result is written: a model folder (training, adaptation, one-pass "
                        "denoiser), or the package file (BioImage Model Zoo export, required)"),
    "overwrite": Option(False, "replace an existing result (refused by default)"),
    "stop": Option(None, "a StopToken: request_stop() ends the job at the next step", keyword_only=True),
    "on_event": Option(None, "called with each progress event (blocking functions; `drive(events, on_event)` takes "
                             "it second, its whole purpose)", keyword_only=True, positional_in=frozenset({"drive"})),
}

# Old spellings, still accepted with a DeprecationWarning: (function, old name) -> new name.
DEPRECATED: dict[tuple[str, str], str] = {
    ("denoise_events", "batch"): "batch_size",
    ("export_bioimageio_events", "path"): "out",
}


def public_functions() -> dict[str, Any]:
    """The public API's functions (``napari_hdn.__all__``), by name."""
    import napari_hdn

    found = {}
    for name in napari_hdn.__all__:
        value = getattr(napari_hdn, name, None)
        if inspect.isfunction(value):
            found[name] = value
    return found


def _signature_line(name: str, function: Any) -> str:
    parameters = []
    for p in inspect.signature(function).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            parameters.append("**options")
        elif p.default is p.empty:
            parameters.append(p.name)
        else:
            parameters.append(f"{p.name}={p.default!r}")
    return f"{name}({', '.join(parameters)})"


def api_markdown() -> str:
    """``docs/api.md``: the shared options, then every public function with its signature and first line."""
    lines = ["# The public API", "",
             "Generated by `python -m napari_hdn.checks.options > docs/api.md`; `tests/test_api_options.py` checks that it",
             "is current and that every function below follows the option table.", "",
             "## Options shared by several functions", "",
             "| option | default | meaning |", "| --- | --- | --- |"]
    for name, option in OPTIONS.items():
        default = repr(option.default)
        if option.per_function:
            default += " (" + ", ".join(f"{f}: {v!r}" for f, v in option.per_function.items()) + ")"
        meaning = option.meaning.rstrip(".") + "."
        kind = " Keyword-only." if option.keyword_only else ""
        lines.append(f"| `{name}` | `{default}` | {meaning}{kind} |")
    lines += ["", "Old spellings still accepted, with a `DeprecationWarning`: " + ", ".join(
        f"`{f}({old}=)` -> `{new}`" for (f, old), new in DEPRECATED.items()) + ", `napari_hdn.direct_step`.", "",
              "## Functions", "", "| function | what it does |", "| --- | --- |"]
    for name, function in public_functions().items():
        summary = (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        lines.append(f"| `{_signature_line(name, function)}` | {summary} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(api_markdown(), end="")
