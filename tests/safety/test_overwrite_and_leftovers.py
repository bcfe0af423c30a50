"""Issue 15, cases 2 and 9: ``--overwrite`` deletes only a data set this project made; what a killed
run leaves (temporary folders, a half-written checkpoint, log lines past the checkpoint) is cleaned
up by the next run; data set folders get ordinary permissions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from nasrec_lab.cli import main
from nasrec_lab.data import SyntheticSpec, synthesize

from .conftest import BATCH, ROOT, TINY_TABLES

SPEC = SyntheticSpec(table_sizes=TINY_TABLES)


def _synth(out, **kw):
    return synthesize(out, rows=1000, seed=0, spec=SPEC, **kw)


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_overwrite_refuses_a_folder_of_other_files(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert main(["synth", "--rows", "1000", "--out", str(mine), "--overwrite"]) == 2
    err = _error(capsys)
    assert str(mine) in err and "refusing to overwrite" in err
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_overwrite_refuses_the_folder_holding_the_raw_input(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "in.csv").write_text("y,a,c\n" + "".join(f"{i % 2},{i},x\n" for i in range(20)))
    args = ["preprocess", "csv", str(raw / "in.csv"), "--label", "y", "--dense", "a", "--sparse", "c"]
    assert main([*args, "--out", str(raw), "--overwrite"]) == 2
    assert "inside the output folder" in _error(capsys)
    # even when that folder is a data set we made: the input in it would go with it
    assert main([*args, "--out", str(tmp_path / "ds")]) == 0
    shutil.copy(raw / "in.csv", tmp_path / "ds" / "in.csv")
    assert main([*args[:2], str(tmp_path / "ds" / "in.csv"), *args[3:], "--out", str(tmp_path / "ds"),
                 "--overwrite"]) == 2
    assert "inside the output folder" in _error(capsys)
    assert (raw / "in.csv").is_file() and (tmp_path / "ds" / "in.csv").is_file()


def test_overwrite_refuses_a_manifest_that_is_not_ours_and_extra_files(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"files": ["a", "b"]}))
    with pytest.raises(FileExistsError, match="not written by nasrec-lab"):
        _synth(other, overwrite=True)
    ds = _synth(tmp_path / "ds")
    (ds.path / "train" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="train/notes.txt"):
        _synth(ds.path, overwrite=True)
    (ds.path / "train" / "notes.txt").unlink()
    assert _synth(ds.path, overwrite=True).manifest["kind"] == "synthetic"  # ours: replaced


def test_data_set_folders_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        ds = _synth(tmp_path / "ds")
    finally:
        os.umask(umask)
    assert ds.path.stat().st_mode & 0o777 == 0o755


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from nasrec_lab import _atomic

if sys.argv[1] == "dir":
    with _atomic.atomic_directory(sys.argv[2]) as tmp:
        (tmp / "half.npy").write_bytes(b"x" * 1000)
        os.kill(os.getpid(), 9)
else:
    os.fsync = lambda fd: os.kill(os.getpid(), 9)  # killed after writing, before the rename
    _atomic.atomic_write_bytes(sys.argv[2], b"x" * 100_000)
"""


def _killed(kind: str, path) -> None:
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, kind, str(path)], cwd=ROOT, capture_output=True)
    assert proc.returncode == -9, proc.stderr


def test_a_killed_preprocessing_leaves_nothing_after_the_next_run(tmp_path):
    _killed("dir", tmp_path / "ds")
    (left,) = tmp_path.glob(".ds.tmp-*")
    assert not (tmp_path / "ds").exists()
    live = tmp_path / f".ds.tmp-{os.getppid()}-running"  # a writer still at work is left alone
    live.mkdir()
    _synth(tmp_path / "ds")
    assert not left.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "ds"])


def test_resume_removes_a_killed_checkpoint_write_and_log_steps_are_not_repeated(tiny, tmp_path):
    from nasrec_lab.data import CTRDataset
    from nasrec_lab.pipeline import supernet_trainer
    from nasrec_lab.training import FunctionCallback

    run = tmp_path / "run"
    run.mkdir()
    log = run / "log.jsonl"

    def write_log(event):  # as train-supernet writes it
        with open(log, "a") as fh:
            fh.write(json.dumps({"event": type(event).__name__, **event.to_json()}) + "\n")

    def keep_step_2(event):
        if event.step == 2:
            shutil.copy(run / "checkpoint.pt", tmp_path / "step2.pt")

    ds = CTRDataset(tiny.data)
    supernet_trainer(ds, "small", 4, seed=0, warmup_steps=2, batch_size=BATCH, checkpoint_every=2,
                     checkpoint_dir=run, callbacks=[FunctionCallback(on_step=write_log, on_checkpoint=keep_step_2)]
                     ).run()
    # killed after logging step 4 and while writing its checkpoint: step 2 is the last complete one
    shutil.copy(tmp_path / "step2.pt", run / "checkpoint.pt")
    with open(log, "a") as fh:
        fh.write('{"event": "StepEv')  # a torn last line
    _killed("file", run / "checkpoint.pt")
    (left,) = run.glob(".checkpoint.pt.*.tmp")
    assert main(["train-supernet", "--data", str(tiny.data), "--space", "small", "--steps", "4", "--batch-size",
                 str(BATCH), "--warmup-steps", "2", "--checkpoint-every", "2", "--out", str(run), "--resume",
                 "--no-progress"]) == 0
    assert not left.exists()
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [4]  # logged once: by the resumed run (every 10 steps and at the end)
