"""Raw files -> preprocessed data set directory, streamed in bounded memory.

Pass 1 parses blocks (``_readers``), appends labels, transformed dense values and the
categorical values (per block: codes, as narrow as the table allows, into a table of the
block's distinct 64-bit value hashes) to temporary files, and collects each column's distinct
values (counted for a vocabulary). Blocks are parsed two at a time. Between the passes the
split is assigned (it needs every label) and each column's id mapping is fixed. Pass 2
streams the temporary files block by block into the per-split arrays, mapping each block's
distinct hashes to ids (not every row's).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_directory, atomic_write_json
from ._compat import check_compat, release_assignment, release_indexes, release_value_key
from ._dataset import MANIFEST, MANIFEST_VERSION, CTRDataset, SplitWriter, not_a_dataset_reason
from ._errors import DataFormatError
from ._formats import AVAZU, CRITEO, KDD, RawFormat, check_delimiter
from ._readers import (
    DEFAULT_BLOCK_BYTES,
    UTF8_BOM,
    BlockParser,
    ParsedBlock,
    check_input_file,
    column_pool,
    file_sha256,
    iter_line_blocks,
    iter_parquet_blocks,
    load_user_profile,
    open_parquet,
    read_header,
)
from ._schema import FeatureSchema
from ._split import assign_splits

FORMATS = {"criteo": CRITEO, "avazu": AVAZU, "kdd": KDD}
# The release hashes Avazu's id into a 10,000-row table ("ID is trivial").
_FORMAT_TABLE_CAPS = {"avazu": {"id": 10_000}}


@dataclass(frozen=True)
class PreprocessOptions:
    """How raw values become model inputs.

    ``categorical="hash"``: each column's values get ids ``1..n-1`` (0 = missing); a column
    with more distinct values than ``table_cap - 1`` is hashed into ``table_cap`` rows, as the
    release does. ``categorical="vocab"``: values seen at least ``min_count`` times get their
    own id (by frequency), every other value shares the OOV id 1; 0 = missing.
    ``compat="release"`` (Criteo, Avazu, KDD): the release's own tensors, its shifted split and
    modulo map included (see ``_compat``).
    """

    categorical: str = "hash"
    table_cap: int = 500_000
    min_count: int = 1
    split: str = "autoctr"
    split_seed: int = 2018
    on_bad_rows: str = "error"
    block_bytes: int = DEFAULT_BLOCK_BYTES
    compat: str = "none"

    def __post_init__(self) -> None:
        if self.categorical not in ("hash", "vocab"):
            raise ValueError(f"categorical must be 'hash' or 'vocab', got {self.categorical!r}")
        if self.table_cap < 2:
            raise ValueError(f"table_cap must be >= 2, got {self.table_cap}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if self.split not in ("autoctr", "random"):
            raise ValueError(f"split must be 'autoctr' or 'random', got {self.split!r}")
        if self.on_bad_rows not in ("error", "skip"):
            raise ValueError(f"on_bad_rows must be 'error' or 'skip', got {self.on_bad_rows!r}")
        if not 0 <= self.split_seed < 2**32:  # numpy's seed range: refused now, not after the first pass
            raise ValueError(f"split_seed (--split-seed) must be between 0 and 2**32 - 1, got {self.split_seed}")
        check_compat(self.compat, categorical=self.categorical, split=self.split)


class _ValueCounter:
    """Distinct 64-bit hashes of one column with their counts (``counted``; else the counts stay
    ``None``: only a vocabulary by frequency needs them); memory grows with distinct values only."""

    def __init__(self, counted: bool = True) -> None:
        self.keys = np.zeros(0, np.uint64)
        self.counts: np.ndarray | None = np.zeros(0, np.int64) if counted else None
        self._pending: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._pending_len = 0

    def add(self, keys: np.ndarray, counts: np.ndarray | None) -> None:
        self._pending.append((keys, counts))
        self._pending_len += len(keys)
        if self._pending_len > max(2_000_000, len(self.keys)):
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self.keys, *(k for k, _ in self._pending)])
        if self.counts is None:
            # Sorted, then the first of each run: several times faster than np.unique here
            # (numpy 2's np.unique hashes before it sorts).
            keys.sort()
            self.keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys
        else:
            counts = np.concatenate([self.counts, *(c for _, c in self._pending)])
            self.keys, inv = np.unique(keys, return_inverse=True)
            self.counts = np.bincount(inv, weights=counts, minlength=len(self.keys)).astype(np.int64)
        self._pending, self._pending_len = [], 0

    def result(self) -> tuple[np.ndarray, np.ndarray | None]:
        self._merge()
        return self.keys, self.counts


@dataclass
class CategoryIndex:
    """Maps a column's value hashes to embedding ids (0 = missing)."""

    mode: str  # "exact" | "hash" | "vocab"
    table_size: int
    keys: pd.Index | None = None

    @classmethod
    def build(cls, keys: np.ndarray, counts: np.ndarray | None, options: PreprocessOptions, cap: int) -> CategoryIndex:
        if options.categorical == "vocab":
            keep = counts >= options.min_count
            k, c = keys[keep], counts[keep]
            order = np.lexsort((k, -c))  # by count descending, then hash
            return cls("vocab", len(order) + 2, pd.Index(k[order]))
        if len(keys) + 1 <= cap:
            return cls("exact", max(len(keys) + 1, 2), pd.Index(keys))
        return cls("hash", cap)

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        missing = hashes == 0
        if self.mode == "hash":
            ids = (hashes % np.uint64(self.table_size - 1)).astype(np.int64) + 1
        else:
            pos = self.keys.get_indexer(hashes)
            if self.mode == "exact":
                ids = pos + 1
            else:
                ids = np.where(pos >= 0, pos + 2, 1)
        ids[missing] = 0
        return ids.astype(np.int32)


def _code_dtype(table_len: int) -> type:
    """The narrowest type for a block's codes into a table of ``table_len`` entries: the
    temporary codes (most of pass 1's output) are written and read back in fewer bytes."""
    return np.uint8 if table_len <= 1 << 8 else np.uint16 if table_len <= 1 << 16 else np.int32


def _write(fh, array: np.ndarray, dtype: Any = None) -> None:
    """Append an array's bytes to a file (from its memory, no bytes copy)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    if array.size:
        fh.write(memoryview(array).cast("B"))


class _RawSink:
    """Pass-1 output: append-only temp files of labels, dense values, sparse codes, the
    blocks' hash tables and, per block, its rows and table lengths (``blocks.bin``, on disk:
    memory does not grow with the number of blocks)."""

    def __init__(self, tmp: Path, counters: list[_ValueCounter]) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.files = {k: open(tmp / f"{k}.bin", "wb") for k in ("label", "dense", "sparse", "tables", "blocks")}
        self.counters = counters
        self.blocks = 0
        self.rows = 0

    def add(self, block: ParsedBlock) -> None:
        n = len(block.label)
        for counter, (keys, counts) in zip(self.counters, block.stats):
            counter.add(keys, counts)
        if not n:
            return
        _write(self.files["label"], block.label)
        _write(self.files["dense"], block.dense)
        tables = block.tables or []
        for codes, t in zip(block.sparse_codes, tables):
            _write(self.files["sparse"], codes, _code_dtype(len(t)))
        for t in tables:
            _write(self.files["tables"], t, np.uint64)
        self.files["blocks"].write(np.array([n, *(len(t) for t in tables)], np.int64).tobytes())
        self.blocks += 1
        self.rows += n

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _iter_source_blocks(
    path: Path, fmt: RawFormat, options: PreprocessOptions, profile: pd.DataFrame | None, sha
) -> Iterator[ParsedBlock]:
    """The file's parsed blocks in file order.

    Text blocks are parsed by arrow two at a time (:func:`_fast_parsed`, in the background);
    a block arrow rejects is read line by line here, in file order, so the line named in an
    error (or the count of skipped rows) does not depend on which thread finished first.
    """
    if path.suffix == ".parquet":
        yield from _prefetched(iter_parquet_blocks(path, fmt))
        return
    line = 1
    for block, parsed, parser, header_lines in _prefetched(_fast_parsed(path, fmt, options, profile, sha)):
        line += header_lines
        parsed = parsed.result()
        if parsed is None:
            parsed = parser.parse_rejected(block, line)
        parsed.first_line = line
        line += parsed.lines
        yield parsed


# Blocks parsed at the same time: one per core of a 2-core laptop (arrow's CSV reader and
# the column hashing release the GIL). _prefetched's one-item queue holds at most two parses
# in flight (the queued block's and the one submitted before it is queued): more workers
# would wait.
_PARSE_WORKERS = 2
_PARSE_POOL: ThreadPoolExecutor | None = None


def _fast_parsed(
    path: Path, fmt: RawFormat, options: PreprocessOptions, profile: pd.DataFrame | None, sha
) -> Iterator[tuple[memoryview, Future, BlockParser, int]]:
    """Read the file's blocks and start :meth:`BlockParser.parse_fast` of each in the parse
    pool: (block, future, parser, header lines skipped before the block)."""
    global _PARSE_POOL
    if _PARSE_POOL is None:
        _PARSE_POOL = ThreadPoolExecutor(_PARSE_WORKERS, thread_name_prefix="nasrec-parse")
    parser = None
    header_lines = 0
    # A block's buffer is in use until the consumer has finished with it: at most three at
    # once (the consumer's block, the one in _prefetched's queue, the one this generator reads
    # or waits to queue); a fourth is a margin.
    # the hash sees the file's own bytes: not the newline a last line without one is given
    for i, block in enumerate(iter_line_blocks(path, options.block_bytes, buffers=4,
                                               raw=sha.update if sha is not None else None)):
        if i == 0:
            first = bytes(block).removeprefix(UTF8_BOM)  # a copy, of the first block only
            head, _, rest = first.partition(b"\n")
            file_fmt, is_header = _file_format(fmt, head.decode("utf-8", errors="replace").rstrip("\r"), path)
            key = release_value_key(fmt.name) if options.compat == "release" else None
            parser = BlockParser(file_fmt, str(path), on_bad_rows=options.on_bad_rows, user_profile=profile,
                                 sparse_key=key, count_values=options.categorical == "vocab",
                                 threads=(os.cpu_count() or 1) > _PARSE_WORKERS)
            block = first
            if is_header:
                block, header_lines = rest, 1
                if not block:
                    continue
        yield block, _PARSE_POOL.submit(parser.parse_fast, block), parser, header_lines
        header_lines = 0


def _mapped_blocks(
    raw: Path, n_blocks: int, indexes: Sequence[Any], n_dense: int
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Pass 2: each pass-1 block as (start row, stop row, dense values, embedding ids)."""
    ns = len(indexes)
    with open(raw / "dense.bin", "rb") as fd, open(raw / "sparse.bin", "rb") as fs, \
            open(raw / "tables.bin", "rb") as ft, open(raw / "blocks.bin", "rb") as fb:
        start = 0
        for _ in range(n_blocks):
            rows, *table_lens = (int(v) for v in np.fromfile(fb, np.int64, 1 + ns))
            dense = np.fromfile(fd, np.float32, rows * n_dense).reshape(rows, n_dense)
            codes = [np.fromfile(fs, _code_dtype(k), rows) for k in table_lens]
            tables = [np.fromfile(ft, np.uint64, k) for k in table_lens]
            ids = np.empty((ns, rows), np.int32)
            # Each block's distinct hashes are looked up once; rows take their id by code
            # (mode="clip": codes are in range, and np.take then skips its bounds checks,
            # a few times faster than fancy indexing).
            list(column_pool().map(lambda ix, t, c, out: np.take(ix.lookup(t), c, mode="clip", out=out),
                                   indexes, tables, codes, ids))
            # Row-major here, in this thread: the writer's row gather is then a copy of rows.
            yield start, start + rows, dense, np.ascontiguousarray(ids.T)
            start += rows


def _file_format(fmt: RawFormat, head: str, path: Path) -> tuple[RawFormat, bool]:
    """The format to read one file with, and whether its first line is a header.

    Every file's header is read, not skipped: columns are taken by name, so a file with
    another column order is read right; one without a column the first file has is refused.
    """
    if fmt.header == "none":
        return fmt, False
    fields = tuple(f.strip() for f in next(csv.reader([head], delimiter=fmt.delimiter), []))
    if fmt.header == "auto" and fields != fmt.columns and set(fields) != set(fmt.columns):
        return fmt, False  # no header line: the first line is data
    repeated = sorted({c for c in fields if fields.count(c) > 1})
    if repeated:  # also when the format's columns were taken from this header (csv)
        raise DataFormatError(str(path), f"the header repeats column(s) {repeated}", line=1, text=head[:200])
    if fields == fmt.columns:
        return fmt, True
    missing = [c for c in (fmt.label, *fmt.dense, *fmt.sparse) if c in fmt.columns and c not in fields]
    if missing:
        raise DataFormatError(str(path), f"the header lacks column(s) {missing}; expected the columns "
                                         f"{list(fmt.columns)} (in any order)", line=1, text=head[:200])
    return dataclasses.replace(fmt, columns=fields), True


def _prefetched(blocks: Iterable[Any]) -> Iterator[Any]:
    """Make the next item (parse a block, map a block's ids) in a background thread while the
    caller stores this one."""
    q: queue.Queue = queue.Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for b in blocks:
                if stop.is_set():
                    return
                q.put(b)
            q.put(done)
        except BaseException as exc:  # re-raised in the consumer
            q.put(exc)

    t = threading.Thread(target=work, daemon=True, name="nasrec-parse")
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


def preprocess(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    fmt: RawFormat | str,
    options: PreprocessOptions | None = None,
    user_profile: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> CTRDataset:
    """Preprocess raw files of one format into a data set directory at ``out``.

    >>> preprocess(["train.txt"], "data/criteo", fmt="criteo")   # doctest: +SKIP
    """
    options = options or PreprocessOptions()
    if isinstance(fmt, str):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)} (or a RawFormat)")
        fmt = FORMATS[fmt]
    paths = [Path(p) for p in inputs]
    check_compat(options.compat, fmt=fmt.name, categorical=options.categorical, split=options.split,
                 parquet=any(p.suffix == ".parquet" for p in paths))
    if not paths:
        raise ValueError("no input files given")
    for p in paths:
        check_input_file(p)
    _refuse_inputs_inside(out, [*paths, *([Path(user_profile)] if user_profile is not None else [])])
    profile = None
    if user_profile is not None and fmt.name != "kdd":
        raise ValueError(f"user_profile (--user-profile {user_profile}) joins KDD Cup 2012's Gender and Age; the "
                         f"{fmt.name!r} format takes none")
    if fmt.name == "kdd":
        if user_profile is None:
            raise ValueError(
                "KDD Cup 2012 needs userid_profile.txt for Gender and Age: pass user_profile= "
                "(CLI: --user-profile FILE)"
            )
        profile = load_user_profile(user_profile)

    caps = [min(options.table_cap, _FORMAT_TABLE_CAPS.get(fmt.name, {}).get(c, options.table_cap)) for c in fmt.sparse]
    with atomic_directory(out, overwrite=overwrite, owned=not_a_dataset_reason) as tmp:
        # The release's id map needs no distinct values; only a vocabulary needs their counts.
        vocab = options.categorical == "vocab"
        sink = _RawSink(tmp / "_raw", [] if options.compat == "release" else [_ValueCounter(vocab) for _ in fmt.sparse])
        sources = []
        try:
            for p in paths:
                rows_before, bad = sink.rows, 0
                # The SHA-256 of a plain file is taken from the blocks as they are read.
                sha = None if _is_compressed(p) or p.suffix == ".parquet" else hashlib.sha256()
                for block in _iter_source_blocks(p, fmt, options, profile, sha):
                    sink.add(block)
                    bad += block.bad_rows
                    if progress:
                        progress(sink.rows)
                if sink.rows == rows_before:
                    raise DataFormatError(str(p), "no data rows (only a header, blank lines or skipped bad rows)")
                sources.append(
                    {
                        "path": str(p.resolve()),
                        "bytes": p.stat().st_size,
                        "sha256": sha.hexdigest() if sha is not None else file_sha256(p),
                        "rows": sink.rows - rows_before,
                        "bad_rows": bad,
                    }
                )
        finally:
            sink.close()
        if user_profile is not None:
            up = Path(user_profile)
            sources.append({"path": str(up.resolve()), "bytes": up.stat().st_size, "sha256": file_sha256(up), "role": "user_profile"})

        labels = np.fromfile(tmp / "_raw" / "label.bin", dtype=np.int8)
        # The split and the columns' id maps do not depend on each other: computed side by side
        # (sorting and numpy's merges release the GIL).
        if options.compat == "release":
            split_job = column_pool().submit(release_assignment, labels, fmt.name, options.split_seed)
            indexes = release_indexes(fmt.name, options.table_cap)
        else:
            split_job = column_pool().submit(assign_splits, labels, options.split, options.split_seed)
            indexes = list(column_pool().map(lambda c, cap: CategoryIndex.build(*c.result(), options, cap),
                                             sink.counters, caps))
        assignment = split_job.result()
        counts = {name: int((assignment == i).sum()) for i, name in enumerate(("train", "val", "test"))}
        schema = FeatureSchema(
            dense=fmt.dense,
            sparse=fmt.sparse,
            table_sizes=tuple(ix.table_size for ix in indexes),
            label=fmt.label,
            name=fmt.name,
        )
        writer = SplitWriter(tmp, counts, len(fmt.dense), len(fmt.sparse), with_prob=False)
        # The next block's ids are computed while this one is written.
        for start, stop, dense, ids in _prefetched(_mapped_blocks(tmp / "_raw", sink.blocks, indexes, len(fmt.dense))):
            writer.write(assignment[start:stop], {"label": labels[start:stop], "dense": dense, "sparse": ids})
        split_stats = writer.close()
        for f in (tmp / "_raw").iterdir():
            f.unlink()
        (tmp / "_raw").rmdir()
        manifest = _manifest(
            kind=fmt.name,
            schema=schema,
            splits=split_stats,
            sources=sources,
            preprocessing={**asdict(options), "format": fmt.name, "column_modes": [ix.mode for ix in indexes]},
        )
        atomic_write_json(tmp / MANIFEST, manifest)
    return CTRDataset(out)


def _refuse_inputs_inside(out: str | os.PathLike, inputs: Sequence[Path]) -> None:
    # Writing a data set replaces its folder: an input inside it would be deleted with it.
    out_dir = Path(out).resolve()
    for p in inputs:
        if out_dir in Path(p).resolve().parents:
            raise ValueError(f"{p}: an input file inside the output folder {out}; choose an --out outside it")


def _manifest(
    *, kind: str, schema: FeatureSchema, splits: dict, sources: list, preprocessing: dict, extra: dict | None = None
) -> dict[str, Any]:
    from .. import __version__

    m = {
        "format_version": MANIFEST_VERSION,
        "kind": kind,
        "schema": schema.to_json(),
        "splits": splits,
        "sources": sources,
        "preprocessing": preprocessing,
        "bad_rows": int(sum(s.get("bad_rows", 0) for s in sources)),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "nasrec_lab_version": __version__,
    }
    if extra:
        m.update(extra)
    return m


def _is_compressed(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def csv_columns(path: str | os.PathLike, delimiter: str = ",") -> tuple[str, ...]:
    """Column names from a delimited file's header line (a ``.parquet`` file: its schema's)."""
    if Path(path).suffix == ".parquet":
        return tuple(open_parquet(path).schema_arrow.names)
    check_delimiter(delimiter)
    text = read_header(Path(path))
    return tuple(f.strip() for f in next(csv.reader([text], delimiter=delimiter), []))
