"""``report`` and ``demo``: executed notebooks as offline HTML reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_json, add_progress, add_seed, dumps, with_example


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: the quickstart on synthetic data, written as an offline report")
    with_example(p, "nasrec-lab demo --out runs/demo", "nasrec-lab demo -p supernet_steps 2000 -p budget 64")
    p.add_argument("--out", default="runs/demo", help="output folder (report.html, data, supernet, search store)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override a quickstart parameter (rows, supernet_steps, budget, space, seed, ...)")
    add_seed(p)
    add_json(p, "print one JSON object as the last line (best_test_logloss, logistic_regression_test_logloss, "
                "dlrm_test_logloss, oracle_test_logloss, best_hash, wall_s)")
    add_progress(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..report import parse_parameters

    parameters = {"seed": args.seed, **parse_parameters(args.parameter)}
    headline = run_demo(Path(args.out), parameters=parameters, progress=not args.no_progress and not args.json,
                        echo=(lambda s: print(s, file=sys.stderr)) if args.json else print)
    if args.json:
        print(dumps(headline))
    return 0


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="execute a notebook with parameters and write one offline HTML report")
    with_example(p, "nasrec-lab report notebooks/04_evolution_pareto.ipynb -p budget 48 -p seed 1 "
                    "-o runs/evo/report.html")
    p.add_argument("notebook")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="a notebook parameter (Python literals are parsed: 3, 0.5, True, [1, 2])")
    p.add_argument("-o", "--output", required=True, help="REPORT.html")
    p.add_argument("--cwd", help="working folder of the run (default: the report's folder)")
    add_progress(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import parse_parameters, report

    path = report(args.notebook, args.output, parse_parameters(args.parameter), cwd=args.cwd,
                  progress=not args.no_progress)
    print(f"report written to {path}")
    return 0
