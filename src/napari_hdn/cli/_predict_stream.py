"""``hdn predict --direct`` on a stack (T/Z, Y, X) TIFF or .npy: read, denoise and write one plane at a time.

Memory stays that of one plane and its tiles, whatever the number of planes; the progress bar counts
planes. mmse.tif is written to a temporary name and renamed at the end (a failure leaves nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def run(args: argparse.Namespace, model: Any, reader: Any, metadata: dict[str, Any], paths: dict[str, Path]) -> int:
    """Denoise the planes of ``reader`` (a ``direct.stream.PlaneReader``) into ``paths["mmse"]``."""
    from ..io.atomic import atomic_path
    from ..direct.stream import denoise_planes
    from ..io.tiff import write_planes
    from ._direct_layers import auto_layers_for_direct
    from ._progress import ProgressBar

    deactivate, record = args.deactivate, None
    if deactivate == "auto":  # judged on the middle plane, as for a stack read whole
        deactivate, record = auto_layers_for_direct(args, model, reader[len(reader) // 2])
    bar = None if args.quiet else ProgressBar()
    planes = denoise_planes(model, reader, deactivate, progress=bar, tile=args.tile, overlap=args.overlap,
                            precision=args.precision, batch_size=args.batch_size, threads=args.threads)
    try:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(paths["mmse"], overwrite=args.overwrite))
            write_planes(tmp, planes, reader.shape, metadata)
            if record is not None:
                tmp = stack.enter_context(atomic_path(paths["deactivation"], overwrite=args.overwrite))
                tmp.write_text(json.dumps(record, indent=1))
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(f"hdn predict: wrote {', '.join(p.name for p in paths.values())} (direct denoiser, {len(reader)} "
              f"planes one at a time) to {args.out}")
    return 0
