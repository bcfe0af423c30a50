"""Data pipeline benchmark: ``python -m benchmarks.data [ROWS]`` (the code is ``nasrec_lab.bench``).

The same as ``nasrec-lab bench data --rows ROWS``; prints the table and writes
``benchmarks/results/data.json``.
"""

from __future__ import annotations

import sys

from nasrec_lab.bench import bench_data, naive_preprocess

from ._common import save_result

__all__ = ["bench_data", "naive_preprocess"]

if __name__ == "__main__":
    save_result(bench_data(rows=int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), "data")
