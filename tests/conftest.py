from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NASREC_SHARED", ROOT.parent / "shared"))
REAL = SHARED / "data" / "real"
REFERENCE_CONFIGS = ROOT / "nasrec_lab" / "space" / "published"
REFERENCE_NAMES = ("criteo_full", "criteo_small", "avazu_full", "avazu_small", "kdd_full", "kdd_small")


def reference_config(name: str) -> Path:
    """Path of one of the authors' published architectures (shipped with the package)."""
    return REFERENCE_CONFIGS / f"{name}.json"


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


CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> str:
    """Debian's Chromium, installed when missing (as root, with apt-get), else the test is skipped."""
    import os
    import shutil
    import subprocess

    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("Chromium is missing and cannot be installed here (needs root and apt-get)")
    import fcntl

    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open("/tmp/nasrec-lab-chromium.lock", "w") as lock:  # pytest workers: one apt-get at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not Path(CHROMIUM).exists():
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True, env=env)
    return CHROMIUM
