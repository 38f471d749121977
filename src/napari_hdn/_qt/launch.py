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
    from qtpy.QtCore import QTimer

    viewer = napari.Viewer(title="napari-hdn", show=show)
    if sample is not None:
        viewer.open_sample(PLUGIN, sample)
    if calibration:
        viewer.open_sample(PLUGIN, "calibration")
        viewer.layers["nuclei calibration"].visible = False
    docks = [viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=i > 0)[0] for i, name in enumerate(WIDGETS)]
    # The first step (the noise model) in front, once the window has laid out its tabs (a raise before is lost).
    QTimer.singleShot(0, docks[0].raise_)
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
