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
    sn = bsub.add_parser("supernet", help="supernet training and inference throughput against the masked reference")
    sn.add_argument("--space", choices=["full", "small"], default="full")
    sn.add_argument("--steps", type=int, default=20, help="timed training steps per model")
    sn.add_argument("--table-rows", type=int, default=100_000, help="rows of each of the 26 embedding tables")
    sn.add_argument("--inference-batch", type=int, default=4096)
    sn.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    sn.add_argument("--out", help="also write the JSON to this file")
    sn.set_defaults(func=_cmd_bench_supernet)


def _cmd_bench_data(args: argparse.Namespace) -> int:
    from benchmarks.data import bench_data

    result = bench_data(rows=args.rows)
    return _emit_bench(result, args)


def _cmd_bench_supernet(args: argparse.Namespace) -> int:
    from benchmarks.supernet import bench_supernet

    return _emit_bench(bench_supernet(space=args.space, steps=args.steps, table_rows=args.table_rows,
                                      inference_batch=args.inference_batch), args)


def _add_arch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("arch", help="inspect architectures (release JSON or nasrec-lab JSON)")
    asub = p.add_subparsers(dest="arch_command", required=True, metavar="{cost,show}")
    c = asub.add_parser("cost", help="FLOPs per example and parameters, from the spec (no model is run)")
    c.add_argument("arch", help="architecture JSON file")
    c.add_argument("--dataset", default="criteo", help="criteo | avazu | kdd | a data set directory")
    c.add_argument("--space", choices=["full", "small"], help="space of a nasrec-lab JSON file (default: full)")
    c.add_argument("--layernorm", action="store_true", help="count the LayerNorm variant (default: off, as the paper)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=_cmd_arch_cost)
    s = asub.add_parser("show", help="print an architecture block by block, with its hash")
    s.add_argument("arch")
    s.add_argument("--space", choices=["full", "small"])
    s.add_argument("--json", action="store_true", help="print it in nasrec-lab's JSON format")
    s.set_defaults(func=_cmd_arch_show)


def _load_arch_and_space(path: str, space_name: str | None):
    from .space import get_space, load_architecture, validate

    arch, space = load_architecture(path)
    if space_name is not None:
        space = get_space(space_name)
    space = space or get_space("full")
    validate(arch, space, path=not arch.is_subnet)
    return arch, space


def _schema_for(dataset: str):
    from .data import PRESET_SCHEMAS, CTRDataset

    if dataset in PRESET_SCHEMAS:
        return PRESET_SCHEMAS[dataset]
    return CTRDataset(dataset).schema


def _cmd_arch_cost(args: argparse.Namespace) -> int:
    from .supernet import cost

    arch, space = _load_arch_and_space(args.arch, args.space)
    c = cost(arch, _schema_for(args.dataset), space, layernorm=args.layernorm)
    if args.json:
        print(json.dumps({"flops": c.flops, "params": c.params, "params_dense": c.params_dense,
                          "params_embedding": c.params_embedding, "mflops": c.mflops, "space": space.name,
                          "hash": arch.hash()}))
    else:
        print(f"{args.arch}: {c.mflops:.4f} MFLOPs per example, {c.params:,} parameters "
              f"({c.params_dense:,} dense, {c.params_embedding:,} in embeddings), space {space.name}")
    return 0


def _cmd_arch_show(args: argparse.Namespace) -> int:
    arch, space = _load_arch_and_space(args.arch, args.space)
    if args.json:
        print(json.dumps({**arch.to_json(), "space": space.name}, indent=2))
        return 0
    print(f"architecture {arch.hash()} in space {space.name} ({len(arch.blocks)} blocks)")
    for i, b in enumerate(arch.blocks):
        flags = [f for f in ("dense_sparse_interact", "deep_fm") if getattr(b, f)]
        print(f"  block {i + 1}: dense {'+'.join(b.dense_ops)} w={b.dense_width} <- {list(b.dense_in)} "
              f"(left {b.left}, right {b.right}); sparse {'+'.join(b.sparse_ops)} m={b.sparse_width} "
              f"<- {list(b.sparse_in)}" + (f"; {', '.join(flags)}" if flags else ""))
    return 0


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


_SUBCOMMANDS = [_add_demo, _add_synth, _add_preprocess, _add_arch, _add_bench]


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
