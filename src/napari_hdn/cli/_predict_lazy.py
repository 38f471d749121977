"""``hdn predict`` on dask: OME-Zarr input or output, or a dask distributed scheduler (--scheduler).

The restoration is a lazy dask graph over the input's blocks; the model travels to
the workers as its path (each worker process loads it once), never as pickled weights.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..foundation.errors import InputError
from ._error_line import print_error_estimate

SCHEDULER_ENV = "HDN_SCHEDULER"
# Blocks of a TIFF input sent to a cluster: big enough to amortise the tiles' overlap.
TIFF_BLOCK = 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help=f"run on a dask distributed scheduler, e.g. tcp://10.0.0.5:8786 (default: ${SCHEDULER_ENV} if set, "
        "else this machine); workers need napari-hdn and read the model from its path",
    )
    parser.add_argument(
        "--multiscale", action="store_true", help="with an .ome.zarr --out: also write 2x and 4x downsampled levels"
    )


def scheduler_address(args: argparse.Namespace) -> str | None:
    return args.scheduler or os.environ.get(SCHEDULER_ENV) or None


def wanted(args: argparse.Namespace) -> bool:
    """True when this module, not the TIFF path, runs the prediction."""
    from ..io.omezarr import is_ome_zarr

    return is_ome_zarr(args.out) or is_ome_zarr(args.input) or scheduler_address(args) is not None


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """A distributed client on ``address`` (None: dask's local threads)."""
    if address is None:
        yield None
        return
    try:
        import distributed
    except ImportError as err:
        raise InputError(f"--scheduler needs the 'distributed' package: pip install distributed ({err}).") from err
    try:
        client = distributed.Client(address, timeout="5s")
    except (OSError, TimeoutError) as err:
        raise InputError(
            f"Cannot reach the dask scheduler at {address} ({err}): check the address (tcp://HOST:PORT) "
            f"and that the scheduler runs, or unset --scheduler/{SCHEDULER_ENV}."
        ) from err
    with client:
        yield client


def read_lazy_input(path: str) -> tuple[Any, Any]:
    """The input as dask with its OME-Zarr metadata (None for TIFF/.npy, read whole and split in blocks)."""
    import dask.array as da

    from ..io.atomic import read_image
    from ..io.omezarr import is_ome_zarr, read_ome_zarr

    if is_ome_zarr(path):
        return read_ome_zarr(path)
    image = read_image(path)
    chunks = (1,) * (image.ndim - 2) + (TIFF_BLOCK, TIFF_BLOCK)
    return da.from_array(image, chunks=chunks), None


def run(args: argparse.Namespace, restore_kwargs: dict[str, Any]) -> int:
    """Restore ``args.input`` lazily and write OME-Zarr (an .ome.zarr --out) or TIFFs (a folder)."""
    from ..inference import restore_events
    from ..io.omezarr import default_metadata, is_ome_zarr, output_metadata, write_ome_zarr
    from ..foundation.progress import drive

    if args.activations or args.deactivate == "auto":
        raise InputError(
            "--activations and --deactivate auto are not available with OME-Zarr or --scheduler yet: "
            "restore a TIFF into a folder for them, or give the layers to switch off (e.g. --deactivate 1)."
        )
    out = Path(args.out)
    to_zarr = is_ome_zarr(out)
    if to_zarr and out.exists() and not args.overwrite:
        raise InputError(f"{out} already exists: choose another --out or add --overwrite to replace it.")
    image, metadata = read_lazy_input(args.input)
    if metadata is None:
        metadata = default_metadata(image.ndim)
    if getattr(args, "direct", False):
        return _run_direct(args, image, metadata, out, to_zarr, output_metadata, write_ome_zarr)
    with dask_client(scheduler_address(args)):
        # The model goes by path: the workers load it once each instead of receiving pickled weights.
        result = drive(restore_events(str(Path(args.model).resolve()), image, device=args.device, **restore_kwargs))
        arrays = result.images()
        if to_zarr:
            _write_zarr(out, arrays, metadata, args, output_metadata, write_ome_zarr)
        else:
            _write_tiffs(out, result.compute(), args)
    if not args.quiet:
        print(f"hdn predict: wrote {', '.join(arrays)} to {out}")
        print_error_estimate(result)
    return 0


def _run_direct(args, image, metadata, out, to_zarr, output_metadata, write_ome_zarr) -> int:
    """The one-pass direct denoiser, lazily block by block (local threads; not on a cluster yet)."""
    from ..direct import denoise
    from ..model.bundle import load_model

    if scheduler_address(args) is not None:
        raise InputError("--direct does not run on a --scheduler cluster yet: leave out --scheduler (the direct "
                         "denoiser is fast on one machine) or restore with samples on the cluster.")
    if not to_zarr:
        raise InputError("With OME-Zarr input, --direct writes OME-Zarr: give --out NAME.ome.zarr.")
    model, options = load_model(args.model, device=args.device), {"tile": args.tile, "overlap": args.overlap,
                                                                     "precision": args.precision, "batch": args.batch_size}
    bar, compute = None, None
    if image.ndim >= 3:  # a stack: one plane at a time (memory of one plane), progress in planes
        from ..direct.stream import lazy_stack
        from ._progress import ProgressBar

        bar = None if args.quiet else ProgressBar()
        mmse, compute = lazy_stack(model, image, args.deactivate, progress=bar, **options), {"scheduler": "synchronous"}
    else:
        mmse = denoise(model, image, args.deactivate, **options)
    try:
        write_ome_zarr(out, {"mmse": (mmse, output_metadata(metadata, extra_axis=False))}, overwrite=args.overwrite,
                       multiscale=args.multiscale, compute_kwargs=compute)
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(f"hdn predict: wrote mmse (direct denoiser) to {out}")
    return 0


def _write_zarr(out, arrays, metadata, args, output_metadata, write_ome_zarr) -> None:
    # All results in one call: they share one graph, so the network runs once.
    images = {name: (data, output_metadata(metadata, extra_axis=name == "samples")) for name, data in arrays.items()}
    write_ome_zarr(out, images, overwrite=args.overwrite, multiscale=args.multiscale)


def _write_tiffs(out: Path, result: Any, args: argparse.Namespace) -> None:
    from ..io.atomic import atomic_path
    from ..io.tiff import read_pixel_metadata, write_tiff

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give a folder for the results.")
    metadata = read_pixel_metadata(args.input) if Path(args.input).is_file() else {}
    arrays = result.images()
    paths = {name: out / f"{name}.tif" for name in arrays}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not args.overwrite:
        raise InputError(f"{', '.join(existing)} already exist(s): choose another --out folder or add --overwrite.")
    with contextlib.ExitStack() as stack:
        for name, data in arrays.items():
            tmp = stack.enter_context(atomic_path(paths[name], overwrite=args.overwrite))
            write_tiff(tmp, data, metadata, extra_axis=name == "samples")
