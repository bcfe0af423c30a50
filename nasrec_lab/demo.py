"""The main job on the embedded default: synthesize, preprocess, load, summarise."""

from __future__ import annotations

import time
from pathlib import Path

from .data import CTRDataset, preprocess, synthesize, write_raw_criteo


def run_demo(out: Path, *, rows: int = 100_000, seed: int = 0, echo=print) -> dict:
    """Synthetic data end to end; returns the headline numbers it printed."""
    out = Path(out)
    t0 = time.perf_counter()
    echo(f"[1/3] synthesizing {rows:,} rows (known click model) -> {out / 'synthetic'}")
    ds = synthesize(out / "synthetic", rows=rows, seed=seed, overwrite=True)
    echo(ds.summary())
    echo("[2/3] the same generator as a raw Criteo file, through the real preprocessing pipeline")
    raw = write_raw_criteo(out / "raw" / "train.txt", rows=rows, seed=seed)
    pre = preprocess([raw], out / "criteo-format", fmt="criteo", overwrite=True)
    echo(pre.summary())
    echo("[3/3] loading shuffled batches of 512")
    loader = CTRDataset(out / "synthetic").loader("train", 512, seed=seed)
    n_rows = 0
    t1 = time.perf_counter()
    for batch in loader:
        n_rows += len(batch.label)
    rate = n_rows / (time.perf_counter() - t1)
    echo(f"  one epoch: {len(loader)} batches, {n_rows:,} rows, {rate:,.0f} rows/s; "
         f"batch shapes dense {tuple(batch.dense.shape)}, sparse {tuple(batch.sparse.shape)}")
    result = {
        "oracle_test_logloss": ds.oracle_logloss("test"),
        "rows": rows,
        "loader_rows_per_s": rate,
        "seconds": time.perf_counter() - t0,
    }
    echo(f"done in {result['seconds']:.1f} s; Bayes-optimal test log loss {result['oracle_test_logloss']:.5f}")
    return result
