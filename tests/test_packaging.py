"""The wheel: what it contains, and that it installs (not editable) into a fresh venv with a working CLI.

The wheel is built offline (``pip wheel --no-deps --no-build-isolation``) from a copy of the
working tree, so the build leaves nothing in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(p.name for p in (ROOT / "nasrec_lab" / "space" / "published").glob("*.json"))
_SKIP_TOP = {".git", ".venv", "build", "dist", "test-artifacts", "runs", "data", "out"}


def _copy_tree(dest: Path) -> Path:
    """The working tree's files (tracked and untracked, not ignored) copied under ``dest``."""
    try:
        files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                               capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: everything but the usual clutter
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
                 and p.relative_to(ROOT).parts[0] not in _SKIP_TOP and "__pycache__" not in p.parts]
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(out), str(src)], check=True, capture_output=True, cwd=src)
    (whl,) = out.glob("nasrec_lab-*.whl")
    return whl


def wheel_problems(whl: Path) -> list[str]:
    """What is wrong with the wheel's contents (empty when nothing is)."""
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        dist = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        meta = z.read(f"{dist}/METADATA").decode()
        entry = z.read(f"{dist}/entry_points.txt").decode() if f"{dist}/entry_points.txt" in names else ""
    top = {n.split("/")[0] for n in names} - {dist}
    problems = []
    shipped = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("nasrec_lab/space/published/")
                     and n.endswith(".json"))
    if shipped != PUBLISHED:
        problems.append(f"published architectures: {shipped}, expected {PUBLISHED}")
    if "nasrec_lab/space/published/README.md" not in names:
        problems.append("published/README.md (attribution) missing")
    if top != {"nasrec_lab", "widgets"}:
        problems.append(f"top-level packages {sorted(top)}, expected nasrec_lab and widgets")
    if any(n.startswith(("benchmarks/", "tests/")) for n in names):
        problems.append("benchmarks/ or tests/ installed")
    if "nasrec_lab/bench/__init__.py" not in names:
        problems.append("nasrec_lab/bench (what `nasrec-lab bench` runs) missing")
    if "nasrec-lab = nasrec_lab.cli:main" not in entry:
        problems.append(f"console script nasrec-lab not declared: {entry!r}")
    if "License-Expression: Apache-2.0" not in meta.splitlines():
        problems.append("METADATA has no License-Expression: Apache-2.0")
    return problems


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(_copy_tree(tmp_path_factory.mktemp("src")), tmp_path_factory.mktemp("wheel"))


def test_the_wheel_contains_the_package_data_and_only_the_packages(wheel):
    assert wheel_problems(wheel) == []


def test_the_wheel_check_catches_a_planted_packaging_bug(tmp_path):
    src = _copy_tree(tmp_path / "src")
    pyproject = src / "pyproject.toml"
    text = pyproject.read_text()
    planted = text.replace('"nasrec_lab.space" = ["published/*.json", "published/README.md"]', "")
    planted = planted.replace('include = ["nasrec_lab*", "widgets*"]', 'include = ["nasrec_lab*", "widgets*", "benchmarks*"]')
    assert planted != text
    pyproject.write_text(planted)
    problems = wheel_problems(build_wheel(src, tmp_path / "wheel"))
    assert any("published architectures" in p for p in problems), problems
    assert any("top-level packages" in p for p in problems), problems


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_with_a_working_cli(wheel, tmp_path):
    """Not editable, run from outside the repository; torch and the other dependencies come from
    this environment (a .pth line: its site-packages on the path, its editable finder not loaded)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "_nasrec_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    cli = venv / "bin" / "nasrec-lab"
    away = tmp_path / "elsewhere"
    away.mkdir()

    def run(*cmd: str) -> str:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=away)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    where = run(py, "-c", "import importlib.util, nasrec_lab; print(nasrec_lab.__file__); "
                          "print(importlib.util.find_spec('benchmarks'))").splitlines()
    assert Path(where[0]).is_relative_to(purelib) and where[1] == "None"
    assert "criteo_full" in run(cli, "arch", "list")
    assert "{data,supernet,search}" in run(cli, "bench", "--help")
    out = run(cli, "bench", "data", "--rows", "2000", "--json")
    assert "preprocess_speedup" in out.splitlines()[-1]
