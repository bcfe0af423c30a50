"""Shared fixtures of the safety tests: a tiny data set, a supernet checkpoint written the way
``train-supernet`` writes it, and a way to run many CLI commands in one child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("_cli_driver.py")
TINY_TABLES = tuple(int(x) for x in np.geomspace(4, 300, 26))
# train-supernet's defaults for this run: --space small --steps 4 --batch-size 128 (warm-up 4 // 10)
STEPS, BATCH = 4, 128


class MakesADirectoryWhenLoaded:
    """Pickled, it asks the unpickler to call ``os.mkdir(target)``: a file that would run code when loaded."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@dataclass(frozen=True)
class Tiny:
    root: Path
    data: Path  # a 2,000-row synthetic data set
    other_data: Path  # the same schema, other rows
    run: Path  # a supernet run directory as train-supernet leaves it (checkpoint.pt)

    @property
    def checkpoint(self) -> Path:
        return self.run / "checkpoint.pt"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Tiny:
    from nasrec_lab.data import SyntheticSpec, synthesize
    from nasrec_lab.pipeline import supernet_trainer

    root = tmp_path_factory.mktemp("safety")
    spec = SyntheticSpec(table_sizes=TINY_TABLES)
    ds = synthesize(root / "ds", rows=2000, seed=1, spec=spec)
    synthesize(root / "ds_other", rows=2000, seed=2, spec=spec)
    # the supernet recipe, as train-supernet runs it (a --resume through the CLI must match it)
    supernet_trainer(ds, "small", STEPS, seed=0, batch_size=BATCH, checkpoint_dir=root / "run").run().save_checkpoint()
    return Tiny(root, root / "ds", root / "ds_other", root / "run")


def run_cli_cases(cases: list[list[str]], cwd: Path, timeout: float = 600) -> list[dict]:
    """Run ``nasrec-lab ARGS`` for each case in one child process (the CLI's ``main``, as the
    console script calls it); returns each case's exit code, stdout and stderr. A case that
    escapes ``main`` with an exception gets ``rc == "traceback"``."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(DRIVER)], input=json.dumps(cases), capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)
    assert proc.returncode == 0, f"the CLI process died (rc {proc.returncode}): {proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_one_line_error(result: dict, command: str, *needles: str) -> str:
    """Exit code 2, one line on stderr naming the command, no traceback; returns the line."""
    err = result["stderr"].strip()
    assert result["rc"] == 2, result
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nasrec-lab {command}: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
