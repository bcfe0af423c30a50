"""``bench``: the benchmarks, each against a reference measured in the same run."""

from __future__ import annotations

import argparse

from ._common import SPACE_CHOICES, add_json, dumps, with_example


def _outputs(p: argparse.ArgumentParser) -> None:
    add_json(p)
    p.add_argument("--out", help="also write the JSON to this file")


def add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks (each prints a table, and one JSON object with --json)")
    with_example(p, "nasrec-lab bench supernet --json")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="{data,supernet,search}")
    d = bsub.add_parser("data", help="preprocessing throughput, memory growth, loader throughput")
    with_example(d, "nasrec-lab bench data --rows 1000000 --json")
    d.add_argument("--rows", type=int, default=1_000_000)
    _outputs(d)
    d.set_defaults(func=cmd_bench_data)
    sn = bsub.add_parser("supernet", help="supernet training and inference throughput against the masked reference")
    with_example(sn, "nasrec-lab bench supernet --space full --json")
    sn.add_argument("--space", choices=SPACE_CHOICES, default="full")
    sn.add_argument("--steps", type=int, default=20, help="timed training steps per model")
    sn.add_argument("--table-rows", type=int, default=100_000, help="rows of each of the 26 embedding tables")
    sn.add_argument("--batch-size", type=int, default=512, help="rows per timed training step")
    sn.add_argument("--inference-batch", type=int, default=4096)
    sn.add_argument("--device", default="cpu", help="cpu (2 threads) or cuda")
    _outputs(sn)
    sn.set_defaults(func=cmd_bench_supernet)
    se = bsub.add_parser("search", help="candidates scored per minute against the masked reference")
    with_example(se, "nasrec-lab bench search --json")
    se.add_argument("--finetune-steps", type=int, default=500)
    se.add_argument("--eval-batches", type=int, default=20)
    se.add_argument("--candidates", type=int, default=3, help="candidates timed for nasrec-lab")
    se.add_argument("--reference-candidates", type=int, default=1)
    se.add_argument("--space", choices=SPACE_CHOICES, default="full")
    se.add_argument("--table-rows", type=int, default=100_000, help="rows of each of the 26 embedding tables")
    se.add_argument("--device", default="cpu", help="cpu (2 threads) or cuda")
    se.add_argument("--workers", type=int, default=2,
                    help="also time N single-threaded scoring processes (search --backend process); 0: not")
    _outputs(se)
    se.set_defaults(func=cmd_bench_search)


def cmd_bench_data(args: argparse.Namespace) -> int:
    from ..bench import bench_data

    return _emit(bench_data(rows=args.rows), args)


def cmd_bench_supernet(args: argparse.Namespace) -> int:
    from ..bench import bench_supernet

    return _emit(bench_supernet(space=args.space, steps=args.steps, batch_size=args.batch_size, table_rows=args.table_rows,
                                inference_batch=args.inference_batch, device=args.device), args)


def cmd_bench_search(args: argparse.Namespace) -> int:
    from ..bench import bench_search

    return _emit(bench_search(finetune_steps=args.finetune_steps, eval_batches=args.eval_batches,
                              candidates=args.candidates, reference_candidates=args.reference_candidates,
                              table_rows=args.table_rows, space=args.space, device=args.device,
                              workers=args.workers), args)


def _emit(result: dict, args: argparse.Namespace) -> int:
    from ..bench import format_table

    print(format_table(result))
    if args.out:
        from .._atomic import atomic_write_json

        atomic_write_json(args.out, result)
    if args.json:
        print(dumps(result, sort_keys=True))
    return 0
