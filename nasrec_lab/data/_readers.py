"""Stream raw CTR files as parsed, validated blocks of numpy arrays.

Each block is parsed by pyarrow's multithreaded CSV reader (no per-row Python). Only when
that fast path rejects a block is the block re-read line by line, to name the exact line,
field and text of the first bad row, or to drop bad rows under ``on_bad_rows="skip"``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ._errors import DataFormatError
from ._formats import RawFormat

DEFAULT_BLOCK_BYTES = 32 << 20
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
# Sparse values hash to uint64; 0 is reserved for "missing".
MISSING_HASH = np.uint64(0)
UTF8_BOM = b"\xef\xbb\xbf"
_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"))


def check_input_file(path: str | os.PathLike) -> None:
    """Refuse, naming what it is, anything but a non-empty regular file (before opening it:
    opening a FIFO would block until something writes to it)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataFormatError(str(path), "no such file") from None
    except OSError as exc:
        raise DataFormatError(str(path), f"cannot read file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataFormatError(str(path), "is a directory; expected a data file (give the files inside it)")
    for test, kind in _FILE_KINDS:
        if test(st.st_mode):
            raise DataFormatError(str(path), f"is {kind}, not a regular file; save the stream to a file first "
                                             "(it is read twice: rows, then its checksum)")
    if st.st_size == 0:
        raise DataFormatError(str(path), "the file is empty")


@dataclass
class ParsedBlock:
    """One block of rows: labels, transformed dense values, 64-bit hashes of sparse values."""

    label: np.ndarray  # (n,) int8
    dense: np.ndarray  # (n, n_dense) float32, already log(max(x,0)+1), missing -> 0
    sparse_hash: np.ndarray  # (n, n_sparse) uint64, 0 = missing
    bad_rows: int
    first_line: int
    # Lines of the file this block covered (rows + bad rows + blank lines).
    lines: int = 0
    # Per sparse column: (distinct hashes in this block, their counts); feeds the id mapping.
    stats: list[tuple[np.ndarray, np.ndarray]] | None = None


def hash_strings(values: np.ndarray) -> np.ndarray:
    """Stable 64-bit hashes of string values (never 0: 0 means missing)."""
    h = pd.util.hash_array(np.asarray(values, dtype=object), categorize=False)
    h[h == MISSING_HASH] = np.uint64(1)
    return h


def transform_dense(x: np.ndarray) -> np.ndarray:
    """The release's dense transform: ``log(max(x, 0) + 1)``; missing (NaN) -> 0."""
    with np.errstate(invalid="ignore"):
        out = np.log1p(np.maximum(x, 0.0))
    out[~np.isfinite(out)] = 0.0
    return out.astype(np.float32, copy=False)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_binary(path: Path):
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
    except OSError as exc:
        raise DataFormatError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_line_blocks(path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[bytes]:
    """Yield the file's bytes in blocks that end at a line boundary (gzip is decompressed)."""
    carry = b""
    with _open_binary(path) as fh:
        while True:
            try:
                chunk = fh.read(block_bytes)
            except (OSError, EOFError, zlib.error) as exc:
                raise DataFormatError(str(path), f"cannot read file: {exc}") from exc
            if not chunk:
                break
            data = carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            block, carry = data[: cut + 1], data[cut + 1 :]
            yield block
    if carry:
        yield carry + b"\n"


class BlockParser:
    """Parse blocks of one raw format into :class:`ParsedBlock`."""

    def __init__(
        self,
        fmt: RawFormat,
        path: str,
        *,
        on_bad_rows: str = "error",
        user_profile: pd.DataFrame | None = None,
        sparse_key: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        if on_bad_rows not in ("error", "skip"):
            raise ValueError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
        self.fmt = fmt
        self.path = path
        self.on_bad_rows = on_bad_rows
        self.user_profile = user_profile
        # Distinct string values -> uint64 keys (0 = missing); the stable hash unless a compat mode says otherwise.
        self.sparse_key = sparse_key
        self._col_index = {c: i for i, c in enumerate(fmt.columns)}
        self._dense_read = [c for c in fmt.dense if c in self._col_index]
        # Categorical columns are dictionary-encoded by the parser itself (cheaper than after).
        types: dict[str, pa.DataType] = {c: pa.dictionary(pa.int32(), pa.string()) for c in fmt.columns}
        for c in fmt.dense:
            if c in self._col_index:
                types[c] = pa.float64()
        types[fmt.label] = pa.int64()
        self._read_options = pacsv.ReadOptions(column_names=list(fmt.columns), use_threads=True)
        self._parse_options = pacsv.ParseOptions(
            delimiter=fmt.delimiter,
            quote_char='"' if fmt.quoted else False,
            double_quote=fmt.quoted,
            escape_char=False,
            newlines_in_values=False,
            # Blank lines fail the fast path, so on it one row is one line (line numbers
            # without counting); the line-by-line path skips them.
            ignore_empty_lines=False,
        )
        self._convert_options = pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            include_columns=[c for c in fmt.columns if c in (fmt.label, *fmt.dense, *fmt.sparse)],
        )

    # -- fast path ------------------------------------------------------------------
    def _read_fast(self, block: bytes) -> pa.Table:
        try:
            return self._read_csv(block, self._read_options)
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc):
                raise
        # A row longer than arrow's parse block (1 MB): parse the block as one piece.
        opts = pacsv.ReadOptions(column_names=self._read_options.column_names, use_threads=True,
                                 block_size=len(block) + 1)
        return self._read_csv(block, opts)

    def _read_csv(self, block: bytes, read_options: pacsv.ReadOptions) -> pa.Table:
        table = pacsv.read_csv(
            pa.BufferReader(block),
            read_options=read_options,
            parse_options=self._parse_options,
            convert_options=self._convert_options,
        )
        for c in self._dense_read:
            col = table.column(c)
            # "nan" / "inf" parse as floats; they are bad rows, named by the line-by-line path.
            if col.length() - col.null_count and not pc.all(pc.is_finite(col)).as_py():
                raise _LabelError
        return table

    def parse(self, block: bytes, first_line: int) -> ParsedBlock:
        bad = 0
        try:
            table = self._read_fast(block)
            self._check_labels(table)
            lines = table.num_rows
        except (pa.ArrowInvalid, _LabelError):
            good, bad, lines = self._scan(block, first_line)
            if not good:
                n_dense, n_sparse = len(self.fmt.dense), len(self.fmt.sparse)
                empty = (np.zeros(0, np.uint64), np.zeros(0, np.int64))
                return ParsedBlock(
                    np.zeros(0, np.int8),
                    np.zeros((0, n_dense), np.float32),
                    np.zeros((0, n_sparse), np.uint64),
                    bad,
                    first_line,
                    lines,
                    [empty] * n_sparse,
                )
            try:
                table = self._read_fast(b"".join(good))
            except pa.ArrowInvalid as exc:  # pragma: no cover - the scan accepts what arrow accepts
                raise DataFormatError(self.path, f"block starting at line {first_line}: {exc}") from exc
        parsed = self._to_arrays(table, bad, first_line)
        parsed.lines = lines
        return parsed

    def _check_labels(self, table: pa.Table) -> None:
        lab = table.column(self.fmt.label).to_numpy(zero_copy_only=False)
        if table.column(self.fmt.label).null_count:
            raise _LabelError
        if self.fmt.label_rule == "binary":
            if ((lab != 0) & (lab != 1)).any():
                raise _LabelError
        elif (lab < 0).any():
            raise _LabelError

    def _to_arrays(self, table: pa.Table, bad: int, first_line: int) -> ParsedBlock:
        fmt = self.fmt
        n = table.num_rows
        lab = table.column(fmt.label).to_numpy(zero_copy_only=False)
        label = (lab > 0).astype(np.int8)
        dense = np.empty((n, len(fmt.dense)), np.float32)
        for j, c in enumerate(fmt.dense):
            if c not in self._col_index:  # Avazu's all-zero "virtual" dense feature
                dense[:, j] = 0.0
                continue
            dense[:, j] = transform_dense(table.column(c).to_numpy(zero_copy_only=False).astype(np.float64))
        sparse = np.empty((n, len(fmt.sparse)), np.uint64)
        stats = []
        profile = self._profile_columns(table) if self.user_profile is not None else {}
        columns = [profile[c] if c in profile else table.column(c) for c in fmt.sparse]
        # Dictionary encoding releases the GIL: columns are hashed in parallel.
        hashed = column_pool().map(lambda col: hash_column(col, self.sparse_key), columns)
        for j, (rows, uniq, counts) in enumerate(hashed):
            sparse[:, j] = rows
            stats.append((uniq, counts))
        return ParsedBlock(label, dense, sparse, bad, first_line, 0, stats)

    def _profile_columns(self, table: pa.Table) -> dict[str, pa.Array]:
        # KDD Cup 2012: Gender and Age come from userid_profile.txt; unknown user -> 0, 0.
        prof = self.user_profile
        users = table.column("UserID").to_numpy(zero_copy_only=False)
        pos = prof.index.get_indexer(pd.Index(users))
        out = {}
        for name in ("Gender", "Age"):
            vals = np.where(pos >= 0, prof[name].to_numpy()[np.maximum(pos, 0)], "0")
            out[name] = pa.array(vals.astype(object), pa.string())
        return out

    # -- slow path: find and name bad rows ---------------------------------------------
    def _scan(self, block: bytes, first_line: int) -> tuple[list[bytes], int, int]:
        good: list[bytes] = []
        bad = 0
        raw_lines = block.splitlines(keepends=True)
        for offset, raw in enumerate(raw_lines):
            line_no = first_line + offset
            problem = None
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                problem = DataFormatError(
                    self.path, f"invalid UTF-8: byte {raw[exc.start]:#04x} at column {exc.start + 1}",
                    line=line_no, text=text[:120])
            if not text.strip():
                continue
            problem = problem or self._row_problem(text, line_no)
            if problem is None:
                good.append(raw)
                continue
            if self.on_bad_rows == "error":
                raise problem
            bad += 1
        return good, bad, len(raw_lines)

    def _row_problem(self, text: str, line_no: int) -> DataFormatError | None:
        fmt = self.fmt
        if fmt.quoted and '"' in text:
            # csv's default field limit (128 KB) is below rows arrow reads fine
            csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
            fields = next(csv.reader(io.StringIO(text), delimiter=fmt.delimiter))
        else:
            fields = text.split(fmt.delimiter)
        if len(fields) != len(fmt.columns):
            return DataFormatError(
                self.path,
                f"expected {len(fmt.columns)} fields separated by {fmt.delimiter!r}, found {len(fields)}",
                line=line_no,
                text=text[:120],
            )
        label_text = fields[self._col_index[fmt.label]].strip()
        ok_label = label_text in ("0", "1") if fmt.label_rule == "binary" else label_text.isdigit()
        if not ok_label:
            want = "0 or 1" if fmt.label_rule == "binary" else "a non-negative integer"
            return DataFormatError(self.path, f"expected a label of {want}", line=line_no, field=fmt.label, text=label_text)
        for c in fmt.dense:
            if c not in self._col_index:
                continue
            v = fields[self._col_index[c]]
            if v != "" and not (_NUMBER.match(v) and math.isfinite(float(v))):
                return DataFormatError(self.path, "expected a number or an empty field (finite: not nan or inf)", line=line_no, field=c,
                                       text=v)
        return None


class _LabelError(Exception):
    pass


_POOL: ThreadPoolExecutor | None = None


def column_pool() -> ThreadPoolExecutor:
    """A small shared thread pool for per-column work that releases the GIL."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="nasrec-col")
    return _POOL


def hash_column(col: pa.ChunkedArray | pa.Array,
                key: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash a string column through its dictionary (each distinct value hashed once).

    Returns ``(row hashes with 0 for null, distinct hashes, their counts)``.
    """
    if isinstance(col, pa.ChunkedArray):
        col = col.unify_dictionaries().combine_chunks() if pa.types.is_dictionary(col.type) else col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        enc = col
        if not pa.types.is_string(enc.dictionary.type):
            enc = pa.DictionaryArray.from_arrays(enc.indices, enc.dictionary.cast(pa.string()))
    else:
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            col = col.cast(pa.string())
        enc = col.dictionary_encode()
    dict_hash = (key or hash_strings)(enc.dictionary.to_numpy(zero_copy_only=False))
    if enc.indices.null_count:
        idx = enc.indices.fill_null(len(dict_hash)).to_numpy().astype(np.int64)
        counts = np.bincount(idx, minlength=len(dict_hash) + 1)[: len(dict_hash)]
        rows = np.append(dict_hash, MISSING_HASH)[idx]
    else:
        idx = enc.indices.to_numpy()
        counts = np.bincount(idx, minlength=len(dict_hash))
        rows = dict_hash[idx]
    return rows, dict_hash, counts


def load_user_profile(path: str | os.PathLike) -> pd.DataFrame:
    """KDD Cup 2012 ``userid_profile.txt``: TAB-separated UserID, Gender, Age; indexed by UserID."""
    path = Path(path)
    check_input_file(path)
    try:
        df = pd.read_csv(path, sep="\t", header=None, names=["UserID", "Gender", "Age"], dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(str(path), f"cannot read the user profile (UserID TAB Gender TAB Age): {exc}") from exc
    if df.isna().any().any():
        line = int(np.flatnonzero(df.isna().any(axis=1).to_numpy())[0]) + 1
        raise DataFormatError(str(path), "expected 3 TAB-separated fields UserID, Gender, Age", line=line)
    return df.drop_duplicates("UserID", keep="last").set_index("UserID")


def iter_parquet_blocks(
    path: Path, fmt: RawFormat, batch_rows: int = 262_144
) -> Iterator[ParsedBlock]:
    """Parquet files with named columns (dense numeric, label 0/1, sparse anything)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataFormatError(str(path), f"cannot read Parquet file: {exc}") from exc
    names = set(pf.schema_arrow.names)
    for c in (fmt.label, *fmt.dense, *fmt.sparse):
        if c not in names:
            raise DataFormatError(str(path), f"column missing; the file has {sorted(names)}", field=c)
    row = 1
    for batch in pf.iter_batches(batch_size=batch_rows, columns=[fmt.label, *fmt.dense, *fmt.sparse]):
        n = batch.num_rows
        lab = batch.column(fmt.label).to_numpy(zero_copy_only=False)
        bad_label = np.flatnonzero(~np.isin(lab, (0, 1)))
        if bad_label.size:
            i = int(bad_label[0])
            raise DataFormatError(
                str(path), "expected a label of 0 or 1", line=row + i, field=fmt.label, text=str(lab[i])
            )
        dense = np.empty((n, len(fmt.dense)), np.float32)
        for j, c in enumerate(fmt.dense):
            arr = batch.column(c)
            if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
                raise DataFormatError(str(path), f"expected a numeric column, found type {arr.type}", field=c)
            values = arr.to_numpy(zero_copy_only=False).astype(np.float64)
            # NaN is how pandas writes a missing float; an infinity is a value we cannot use.
            inf = np.flatnonzero(np.isinf(values))
            if inf.size:
                i = int(inf[0])
                raise DataFormatError(str(path), "expected a finite number or a missing value", line=row + i, field=c,
                                      text=str(values[i]))
            dense[:, j] = transform_dense(values)
        sparse = np.empty((n, len(fmt.sparse)), np.uint64)
        stats = []
        for j, c in enumerate(fmt.sparse):
            sparse[:, j], uniq, counts = hash_column(batch.column(c))
            stats.append((uniq, counts))
        yield ParsedBlock(lab.astype(np.int8), dense, sparse, 0, row, n, stats)
        row += n


def read_header(path: Path) -> str:
    """The first line of a delimited file (without a UTF-8 BOM), for formats whose header names the columns."""
    check_input_file(path)
    for block in iter_line_blocks(path, 1 << 16):
        first = block.split(b"\n", 1)[0].removeprefix(UTF8_BOM).decode("utf-8", errors="replace").rstrip("\r")
        return first
    raise DataFormatError(str(path), "the file is empty")
