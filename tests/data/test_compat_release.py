"""``compat="release"`` against rows computed by hand, the way the release's scripts compute them.

The expected rows come from the raw lines with plain Python and scikit-learn's own
``StratifiedKFold`` (not the project's split code): the release's split scripts assign the
folds on every line's label and then, on Criteo and KDD, skip line 0 while writing, so the
row written for fold index ``k`` is line ``k + 1``; its data pipe maps a categorical value
``x`` to ``x mod (n_i - 1) + 1`` with the table sizes of its ``config.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from nasrec_lab.data import PreprocessOptions, preprocess
from tests.conftest import real_file

RELEASE = PreprocessOptions(compat="release")
# nasrec/utils/config.py of the release; capped at 0.5M rows during search.
CAP = 500_000
CRITEO_UNCAPPED = (1461, 584, 10131227, 2202609, 306, 25, 12518, 634, 4, 93146, 5684, 8351593, 3195, 28, 14993,
                   5461307, 11, 5653, 2174, 5, 7046548, 19, 16, 286182, 106, 142573)
AVAZU_TABLES = [10000, 241, 8, 8, 4738, 7746, 27, 8553, 560, 37, 2686409, 6729487, 8252, 6, 5, 2627, 9, 10, 436,
                5, 69, 173, 61]
AVAZU_TABLES = [min(n, CAP) for n in AVAZU_TABLES]
KDD_TABLES = [min(n, CAP) for n in (26274, 641708, 14848, 22122011, 1188090, 3735797, 2934102, 20004011, 4, 8)]
SPLITS = ("train", "val", "test")


def fold_split(labels: list[int]) -> list[str]:
    """Split name of every fold index: folds 0-7 train, 8 val, 9 test (scikit-learn's own folds)."""
    out = [""] * len(labels)
    kfold = StratifiedKFold(n_splits=10, shuffle=True, random_state=2018)
    for fold, (_, test) in enumerate(kfold.split(np.zeros(len(labels)), labels)):
        for k in test:
            out[k] = SPLITS[0] if fold < 8 else SPLITS[fold - 7]
    return out


def modulo_id(x: int | None, n: int) -> int:
    return 0 if x is None else x % (n - 1) + 1


def dense_value(text: str) -> float:
    return math.log(max(int(text), 0) + 1) if text else 0.0


def decimal_first(text: str) -> int:
    try:
        return int(text, 10) % 2147483647
    except ValueError:
        return int(text, 16) % 2147483647


def expected_rows(lines: list[tuple[int, list[float], list[int]]], labels: list[int], shifted: bool) -> dict:
    """Rows per split in file order, as the release's split script writes them."""
    splits = fold_split(labels)
    rows: dict[str, list] = {s: [] for s in SPLITS}
    for k, split in enumerate(splits):
        line = k + 1 if shifted else k
        if line < len(lines):
            rows[split].append(lines[line])
    return rows


def assert_dataset_has(ds, rows: dict) -> None:
    for split in SPLITS:
        want = rows[split]
        assert ds.manifest["splits"][split]["rows"] == len(want), split
        if not want:  # the shift can empty a split of a tiny file (KDD's sample loses its only test row)
            continue
        arrays = ds.split(split)
        assert len(arrays.column("label")) == len(want), split
        np.testing.assert_array_equal(arrays.column("label"), [r[0] for r in want])
        np.testing.assert_allclose(arrays.column("dense"), np.array([r[1] for r in want], np.float32), rtol=1e-6)
        np.testing.assert_array_equal(arrays.column("sparse"), [r[2] for r in want])


@pytest.mark.parametrize("cap", [CAP, 10**10], ids=["search-cap", "uncapped"])
def test_criteo_release_rows(tmp_path, cap):
    raw = real_file("criteo", "criteo_dac_train_first10k.txt")
    tables = [min(n, cap) for n in CRITEO_UNCAPPED]
    text_lines = raw.read_text().splitlines()
    lines, labels = [], []
    for text in text_lines:
        f = text.split("\t")
        labels.append(int(f[0]))
        cats = [modulo_id(int(v, 16) if v else None, n) for v, n in zip(f[14:], tables)]
        lines.append((int(f[0]), [dense_value(v) for v in f[1:14]], cats))
    ds = preprocess([raw], tmp_path / "release", fmt="criteo",
                    options=PreprocessOptions(compat="release", table_cap=cap))
    rows = expected_rows(lines, labels, shifted=True)
    assert_dataset_has(ds, rows)
    assert sum(len(r) for r in rows.values()) == len(lines) - 1  # line 0 is lost
    assert list(ds.schema.table_sizes) == tables
    assert ds.manifest["preprocessing"]["compat"] == "release"
    if cap == CAP:
        # The default mode keeps every line.
        default = preprocess([raw], tmp_path / "default", fmt="criteo")
        assert sum(default.split(s).column("label").shape[0] for s in SPLITS) == len(lines)
        return
    # NASREC.md: with the release's (uncapped) tables, 1,648 collisions over the 26 columns of these rows
    values = [{f[14 + j] for f in (t.split("\t") for t in text_lines)} - {""} for j in range(26)]
    ids = [set() for _ in range(26)]
    for split in SPLITS:
        for row in ds.split(split).column("sparse"):
            for j, i in enumerate(row):
                ids[j].add(int(i))
    for j, i in enumerate(lines[0][2]):  # the lost line 0 still counts among the values
        ids[j].add(i)
    assert sum(len(v) - len(i - {0}) for v, i in zip(values, ids)) == 1648


def test_kdd_release_rows(tmp_path):
    raw = real_file("kdd2012_track2", "training.txt")
    profile_path = real_file("kdd2012_track2", "user.txt")
    profile = {}
    for text in profile_path.read_text().splitlines():
        user, gender, age = text.split("\t")
        profile[user] = (gender, age)
    lines, labels = [], []
    for text in raw.read_text().splitlines():
        f = text.split("\t")
        label = int(int(f[0]) > 0)
        labels.append(label)
        # training.txt: Click Impression DisplayURL AdID AdvertiserID Depth Position QueryID KeywordID TitleID
        # DescriptionID UserID; the release's order: DisplayURL AdID AdvertiserID QueryID KeywordID TitleID
        # DescriptionID UserID Gender Age
        cats = [f[2], f[3], f[4], f[7], f[8], f[9], f[10], f[11], *profile.get(f[11], ("0", "0"))]
        ids = [modulo_id(decimal_first(v), n) for v, n in zip(cats, KDD_TABLES)]
        lines.append((label, [dense_value(f[1]), dense_value(f[5]), dense_value(f[6])], ids))
    ds = preprocess([raw], tmp_path / "release", fmt="kdd", user_profile=profile_path, options=RELEASE)
    rows = expected_rows(lines, labels, shifted=True)
    assert_dataset_has(ds, rows)
    assert sum(len(r) for r in rows.values()) == len(lines) - 1


def test_avazu_release_rows(tmp_path):
    raw = real_file("avazu", "avazu_train_first8999.csv")
    lines, labels = [], []
    for text in raw.read_text().splitlines()[1:]:  # the header, skipped by the release in both passes
        f = text.split(",")
        labels.append(int(f[1]))
        cats = [f[0]] + f[2:]  # id, hour, C1, ...: every column but click
        lines.append((int(f[1]), [0.0], [modulo_id(decimal_first(v), n) for v, n in zip(cats, AVAZU_TABLES)]))
    ds = preprocess([raw], tmp_path / "release", fmt="avazu", options=RELEASE)
    rows = expected_rows(lines, labels, shifted=False)
    assert_dataset_has(ds, rows)
    assert sum(len(r) for r in rows.values()) == len(lines)  # no shift on Avazu


def test_release_mode_refuses_what_it_cannot_reproduce(tmp_path):
    with pytest.raises(ValueError, match="categorical='hash', split='autoctr'"):
        PreprocessOptions(compat="release", split="random")
    with pytest.raises(ValueError, match="compat must be one of"):
        PreprocessOptions(compat="paper")
    raw = tmp_path / "x.csv"
    raw.write_text("y,a\n1,u\n")
    from nasrec_lab.data import csv_format

    fmt = csv_format(label="y", dense=(), sparse=("a",), columns=("y", "a"))
    with pytest.raises(ValueError, match="not for format 'csv'"):
        preprocess([raw], tmp_path / "ds", fmt=fmt, options=RELEASE)


def test_preprocess_command_takes_compat(tmp_path, capsys):
    from nasrec_lab.cli import main
    from nasrec_lab.data import CTRDataset

    raw = real_file("kdd2012_track2", "training.txt")
    profile = real_file("kdd2012_track2", "user.txt")
    out = tmp_path / "cli"
    assert main(["preprocess", "kdd", str(raw), "--user-profile", str(profile), "--out", str(out),
                 "--compat", "release"]) == 0
    api = preprocess([raw], tmp_path / "api", fmt="kdd", user_profile=profile, options=RELEASE)
    ds = CTRDataset(out)
    assert ds.manifest["preprocessing"]["compat"] == "release"
    for split in ("train", "val"):
        np.testing.assert_array_equal(ds.split(split).column("sparse"), api.split(split).column("sparse"))
