"""The ``hdn`` command line: the same core functions as the Python API and the widgets.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``; expected errors (:class:`napari_hdn.foundation.errors.HDNError`)
are printed as one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from .._version import __version__
from ..foundation.errors import HDNError
from .cli_words import cli_message

SUBCOMMANDS = ("calibrate", "train", "adapt", "predict", "distill", "export", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hdn",
        description=(
            "Hierarchical DivNoising: unsupervised denoising of microscopy images from noisy data alone. "
            "Typical use: 'hdn calibrate' a noise model, 'hdn train' a model, 'hdn predict' restored images."
        ),
    )
    parser.add_argument("--version", action="version", version=f"napari-hdn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def _one_line_warning(command: str):
    """Show napari-hdn's warnings (UserWarning and its kinds) as one line, not Python's file:line format."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, UserWarning):
            return default(message, category, filename, lineno, file, line)
        print(f"hdn {command}: warning: {cli_message(str(message))}", file=sys.stderr, flush=True)

    return show


def os_error_line(err: OSError) -> str:
    """One line for an operating-system error: what failed, on which path, and what to do."""
    where = f" {err.filename}" if err.filename else ""
    reason = err.strerror or str(err)
    return (f"cannot access{where}: {reason}. Check that the path exists, that you may read (inputs) or write "
            "(outputs) there and that the disk has free space.")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            return int(args._run(args) or 0)
    except HDNError as err:
        print(f"hdn {args.command}: error: {cli_message(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:  # permissions, full disk, missing or unreadable paths: not a bug, no traceback
        print(f"hdn {args.command}: error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hdn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
