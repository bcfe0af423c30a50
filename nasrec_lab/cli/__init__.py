"""The ``nasrec-lab`` command line: one entry point, one module per command group.

Shared options (``--json``, ``--seed``, ``--device``, ``--threads``, ``--space``) are declared once in
``_common``; choices come from the registries (spaces, samplers, searchers, baselines).
"""

from __future__ import annotations

import argparse
import errno
import re
import sqlite3
import sys
from collections.abc import Sequence

from ..data import DataFormatError
from ._arch import add_arch
from ._bench import add_bench
from ._common import CLIError
from ._data import add_preprocess, add_synth
from ._report import add_demo, add_report
from ._search import add_search
from ._train import add_train

SUBCOMMANDS = [add_demo, add_synth, add_preprocess, add_arch, add_train, add_search, add_report, add_bench]

# Errors a user can cause and fix (including the machine's limits: memory, disk, permissions, a
# damaged SQLite file): one line on stderr, exit code 2, never a traceback.
USER_ERRORS = (CLIError, DataFormatError, ValueError, KeyError, OSError, MemoryError, sqlite3.DatabaseError,
               FloatingPointError)  # a training diverged by the settings given (its lr)


def _is_out_of_memory(exc: BaseException) -> bool:
    # torch reports a failed CPU allocation as a RuntimeError, not a MemoryError
    return isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM) or (
        isinstance(exc, RuntimeError) and (type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in
                                           str(exc)))


def error_message(exc: BaseException) -> str:
    """What went wrong, on one line."""
    if _is_out_of_memory(exc):
        detail = str(exc).split("\n")[0][:200]
        message = "out of memory" + (f" ({detail})" if detail else "") + \
            ": use fewer rows, a smaller --batch-size / --eval-batch-size, or fewer --workers"
    elif isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.strerror and not isinstance(exc, FileNotFoundError | FileExistsError):
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror}"
    elif isinstance(exc, sqlite3.DatabaseError):
        message = f"SQLite: {exc} (is the --store file damaged?)"
    else:
        message = str(exc) or type(exc).__name__
    return re.sub(r"\s*\n\s*", " ", message).strip()


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="nasrec-lab",
        description="NASRec: weight-sharing neural architecture search for CTR prediction.",
    )
    parser.add_argument("--version", action="version", version=f"nasrec-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (*USER_ERRORS, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not _is_out_of_memory(exc):
            raise  # a bug: keep the traceback
        print(f"nasrec-lab {args.command}: error: {error_message(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
