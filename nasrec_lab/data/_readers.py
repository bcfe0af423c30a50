"""Stream raw CTR files as parsed, validated blocks of numpy arrays.

Each block is parsed by pyarrow's multithreaded CSV reader (no per-row Python). Only when
that fast path rejects a block is the block re-read line by line, to name the exact line,
field and text of the first bad row, or to drop bad rows under ``on_bad_rows="skip"``.

What makes the fast path fast: blocks are read into one reused buffer; dense columns are read
as integers while their values are integers (``log1p`` by table) and categorical columns as
bytes, as one uint64 per row while every value has 8 bytes (Criteo's hex ids), factorized as
numbers; only each block's distinct values are hashed (and UTF-8 checked), and a block keeps
its values as int32 codes into that block's table of hashes. None of this changes a result:
a value that does not fit a narrow type sends its column to the general type.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import math
import os
import re
import stat
import threading
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

from ._compat import ReleaseValueError
from ._errors import DataFormatError
from ._formats import RawFormat

DEFAULT_BLOCK_BYTES = 32 << 20
_COLUMN_NO = re.compile(r"CSV column #(\d+)")
# ASCII digits only: Python's float() also reads other scripts' digits, arrow does not
_NUMBER = re.compile(r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$")
# an integer label as arrow's int64 reads it (leading zeros, "-0"); its value is checked apart
_INTEGER = re.compile(r"-?[0-9]+")
# arrow's int64 reads "0x10" as 16; the rule (_NUMBER) does not: such a block goes line by line
_HEX_PREFIX = re.compile(rb"0[xX]")
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
    """One block of rows: labels, transformed dense values, sparse values as codes into per-block
    tables of 64-bit value hashes.

    ``sparse_codes[j, i]`` (column-major) is row ``i``'s value in column ``j`` as an index
    into ``tables[j]``: code 0 is a missing value (``tables[j][0] == 0``), every other code one
    distinct value of this block, ``counts[j][c - 1]`` rows of it. The hash of row ``i`` is
    ``tables[j][sparse_codes[j, i]]`` (:attr:`sparse_hash`).
    """

    label: np.ndarray  # (n,) int8
    dense: np.ndarray  # (n, n_dense) float32, already log(max(x,0)+1), missing -> 0
    sparse_codes: np.ndarray  # (n_sparse, n) int32, 0 = missing
    bad_rows: int
    first_line: int
    # Lines of the file this block covered (rows + bad rows + blank lines).
    lines: int = 0
    # Per sparse column: [0, distinct hashes in this block...] and the rows of each distinct hash
    # (None for a column whose rows were not counted: BlockParser(count_values=False)).
    tables: list[np.ndarray] | None = None
    counts: list[np.ndarray | None] | None = None

    @property
    def stats(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per sparse column: (distinct hashes in this block, their counts); feeds the id mapping."""
        return [(t[1:], c) for t, c in zip(self.tables or [], self.counts or [])]

    @property
    def sparse_hash(self) -> np.ndarray:
        """(n, n_sparse) uint64 hashes, 0 = missing."""
        out = np.empty(self.sparse_codes.shape[::-1], np.uint64)
        for j, t in enumerate(self.tables or []):
            out[:, j] = t[self.sparse_codes[j]]
        return out


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


_LOG1P_TABLE: np.ndarray | None = None


def transform_dense_int(values: np.ndarray) -> np.ndarray:
    """:func:`transform_dense` of integers (the same float32 values), small ones by table."""
    global _LOG1P_TABLE
    if _LOG1P_TABLE is None:
        _LOG1P_TABLE = transform_dense(np.arange(1 << 16, dtype=np.float64))
    k = len(_LOG1P_TABLE)
    # mode="clip" clamps negatives to entry 0 and large values to the last (replaced below)
    # in the gather itself, a few times faster than np.clip and fancy indexing.
    out = np.take(_LOG1P_TABLE, values, mode="clip")
    big = values >= k
    if big.any():
        out[big] = transform_dense(values[big].astype(np.float64))
    return out


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


def iter_line_blocks(path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES, buffers: int = 1,
                     raw: Callable[[memoryview], object] | None = None) -> Iterator[memoryview]:
    """Yield the file's bytes in blocks that end at a line boundary (gzip is decompressed).

    Each block is a view of one of ``buffers`` buffers, used in turn: a block stays valid
    until ``buffers`` more blocks have been asked for (use or copy it before then). A last
    line without its newline gets one; ``raw`` (e.g. a hash's ``update``) is given each block
    as read, without it.
    """
    ring = [bytearray(block_bytes + (1 << 16)) for _ in range(buffers)]
    with _open_binary(path) as fh:
        for i in itertools.count():
            buf = ring[i % buffers]
            try:
                n = fh.readinto(memoryview(buf)[:block_bytes])
                # Complete the block to the end of its last line.
                tail = fh.readline() if n and buf[n - 1] != 0x0A else b""
            except (OSError, EOFError, zlib.error) as exc:
                raise DataFormatError(str(path), f"cannot read file: {exc}") from exc
            if not n:
                break
            end = n + len(tail)
            if end + 1 > len(buf):  # a line longer than the spare room: a larger buffer
                bigger = bytearray(end + 1 + (1 << 16))
                bigger[:n] = memoryview(buf)[:n]
                buf = ring[i % buffers] = bigger
            buf[n:end] = tail
            if raw is not None:
                raw(memoryview(buf)[:end])
            if buf[end - 1] != 0x0A:
                buf[end] = 0x0A
                end += 1
            yield memoryview(buf)[:end]


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
        count_values: bool = True,
        threads: bool = True,
    ) -> None:
        if on_bad_rows not in ("error", "skip"):
            raise ValueError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
        self.fmt = fmt
        self.path = path
        self.on_bad_rows = on_bad_rows
        self.user_profile = user_profile
        # Distinct string values -> uint64 keys (0 = missing); the stable hash unless a compat mode says otherwise.
        self.sparse_key = sparse_key
        # Rows per distinct value (ParsedBlock.counts): only a vocabulary by frequency needs them.
        self.count_values = count_values
        self._col_index = {c: i for i, c in enumerate(fmt.columns)}
        self._dense_read = [c for c in fmt.dense if c in self._col_index]
        # Categorical columns are read as raw bytes, not strings (no UTF-8 check and no
        # dictionary per parse chunk: both are done once per distinct value, after). A column
        # whose values all have 8 bytes (Criteo's hex ids) is read as fixed-size binary, one
        # uint64 per row; the first value of another length moves it to variable binary.
        self._fixed = {c for c in fmt.sparse if c in self._col_index} if not fmt.quoted else set()
        # Dense columns are read as integers (Criteo's counts; a table does their transform)
        # until a value is not one: from then on as floats.
        self._int_dense = set(self._dense_read)
        self._sniffed = False
        # Blocks may be parsed by several threads at once: the narrowing state above changes
        # under this lock only, and each read uses one snapshot of the convert options.
        self._lock = threading.Lock()
        # ``threads=False`` when blocks are already parsed in parallel on few cores: arrow's
        # own threads would then only add scheduling (~0.2 CPU-s per 1M Criteo rows).
        self._read_options = pacsv.ReadOptions(column_names=list(fmt.columns), use_threads=threads)
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
        self._convert_options = self._make_convert_options()

    def _make_convert_options(self) -> pacsv.ConvertOptions:
        fmt = self.fmt
        types: dict[str, pa.DataType] = {c: pa.binary(8) if c in self._fixed else pa.binary() for c in fmt.columns}
        for c in fmt.dense:
            if c in self._col_index:
                types[c] = pa.int64() if c in self._int_dense else pa.float64()
        types[fmt.label] = pa.int64()
        return pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            include_columns=[c for c in fmt.columns if c in (fmt.label, *fmt.dense, *fmt.sparse)],
        )

    def _sniff(self, block: bytes) -> None:
        # The first lines decide which columns start as fixed-size (a guess: a later value of
        # another length is caught by the reader and the block read again).
        for raw in bytes(block[: 1 << 16]).splitlines()[:50]:
            fields = raw.rstrip(b"\r").split(self.fmt.delimiter.encode())
            if len(fields) != len(self.fmt.columns):
                continue
            for c in list(self._fixed):
                if len(fields[self._col_index[c]]) not in (0, 8):
                    self._fixed.discard(c)
        self._convert_options = self._make_convert_options()
        self._sniffed = True

    def _drop_fixed(self, exc: pa.ArrowInvalid) -> bool:
        """After a conversion error to fixed-size binary (or int64): read that column as
        variable binary (or float64) from now on. False for any other error."""
        text = str(exc)
        if self._fixed and "conversion error to fixed_size_binary" in text:
            narrow = self._fixed
        elif self._int_dense and "conversion error to int64" in text:
            narrow = self._int_dense
        else:
            return False
        m = _COLUMN_NO.search(text)
        names = self._read_options.column_names
        if m and int(m.group(1)) < len(names) and names[int(m.group(1))] in narrow:
            narrow.discard(names[int(m.group(1))])
        else:
            narrow.clear()
        self._convert_options = self._make_convert_options()
        return True

    # -- fast path ------------------------------------------------------------------
    def _read_fast(self, block: bytes) -> pa.Table:
        if not self._sniffed:
            with self._lock:
                if not self._sniffed:
                    self._sniff(block)
        try:
            return self._read_csv(block, self._read_options)
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc):
                raise
        # A row longer than arrow's parse block (1 MB): parse the block as one piece.
        opts = pacsv.ReadOptions(column_names=self._read_options.column_names, use_threads=self._read_options.use_threads,
                                 block_size=len(block) + 1)
        return self._read_csv(block, opts)

    def _read_csv(self, block: bytes, read_options: pacsv.ReadOptions) -> pa.Table:
        while True:
            convert_options = self._convert_options
            try:
                table = pacsv.read_csv(
                    pa.BufferReader(block),
                    read_options=read_options,
                    parse_options=self._parse_options,
                    convert_options=convert_options,
                )
                break
            except pa.ArrowInvalid as exc:
                with self._lock:
                    # Another block already widened a column since this read began: retry with
                    # the wider types before blaming this one.
                    if convert_options is self._convert_options and not self._drop_fixed(exc):
                        raise
        for c in self._dense_read:
            if c in self._int_dense:
                continue
            col = table.column(c)
            # "nan" / "inf" parse as floats; they are bad rows, named by the line-by-line path.
            if col.length() - col.null_count and not pc.all(pc.is_finite(col)).as_py():
                raise _LabelError
        return table

    def parse(self, block: bytes | memoryview, first_line: int) -> ParsedBlock:
        parsed = self.parse_fast(block)
        if parsed is None:
            return self.parse_rejected(block, first_line)
        parsed.first_line = first_line
        return parsed

    def parse_fast(self, block: bytes | memoryview) -> ParsedBlock | None:
        """The block parsed by arrow alone, or ``None`` when it holds a row arrow rejects (then
        :meth:`parse_rejected` names or drops it). Needs no line number, so blocks can be
        parsed by several threads at once; ``first_line`` is left 0 for the caller to set."""
        if _holds_hex_prefix(block):
            return None  # the same row gets the same verdict in any block
        try:
            table = self._read_fast(block)
            self._check_labels(table)
            # Invalid UTF-8 in a categorical value raises here too (pa.ArrowInvalid).
            parsed = self._to_arrays(table, 0, 0)
        except (pa.ArrowInvalid, _LabelError, ReleaseValueError):
            return None  # line by line: the bad row is named
        parsed.lines = table.num_rows
        return parsed

    def parse_rejected(self, block: bytes | memoryview, first_line: int) -> ParsedBlock:
        """A block :meth:`parse_fast` rejected, line by line: raises a :class:`DataFormatError`
        naming the first bad line, or (``on_bad_rows="skip"``) parses the others."""
        good, bad, lines = self._scan(block, first_line)
        if not good:
            n_dense, n_sparse = len(self.fmt.dense), len(self.fmt.sparse)
            return ParsedBlock(
                np.zeros(0, np.int8),
                np.zeros((0, n_dense), np.float32),
                np.zeros((n_sparse, 0), np.int32),
                bad,
                first_line,
                lines,
                [np.zeros(1, np.uint64)] * n_sparse,
                [np.zeros(0, np.int64)] * n_sparse,
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
        dense_job = column_pool().submit(self._dense, table)
        sparse = np.empty((len(fmt.sparse), n), np.int32)
        tables, counts = [], []
        profile = self._profile_columns(table) if self.user_profile is not None else {}
        columns = [profile[c] if c in profile else table.column(c) for c in fmt.sparse]
        # Encoding releases the GIL: columns are hashed in parallel.
        hashed = column_pool().map(lambda col: hash_bytes_column(col, self.sparse_key, self.count_values), columns)
        for j, (codes, table_j, counts_j) in enumerate(hashed):
            sparse[j] = codes
            tables.append(table_j)
            counts.append(counts_j)
        return ParsedBlock(label, dense_job.result(), sparse, bad, first_line, 0, tables, counts)

    def _dense(self, table: pa.Table) -> np.ndarray:
        # Avazu's "virtual" dense feature (not a column of the file) is all zeros.
        out = np.zeros((table.num_rows, len(self.fmt.dense)), np.float32)
        for j, c in enumerate(self.fmt.dense):
            if c not in self._col_index:
                continue
            col = table.column(c)
            if pa.types.is_integer(col.type):  # missing -> 0, as transform_dense maps NaN
                out[:, j] = transform_dense_int(pc.fill_null(col, 0).to_numpy(zero_copy_only=False))
            else:
                out[:, j] = transform_dense(col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
        return out

    def _profile_columns(self, table: pa.Table) -> dict[str, pa.Array]:
        # KDD Cup 2012: Gender and Age come from userid_profile.txt; unknown user -> 0, 0.
        prof = self.user_profile
        users = _as_strings(table.column("UserID")).to_numpy(zero_copy_only=False)
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
        raw_lines = bytes(block).splitlines(keepends=True)
        for offset, raw in enumerate(raw_lines):
            line_no = first_line + offset
            problem = None
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                problem = DataFormatError(self.path, _invalid_utf8(raw, exc), line=line_no, text=text[:120])
            if not text.strip(" "):
                continue  # blank; a line of delimiters (TABs) is a row without values, checked below
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
        ok_label = bool(_INTEGER.fullmatch(label_text)) and (
            int(label_text) in (0, 1) if fmt.label_rule == "binary" else int(label_text) >= 0)
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
        if self.sparse_key is not None:  # the release's id map reads every value as a number
            for c in fmt.sparse:
                v = fields[self._col_index[c]]
                try:
                    if v != "":
                        self.sparse_key(np.array([v], object))
                except ReleaseValueError as exc:
                    return DataFormatError(self.path, str(exc), line=line_no, field=c, text=v[:40])
        return None


def _invalid_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    return f"invalid UTF-8: byte {raw[exc.start]:#04x} at column {exc.start + 1}"


def _holds_hex_prefix(block: bytes | memoryview) -> bool:
    """Whether ``0x``/``0X`` occurs in the block. The costly search runs only where an ``x`` does:
    ``find`` of one byte is a memchr over the buffer (about 0.1 ms per MB, the regex 1.7 ms)."""
    src, n = block, len(block)
    if n == 0:
        return False
    if isinstance(block, memoryview):
        src = block.obj
        # a view from the start of its buffer (the reader's blocks): searched in place, else copied
        if not isinstance(src, (bytes, bytearray)) or block.nbytes != n or \
                np.frombuffer(block, np.uint8).ctypes.data != np.frombuffer(src, np.uint8).ctypes.data:
            src = bytes(block)
    if src.find(b"x", 0, n) < 0 and src.find(b"X", 0, n) < 0:
        return False
    return _HEX_PREFIX.search(block) is not None


class _LabelError(Exception):
    pass


_POOL: ThreadPoolExecutor | None = None


def column_pool() -> ThreadPoolExecutor:
    """A small shared thread pool for per-column work that releases the GIL."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="nasrec-col")
    return _POOL


def hash_column(col: pa.ChunkedArray | pa.Array, key: Callable[[np.ndarray], np.ndarray] | None = None,
                counted: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Hash a string column through its dictionary (each distinct value hashed once).

    Returns ``(codes, table, counts)``: ``table`` is ``[0, distinct hashes...]``, row ``i``'s
    hash is ``table[codes[i]]`` (code 0 for null) and ``counts[k]`` the rows of ``table[k + 1]``
    (``None`` unless ``counted``: only a vocabulary by frequency needs them).
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
    indices = enc.indices.fill_null(-1) if enc.indices.null_count else enc.indices
    codes = indices.to_numpy().astype(np.int32) + np.int32(1)
    counts = np.bincount(codes, minlength=len(dict_hash) + 1)[1:] if counted else None
    return codes, np.append(MISSING_HASH, dict_hash), counts


def _as_strings(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A binary column as strings (raises pa.ArrowInvalid on invalid UTF-8)."""
    if pa.types.is_fixed_size_binary(col.type):
        col = col.cast(pa.binary())
    return col.cast(pa.string()) if pa.types.is_binary(col.type) else col


def hash_bytes_column(col: pa.ChunkedArray | pa.Array, key: Callable[[np.ndarray], np.ndarray] | None = None,
                      counted: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`hash_column` for a column read as bytes (values are hashed as their UTF-8 text).

    Raises ``pa.ArrowInvalid`` when a value is not valid UTF-8.
    """
    if pa.types.is_fixed_size_binary(col.type) and col.type.byte_width == 8:
        out = _hash_fixed8(col, key, counted)
        if out is not None:
            return out
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_fixed_size_binary(col.type):
        col = col.cast(pa.binary())
    if not pa.types.is_binary(col.type):
        return hash_column(col, key, counted)
    enc = pc.dictionary_encode(col)
    return hash_column(pa.DictionaryArray.from_arrays(enc.indices, _as_strings(enc.dictionary)), key, counted)


def _hash_fixed8(col: pa.ChunkedArray | pa.FixedSizeBinaryArray, key: Callable[[np.ndarray], np.ndarray] | None,
                 counted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    # Each 8-byte value is one uint64 (the column's own buffers, no copy), factorized by arrow's
    # hash kernel (GIL released, about twice as fast as pandas' here); only the distinct
    # values become Python strings. None (use the general path) for values that are not
    # plain ASCII text.
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    keys = pa.chunked_array([pa.Array.from_buffers(pa.uint64(), len(a), a.buffers()[:2], a.null_count, a.offset)
                             for a in chunks], pa.uint64())
    # One dictionary shared by all chunks (no concatenation first); a missing value gets a
    # null index, not a dictionary entry.
    enc = pc.dictionary_encode(keys)
    if not enc.num_chunks:
        return np.zeros(0, np.int32), np.zeros(1, np.uint64), np.zeros(0, np.int64) if counted else None
    values = enc.chunk(0).dictionary.to_numpy()
    octets = values.view(np.uint8)
    if not (octets.all() and (octets < 0x80).all()):
        return None  # a NUL byte (lost by the S8 view) or non-ASCII (UTF-8 checked on the general path)
    text = values.view("S8")
    dict_hash = (key or hash_strings)(text.astype("U8") if key is not None else text.astype(object))
    indices = pa.chunked_array([c.indices for c in enc.chunks], pa.int32())
    if indices.null_count:
        indices = indices.fill_null(-1)
    codes = indices.to_numpy() + np.int32(1)  # missing -> 0, distinct values 1..
    counts = np.bincount(codes, minlength=len(values) + 1)[1:] if counted else None
    return codes, np.append(MISSING_HASH, dict_hash), counts


def load_user_profile(path: str | os.PathLike) -> pd.DataFrame:
    """KDD Cup 2012 ``userid_profile.txt``: TAB-separated UserID, Gender, Age; indexed by UserID.

    Read line by line (gzip by its magic bytes, as the main inputs): a line of another field
    count or of invalid UTF-8 is an error naming its line (blank lines count, are skipped).
    """
    path = Path(path)
    check_input_file(path)
    try:
        with _open_binary(path) as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(str(path), f"cannot read the user profile: {exc}") from exc
    rows: list[list[str]] = []
    for line_no, raw in enumerate(data.removeprefix(UTF8_BOM).splitlines(), 1):
        try:
            text = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise DataFormatError(str(path), _invalid_utf8(raw, exc), line=line_no) from None
        if not text.strip(" "):
            continue
        fields = text.split("\t")
        if len(fields) != 3 or not all(fields):
            raise DataFormatError(str(path), "expected 3 non-empty TAB-separated fields UserID, Gender, Age, "
                                  f"found {len(fields)}", line=line_no, text=text[:120])
        rows.append(fields)
    if not rows:
        raise DataFormatError(str(path), "no rows (expected lines of UserID TAB Gender TAB Age)")
    df = pd.DataFrame(rows, columns=["UserID", "Gender", "Age"], dtype=str)
    return df.drop_duplicates("UserID", keep="last").set_index("UserID")


def open_parquet(path: str | os.PathLike):
    """A ``pyarrow.parquet.ParquetFile``; a file that is not one is an error naming it."""
    import pyarrow.parquet as pq

    check_input_file(Path(path))
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataFormatError(str(path), f"cannot read Parquet file: {exc}") from exc


def iter_parquet_blocks(
    path: Path, fmt: RawFormat, batch_rows: int = 262_144
) -> Iterator[ParsedBlock]:
    """Parquet files with named columns (dense numeric, label 0/1, sparse anything)."""
    pf = open_parquet(path)
    names = set(pf.schema_arrow.names)
    for c in (fmt.label, *fmt.dense, *fmt.sparse):
        if c not in names:
            raise DataFormatError(str(path), f"column missing; the file has {sorted(names)}", field=c)
    for c in fmt.sparse:
        kind = pf.schema_arrow.field(c).type
        if pa.types.is_nested(kind):
            raise DataFormatError(str(path), f"expected one value per row (text or integer ids), found type {kind}",
                                  field=c)
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
        sparse = np.empty((len(fmt.sparse), n), np.int32)
        tables, counts = [], []
        for j, c in enumerate(fmt.sparse):
            col = batch.column(c)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_binary(col.type):
                # an empty text value is missing (id 0), as an empty field of a delimited file is
                col = pc.if_else(pc.equal(col, pa.scalar("", col.type)), pa.scalar(None, col.type), col)
            sparse[j], table_j, counts_j = hash_column(col)
            tables.append(table_j)
            counts.append(counts_j)
        yield ParsedBlock(lab.astype(np.int8), dense, sparse, 0, row, n, tables, counts)
        row += n


def read_header(path: Path) -> str:
    """The first line of a delimited file (without a UTF-8 BOM), for formats whose header names the columns."""
    check_input_file(path)
    for block in iter_line_blocks(path, 1 << 16):
        first = bytes(block).split(b"\n", 1)[0].removeprefix(UTF8_BOM).decode("utf-8", errors="replace").rstrip("\r")
        return first
    raise DataFormatError(str(path), "the file is empty")
