"""napari finds the plugin through npe2, from the editable install and from a built wheel."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from npe2 import PluginManager, PluginManifest

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "src" / "napari_hdn" / "napari.yaml"
WIDGETS = {"Noise model", "Train", "Restore"}
SAMPLES = {"nuclei", "nuclei_structured", "calibration"}


def _check(manifest: PluginManifest) -> None:
    assert manifest.name == "napari-hdn"
    contributions = manifest.contributions
    assert {w.display_name for w in contributions.widgets} == WIDGETS
    assert {s.key for s in contributions.sample_data} == SAMPLES
    assert [r.command for r in contributions.readers] == ["napari-hdn.get_reader", "napari-hdn.get_ome_zarr_reader"]
    assert [w.command for w in contributions.writers] == ["napari-hdn.write_ome_zarr"]
    manifest.validate_imports()  # every python_name imports and names a callable


def test_top_level_manifest_is_the_package_manifest():
    top = ROOT / "napari.yaml"
    assert top.is_symlink() and top.resolve() == MANIFEST.resolve()


def test_manifest_validates_and_every_command_imports():
    _check(PluginManifest.from_file(MANIFEST))


def test_editable_install_is_discovered_through_its_entry_point():
    manager = PluginManager()
    manager.discover()
    manifest = manager.get_manifest("napari-hdn")
    _check(manifest)
    assert Path(importlib.util.find_spec("napari_hdn").origin).parent == MANIFEST.parent
    readers = {r.command for r in manager.iter_compatible_readers(["nm.npz"])}
    assert "napari-hdn.get_reader" in readers


_DISCOVER = """
import json
from npe2 import PluginManager
manager = PluginManager()
manager.discover()
manifest = manager.get_manifest("napari-hdn")
manifest.validate_imports()
print(json.dumps({"widgets": sorted(w.display_name for w in manifest.contributions.widgets),
                  "module": __import__("napari_hdn").__file__}))
"""


@pytest.mark.slow
def test_wheel_holds_the_manifest_and_napari_discovers_it(tmp_path):
    # Offline with the hatchling installed here; otherwise pip fetches it from PyPI into an isolated build.
    build_options = ["--no-isolation"] if importlib.util.find_spec("hatchling") else []
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", *build_options, "--outdir", str(wheels), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = wheels.glob("napari_hdn-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"napari_hdn/napari.yaml", "napari_hdn/plugin/contributions.py", "napari_hdn/_qt/restore_widget.py"} <= names
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "napari-hdn = napari_hdn:napari.yaml" in archive.read(entry_points).decode()
        assert yaml.safe_load(archive.read("napari_hdn/napari.yaml")) == yaml.safe_load(MANIFEST.read_text())

    # Installed on its own (ahead of the editable install on sys.path), npe2 finds the wheel's manifest.
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(site),
         str(wheel)],
        check=True, capture_output=True, text=True,
    )
    found = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n" + _DISCOVER],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(found.stdout.strip().splitlines()[-1])
    assert result["widgets"] == sorted(WIDGETS)
    assert Path(result["module"]).is_relative_to(site)
