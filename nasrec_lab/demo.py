"""The main job on the embedded default: the quickstart notebook, executed and written as a report.

Synthetic data, supernet training, evolutionary search, the best subnet trained from scratch
beside logistic regression and DLRM by the same recipe, the oracle, and an offline HTML report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .report import notebooks_dir, report


def run_demo(out: Path, *, parameters: dict[str, Any] | None = None, progress: bool = True, echo=print) -> dict:
    """Run the quickstart into ``out``; returns its headline numbers (the ``--json`` object of ``nasrec-lab demo``)."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    params = {"data_dir": str(out / "data"), "out": str(out), **(parameters or {})}
    t0 = time.perf_counter()
    echo(f"running the quickstart notebook into {out} (synthetic data -> supernet -> evolution -> from scratch)")
    path = report(notebooks_dir() / "01_quickstart.ipynb", out / "report.html", params, cwd=out, progress=progress)
    result = json.loads((out / "quickstart_result.json").read_text())
    headline = {
        "best_hash": result["best_hash"],
        "best_test_logloss": result.get("best_test_logloss"),
        "logistic_regression_test_logloss": result.get("logistic_regression_test_logloss"),
        "dlrm_test_logloss": result.get("dlrm_test_logloss"),
        "oracle_test_logloss": result.get("oracle_test_logloss"),
        "evaluated": result["evaluated"],
        "seed": result["config"]["seed"],
        "headline": result["headline"],
        "report": str(path),
        "wall_s": time.perf_counter() - t0,
    }
    echo(f"report: {path}")
    echo(f"{headline['headline']}; {headline['evaluated']} candidates searched; {headline['wall_s']:.0f} s")
    return headline
