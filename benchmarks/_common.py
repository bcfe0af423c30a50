"""Helpers of the repository's benchmark scripts: the library's timing and table, results under ``benchmarks/results``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nasrec_lab.bench._common import child_peak_rss_mb, format_table, timed

__all__ = ["child_peak_rss_mb", "format_table", "preset_data", "save_result", "synthetic_data", "timed"]


def save_result(result: dict[str, Any], name: str, out: str | Path | None = None) -> Path:
    """Print the table and write the JSON to ``out`` (default ``benchmarks/results/NAME.json``)."""
    print(format_table(result))
    out = Path(out) if out else Path(__file__).parent / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return out


def synthetic_data(path: Path, *, rows: int, seed: int, preset: str = "default", part: int = 0):
    """The synthetic data set at ``path`` (one of ``SYNTHETIC_PRESETS``; ``part`` as in ``synthesize``),
    generated there first unless a kept work dir already holds it."""
    from nasrec_lab.data import SYNTHETIC_PRESETS, CTRDataset, synthesize, synthetic_differences

    if (path / "manifest.json").exists():
        ds = CTRDataset(path)
        kept = ds.manifest.get("synthetic") or {}
        # a kept work dir made for another click model or size must not stand in for this one
        differ = synthetic_differences(ds, SYNTHETIC_PRESETS[preset], rows=rows, seed=seed, part=part)
        if differ is None or differ:
            raise ValueError(f"{path}: the kept data set differs from the one asked for in {differ or 'not synthetic'} "
                             f"(it holds {kept.get('spec', {}).get('preset')!r}, {kept.get('rows')} rows, seed "
                             f"{kept.get('seed')}; asked {preset!r}, {rows} rows, seed {seed}); use another work dir")
        return ds
    return synthesize(path, rows=rows, seed=seed, spec=SYNTHETIC_PRESETS[preset], part=part)


def preset_data(root: Path, *, preset: str, rows: int, seed: int, part: int = 0):
    """``synthetic_data`` in ``root/PRESET-ROWS-sSEED[-partK]``: the one naming through which
    ``preset_spread --data-dir`` and ``rank_ablation --workdir`` find each other's data and truths."""
    name = f"{preset}-{rows}-s{seed}" + (f"-part{part}" if part else "")
    return synthetic_data(root / name, rows=rows, seed=seed, preset=preset, part=part)
