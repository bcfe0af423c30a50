"""The main job on the embedded default: the quickstart notebook, executed and written as a report.

Synthetic data, supernet training, evolutionary search, the best subnet trained from scratch
beside baselines and the oracle, and an offline HTML report; progress is shown per cell.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .report import notebooks_dir, report


def run_demo(out: Path, *, parameters: dict[str, Any] | None = None, progress: bool = True, echo=print) -> dict:
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    params = {"data_dir": str(out / "data"), "out": str(out), **(parameters or {})}
    t0 = time.perf_counter()
    echo(f"running the quickstart notebook into {out} (synthetic data -> supernet -> evolution -> from scratch)")
    path = report(notebooks_dir() / "01_quickstart.ipynb", out / "report.html", params, cwd=out, progress=progress)
    headline = json.loads((out / "quickstart_result.json").read_text())
    headline["seconds"] = time.perf_counter() - t0
    headline["report"] = str(path)
    echo(f"report: {path}")
    echo(f"best architecture {headline['best_hash']} ({headline['mflops']:.3f} MFLOPs): test log loss "
         f"{headline['test_logloss']:.5f}; Bayes-optimal (oracle) {headline['oracle_test_logloss']:.5f}; "
         f"{headline['evaluated']} candidates searched; {headline['seconds']:.0f} s")
    return headline
