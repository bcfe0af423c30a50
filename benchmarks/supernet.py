"""Supernet benchmark: ``python -m benchmarks.supernet [STEPS]`` (the code is ``nasrec_lab.bench``).

The same as ``nasrec-lab bench supernet --steps STEPS``; prints the table and writes
``benchmarks/results/supernet.json``.
"""

from __future__ import annotations

import sys

from nasrec_lab.bench import bench_supernet, criteo_shape_schema, random_batch, train_throughput

from ._common import save_result

__all__ = ["bench_supernet", "criteo_shape_schema", "random_batch", "train_throughput"]

if __name__ == "__main__":
    save_result(bench_supernet(steps=int(sys.argv[1]) if len(sys.argv) > 1 else 20), "supernet")
