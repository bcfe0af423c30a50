"""Issue 15, cases 5 and 8: several CSV files whose headers differ, and input edge cases (rows over
1 MB, invalid UTF-8, nan / inf dense values, a UTF-8 BOM)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasrec_lab.data import (
    AVAZU,
    CRITEO,
    CTRDataset,
    DataFormatError,
    PreprocessOptions,
    csv_columns,
    csv_format,
    preprocess,
)

BOM = "\ufeff"


def _csv(path, header, rows, *, encoding_prefix=""):
    path.write_text(encoding_prefix + header + "\n" + "".join(r + "\n" for r in rows))
    return path


def _all_rows(ds: CTRDataset, key: str) -> np.ndarray:
    return np.concatenate([np.asarray(ds.split(s).column(key)) for s in ("train", "val", "test")])


def _fmt(path, **kw):
    return csv_format(label="y", dense=("a", "b"), sparse=("c",), columns=csv_columns(path), **kw)


def test_a_second_file_with_another_column_order_is_read_by_name(tmp_path):
    first = _csv(tmp_path / "1.csv", "y,a,b,c", [f"{i % 2},1,100,x{i % 3}" for i in range(20)])
    second = _csv(tmp_path / "2.csv", "y,b,a,c", [f"{i % 2},100,1,x{i % 3}" for i in range(20)])
    ds = preprocess([first, second], tmp_path / "out", fmt=_fmt(first))
    dense = _all_rows(ds, "dense")
    assert dense.shape == (40, 2)
    np.testing.assert_allclose(dense, np.tile([math.log1p(1), math.log1p(100)], (40, 1)), rtol=1e-6)


def test_a_second_file_without_a_column_is_refused_naming_file_and_header(tmp_path):
    first = _csv(tmp_path / "1.csv", "y,a,b,c", [f"{i % 2},1,100,x" for i in range(20)])
    second = _csv(tmp_path / "2.csv", "y,a,c", [f"{i % 2},1,x" for i in range(20)])
    with pytest.raises(DataFormatError) as info:
        preprocess([first, second], tmp_path / "out", fmt=_fmt(first))
    err = info.value
    assert err.path == str(second) and err.line == 1 and err.text == "y,a,c" and "'b'" in str(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_a_row_over_one_megabyte_is_read(tmp_path, on_bad_rows):
    # ~800 KB of short rows first: the long row straddles arrow's 1 MB parse blocks
    rows = [f"{i % 2},2,a{i % 7}" for i in range(100_000)] + ["0,1," + "x" * 1_500_000] + ["1,2,y"] * 10
    path = _csv(tmp_path / "long.csv", "y,a,c", rows)
    fmt = csv_format(label="y", dense=("a",), sparse=("c",), columns=("y", "a", "c"))
    ds = preprocess([path], tmp_path / "out", fmt=fmt, options=PreprocessOptions(on_bad_rows=on_bad_rows))
    assert sum(ds.manifest["splits"][s]["rows"] for s in ("train", "val", "test")) == len(rows)
    assert ds.manifest["bad_rows"] == 0


def test_invalid_utf8_names_the_line_or_is_a_bad_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"y,a,c\n" + b"".join(f"{i % 2},1,v{i}\n".encode() for i in range(3)) + b"1,2,caf\xe9\n"
                     + b"".join(f"{i % 2},1,w{i}\n".encode() for i in range(20)))
    fmt = csv_format(label="y", dense=("a",), sparse=("c",), columns=("y", "a", "c"))
    with pytest.raises(DataFormatError) as info:
        preprocess([path], tmp_path / "out", fmt=fmt)
    assert info.value.line == 5 and "invalid UTF-8" in str(info.value) and "0xe9" in str(info.value)
    ds = preprocess([path], tmp_path / "out", fmt=fmt, options=PreprocessOptions(on_bad_rows="skip"))
    assert ds.manifest["bad_rows"] == 1


def test_nan_and_inf_dense_values_are_bad_rows_not_zeros(tmp_path):
    good = [f"{i % 2},{i},1,x" for i in range(20)]
    path = _csv(tmp_path / "nan.csv", "y,a,b,c", good[:5] + ["1,nan,1,x", "0,1,inf,x", "1,-inf,1,x", "0,1e999,1,x"]
                + good[5:])
    with pytest.raises(DataFormatError) as info:
        preprocess([path], tmp_path / "out", fmt=_fmt(path))
    assert (info.value.line, info.value.field, info.value.text) == (7, "a", "nan")
    ds = preprocess([path], tmp_path / "out", fmt=_fmt(path), options=PreprocessOptions(on_bad_rows="skip"))
    assert ds.manifest["bad_rows"] == 4 and ds.manifest["sources"][0]["rows"] == 20
    assert np.isfinite(_all_rows(ds, "dense")).all()


def test_a_utf8_bom_is_stripped_before_the_header(tmp_path):
    path = _csv(tmp_path / "bom.csv", "y,a,b,c", [f"{i % 2},1,2,x" for i in range(20)], encoding_prefix=BOM)
    assert csv_columns(path) == ("y", "a", "b", "c")
    ds = preprocess([path], tmp_path / "csv", fmt=_fmt(path))
    assert ds.manifest["sources"][0]["rows"] == 20
    avazu_row = ",".join(["1", "0", "14102100", *["z"] * 21])
    avazu = _csv(tmp_path / "avazu.csv", ",".join(AVAZU.columns), [avazu_row] * 20, encoding_prefix=BOM)
    assert preprocess([avazu], tmp_path / "avazu", fmt="avazu").manifest["sources"][0]["rows"] == 20
    criteo_row = "\t".join(["1", *["3"] * 13, *["ab"] * 26])
    criteo = _csv(tmp_path / "criteo.txt", criteo_row, [criteo_row] * 19, encoding_prefix=BOM)
    assert preprocess([criteo], tmp_path / "criteo", fmt=CRITEO).manifest["sources"][0]["rows"] == 20


def test_parquet_nan_is_missing_and_inf_is_refused_with_its_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    fmt = csv_format(label="y", dense=("a",), sparse=("c",), columns=("y", "a", "c"))
    a = [float(i) for i in range(20)]
    a[3] = math.nan  # how pandas writes a missing float
    pq.write_table(pa.table({"y": [i % 2 for i in range(20)], "a": a, "c": ["x"] * 20}), tmp_path / "ok.parquet")
    ds = preprocess([tmp_path / "ok.parquet"], tmp_path / "ok", fmt=fmt)
    assert np.isfinite(_all_rows(ds, "dense")).all()
    a[5] = math.inf
    pq.write_table(pa.table({"y": [i % 2 for i in range(20)], "a": a, "c": ["x"] * 20}), tmp_path / "inf.parquet")
    with pytest.raises(DataFormatError) as info:
        preprocess([tmp_path / "inf.parquet"], tmp_path / "inf", fmt=fmt)
    assert (info.value.line, info.value.field, info.value.text) == (6, "a", "inf")
