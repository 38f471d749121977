"""One rule per argument: every public function takes the shared options with the table's names and defaults."""

from __future__ import annotations

import inspect
from pathlib import Path

import napari_hdn
from napari_hdn.checks.options import DEPRECATED, OPTIONS, api_markdown, public_functions

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _parameters(name):
    return inspect.signature(public_functions()[name]).parameters


def test_every_shared_option_has_the_tables_default_and_kind():
    wrong = []
    for name, function in public_functions().items():
        for parameter in inspect.signature(function).parameters.values():
            option = OPTIONS.get(parameter.name)
            if option is None or (name, parameter.name) in DEPRECATED:
                continue
            expected = option.per_function.get(name, option.default)
            if parameter.default != expected:
                wrong.append(f"{name}({parameter.name}={parameter.default!r}), table says {expected!r}")
            if option.keyword_only and parameter.kind is not parameter.KEYWORD_ONLY and name not in option.positional_in:
                wrong.append(f"{name}: {parameter.name} must be keyword-only")
    assert wrong == []


def test_every_blocking_function_takes_on_event_and_every_generator_a_keyword_stop():
    functions = public_functions()
    for name in functions:
        if name.endswith("_events"):
            assert _parameters(name)["stop"].kind is inspect.Parameter.KEYWORD_ONLY, name
    blocking = {"train", "adapt", "restore", "layer_activations", "suggest_deactivation", "train_direct_denoiser",
                "denoise", "export_bioimageio", "calibrate", "fit_noise_model", "estimate_noise_model",
                "bootstrap_noise_model"}
    for name in blocking:
        assert "on_event" in _parameters(name), name


def test_deactivate_auto_is_accepted_wherever_deactivate_is():
    for name, function in public_functions().items():
        parameter = inspect.signature(function).parameters.get("deactivate")
        if parameter is not None and name not in ("train", "training_events", "bootstrap_noise_model",
                                                  "bootstrap_events"):
            assert "str" in str(parameter.annotation), f"{name}: deactivate's type hint omits 'auto'"


def test_the_table_names_only_options_in_use():
    used = {p for f in public_functions().values() for p in inspect.signature(f).parameters}
    assert set(OPTIONS) <= used


def test_public_types_and_errors_are_exported_and_the_low_level_step_is_not():
    for name in ("HDNModel", "RestorationResult", "InputError", "IntensityRangeWarning", "calibrate_events",
                 "fit_noise_model_events", "layer_activations_events", "DeactivationSuggestion"):
        assert name in napari_hdn.__all__ and getattr(napari_hdn, name) is not None
    assert "direct_step" not in napari_hdn.__all__


def test_the_old_public_step_still_works_with_a_deprecation_warning():
    import pytest

    with pytest.warns(DeprecationWarning, match="direct_step is deprecated"):
        assert callable(napari_hdn.direct_step)


def test_docs_api_is_current():
    assert DOCS.read_text(encoding="utf-8") == api_markdown(), (
        "docs/api.md is out of date: python -m napari_hdn.checks.options > docs/api.md")


def test_the_cli_says_samples_for_posterior_samples_everywhere(capsys):
    from napari_hdn.cli import main

    for command in ("predict", "calibrate", "demo"):
        try:
            main([command, "--help"])
        except SystemExit:
            pass
        text = capsys.readouterr().out
        assert "--samples" in text, command
        assert "--n-samples N" not in text and "--n-samples  " not in text, command
