import gzip
import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from nasrec_lab.data import (
    AVAZU,
    CTRDataset,
    DataFormatError,
    PreprocessOptions,
    csv_format,
    preprocess,
)
from tests.conftest import real_file


def criteo_line(label, dense, cats):
    return "\t".join([str(label), *dense, *cats])


def write_criteo(path, n=40, *, crlf=False, final_newline=True, bad=None):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        dense = [str(int(v)) if v >= 0 else "" for v in rng.integers(-1, 50, 13)]
        dense[1] = "-3" if i == 0 else dense[1]  # negative values exist in Criteo's I2
        cats = [f"{rng.integers(0, 6):08x}" if rng.random() > 0.1 else "" for _ in range(26)]
        lines.append(criteo_line(i % 2, dense, cats))
    if bad:
        for idx, text in bad.items():
            lines[idx] = text
    sep = "\r\n" if crlf else "\n"
    path.write_text(sep.join(lines) + (sep if final_newline else ""))
    return lines


def _all_rows(ds):
    """Rows of all splits, back in file order (the split keeps file order within a split)."""

    labels = np.concatenate([ds.split(s).column("label") for s in ("train", "val", "test")])
    assert len(labels) > 0
    return labels


def test_criteo_values_match_a_reference_computation(tmp_path):
    raw = tmp_path / "train.txt"
    lines = write_criteo(raw, n=60)
    ds = preprocess([raw], tmp_path / "ds", fmt="criteo", options=PreprocessOptions(split="random", split_seed=0))
    # Reassemble file order from the seeded random assignment.
    from nasrec_lab.data import random_assignment

    a = random_assignment(60, 0)
    dense = np.empty((60, 13), np.float32)
    sparse = np.empty((60, 26), np.int64)
    for code, name in enumerate(("train", "val", "test")):
        dense[a == code] = ds.split(name).column("dense")
        sparse[a == code] = ds.split(name).column("sparse")
    for i, line in enumerate(lines):
        f = line.split("\t")
        expect = [math.log(max(int(x), 0) + 1) if x else 0.0 for x in f[1:14]]
        np.testing.assert_allclose(dense[i], expect, rtol=1e-6)
    cats = np.array([line.split("\t")[14:] for line in lines])
    for j in range(26):
        assert np.all((sparse[:, j] == 0) == (cats[:, j] == ""))  # missing <-> id 0
        # the same value always gets the same id, different values different ids (exact mode)
        ids_per_value = pd.Series(sparse[:, j]).groupby(cats[:, j]).nunique()
        assert (ids_per_value == 1).all()
        present = cats[:, j] != ""
        assert len(set(sparse[present, j])) == len(set(cats[present, j]))
        assert sparse[:, j].max() < ds.schema.table_sizes[j]


def test_crlf_missing_final_newline_and_gzip_give_the_same_data(tmp_path):
    write_criteo(tmp_path / "plain.txt")
    write_criteo(tmp_path / "crlf.txt", crlf=True, final_newline=False)
    with gzip.open(tmp_path / "train.txt.gz", "wb") as fh:
        fh.write((tmp_path / "plain.txt").read_bytes())
    out = {}
    for name in ("plain.txt", "crlf.txt", "train.txt.gz"):
        out[name] = preprocess([tmp_path / name], tmp_path / f"ds-{name}", fmt="criteo")
    for name in ("crlf.txt", "train.txt.gz"):
        for key in ("dense", "sparse", "label"):
            assert np.array_equal(out[name].split("train").column(key), out["plain.txt"].split("train").column(key))


@pytest.mark.parametrize(
    "bad_line,field,message",
    [
        ("1\t2\t3", None, "expected 40 fields"),
        (criteo_line(0, ["abc"] + ["1"] * 12, ["aa"] * 26), "I1", "expected a number"),
        (criteo_line(2, ["1"] * 13, ["aa"] * 26), "label", "expected a label of 0 or 1"),
        (criteo_line("x", ["1"] * 13, ["aa"] * 26), "label", "expected a label of 0 or 1"),
    ],
)
def test_bad_rows_name_file_line_field_and_text(tmp_path, bad_line, field, message):
    raw = tmp_path / "train.txt"
    write_criteo(raw, n=30, bad={17: bad_line})
    with pytest.raises(DataFormatError) as info:
        preprocess([raw], tmp_path / "ds", fmt="criteo")
    err = info.value
    assert err.path == str(raw) and err.line == 18 and err.field == field
    assert message in str(err) and f"{raw}:18" in str(err)
    if field:
        assert repr(bad_line.split("\t")[0 if field == "label" else 1]) in str(err)
    # Nothing that looks like a data set is left behind.
    assert not (tmp_path / "ds").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds")]


def test_skip_mode_counts_bad_rows_in_manifest(tmp_path):
    raw = tmp_path / "train.txt"
    write_criteo(raw, n=50, bad={3: "1\t2", 40: criteo_line(0, ["zz"] * 13, ["a"] * 26)})
    ds = preprocess([raw], tmp_path / "ds", fmt="criteo", options=PreprocessOptions(on_bad_rows="skip"))
    m = json.loads((ds.path / "manifest.json").read_text())
    assert m["bad_rows"] == 2 and m["sources"][0]["bad_rows"] == 2
    assert sum(s["rows"] for s in m["splits"].values()) == 48


def test_empty_unreadable_and_missing_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataFormatError, match="the file is empty"):
        preprocess([empty], tmp_path / "ds", fmt="criteo")
    with pytest.raises(DataFormatError, match="no such file"):
        preprocess([tmp_path / "nope.txt"], tmp_path / "ds", fmt="criteo")
    broken = tmp_path / "broken.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip")
    with pytest.raises(DataFormatError, match="cannot read file"):
        preprocess([broken], tmp_path / "ds", fmt="criteo")
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked.txt"
        write_criteo(locked)
        locked.chmod(0)
        with pytest.raises(DataFormatError, match="cannot read"):
            preprocess([locked], tmp_path / "ds", fmt="criteo")


def test_an_error_in_a_later_file_leaves_no_dataset(tmp_path):
    write_criteo(tmp_path / "a.txt")
    write_criteo(tmp_path / "b.txt", bad={5: "0\t1"})
    with pytest.raises(DataFormatError, match="b.txt:6"):
        preprocess([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "ds", fmt="criteo")
    assert list(tmp_path.iterdir()) == sorted([tmp_path / "a.txt", tmp_path / "b.txt"]) or not (tmp_path / "ds").exists()
    assert not any(p.name.startswith(".ds") for p in tmp_path.iterdir())


def test_existing_output_is_not_overwritten_unless_asked(tmp_path):
    write_criteo(tmp_path / "a.txt")
    preprocess([tmp_path / "a.txt"], tmp_path / "ds", fmt="criteo")
    with pytest.raises(FileExistsError, match="already exists"):
        preprocess([tmp_path / "a.txt"], tmp_path / "ds", fmt="criteo")
    preprocess([tmp_path / "a.txt"], tmp_path / "ds", fmt="criteo", overwrite=True)


def test_hash_cap_and_vocab_min_count(tmp_path):
    rng = np.random.default_rng(1)
    lines = []
    for i in range(400):
        cats = [f"{int(rng.integers(0, 300)):08x}"] + [f"{int(rng.zipf(1.5)) % 50:08x}"] + ["aa"] * 24
        lines.append(criteo_line(i % 2, ["1"] * 13, cats))
    raw = tmp_path / "t.txt"
    raw.write_text("\n".join(lines) + "\n")
    capped = preprocess([raw], tmp_path / "cap", fmt="criteo", options=PreprocessOptions(table_cap=64))
    assert capped.schema.table_sizes[0] == 64  # ~250 distinct values hashed into 64 rows
    assert capped.manifest["preprocessing"]["column_modes"][0] == "hash"
    assert capped.schema.table_sizes[2] == 2  # one distinct value: id 1, plus 0 = missing
    sp = capped.split("train").column("sparse")
    assert sp[:, 0].min() >= 1 and sp[:, 0].max() <= 63
    counts = pd.Series([line.split("\t")[15] for line in lines]).value_counts()
    vocab = preprocess([raw], tmp_path / "voc", fmt="criteo", options=PreprocessOptions(categorical="vocab", min_count=5))
    assert vocab.schema.table_sizes[1] == int((counts >= 5).sum()) + 2
    ids = np.concatenate([vocab.split(s).column("sparse")[:, 1] for s in ("train", "val", "test")])
    n_rare_rows = int(counts[counts < 5].sum())
    assert int((ids == 1).sum()) == n_rare_rows  # every rare value -> the OOV id
    assert np.bincount(ids)[2] == counts.max()  # id 2 is the most frequent value


def test_avazu_with_and_without_header(tmp_path):
    header = ",".join(AVAZU.columns)
    rows = [f"{10**18 + i},{i % 2},14102100,1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,"
            f"a99f214a,{i:08x},711ee120,1,0,15704,320,50,1722,0,35,-1,79" for i in range(30)]
    (tmp_path / "h.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "n.csv").write_text("\n".join(rows) + "\n")
    a = preprocess([tmp_path / "h.csv"], tmp_path / "a", fmt="avazu")
    b = preprocess([tmp_path / "n.csv"], tmp_path / "b", fmt="avazu")
    assert a.schema.n_dense == 1 and a.schema.n_sparse == 23 and a.schema.sparse[0] == "id"
    assert sum(s["rows"] for s in a.manifest["splits"].values()) == 30
    for key in ("dense", "sparse", "label"):
        assert np.array_equal(a.split("train").column(key), b.split("train").column(key))
    assert (a.split("train").column("dense") == 0).all()  # the release's virtual dense feature


def test_kdd_joins_the_user_profile(tmp_path):
    train = tmp_path / "training.txt"
    rows = ["2\t3\t111\t7\t8\t1\t2\t10\t11\t12\t13\t100", "0\t1\t111\t7\t8\t2\t1\t10\t11\t12\t13\t999",
            "1\t1\t222\t7\t8\t3\t1\t10\t11\t12\t13\t100", "0\t4\t222\t7\t8\t1\t1\t10\t11\t12\t13\t101"] * 5
    train.write_text("\n".join(rows) + "\n")
    prof = tmp_path / "userid_profile.txt"
    prof.write_text("100\t1\t4\n101\t2\t5\n")
    ds = preprocess([train], tmp_path / "ds", fmt="kdd", user_profile=prof,
                    options=PreprocessOptions(split="random", split_seed=0))
    assert ds.schema.dense == ("Impression", "Depth", "Position")
    assert ds.schema.sparse[-2:] == ("Gender", "Age")
    from nasrec_lab.data import random_assignment

    a = random_assignment(20, 0)
    label = np.empty(20)
    sparse = np.empty((20, 10), np.int64)
    for code, name in enumerate(("train", "val", "test")):
        label[a == code] = ds.split(name).column("label")
        sparse[a == code] = ds.split(name).column("sparse")
    np.testing.assert_array_equal(label[:4], [1, 0, 1, 0])  # Click > 0 -> 1
    gender = sparse[:, 8]
    assert gender[0] == gender[2] != gender[3]  # users 100, 100, 101
    assert gender[1] not in (gender[0], gender[3])  # unknown user -> "0"
    with pytest.raises(ValueError, match="userid_profile"):
        preprocess([train], tmp_path / "x", fmt="kdd")
    (tmp_path / "bad.txt").write_text("1\t2\t3\n" + "0\t-1\t111\t7\t8\t1\t2\t10\t11\t12\t13\t100\n" * 3)
    with pytest.raises(DataFormatError, match="bad.txt:1.*expected 12 fields"):
        preprocess([tmp_path / "bad.txt"], tmp_path / "y", fmt="kdd", user_profile=prof)
    (tmp_path / "neg.txt").write_text("-1\t1\t111\t7\t8\t1\t2\t10\t11\t12\t13\t100\n")
    with pytest.raises(DataFormatError, match="non-negative integer"):
        preprocess([tmp_path / "neg.txt"], tmp_path / "z", fmt="kdd", user_profile=prof)


def test_generic_csv_and_parquet(tmp_path):
    df = pd.DataFrame({"y": [0, 1] * 20, "age": np.arange(40) * 1.5, "city": ["a", "b", "c", "d"] * 10,
                       "item": [f"i{i % 7}" for i in range(40)]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    fmt = csv_format(label="y", dense=("age",), sparse=("city", "item"), columns=tuple(df.columns))
    a = preprocess([tmp_path / "t.csv"], tmp_path / "a", fmt=fmt)
    b = preprocess([tmp_path / "t.parquet"], tmp_path / "b", fmt=fmt)
    assert a.schema.table_sizes == (5, 8) == b.schema.table_sizes
    for key in ("dense", "sparse", "label"):
        assert np.array_equal(a.split("train").column(key), b.split("train").column(key))
    bad = df.copy()
    bad.loc[7, "y"] = 3
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataFormatError, match="bad.parquet:8: field 'y'"):
        preprocess([tmp_path / "bad.parquet"], tmp_path / "c", fmt=fmt)


def test_real_criteo_sample(tmp_path):
    ds = preprocess([real_file("criteo", "criteo_dac_train_first10k.txt")], tmp_path / "c", fmt="criteo")
    m = ds.manifest
    assert sum(s["rows"] for s in m["splits"].values()) == 10_000
    pos = sum(s["rows"] * s["positive_rate"] for s in m["splits"].values())
    assert round(pos) == 2_182  # SOURCES.md: 2,182 positives
    assert m["sources"][0]["sha256"] == "f665bb8823fd742ea1b8602d70918f235ccc08eba3224f1621c11022721c21a3"
    assert m["splits"]["train"]["rows"] == 8_000 and m["splits"]["test"]["rows"] == 1_000
    path = real_file("criteo", "criteo_dac_train_first10k.txt")
    distinct = [{line.rstrip("\n").split("\t")[14 + j] for line in open(path)} - {""} for j in range(26)]
    assert ds.schema.table_sizes == tuple(len(d) + 1 for d in distinct)  # exact ids + 0 = missing


def test_real_avazu_samples(tmp_path):
    ds = preprocess(
        [real_file("avazu", "avazu_train_first8999.csv"), real_file("avazu", "avazu_train_next1000_noheader.csv")],
        tmp_path / "a",
        fmt="avazu",
    )
    splits = ds.manifest["splits"]
    assert sum(s["rows"] for s in splits.values()) == 9_999
    assert round(sum(s["rows"] * s["positive_rate"] for s in splits.values())) == 1_563 + 143


def test_real_kdd_sample(tmp_path):
    ds = preprocess(
        [real_file("kdd2012_track2", "training.txt")],
        tmp_path / "k",
        fmt="kdd",
        user_profile=real_file("kdd2012_track2", "user.txt"),
    )
    assert sum(s["rows"] for s in ds.manifest["splits"].values()) == 11
    assert CTRDataset(ds.path).schema.n_sparse == 10
