"""The ``nasrec-lab`` command line: one entry point, one module per command group.

Shared options (``--json``, ``--seed``, ``--device``, ``--threads``, ``--space``) are declared once in
``_common``; choices come from the registries (spaces, samplers, searchers, baselines).
"""

from __future__ import annotations

import argparse
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

# Errors a user can cause and fix: one line on stderr, exit code 2, never a traceback.
USER_ERRORS = (CLIError, DataFormatError, FileNotFoundError, FileExistsError, ValueError, KeyError)


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
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"nasrec-lab {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
