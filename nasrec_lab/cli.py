"""The ``nasrec-lab`` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .data import DataFormatError


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate the synthetic CTR data set (known click model, oracle log loss)")
    p.add_argument("--rows", type=int, default=200_000, help="rows to generate (1,000 to 50,000,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output data set directory")
    p.add_argument("--positive-rate", type=float, default=0.25)
    p.add_argument("--split", choices=["autoctr", "random"], default="autoctr")
    p.add_argument("--raw-criteo", metavar="FILE", help="instead write raw Criteo-format rows to FILE")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_synth)


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data import SyntheticSpec, synthesize, write_raw_criteo

    if args.raw_criteo:
        path = write_raw_criteo(args.raw_criteo, rows=args.rows, seed=args.seed)
        print(f"wrote {args.rows:,} raw Criteo-format rows to {path}")
        return 0
    ds = synthesize(
        args.out,
        rows=args.rows,
        seed=args.seed,
        spec=SyntheticSpec(positive_rate=args.positive_rate),
        split=args.split,
        overwrite=args.overwrite,
    )
    print(ds.summary())
    return 0


def _add_preprocess(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="raw Criteo / Avazu / KDD 2012 / CSV / Parquet files -> data set directory")
    p.add_argument("format", choices=["criteo", "avazu", "kdd", "csv"])
    p.add_argument("inputs", nargs="+", help="raw files (plain or gzip); for csv also .parquet")
    p.add_argument("--out", required=True)
    p.add_argument("--categorical", choices=["hash", "vocab"], default="hash")
    p.add_argument("--table-cap", type=int, default=500_000, help="hash mode: rows per table at most")
    p.add_argument("--min-count", type=int, default=1, help="vocab mode: rarer values share the OOV id")
    p.add_argument("--split", choices=["autoctr", "random"], default="autoctr")
    p.add_argument("--split-seed", type=int, default=2018)
    p.add_argument("--on-bad-rows", choices=["error", "skip"], default="error")
    p.add_argument("--user-profile", help="kdd: userid_profile.txt (UserID TAB Gender TAB Age)")
    p.add_argument("--label", help="csv: label column")
    p.add_argument("--dense", default="", help="csv: comma-separated dense columns")
    p.add_argument("--sparse", default="", help="csv: comma-separated sparse columns")
    p.add_argument("--delimiter", default=",", help="csv: field delimiter")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_preprocess)


def _cmd_preprocess(args: argparse.Namespace) -> int:
    from .data import PreprocessOptions, csv_columns, csv_format, preprocess

    opts = PreprocessOptions(
        categorical=args.categorical,
        table_cap=args.table_cap,
        min_count=args.min_count,
        split=args.split,
        split_seed=args.split_seed,
        on_bad_rows=args.on_bad_rows,
    )
    fmt: object = args.format
    if args.format == "csv":
        if not args.label or not args.sparse:
            raise SystemExit("preprocess csv: --label and --sparse are required (and --dense if any)")
        first = Path(args.inputs[0])
        if first.suffix == ".parquet":
            import pyarrow.parquet as pq

            columns = tuple(pq.ParquetFile(first).schema_arrow.names)
        else:
            columns = csv_columns(first, args.delimiter)
        fmt = csv_format(
            label=args.label,
            dense=tuple(c for c in args.dense.split(",") if c),
            sparse=tuple(c for c in args.sparse.split(",") if c),
            columns=columns,
            delimiter=args.delimiter,
        )
    t0 = time.perf_counter()
    ds = preprocess(args.inputs, args.out, fmt=fmt, options=opts, user_profile=args.user_profile,
                    overwrite=args.overwrite)
    print(ds.summary())
    print(f"preprocessed in {time.perf_counter() - t0:.1f} s -> {ds.path}")
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job on the embedded synthetic data (no download)")
    p.add_argument("--out", default="runs/demo", help="working directory")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), rows=args.rows, seed=args.seed)
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks (each prints a table, and one JSON object with --json)")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="{data,supernet}")
    d = bsub.add_parser("data", help="preprocessing throughput, memory growth, loader throughput")
    d.add_argument("--rows", type=int, default=1_000_000)
    d.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    d.add_argument("--out", help="also write the JSON to this file")
    d.set_defaults(func=_cmd_bench_data)


def _cmd_bench_data(args: argparse.Namespace) -> int:
    from benchmarks.data import bench_data

    result = bench_data(rows=args.rows)
    return _emit_bench(result, args)


def _emit_bench(result: dict, args: argparse.Namespace) -> int:
    from benchmarks._common import format_table

    print(format_table(result))
    if args.out:
        from ._atomic import atomic_write_json

        atomic_write_json(args.out, result)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasrec-lab",
        description="NASRec: weight-sharing neural architecture search for CTR prediction.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"nasrec-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


_SUBCOMMANDS = [_add_demo, _add_synth, _add_preprocess, _add_bench]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataFormatError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"nasrec-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
