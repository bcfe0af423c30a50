"""Search benchmark: ``python -m benchmarks.search [FINETUNE_STEPS]`` (the code is ``nasrec_lab.bench``).

The same as ``nasrec-lab bench search --finetune-steps N``; prints the table and writes
``benchmarks/results/search.json``.
"""

from __future__ import annotations

import sys

from nasrec_lab.bench import bench_search

from ._common import save_result

__all__ = ["bench_search"]

if __name__ == "__main__":
    save_result(bench_search(finetune_steps=int(sys.argv[1]) if len(sys.argv) > 1 else 500), "search")
