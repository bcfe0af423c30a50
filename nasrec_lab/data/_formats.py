"""Raw CTR file formats: column layouts exactly as NASREC.md gives them."""

from __future__ import annotations

from dataclasses import dataclass

from ._schema import (
    AVAZU_COLUMNS,
    AVAZU_DENSE,
    AVAZU_SPARSE,
    CRITEO_DENSE,
    CRITEO_SPARSE,
    KDD_DENSE,
    KDD_SPARSE,
    KDD_TRAINING_COLUMNS,
)


def check_delimiter(delimiter: str, where: str = "") -> None:
    if len(delimiter) != 1 or delimiter in ('"', "\n", "\r"):
        raise ValueError(f"{where}the delimiter must be one character other than a quote or a newline, got "
                         f"{delimiter!r} (a TAB from a shell: --delimiter $'\\t')")


@dataclass(frozen=True)
class RawFormat:
    """How one raw file is laid out.

    ``label_rule`` is ``"binary"`` (the label must be 0 or 1) or ``"count"`` (a non-negative
    integer, label = count > 0; KDD Cup 2012's Click).
    ``header`` is ``"none"``, ``"auto"`` (skipped when the first line equals the column names)
    or ``"required"``.
    """

    name: str
    delimiter: str
    columns: tuple[str, ...]
    label: str
    dense: tuple[str, ...]
    sparse: tuple[str, ...]
    header: str = "none"
    label_rule: str = "binary"
    quoted: bool = False

    def __post_init__(self) -> None:
        check_delimiter(self.delimiter, f"format {self.name!r}: ")
        features = (*self.dense, *self.sparse)
        if self.label in features:
            kind = "dense" if self.label in self.dense else "sparse"
            raise ValueError(f"format {self.name!r}: the label {self.label!r} is also listed as a {kind} feature "
                             "(the model would see the answer)")
        repeated = sorted({c for c in features if features.count(c) > 1})
        if repeated:
            raise ValueError(f"format {self.name!r}: column(s) {repeated} listed more than once among the features")
        missing = [c for c in (self.label, *self.dense, *self.sparse) if c not in self.columns]
        # KDD's Gender/Age come from the user-profile join, not from training.txt.
        missing = [c for c in missing if c not in ("Gender", "Age", "virtual")]
        if missing:
            raise ValueError(f"format {self.name!r}: columns {missing} are not in the file's columns")
        if self.header not in ("none", "auto", "required"):
            raise ValueError(f"format {self.name!r}: header must be none|auto|required, got {self.header!r}")
        if self.label_rule not in ("binary", "count"):
            raise ValueError(f"format {self.name!r}: label_rule must be binary|count, got {self.label_rule!r}")


CRITEO = RawFormat(
    name="criteo",
    delimiter="\t",
    columns=("label", *CRITEO_DENSE, *CRITEO_SPARSE),
    label="label",
    dense=CRITEO_DENSE,
    sparse=CRITEO_SPARSE,
)
AVAZU = RawFormat(
    name="avazu",
    delimiter=",",
    columns=tuple(AVAZU_COLUMNS),
    label="click",
    dense=AVAZU_DENSE,
    sparse=AVAZU_SPARSE,
    header="auto",
)
KDD = RawFormat(
    name="kdd",
    delimiter="\t",
    columns=KDD_TRAINING_COLUMNS,
    label="Click",
    dense=KDD_DENSE,
    sparse=KDD_SPARSE,
    label_rule="count",
)


def csv_format(
    *,
    label: str,
    dense: tuple[str, ...],
    sparse: tuple[str, ...],
    columns: tuple[str, ...],
    delimiter: str = ",",
) -> RawFormat:
    """A generic delimited file with a header line naming its columns."""
    return RawFormat(
        name="csv",
        delimiter=delimiter,
        columns=columns,
        label=label,
        dense=tuple(dense),
        sparse=tuple(sparse),
        header="required",
        quoted=True,
    )
