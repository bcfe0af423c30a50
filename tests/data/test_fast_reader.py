"""The fast reader: 8-byte categorical values read as numbers, reused block buffers, per-block
code tables. The data must not depend on which path read a value, nor on block sizes."""

import gzip

import numpy as np
import pytest

from nasrec_lab.data import DataFormatError, PreprocessOptions, autoctr_assignment, preprocess
from nasrec_lab.data._readers import hash_strings, iter_line_blocks


def _criteo_rows(n, rng):
    # C1: 8-byte values, then from row n // 2 on also other lengths, non-ASCII text and a NUL;
    # C2: 8-byte values throughout (the fixed-size path); C3: short values only.
    odd = ["abc", "caf\u00e9bcd", "\u00e9\u00e9\u00e9\u00e9", "ab\x00cdefg", "123456789", "x"]
    rows = []
    for i in range(n):
        c1 = f"{rng.integers(0, 50):08x}" if i < n // 2 or i % 3 else odd[i % len(odd)]
        cats = [c1, f"{rng.integers(0, 3000):08x}", str(rng.integers(0, 20))]
        cats += [f"{rng.integers(0, 9):08x}" if rng.random() > 0.2 else "" for _ in range(23)]
        dense = [str(rng.integers(0, 9)) if rng.random() > 0.3 else "" for _ in range(13)]
        rows.append([str(int(rng.random() < 0.3)), *dense, *cats])
    return rows


def _expected_ids(rows):
    """Exact mode: each column's distinct value hashes, sorted, numbered from 1 (0 = missing)."""
    sparse = []
    for j in range(26):
        values = [r[14 + j] for r in rows]
        distinct = sorted({v for v in values if v})
        h = dict(zip(distinct, hash_strings(np.array(distinct, dtype=object)))) if distinct else {}
        order = np.unique(np.array(list(h.values()), np.uint64))
        rank = {k: int(np.searchsorted(order, v)) + 1 for k, v in h.items()}
        sparse.append([rank[v] if v else 0 for v in values])
    return np.array(sparse, np.int32).T


@pytest.mark.parametrize("block_bytes", [1 << 12, 1 << 16, 32 << 20])
def test_ids_match_a_string_reference_for_any_block_size(tmp_path, block_bytes):
    rows = _criteo_rows(3000, np.random.default_rng(1))
    path = tmp_path / "train.txt"
    path.write_bytes(("\n".join("\t".join(r) for r in rows) + "\n").encode())
    ds = preprocess([path], tmp_path / "out", fmt="criteo", options=PreprocessOptions(block_bytes=block_bytes))
    labels = np.array([int(r[0]) for r in rows], np.int8)
    assignment = autoctr_assignment(labels, 2018)
    want = _expected_ids(rows)
    for code, split in enumerate(("train", "val", "test")):
        np.testing.assert_array_equal(ds.split(split).column("sparse"), want[assignment == code], err_msg=split)
        np.testing.assert_array_equal(ds.split(split).column("label"), labels[assignment == code])
    assert ds.schema.table_sizes[0] == len({r[14] for r in rows} - {""}) + 1


def test_invalid_utf8_in_an_8_byte_value_names_the_line(tmp_path):
    rng = np.random.default_rng(2)
    lines = ["\t".join(r).encode() for r in _criteo_rows(50, rng)]
    fields = lines[31].split(b"\t")
    fields[15] = b"abcdef\xe9z"  # eight bytes, not UTF-8
    lines[31] = b"\t".join(fields)
    path = tmp_path / "train.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataFormatError) as info:
        preprocess([path], tmp_path / "out", fmt="criteo")
    assert info.value.line == 32 and "invalid UTF-8" in str(info.value) and "train.txt:32" in str(info.value)
    ds = preprocess([path], tmp_path / "out", fmt="criteo", options=PreprocessOptions(on_bad_rows="skip"))
    assert ds.manifest["bad_rows"] == 1


@pytest.mark.parametrize("compressed", [False, True])
def test_line_blocks_cover_the_file_and_end_at_line_ends(tmp_path, compressed):
    text = b"".join(b"%d\t" % i + b"y" * (i * 37 % 5000) + b"\n" for i in range(400)) + b"last line, no newline"
    path = tmp_path / "f.txt"
    path.write_bytes(gzip.compress(text) if compressed else text)
    blocks = [bytes(b) for b in iter_line_blocks(path, 1000)]  # copied: the buffer is reused
    assert all(b.endswith(b"\n") for b in blocks)
    assert b"".join(blocks) == text + b"\n"
    assert max(len(b) for b in blocks) < 1000 + 5000


def test_dense_integers_and_floats_give_the_reference_transform(tmp_path):
    # I1 holds integers (small, large, negative, missing) and later floats; I2 only integers.
    rng = np.random.default_rng(3)
    rows = _criteo_rows(3000, rng)
    specials = ["0", "-0", "-7", "65535", "65536", "123456789012", "+3", "", "007"]
    for i, r in enumerate(rows):
        r[1] = specials[i % len(specials)] if i < 2000 else ["2.5", "1e3", "-0.0", "4"][i % 4]
        r[2] = str(rng.integers(0, 70_000))
    path = tmp_path / "train.txt"
    path.write_bytes(("\n".join("\t".join(r) for r in rows) + "\n").encode())
    ds = preprocess([path], tmp_path / "out", fmt="criteo",
                    options=PreprocessOptions(block_bytes=1 << 14, split="random"))
    from nasrec_lab.data import random_assignment

    assignment = random_assignment(len(rows), 2018)
    want = np.array([[np.log1p(np.maximum(float(v), 0.0)) if v else 0.0 for v in r[1:14]] for r in rows]).astype(np.float32)
    for code, split in enumerate(("train", "val", "test")):
        got = ds.split(split).column("dense")
        assert got.tobytes() == np.ascontiguousarray(want[assignment == code]).tobytes(), split


def test_a_block_stays_valid_until_as_many_more_blocks_as_buffers(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"".join(b"%d\t" % i + b"z" * (i * 31 % 700) + b"\n" for i in range(300)))
    views, copies = [], []
    for view in iter_line_blocks(path, 1000, buffers=3):
        views.append(view)
        copies.append(bytes(view))
        for v, c in zip(views[-3:], copies[-3:]):  # the parallel parser holds up to 3 at once
            assert bytes(v) == c
    assert len(views) > 10


def _rows_with_bad_lines(n, rng):
    # Widening columns (C1), blank lines and bad rows of every kind spread over many blocks.
    lines = ["\t".join(r).encode() for r in _criteo_rows(n, rng)]
    for i in range(7, n, 97):
        fields = lines[i].split(b"\t")
        kind = i % 5
        if kind == 0:
            fields = fields[:-1]
        elif kind == 1:
            fields[0] = b"2"
        elif kind == 2:
            fields[3] = b"nan"
        elif kind == 3:
            fields[20] = b"\xff\xfe"
        else:
            fields[5] = b"x"
        lines[i] = b"\t".join(fields)
    lines.insert(n // 3, b"")
    return lines


def _arrays(ds):
    return {(s, k): ds.split(s).column(k).tobytes() for s in ("train", "val", "test") for k in ("dense", "sparse", "label")}


@pytest.mark.parametrize("categorical", ["hash", "vocab"])
def test_blocks_parsed_in_parallel_give_what_one_worker_gives(tmp_path, monkeypatch, categorical):
    import nasrec_lab.data._preprocess as pp

    path = tmp_path / "train.txt"
    path.write_bytes(b"\n".join(_rows_with_bad_lines(4000, np.random.default_rng(5))) + b"\n")
    options = PreprocessOptions(on_bad_rows="skip", block_bytes=1 << 13, categorical=categorical, min_count=2)
    parallel = preprocess([path], tmp_path / "two", fmt="criteo", options=options)
    monkeypatch.setattr(pp, "_PARSE_WORKERS", 1)
    monkeypatch.setattr(pp, "_PARSE_POOL", None)
    serial = preprocess([path], tmp_path / "one", fmt="criteo", options=options)
    assert parallel.manifest["bad_rows"] == serial.manifest["bad_rows"] == len(range(7, 4000, 97))
    assert {**parallel.manifest, "created": None} == {**serial.manifest, "created": None}
    assert _arrays(parallel) == _arrays(serial)


def test_with_blocks_parsed_in_parallel_the_first_bad_line_is_named(tmp_path):
    # Bad rows in many blocks; each block is parsed by one of two threads, in any order:
    # the error still names the file's first bad line.
    rng = np.random.default_rng(6)
    lines = ["\t".join(r).encode() for r in _criteo_rows(3000, rng)]
    for i in (2100, 2500, 2900):
        fields = lines[i].split(b"\t")
        fields[0] = b"5"
        lines[i] = b"\t".join(fields)
    lines.insert(40, b"")  # a blank line before: counted as a line
    path = tmp_path / "train.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    for block_bytes in (1 << 12, 1 << 14):
        with pytest.raises(DataFormatError) as info:
            preprocess([path], tmp_path / "out", fmt="criteo", options=PreprocessOptions(block_bytes=block_bytes))
        assert info.value.line == 2102 and info.value.field == "label" and "train.txt:2102" in str(info.value)


def test_block_tables_of_any_width_give_the_string_reference(tmp_path):
    # In one block: C1 with more distinct values than 16-bit codes hold, C2 with more than
    # 8-bit codes hold, C3 with a few; the temporary codes take the narrowest type per table.
    n = 70_000
    rng = np.random.default_rng(7)
    rows = [["1" if i % 4 == 0 else "0", *[""] * 13, f"{i * 7919 % 10_000_019:08x}", f"{i % 3000:08x}",
             str(i % 7), *[f"{rng.integers(0, 300):08x}" if i % 5 else "" for _ in range(23)]] for i in range(n)]
    path = tmp_path / "train.txt"
    path.write_bytes(("\n".join("\t".join(r) for r in rows) + "\n").encode())
    ds = preprocess([path], tmp_path / "out", fmt="criteo")
    assignment = autoctr_assignment(np.array([int(r[0]) for r in rows], np.int8), 2018)
    want = _expected_ids(rows)
    assert ds.schema.table_sizes[:3] == (n + 1, 3001, 8)
    for code, split in enumerate(("train", "val", "test")):
        np.testing.assert_array_equal(ds.split(split).column("sparse"), want[assignment == code], err_msg=split)
