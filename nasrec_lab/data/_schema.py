"""The shape of a CTR data set: which dense and sparse features, and the label."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FeatureSchema:
    """Dense feature names, sparse feature names with their table sizes, and the label.

    A sparse id lies in ``0 .. table_size - 1``; id 0 means "missing".

    >>> s = FeatureSchema(dense=("I1",), sparse=("C1",), table_sizes=(10,))
    >>> FeatureSchema.from_json(s.to_json()) == s
    True
    """

    dense: tuple[str, ...]
    sparse: tuple[str, ...]
    table_sizes: tuple[int, ...]
    label: str = "label"
    embedding_dim: int = 16
    name: str = field(default="custom")

    def __post_init__(self) -> None:
        object.__setattr__(self, "dense", tuple(self.dense))
        object.__setattr__(self, "sparse", tuple(self.sparse))
        object.__setattr__(self, "table_sizes", tuple(int(t) for t in self.table_sizes))
        if len(self.sparse) != len(self.table_sizes):
            raise ValueError(
                f"FeatureSchema: {len(self.sparse)} sparse features but {len(self.table_sizes)} table sizes"
            )
        if not self.sparse:
            raise ValueError("FeatureSchema: at least one sparse feature is needed")
        names = list(self.dense) + list(self.sparse)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"FeatureSchema: duplicate feature names {dup}")
        bad = [(n, t) for n, t in zip(self.sparse, self.table_sizes) if t < 2]
        if bad:
            raise ValueError(f"FeatureSchema: table size must be >= 2 (id 0 is 'missing'), got {bad}")
        if self.embedding_dim < 1:
            raise ValueError(f"FeatureSchema: embedding_dim must be >= 1, got {self.embedding_dim}")

    @property
    def n_dense(self) -> int:
        return len(self.dense)

    @property
    def n_sparse(self) -> int:
        return len(self.sparse)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["dense"] = list(self.dense)
        d["sparse"] = list(self.sparse)
        d["table_sizes"] = list(self.table_sizes)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FeatureSchema:
        known = {"dense", "sparse", "table_sizes", "label", "embedding_dim", "name"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"FeatureSchema: unknown field(s) {sorted(unknown)}")
        return cls(**d)

    def with_table_cap(self, cap: int | None) -> FeatureSchema:
        """The same schema with every table capped at ``cap`` rows (the release caps at 0.5M in search)."""
        if cap is None:
            return self
        return FeatureSchema(
            dense=self.dense,
            sparse=self.sparse,
            table_sizes=tuple(min(t, cap) for t in self.table_sizes),
            label=self.label,
            embedding_dim=self.embedding_dim,
            name=self.name,
        )


CRITEO_DENSE = tuple(f"I{i}" for i in range(1, 14))
CRITEO_SPARSE = tuple(f"C{i}" for i in range(1, 27))
AVAZU_COLUMNS = (
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,"
    "device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21"
).split(",")
# As the release does: Avazu has no real dense feature, so a single all-zero "virtual"
# dense column stands in, and `id` is a (hashed) sparse feature -> 23 sparse features.
AVAZU_DENSE = ("virtual",)
AVAZU_SPARSE = tuple(c for c in AVAZU_COLUMNS if c != "click")
KDD_TRAINING_COLUMNS = (
    "Click",
    "Impression",
    "DisplayURL",
    "AdID",
    "AdvertiserID",
    "Depth",
    "Position",
    "QueryID",
    "KeywordID",
    "TitleID",
    "DescriptionID",
    "UserID",
)
KDD_DENSE = ("Impression", "Depth", "Position")
KDD_SPARSE = (
    "DisplayURL",
    "AdID",
    "AdvertiserID",
    "QueryID",
    "KeywordID",
    "TitleID",
    "DescriptionID",
    "UserID",
    "Gender",
    "Age",
)

# Shapes of the paper's data sets, with table sizes as the release caps them during search
# (0.5M rows); used where no preprocessed directory is at hand (cost model, benchmarks).
_CAP = 500_000
PRESET_SCHEMAS: dict[str, FeatureSchema] = {
    "criteo": FeatureSchema(
        dense=CRITEO_DENSE,
        sparse=CRITEO_SPARSE,
        table_sizes=(
            1461, 584, _CAP, _CAP, 306, 25, 12518, 634, 4, 93146, 5684, _CAP, 3195, 28,
            14993, _CAP, 11, 5653, 2174, 5, _CAP, 19, 16, 286182, 106, 142573,
        ),
        name="criteo",
    ),
    "avazu": FeatureSchema(
        dense=AVAZU_DENSE,
        sparse=AVAZU_SPARSE,
        table_sizes=(
            10000, 241, 8, 8, 4738, 7746, 27, 8553, 560, 37, _CAP, _CAP, 8252, 6, 5, 2627, 9,
            10, 436, 5, 69, 173, 61,
        ),
        name="avazu",
    ),
    "kdd": FeatureSchema(
        dense=KDD_DENSE,
        sparse=KDD_SPARSE,
        table_sizes=(26274, _CAP, 14848, _CAP, _CAP, _CAP, _CAP, _CAP, 4, 8),
        name="kdd",
    ),
}
