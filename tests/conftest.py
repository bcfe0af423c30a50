from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NASREC_SHARED", ROOT.parent / "shared"))
REAL = SHARED / "data" / "real"
REFERENCE_CONFIGS = SHARED / "reference" / "nasrec_best_configs"


def pytest_configure(config):
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def small_synth(tmp_path_factory):
    """A 20k-row synthetic data set shared by tests that only read it."""
    from nasrec_lab.data import synthesize

    return synthesize(tmp_path_factory.mktemp("synth") / "ds", rows=20_000, seed=3)


def real_file(*parts: str) -> Path:
    path = REAL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample {path} not present")
    return path
