"""The core speaks the API in its messages; ``hdn`` prints them with its flags and commands instead."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from core_hints import HINTS

import napari_hdn
from napari_hdn.cli import main
from napari_hdn.cli.cli_words import cli_message

PACKAGE = Path(napari_hdn.__file__).parent
CLI_TEXT = re.compile(r"(?<![\w-])hdn (?:calibrate|train|adapt|predict|distill|export|demo)\b|(?<![\w.-])--[a-z]")
API_HINT = re.compile(r"\b[a-z_]+=(?:True|\.\.\.|\"|'|\d|\()|napari_hdn\.\w+|\b(?:estimate|fit)_noise_model\b"
                      r"|leave [a-z_]+ out")


def core_strings() -> list[tuple[str, int, str]]:
    """Every string the core (not cli/, not _qt/) can put in a message: literals and f-string parts, no docstrings."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("cli", "_qt"):
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found.append((str(rel), node.lineno, node.value))
    return found


def test_the_core_names_no_command_line_flag():
    # how to install a package is a shell command whatever the front end; the model package's README is a
    # document for the zoo's users (it names `hdn predict` as the reference to check the package against)
    allowed = ("pip install", "## Validation")
    quoting_the_cli = [(f, line, text) for f, line, text in core_strings()
                       if CLI_TEXT.search(text) and not any(a in text for a in allowed)]
    assert not quoting_the_cli, quoting_the_cli


def test_the_scan_sees_the_messages():  # the premise: the scan would catch a flag in a core message
    texts = [text for _, _, text in core_strings()]
    assert any("overwrite=True" in t for t in texts) and any("estimate_noise_model" in t for t in texts)
    assert CLI_TEXT.search("use --device cpu") and CLI_TEXT.search("run hdn train first")
    assert not CLI_TEXT.search("a (frames, Y, X) stack; pip-installed")


@pytest.mark.parametrize(("message", "printed"), HINTS, ids=[h[1][:30] for h in HINTS])
def test_each_api_hint_becomes_the_flag_or_command(message, printed):
    assert API_HINT.search(message), message  # the premise: the core's message holds an API hint
    shown = cli_message(message)
    assert printed in shown, shown
    assert not API_HINT.search(shown), shown


def test_plain_messages_pass_unchanged():
    for text in ("The image has 4 dimension(s); napari-hdn needs 2-D images.", "z1 off: 28.9 dB",
                 "Saved /tmp/out (10 steps)."):
        assert cli_message(text) == text


def test_an_existing_output_names_the_flag_at_the_terminal(tmp_path, capsys):
    rng = np.random.default_rng(0)
    stack = rng.poisson(50, (4, 32, 32)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "calib.tif", stack)
    out = tmp_path / "nm.npz"
    out.write_bytes(b"keep me")
    code = main(["calibrate", str(tmp_path / "calib.tif"), "--out", str(out), "--kind", "gaussian", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--overwrite" in err and "overwrite=True" not in err, err
    assert out.read_bytes() == b"keep me"


def test_an_unavailable_device_names_the_flag_at_the_terminal(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "calib.tif", rng.poisson(50, (4, 32, 32)).astype(np.uint16))
    code = main(["calibrate", str(tmp_path / "calib.tif"), "--out", str(tmp_path / "nm.npz"), "--kind", "gmm",
                 "--device", "cuda", "--steps", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--device cpu or auto" in err and 'device="cpu"' not in err, err
