"""The public module paths from before the regrouping by concern still import, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from napari_hdn.foundation.moved_modules import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_path_gives_the_module_at_its_new_home_and_warns(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} has moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__name__ == new and module.__spec__.name == new  # the real module, untouched


def test_old_imports_keep_working_in_a_fresh_interpreter():
    code = ("import warnings; warnings.simplefilter('error')\n"
            "from napari_hdn.foundation.errors import InputError\n"
            "try:\n    from napari_hdn.errors import InputError as Old\n"
            "except DeprecationWarning as w:\n    print('warned', w)\n"
            "warnings.simplefilter('ignore')\n"
            "from napari_hdn.errors import InputError as Old\n"
            "import napari_hdn\n"
            "assert Old is InputError is napari_hdn.InputError\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("warned napari_hdn.errors has moved to napari_hdn.foundation.errors")


def test_nothing_in_the_package_uses_an_old_path():
    import napari_hdn

    root = Path(napari_hdn.__file__).parent
    checked = 0
    for path in root.rglob("*.py"):
        if path.name == "moved_modules.py":
            continue
        text = path.read_text()
        for old in MOVED:
            assert old + "." not in text and f"import {old}" not in text and f"{old}:" not in text, (path, old)
        checked += 1
    assert checked > 100  # the premise: the scan read the package
