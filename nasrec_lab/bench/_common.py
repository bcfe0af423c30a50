"""Shared benchmark helpers: timing, peak memory of a child process, the printed table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def child_peak_rss_mb(code: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run ``code`` in a fresh Python process; return its peak RSS (MiB) and its stdout.

    Reads ``VmHWM`` (the high-water mark of this process image): ``ru_maxrss`` would carry the
    parent's peak across fork+exec on Linux.
    """
    wrapper = code + (
        "\nfor _line in open('/proc/self/status'):\n"
        "    if _line.startswith('VmHWM:'):\n"
        "        print('__PEAK_KB__', _line.split()[1])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    peak = [line for line in proc.stdout.splitlines() if line.startswith("__PEAK_KB__")]
    return int(peak[-1].split()[1]) / 1024.0, proc.stdout


def format_table(result: dict[str, Any]) -> str:
    """A fixed-width table of the benchmark's rows (``result["rows"]``) and its ratios."""
    rows = result.get("table", [])
    if not rows:
        return json.dumps(result, indent=2)
    # nested records (a row's recipe) stay in the JSON; the table shows scalars
    cols = [c for c in rows[0] if not any(isinstance(r.get(c), dict) for r in rows)]
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    lines = [result.get("title", "benchmark"), "  ".join(c.ljust(widths[c]) for c in cols)]
    lines.append("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        lines.append("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in cols))
    summary = {k: v for k, v in result.items() if k not in ("table", "title") and not isinstance(v, (dict, list))}
    if summary:
        lines.append("")
        lines.extend(f"{k}: {_fmt(v)}" for k, v in summary.items())
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (tuple, list)) and v and all(isinstance(x, (int, float)) for x in v):
        return "[" + ", ".join(_fmt(float(x)) for x in v) + "]"  # an interval
    return "" if v is None else str(v)
