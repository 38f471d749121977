"""The module paths of napari-hdn before its modules were grouped by concern still import, with a warning.

Until 0.1.0 the package kept 21 modules at its top level; they now live in ``foundation/``, ``checks/``,
``io/``, ``plugin/`` (and ``inference/metrics.py``). A script that imports an old path
(``from napari_hdn.errors import InputError``) gets the module at its new home and a
``DeprecationWarning`` naming it. Private modules (``napari_hdn._io`` ...) were never public: no alias.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

MOVED = {
    "napari_hdn.errors": "napari_hdn.foundation.errors",
    "napari_hdn.progress": "napari_hdn.foundation.progress",
    "napari_hdn.threads": "napari_hdn.foundation.threads",
    "napari_hdn.input_checks": "napari_hdn.checks.inputs",
    "napari_hdn.intensity_range": "napari_hdn.checks.intensity_range",
    "napari_hdn.api_options": "napari_hdn.checks.options",
    "napari_hdn.tiff_io": "napari_hdn.io.tiff",
    "napari_hdn.omezarr_io": "napari_hdn.io.omezarr",
    "napari_hdn.result_files": "napari_hdn.io.result_files",
    "napari_hdn.bioimageio_export": "napari_hdn.io.bioimageio",
    "napari_hdn.sample_data": "napari_hdn.io.sample_data",
    "napari_hdn.metrics": "napari_hdn.inference.metrics",
    "napari_hdn.omezarr_napari": "napari_hdn.plugin.omezarr_layers",
    "napari_hdn.layer_roles": "napari_hdn.plugin.layer_roles",
    "napari_hdn.session": "napari_hdn.plugin.session",
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and hands out the module at its new home (the same object)."""


    def find_spec(self, fullname: str, path: object = None, target: object = None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec) -> None:
        """The default (empty) module: :meth:`exec_module` replaces it by the real one."""

    def exec_module(self, module: ModuleType) -> None:
        new = MOVED[module.__name__]
        warnings.warn(f"{module.__name__} has moved to {new}: import it from there (public names also from "
                      "napari_hdn itself). The old path will be removed in a later version.",
                      DeprecationWarning, stacklevel=2)
        # The import system returns what sys.modules holds once this returns: the module at its new home,
        # untouched (its __spec__ and __name__ stay its own).
        sys.modules[module.__name__] = importlib.import_module(new)


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``import napari_hdn`` calls this)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
