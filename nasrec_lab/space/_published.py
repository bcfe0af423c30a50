"""The authors' six published best architectures, shipped with the package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PUBLISHED_DIR = Path(__file__).with_name("published")


@dataclass(frozen=True)
class PublishedArchitecture:
    """One published architecture and the paper's numbers for it (Table 3 of the NASRec paper)."""

    name: str
    dataset: str
    space: str
    test_logloss: float
    test_auc: float
    mflops: float

    @property
    def path(self) -> Path:
        return PUBLISHED_DIR / f"{self.name}.json"

    def to_json(self) -> dict:
        return {"name": self.name, "dataset": self.dataset, "space": self.space, "test_logloss": self.test_logloss,
                "test_auc": self.test_auc, "mflops": self.mflops, "path": str(self.path)}


PUBLISHED: dict[str, PublishedArchitecture] = {
    p.name: p
    for p in (
        PublishedArchitecture("criteo_small", "criteo", "small", 0.4399, 0.8118, 2.20),
        PublishedArchitecture("criteo_full", "criteo", "full", 0.4408, 0.8107, 1.45),
        PublishedArchitecture("avazu_small", "avazu", "small", 0.3747, 0.7887, 3.08),
        PublishedArchitecture("avazu_full", "avazu", "full", 0.3737, 0.7903, 1.87),
        PublishedArchitecture("kdd_small", "kdd", "small", 0.1495, 0.8135, 3.48),
        PublishedArchitecture("kdd_full", "kdd", "full", 0.1491, 0.8154, 1.09),
    )
}


def published_path(name: str) -> Path:
    """File of a published architecture by name (``criteo_full`` ...); KeyError lists the names."""
    try:
        return PUBLISHED[name].path
    except KeyError:
        raise KeyError(f"no published architecture {name!r}; known: {', '.join(PUBLISHED)}") from None
