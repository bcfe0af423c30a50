"""Hand-designed CTR baselines, trained by the same trainer on the same data.

Registry: ``BASELINES`` maps a name to a builder; ``build_baseline(name, schema)`` makes one.
Embedding dimension 16 everywhere; other sizes follow each paper's defaults (see each class).
"""

from ._models import (
    BASELINES,
    DLRM,
    AutoInt,
    Baseline,
    DCNv2,
    DeepFM,
    LogisticRegression,
    build_baseline,
    dlrm_like_architecture,
    register_baseline,
)

__all__ = [
    "BASELINES",
    "DCNv2",
    "DLRM",
    "AutoInt",
    "Baseline",
    "DeepFM",
    "LogisticRegression",
    "build_baseline",
    "dlrm_like_architecture",
    "register_baseline",
]
