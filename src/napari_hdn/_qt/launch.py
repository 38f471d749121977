"""Open napari with the napari-hdn widgets docked and the sample data loaded (``./dev napari``).

    python -m napari_hdn._qt.launch [--structured] [--no-sample]
"""

from __future__ import annotations

import argparse
from typing import Any

PLUGIN = "napari-hdn"
WIDGETS = ("Noise model", "Train", "Restore")


def open_viewer(sample: str | None = "nuclei", calibration: bool = True, show: bool = True) -> Any:
    """A napari viewer with the plugin's widgets docked (tabbed) and, optionally, sample data open."""
    import napari

    viewer = napari.Viewer(title="napari-hdn", show=show)
    if sample is not None:
        viewer.open_sample(PLUGIN, sample)
    if calibration:
        viewer.open_sample(PLUGIN, "calibration")
        viewer.layers["nuclei calibration"].visible = False
    for i, name in enumerate(WIDGETS):
        viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=i > 0)
    return viewer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structured", action="store_true", help="open the row-correlated-noise sample instead")
    parser.add_argument("--no-sample", action="store_true", help="open no sample data")
    args = parser.parse_args(argv)
    import napari

    sample = None if args.no_sample else ("nuclei_structured" if args.structured else "nuclei")
    open_viewer(sample, calibration=not args.no_sample)
    napari.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
