"""``synth`` and ``preprocess``: data set directories from generated or raw files."""

from __future__ import annotations

import argparse
import dataclasses
import time

from ..data import SYNTHETIC_PRESETS
from ._common import CLIError, add_seed, with_example


def add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate the synthetic CTR data set (known click model, oracle log loss)")
    with_example(p, "nasrec-lab synth --rows 1000000 --seed 0 --out data/synthetic")
    p.add_argument("--rows", type=int, default=200_000, help="rows to generate (1,000 to 50,000,000)")
    add_seed(p)
    p.add_argument("--out", required=True, help="output data set directory")
    p.add_argument("--positive-rate", type=float, default=0.25)
    p.add_argument("--preset", choices=tuple(SYNTHETIC_PRESETS), default="default",
                   help="click model: default, or one whose structure the baselines do not fit (README, Data)")
    p.add_argument("--split", choices=["autoctr", "random"], default="autoctr")
    p.add_argument("--part", type=int, default=0,
                   help="further rows of the same click model (same seed and preset): parts 0-1023 share no row")
    p.add_argument("--raw-criteo", metavar="FILE", help="instead write raw Criteo-format rows to FILE")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    from ..data import synthesize, write_raw_criteo

    if args.raw_criteo:
        path = write_raw_criteo(args.raw_criteo, rows=args.rows, seed=args.seed, part=args.part,
                                overwrite=args.overwrite)
        print(f"wrote {args.rows:,} raw Criteo-format rows to {path}")
        return 0
    ds = synthesize(
        args.out,
        rows=args.rows,
        seed=args.seed,
        spec=dataclasses.replace(SYNTHETIC_PRESETS[args.preset], positive_rate=args.positive_rate),
        split=args.split,
        overwrite=args.overwrite,
        part=args.part,
    )
    print(ds.summary())
    return 0


def add_preprocess(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="raw Criteo / Avazu / KDD 2012 / CSV / Parquet files -> data set directory")
    with_example(p, "nasrec-lab preprocess criteo train.txt --out data/criteo",
                 "nasrec-lab preprocess csv clicks.parquet --label y --dense a,b --sparse c,d --out data/mine")
    p.add_argument("format", choices=["criteo", "avazu", "kdd", "csv"])
    p.add_argument("inputs", nargs="+", help="raw files (plain or gzip); for csv also .parquet")
    p.add_argument("--out", required=True)
    p.add_argument("--categorical", choices=["hash", "vocab"], default="hash")
    p.add_argument("--table-cap", type=int, default=500_000, help="hash mode: rows per table at most")
    p.add_argument("--min-count", type=int, default=1, help="vocab mode: rarer values share the OOV id")
    p.add_argument("--split", choices=["autoctr", "random"], default="autoctr")
    p.add_argument("--split-seed", type=int, default=2018)
    p.add_argument("--on-bad-rows", choices=["error", "skip"], default="error")
    p.add_argument("--compat", choices=["none", "release"], default="none",
                   help="release: the authors' release's tensors (criteo/avazu/kdd): its shifted split and its "
                        "modulo map of categorical values (collisions included)")
    p.add_argument("--user-profile", help="kdd: userid_profile.txt (UserID TAB Gender TAB Age)")
    p.add_argument("--label", help="csv: label column")
    p.add_argument("--dense", default="", help="csv: comma-separated dense columns")
    p.add_argument("--sparse", default="", help="csv: comma-separated sparse columns")
    p.add_argument("--delimiter", default=",", help="csv: field delimiter")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_preprocess)


def cmd_preprocess(args: argparse.Namespace) -> int:
    from ..data import PreprocessOptions, csv_columns, csv_format, preprocess

    opts = PreprocessOptions(
        categorical=args.categorical,
        table_cap=args.table_cap,
        min_count=args.min_count,
        split=args.split,
        split_seed=args.split_seed,
        on_bad_rows=args.on_bad_rows,
        compat=args.compat,
    )
    fmt: object = args.format
    if args.format == "csv":
        if not args.label or not args.sparse:
            raise CLIError("preprocess csv: --label and --sparse are required (and --dense if any)")
        columns = csv_columns(args.inputs[0], args.delimiter)
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
