"""``compat="release"``: the tensors the authors' release feeds its models, reproduced exactly.

Two quirks of the release's scripts (NASREC.md, "Two quirks") that the default mode does
not copy:

* **The shifted split (Criteo, KDD).** The split scripts compute the AutoCTR folds on the
  labels of every line, then skip the first line while writing (a "skip header" on files
  without one): the row written for fold index ``k`` is line ``k + 1``. Line 0 is lost,
  the last fold index has no line left, and val/test are no longer stratified. Avazu's
  script skips its header in both passes: no shift (on ``train.csv``, which has the header;
  a headerless Avazu file keeps its first row here, where the release would drop it).
* **The modulo map.** Every categorical value becomes ``x mod (n_i - 1) + 1`` (0 for a
  missing value), where ``n_i`` is the release's fixed table size of column ``i`` (capped
  like the default tables) and ``x`` the integer the release reads: ``int(value, 16)`` on
  Criteo; on KDD and Avazu, whose split scripts first rewrite every categorical value as
  ``int(value, 10) mod 2147483647`` (``int(value, 16)`` when the value is not decimal),
  that number. Distinct values collide, even in small columns.

Values travel through the reader as ``x + 1`` (0 stays "missing"); :class:`ReleaseIndex`
undoes the offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._split import autoctr_assignment

COMPAT_MODES = ("none", "release")
# The split code for a row the release never writes.
DROPPED = -1
_MODULUS = 2147483647
# nasrec/utils/config.py of the release: NUM_EMBEDDINGS_{CRITEO,AVAZU,KDD}, uncapped, in column order.
RELEASE_TABLE_SIZES: dict[str, tuple[int, ...]] = {
    "criteo": (1461, 584, 10131227, 2202609, 306, 25, 12518, 634, 4, 93146, 5684, 8351593, 3195, 28, 14993,
               5461307, 11, 5653, 2174, 5, 7046548, 19, 16, 286182, 106, 142573),
    "avazu": (10000, 241, 8, 8, 4738, 7746, 27, 8553, 560, 37, 2686409, 6729487, 8252, 6, 5, 2627, 9, 10, 436, 5,
              69, 173, 61),
    "kdd": (26274, 641708, 14848, 22122011, 1188090, 3735797, 2934102, 20004011, 4, 8),
}
# Formats whose release split script drops line 0 and writes line k + 1 for fold index k.
SHIFTED_SPLIT = frozenset({"criteo", "kdd"})


def check_compat(compat: str, *, fmt: str | None = None, categorical: str = "hash", split: str = "autoctr",
                 parquet: bool = False) -> None:
    """Raise ``ValueError`` for a compat mode that cannot apply to these options."""
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {COMPAT_MODES}, got {compat!r}")
    if compat == "none":
        return
    if categorical != "hash" or split != "autoctr":
        raise ValueError("compat='release' fixes the categorical map and the split: use categorical='hash', "
                         f"split='autoctr' (got {categorical!r}, {split!r})")
    if fmt is not None and fmt not in RELEASE_TABLE_SIZES:
        raise ValueError(f"compat='release' exists for the release's data sets {sorted(RELEASE_TABLE_SIZES)}, "
                         f"not for format {fmt!r}")
    if parquet:
        raise ValueError("compat='release' reads the release's raw text files, not Parquet")


def _criteo_value(text: str) -> int:
    return int(text, 16)


def _decimal_first_value(text: str) -> int:
    # The KDD and Avazu split scripts: decimal when it parses, else hexadecimal, mod 2^31 - 1.
    try:
        return int(text, 10) % _MODULUS
    except ValueError:
        return int(text, 16) % _MODULUS


class ReleaseValueError(ValueError):
    """A categorical value the release's id map cannot read (the reader names its line and field)."""


def release_value_key(fmt: str) -> Callable[[np.ndarray], np.ndarray]:
    """For a reader: distinct string values -> ``x + 1`` with ``x`` the integer the release reads."""
    parse = _criteo_value if fmt == "criteo" else _decimal_first_value

    def key(values: np.ndarray) -> np.ndarray:
        out = np.empty(len(values), np.uint64)
        for i, v in enumerate(values):
            try:
                out[i] = parse(str(v)) + 1
            except ValueError:
                raise ReleaseValueError(f"compat='release' ({fmt}): expected a decimal or hexadecimal categorical "
                                        "value") from None
        return out

    return key


@dataclass
class ReleaseIndex:
    """The release's id map of one column: ``x mod (n - 1) + 1``, 0 for missing."""

    table_size: int
    mode: str = "release-modulo"

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        missing = keys == 0
        ids = ((keys - np.uint64(1)) % np.uint64(self.table_size - 1)).astype(np.int64) + 1
        ids[missing] = 0
        return ids.astype(np.int32)


def release_indexes(fmt: str, table_cap: int) -> list[ReleaseIndex]:
    """One :class:`ReleaseIndex` per sparse column, with the release's table sizes capped at ``table_cap``."""
    return [ReleaseIndex(min(n, table_cap)) for n in RELEASE_TABLE_SIZES[fmt]]


def release_assignment(labels: np.ndarray, fmt: str, seed: int = 2018) -> np.ndarray:
    """Split code per row (0 train, 1 val, 2 test, ``DROPPED``) as the release's split scripts write them."""
    folds = autoctr_assignment(labels, seed)
    if fmt not in SHIFTED_SPLIT:
        return folds
    out = np.empty_like(folds)
    out[0] = DROPPED
    out[1:] = folds[:-1]
    return out
