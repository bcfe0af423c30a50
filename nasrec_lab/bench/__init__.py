"""The benchmarks ``nasrec-lab bench data|supernet|search`` runs, each against a reference in the same run.

Each returns one JSON-able dict (``title`` and ``table`` for :func:`format_table`, the ratios as
top-level keys). ``benchmarks/`` in the repository holds the ``python -m benchmarks.<name>`` entry
points (thin ones for these three) and the longer studies that are not part of the package.
"""

from ._common import child_peak_rss_mb, format_table, timed
from ._data import bench_data, naive_preprocess
from ._masked_reference import MaskedSuperNet
from ._search import bench_search
from ._supernet import bench_supernet, criteo_shape_schema, random_batch, train_throughput

__all__ = [
    "MaskedSuperNet",
    "bench_data",
    "bench_search",
    "bench_supernet",
    "child_peak_rss_mb",
    "criteo_shape_schema",
    "format_table",
    "naive_preprocess",
    "random_batch",
    "timed",
    "train_throughput",
]
