"""The core never imports napari, Qt, magicgui or superqt: each module is imported in a fresh interpreter."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import napari_hdn

FRONT_END_PACKAGES = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "superqt", "vispy")
GUI_SIDE = ("napari_hdn._qt",)  # the private napari/Qt layer may use them, nothing else may

_PROBE = """
import importlib, json, sys
found = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    found[name] = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps(found))
""" % (FRONT_END_PACKAGES,)


def core_modules() -> list[str]:
    names = ["napari_hdn"]
    for info in pkgutil.walk_packages(napari_hdn.__path__, prefix="napari_hdn."):
        if not info.name.startswith(GUI_SIDE):
            names.append(info.name)
    return names


def test_core_module_list_covers_the_package():
    names = core_modules()
    for expected in ("napari_hdn.foundation.progress", "napari_hdn.plugin.contributions", "napari_hdn.cli"):
        assert expected in names
    assert not any(name.startswith("napari_hdn._qt") for name in names)


def test_no_core_module_imports_a_gui_package():
    # One interpreter imports them all in turn and records what each import has pulled in by then.
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *core_modules()], capture_output=True, text=True, check=True
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    offenders = {name: modules for name, modules in found.items() if modules}
    assert offenders == {}, f"core modules importing GUI packages: {offenders}"
