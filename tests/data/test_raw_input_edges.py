"""Raw inputs at the edges: a row gets one verdict whichever block it is in, every bad input is
named (file, line, field), and a user's file is never replaced without being asked to."""

import gzip
import hashlib
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nasrec_lab.data import DataFormatError, PreprocessOptions, SyntheticSpec, preprocess, synthesize, write_raw_criteo

from .test_preprocess import criteo_line, write_criteo


def _labels(ds) -> list[int]:
    return sorted(int(v) for name in ("train", "val", "test") for v in ds.split(name).column("label"))


@pytest.mark.parametrize("value, field", [("0x10", "I2"), ("\uff15", "I2")])
def test_a_dense_value_arrow_reads_and_the_rule_refuses_is_refused_in_any_block(tmp_path, value, field):
    """arrow's int64 reads "0x10" as 16 and Python's float reads a fullwidth 5: the rule (decimal
    ASCII numbers) refuses both, on the fast path (a clean block) as on the line-by-line one."""
    bad = criteo_line(1, ["3", value, *["1"] * 11], ["0000abcd"] * 26)
    for name, extra in (("clean", {}), ("with_blank", {50: ""})):
        raw = tmp_path / f"{name}.txt"
        write_criteo(raw, n=60, bad={20: bad, **extra})
        # one block (the first, read as bytes), and blocks of 4 KB: the row in a later block, a view of the buffer
        for block_bytes in (1 << 20, 4096):
            with pytest.raises(DataFormatError) as info:
                preprocess([raw], tmp_path / f"ds_{name}", fmt="criteo", options=PreprocessOptions(block_bytes=block_bytes))
            assert (info.value.line, info.value.field) == (21, field), str(info.value)


def test_integer_labels_as_arrow_reads_them_are_read_the_same_in_any_block(tmp_path):
    lines = {5: criteo_line("01", ["1"] * 13, ["0000abcd"] * 26), 6: criteo_line("-0", ["1"] * 13, ["0000abcd"] * 26)}
    clean, blank = tmp_path / "clean.txt", tmp_path / "blank.txt"
    write_criteo(clean, n=60, bad=lines)
    write_criteo(blank, n=60, bad={**lines, 50: ""})
    opts = PreprocessOptions(split="random", split_seed=0)
    a = preprocess([clean], tmp_path / "a", fmt="criteo", options=opts)
    b = preprocess([blank], tmp_path / "b", fmt="criteo", options=opts)
    labels = [i % 2 for i in range(60)]
    labels[5], labels[6] = 1, 0
    assert _labels(a) == sorted(labels)
    assert _labels(b) == sorted(labels[:50] + labels[51:])  # the blank line's row is gone, nothing else


@pytest.mark.parametrize("line, message", [("\t" * 39, "field 'label': expected a label of 0 or 1"),
                                           ("\t", "expected 40 fields separated by '\\t', found 2")])
def test_a_line_of_tabs_is_a_row_without_values_not_a_blank_line(tmp_path, line, message):
    raw = tmp_path / "train.txt"
    write_criteo(raw, n=40, bad={11: line})
    with pytest.raises(DataFormatError, match=f"train.txt:12: {re.escape(message)}"):
        preprocess([raw], tmp_path / "ds", fmt="criteo")
    ds = preprocess([raw], tmp_path / "skip", fmt="criteo", options=PreprocessOptions(on_bad_rows="skip"))
    assert json.loads((ds.path / "manifest.json").read_text())["bad_rows"] == 1


def test_the_manifests_sha256_is_the_files_own_bytes_without_a_final_newline(tmp_path):
    raw = tmp_path / "train.txt"
    write_criteo(raw, n=40, final_newline=False)
    ds = preprocess([raw], tmp_path / "ds", fmt="criteo")
    (source,) = json.loads((ds.path / "manifest.json").read_text())["sources"]
    assert source["sha256"] == hashlib.sha256(raw.read_bytes()).hexdigest()


def _kdd(tmp_path):
    train = tmp_path / "training.txt"
    train.write_text("\n".join(["1\t1\t111\t7\t8\t1\t2\t10\t11\t12\t13\t100", "0\t1\t111\t7\t8\t2\t1\t10\t11\t12\t13\t101"]
                               * 10) + "\n")
    return train


@pytest.mark.parametrize("profile, line, found", [("100\t1\t4\n101\t2\t5\t9\n", 2, 4),
                                                  ("100\t1\t4\n\n101\t2\n", 3, 2),
                                                  ("100\t1\t4\n101\t\t5\n", 2, 3)])
def test_a_user_profile_line_of_another_field_count_is_named_by_its_line(tmp_path, profile, line, found):
    prof = tmp_path / "userid_profile.txt"
    prof.write_text(profile)
    with pytest.raises(DataFormatError, match=f"userid_profile.txt:{line}: expected 3 non-empty TAB-separated fields "
                                              f"UserID, Gender, Age, found {found}"):
        preprocess([_kdd(tmp_path)], tmp_path / "ds", fmt="kdd", user_profile=prof)


def test_a_gzipped_user_profile_is_read_by_its_magic_bytes(tmp_path):
    plain, packed = tmp_path / "plain.txt", tmp_path / "packed.txt"
    plain.write_text("100\t1\t4\n101\t2\t5\n")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    opts = PreprocessOptions(split="random", split_seed=0)
    a = preprocess([_kdd(tmp_path)], tmp_path / "a", fmt="kdd", user_profile=plain, options=opts)
    b = preprocess([_kdd(tmp_path)], tmp_path / "b", fmt="kdd", user_profile=packed, options=opts)
    assert np.array_equal(a.split("train").column("sparse"), b.split("train").column("sparse"))
    gender = a.schema.sparse.index("Gender")
    assert len(set(a.split("train").column("sparse")[:, gender].tolist())) == 2  # both users' genders joined


def test_options_are_refused_before_the_input_is_read(tmp_path):
    raw = tmp_path / "train.txt"
    write_criteo(raw, n=40)
    with pytest.raises(ValueError, match="split_seed \\(--split-seed\\) must be between 0 and 2\\*\\*32 - 1, got -1"):
        PreprocessOptions(split_seed=-1)
    with pytest.raises(ValueError, match="the 'criteo' format takes none"):
        preprocess([raw], tmp_path / "ds", fmt="criteo", user_profile=tmp_path / "missing.txt")
    assert not (tmp_path / "ds").exists()


def test_a_csv_header_that_repeats_a_column_is_named(tmp_path):
    from nasrec_lab.data import csv_format

    path = tmp_path / "dup.csv"
    path.write_text("y,a,a,d\n1,2,3,4\n0,1,2,3\n")
    fmt = csv_format(label="y", dense=("d",), sparse=("a",), columns=("y", "a", "a", "d"))
    with pytest.raises(DataFormatError, match="dup.csv:1: the header repeats column\\(s\\) \\['a'\\]"):
        preprocess([path], tmp_path / "ds", fmt=fmt)


def test_parquet_files_that_are_not_or_hold_lists_are_named(tmp_path):
    from nasrec_lab.data import csv_format

    fmt = csv_format(label="y", dense=("d",), sparse=("s",), columns=("y", "d", "s"))
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"y": [0, 1] * 10, "d": [1.0] * 20, "s": [[1, 2]] * 20}), nested)
    with pytest.raises(DataFormatError, match="nested.parquet: field 's': expected one value per row .* found type list"):
        preprocess([nested], tmp_path / "ds", fmt=fmt)
    fake = tmp_path / "fake.parquet"
    fake.write_text("y,d,s\n")
    with pytest.raises(DataFormatError, match="fake.parquet: cannot read Parquet file"):
        preprocess([fake], tmp_path / "ds", fmt=fmt)
    from nasrec_lab.data import csv_columns

    with pytest.raises(DataFormatError, match="fake.parquet: cannot read Parquet file"):
        csv_columns(fake)  # what the CLI reads first, for --dense/--sparse


def test_a_categorical_value_the_release_cannot_read_is_named_by_line_and_field(tmp_path):
    raw = tmp_path / "train.txt"
    write_criteo(raw, n=40, bad={25: criteo_line(1, ["1"] * 13, ["0000abcd"] * 5 + ["zz123456"] + ["0000abcd"] * 20)})
    release = PreprocessOptions(compat="release")
    with pytest.raises(DataFormatError, match="train.txt:26: field 'C6': compat='release' .* \\(got 'zz123456'\\)"):
        preprocess([raw], tmp_path / "ds", fmt="criteo", options=release)
    skip = PreprocessOptions(compat="release", on_bad_rows="skip")
    ds = preprocess([raw], tmp_path / "skip", fmt="criteo", options=skip)
    assert json.loads((ds.path / "manifest.json").read_text())["bad_rows"] == 1


def test_raw_criteo_rows_never_replace_a_file_unasked(tmp_path):
    mine = tmp_path / "mine.txt"
    mine.write_text("precious\n")
    with pytest.raises(FileExistsError, match="mine.txt: exists; pass --overwrite"):
        write_raw_criteo(mine, rows=100)
    assert mine.read_text() == "precious\n"
    write_raw_criteo(mine, rows=100, overwrite=True)
    assert len(mine.read_text().splitlines()) == 100
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="folder: is a directory"):
        write_raw_criteo(tmp_path / "folder", rows=100)
    for rows in (0, -5):
        with pytest.raises(ValueError, match=f"rows must be at least 1, got {rows}"):
            write_raw_criteo(tmp_path / "new.txt", rows=rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "mine.txt"]  # no temp file left


def test_a_spec_with_fewer_field_pairs_than_interactions_is_refused_not_a_hang(tmp_path):
    with pytest.raises(ValueError, match="fm_pairs must be between 1 and 3 \\(the distinct pairs of 3 fields\\)"):
        SyntheticSpec(n_sparse=3, table_sizes=(10, 20, 30))
    ds = synthesize(tmp_path / "three", rows=1000, seed=0, spec=SyntheticSpec(n_sparse=3, table_sizes=(10, 20, 30),
                                                                                fm_pairs=3))
    assert ds.schema.table_sizes == (10, 20, 30)


def test_an_empty_text_value_is_missing_in_parquet_as_in_a_delimited_file(tmp_path):
    from nasrec_lab.data import csv_format

    fmt = csv_format(label="y", dense=("d",), sparse=("s",), columns=("y", "d", "s"))
    values = ["a", "", "b", None] * 25
    pq.write_table(pa.table({"y": [0, 1] * 50, "d": [1.0] * 100, "s": values}), tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("y,d,s\n" + "".join(f"{i % 2},1.0,{v or ''}\n" for i, v in enumerate(values)))
    opts = PreprocessOptions(split="random", split_seed=0)
    a = preprocess([tmp_path / "t.parquet"], tmp_path / "a", fmt=fmt, options=opts)
    b = preprocess([tmp_path / "t.csv"], tmp_path / "b", fmt=fmt, options=opts)
    ids = [np.concatenate([ds.split(n).column("sparse")[:, 0] for n in ("train", "val", "test")]) for ds in (a, b)]
    assert np.array_equal(ids[0], ids[1]) and (ids[0] == 0).sum() == 50  # "" and null both id 0, in both


def test_a_notebooks_data_folder_is_reused_only_for_the_same_data_set(tmp_path):
    """The demo run again into the same --out with another seed or size used the first run's rows."""
    from nasrec_lab.data import CTRDataset, open_or_synthesize

    spec = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, 500, 26)))
    first = open_or_synthesize(tmp_path / "data", rows=2000, seed=0, spec=spec)
    stamp = (first.path / "manifest.json").stat().st_mtime_ns
    again = open_or_synthesize(tmp_path / "data", rows=2000, seed=0, spec=spec)
    assert (again.path / "manifest.json").stat().st_mtime_ns == stamp  # the same data set: not generated again
    other = open_or_synthesize(tmp_path / "data", rows=3000, seed=1, spec=spec)
    apart = synthesize(tmp_path / "apart", rows=3000, seed=1, spec=spec)
    assert other.manifest["synthetic"]["seed"] == 1 and other.oracle_logloss("test") == apart.oracle_logloss("test")
    raw = tmp_path / "train.txt"  # a real (preprocessed) data set put there by a user is used as it is
    write_criteo(raw, n=60)
    real = preprocess([raw], tmp_path / "real", fmt="criteo")
    assert open_or_synthesize(real.path, rows=2000, seed=0, spec=spec).manifest == CTRDataset(real.path).manifest
