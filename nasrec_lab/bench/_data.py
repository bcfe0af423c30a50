"""Data pipeline benchmark: preprocessing and loading against naive references, in one run.

``nasrec-lab bench data --json`` (or ``python -m benchmarks.data`` from the repository) prints a
table and one JSON object with ``preprocess_speedup``, ``memory_growth`` and ``loader_speedup``.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._common import child_peak_rss_mb, timed


def naive_preprocess(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How simple CTR scripts read Criteo: split each line, a dict per categorical column."""
    vocabs: list[dict[str, int]] = [{} for _ in range(26)]
    labels, dense, sparse = [], [], []
    with open(path) as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            labels.append(int(f[0]))
            dense.append([math.log(max(int(x), 0) + 1) if x else 0.0 for x in f[1:14]])
            row = []
            for j, x in enumerate(f[14:40]):
                if not x:
                    row.append(0)
                    continue
                d = vocabs[j]
                i = d.get(x)
                if i is None:
                    i = d[x] = len(d) + 1
                row.append(i)
            sparse.append(row)
    return np.array(labels, np.int8), np.array(dense, np.float32), np.array(sparse, np.int32)


_PREPROCESS_CHILD = """
from nasrec_lab.data import preprocess
preprocess([{raw!r}], {out!r}, fmt="criteo", overwrite=True)
"""


def bench_data(rows: int = 1_000_000, workdir: str | None = None, loader_batches: int = 400) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from nasrec_lab.data import CTRDataset, preprocess, write_raw_criteo

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        raw = write_raw_criteo(tmp / "train_1x.txt", rows=rows, seed=0)
        raw4 = write_raw_criteo(tmp / "train_4x.txt", rows=4 * rows, seed=1)

        # 1. Throughput: ours against the naive reader, same file, same process.
        t_naive, _ = timed(lambda: naive_preprocess(raw))
        t_ours, ds = timed(lambda: preprocess([raw], tmp / "ds_1x", fmt="criteo"))
        # 2. Peak memory, each in a fresh process.
        peak_1x, _ = child_peak_rss_mb(_PREPROCESS_CHILD.format(raw=str(raw), out=str(tmp / "m1")))
        peak_4x, _ = child_peak_rss_mb(_PREPROCESS_CHILD.format(raw=str(raw4), out=str(tmp / "m4")))

        # 3. Loader: shuffled batches of 512 from the whole 1M-row data set.
        ds = CTRDataset(tmp / "ds_1x")
        data = ds.split("train")
        loader = ds.loader("train", 512, shuffle=True, seed=0)
        n_ours = min(loader_batches, len(loader))
        t0 = time.perf_counter()
        for i, _batch in enumerate(loader):
            if i + 1 >= n_ours:
                break
        t_loader = time.perf_counter() - t0
        dense = torch.from_numpy(np.array(data.column("dense")))
        sparse = torch.from_numpy(np.asarray(data.column("sparse")).astype(np.int64))
        label = torch.from_numpy(np.asarray(data.column("label")).astype(np.float32))
        ref = DataLoader(TensorDataset(dense, sparse, label), batch_size=512, shuffle=True)
        n_ref = max(20, n_ours // 8)
        t0 = time.perf_counter()
        for i, _batch in enumerate(ref):
            if i + 1 >= n_ref:
                break
        t_ref = time.perf_counter() - t0

    ours_rps = rows / t_ours
    naive_rps = rows / t_naive
    loader_rps = n_ours * 512 / t_loader
    ref_rps = n_ref * 512 / t_ref
    return {
        "title": f"data pipeline benchmark ({rows:,} Criteo-format rows, 2 threads)",
        "table": [
            {"measure": "preprocess rows/s", "nasrec-lab": ours_rps, "reference": naive_rps, "ratio": ours_rps / naive_rps},
            {"measure": f"peak RSS MiB ({rows:,} vs {4 * rows:,} rows)", "nasrec-lab": peak_4x, "reference": peak_1x,
             "ratio": peak_4x / peak_1x},
            {"measure": "loader rows/s (shuffled, batch 512)", "nasrec-lab": loader_rps, "reference": ref_rps,
             "ratio": loader_rps / ref_rps},
        ],
        "rows": rows,
        "preprocess_rows_per_s": ours_rps,
        "naive_rows_per_s": naive_rps,
        "preprocess_speedup": ours_rps / naive_rps,
        "peak_rss_mb_1x": peak_1x,
        "peak_rss_mb_4x": peak_4x,
        "memory_growth": peak_4x / peak_1x,
        "loader_rows_per_s": loader_rps,
        "reference_loader_rows_per_s": ref_rps,
        "loader_speedup": loader_rps / ref_rps,
    }

