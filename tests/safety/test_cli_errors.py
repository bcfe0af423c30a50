"""Issue 15, cases 6 and 7 through the CLI: every user error is one line with exit code 2 (never a
traceback or a crash), refused before anything is written; resumes that would silently mix two
runs are refused with the reason."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil

import pytest
import torch

from nasrec_lab.cli import main
from nasrec_lab.search import SearchStore
from nasrec_lab.search._store import CandidateRecord

from .conftest import MakesADirectoryWhenLoaded, assert_one_line_error, run_cli_cases

SEARCH = ["--searcher", "random", "--finetune-steps", "1", "--eval-batches", "1", "--eval-batch-size", "64",
          "--finetune-batch", "64"]


def _corrupt_store(path) -> None:
    with SearchStore(path) as store:
        sid = store.create_search("damaged", {}, {})
        for seq in range(200):
            store.add_candidate(sid, CandidateRecord(seq, f"h{seq}", "x" * 300, "small", 0, None, 0.5, 0.5, 1, 1, None,
                                                     0.0, True, None, 0))
    with open(path, "r+b") as fh:  # a damaged page in the middle of the file
        fh.seek(4096 * 3)
        fh.write(os.urandom(4096))


def _nan_supernet(src, dst) -> None:
    state = torch.load(src, map_location="cpu", weights_only=True)
    for tensor in state["model"].values():
        if tensor.is_floating_point():
            tensor.fill_(math.nan)
    torch.save(state, dst)


def test_each_case_is_one_line_with_exit_code_2(tiny, tmp_path):
    d, ck = str(tiny.data), str(tiny.checkpoint)
    search = ["search", "--data", d, "--supernet", ck, *SEARCH]
    _corrupt_store(tmp_path / "corrupt.sqlite")
    (tmp_path / "empty.sqlite").touch()
    _nan_supernet(ck, tmp_path / "nan.pt")
    (tmp_path / "five.csv").write_text("y,a,c\n1,2,x\n0,3,y\n0,1,z\n1,1,x\n0,5,q\n")
    main(["preprocess", "csv", str(tmp_path / "five.csv"), "--label", "y", "--dense", "a", "--sparse", "c",
          "--out", str(tmp_path / "five")])
    (tmp_path / "a_folder").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    # The supernet of a search replaced between the run and its resume.
    shutil.copy(ck, tmp_path / "sn.pt")
    assert main([*search, "--supernet", str(tmp_path / "sn.pt"), "--store", str(tmp_path / "sn.sqlite"), "--budget",
                 "1", "--name", "sn"]) == 0
    _nan_supernet(tmp_path / "sn.pt", tmp_path / "sn.pt")
    # Another process runs search id 1 of busy.sqlite (the one the CLI will create).
    busy = SearchStore(tmp_path / "busy.sqlite")
    resume = ["train-supernet", "--data", d, "--space", "small", "--steps", "4", "--batch-size", "128", "--out",
              str(tiny.run), "--resume", "--no-progress"]
    preprocess = ["preprocess", "csv", "--label", "y", "--dense", "a", "--sparse", "c", "--out", "never"]
    cases = {
        # 6: crashes instead of errors
        "threads huge": (search + ["--store", "threads.sqlite", "--budget", "2", "--threads", "100000"],
                         "search", "--threads must be between 1 and"),
        "threads -1": (["train-supernet", "--data", d, "--steps", "2", "--out", "r", "--threads", "-1"],
                       "train-supernet", "--threads"),
        "threads 0 finetune": (["finetune", "--supernet", ck, "--arch", "x.json", "--data", d, "--threads", "0"],
                               "finetune", "--threads"),
        "budget 0": (search + ["--store", "budget.sqlite", "--budget", "0"], "search", "budget must be at least 1"),
        "budget -3": (search + ["--store", "budget.sqlite", "--budget", "-3"], "search", "budget must be at least 1"),
        "lr nan": (["train-supernet", "--data", d, "--steps", "2", "--out", "r", "--lr", "nan", "--no-progress"],
                   "train-supernet", "lr", "nan"),
        "lr nan finetune": (["finetune", "--supernet", ck, "--arch", "criteo_small", "--data", d, "--lr", "nan",
                             "--no-progress"], "finetune", "lr", "nan"),
        "delimiter": (["preprocess", "csv", str(tmp_path / "five.csv"), "--label", "y", "--sparse", "c", "--out", "o",
                       "--delimiter", "\\t"], "preprocess", "delimiter must be one character", "'\\\\t'"),
        "corrupt store": (search + ["--store", str(tmp_path / "corrupt.sqlite"), "--budget", "1", "--resume"],
                          "search", "corrupt.sqlite"),
        "concurrent resume": (search + ["--store", str(tmp_path / "busy.sqlite"), "--budget", "1", "--name", "busy",
                                        "--resume"], "search", "being run by another process"),
        "workers 0": (search + ["--store", "eb.sqlite", "--budget", "1", "--backend", "process", "--workers", "0"],
                      "search", "workers must be at least 1"),
        "eval-batches 0": (search + ["--store", "eb.sqlite", "--budget", "1", "--eval-batches", "0"], "search",
                           "--eval-batches) must be at least 1"),
        "eval-batches 0 finetune": (["finetune", "--supernet", ck, "--arch", "criteo_small", "--data", d,
                                     "--eval-batches", "0", "--no-progress"], "finetune", "must be at least 1"),
        "empty split": (["train-subnet", "criteo_small", "--space", "small", "--data", str(tmp_path / "five"),
                         "--steps", "1", "--batch-size", "1", "--no-progress"], "train-subnet",
                        "split 'test' has no rows"),
        # 7: silent resumes
        "resume other lr": (resume + ["--lr", "0.2"], "train-supernet", "lr 0.12", "0.2"),
        "resume other warm-up": (resume + ["--warmup-steps", "2"], "train-supernet", "warm-up"),
        "resume other accumulator": (resume + ["--initial-accumulator", "0"], "train-supernet",
                                     "initial_accumulator 0.1", "asks for 0.0"),
        "accumulator negative": (["train-supernet", "--data", d, "--steps", "2", "--out", "r", "--initial-accumulator",
                                  "-1", "--no-progress"], "train-supernet", "--initial-accumulator", "-1"),
        "resume other path form": (resume + ["--standalone-paths"], "train-supernet", "always_project",
                                   "True vs False"),
        "resume other data": ([*resume[:2], str(tiny.other_data), *resume[3:]], "train-supernet", "other data"),
        "resume changed supernet": (search + ["--supernet", str(tmp_path / "sn.pt"), "--store",
                                              str(tmp_path / "sn.sqlite"), "--budget", "2", "--name", "sn",
                                              "--resume"], "search", "another supernet"),
        "resume zero-byte store": (search + ["--store", str(tmp_path / "empty.sqlite"), "--budget", "1", "--resume"],
                                   "search", "empty (0 bytes)"),
        # 8: inputs that are not files, a label among the features
        "directory input": ([*preprocess[:2], str(tmp_path / "a_folder"), *preprocess[2:]], "preprocess",
                            "is a directory"),
        "fifo input": ([*preprocess[:2], str(tmp_path / "fifo.csv"), *preprocess[2:]], "preprocess", "is a FIFO"),
        "label as feature": (["preprocess", "csv", str(tmp_path / "five.csv"), "--label", "y", "--dense", "a,y",
                              "--sparse", "c", "--out", "o"], "preprocess", "label 'y' is also listed"),
    }
    # final training: conflicting protocols, a file's space overridden, an --out that is not free, divergence
    from nasrec_lab.space import load_architecture, save_architecture

    small, _ = load_architecture("criteo_small")
    save_architecture(tmp_path / "small.json", small, "small")
    bad_flag = json.loads((tmp_path / "small.json").read_text())
    bad_flag["blocks"][0]["deep_fm"] = "no"
    (tmp_path / "bad_flag.json").write_text(json.dumps(bad_flag))
    (tmp_path / "model.pt").write_text("a file of the user's\n")
    baseline = ["train-baseline", "dlrm", "--data", d, "--steps", "3", "--batch-size", "64", "--no-progress"]
    cases |= {
        "epochs with early stopping": (baseline + ["--epochs", "1", "--max-epochs", "7"], "train-baseline",
                                       "--max-epochs set early stopping, --epochs the fixed-epochs protocol"),
        "space other than the file's": (["train-subnet", str(tmp_path / "small.json"), "--data", d, "--space", "full",
                                         "--steps", "2", "--no-progress"], "train-subnet",
                                        "carries its space 'small'; --space full differs"),
        "flag that is not a bool": (["arch", "show", str(tmp_path / "bad_flag.json")], "arch",
                                    "block field 'deep_fm' must be true or false, got 'no'"),
        "out over a file": (baseline + ["--out", str(tmp_path / "model.pt")], "train-baseline",
                            "model.pt: exists; pass --overwrite"),
        "out a folder": (baseline + ["--out", str(tmp_path / "a_folder")], "train-baseline", "a_folder: is a folder"),
        "baseline diverged": (baseline + ["--lr", "1e30"], "train-baseline", "training diverged (lr 1e+30)"),
        "supernet diverged": (["train-supernet", "--data", d, "--space", "small", "--steps", "10", "--batch-size", "64",
                               "--lr", "1e30", "--out", str(tmp_path / "div"), "--no-progress"], "train-supernet",
                              "training loss is nan", "training diverged"),
    }
    # refused before the search is created in the store (a search left there would block the corrected command)
    kind = torch.load(ck, map_location="cpu", weights_only=True)
    torch.save({**kind, "kind": "subnet"}, tmp_path / "subnet.pt")
    torch.save({**kind, "model": MakesADirectoryWhenLoaded(str(tmp_path / "ran"))}, tmp_path / "evil.pt")
    cases |= {
        "finetune-steps 0": (search + ["--store", "eb.sqlite", "--budget", "1", "--finetune-steps", "0"], "search",
                             "finetune_steps (--finetune-steps) must be at least 1"),
        "max-flops below every subnet": (search + ["--store", "eb.sqlite", "--budget", "1", "--max-flops", "10"],
                                         "search", "--max-flops 10 (the least of 10,000 random subnets needs"),
        "data of another schema": (["search", "--data", str(tmp_path / "five"), "--supernet", ck, *SEARCH, "--store",
                                    "eb.sqlite", "--budget", "1"], "search", "was built for schema", "five has schema"),
        "code-running supernet": (search + ["--supernet", str(tmp_path / "evil.pt"), "--store", "eb.sqlite", "--budget",
                                            "1"], "search", "evil.pt: refused: the file asks for", "could run code"),
        "subnet as supernet": (search + ["--supernet", str(tmp_path / "subnet.pt"), "--store", "eb.sqlite", "--budget",
                                         "1"], "search", "subnet.pt: holds a subnet, not a supernet"),
        "raw rows over a file": (["synth", "--out", "x", "--rows", "1000", "--raw-criteo", str(tmp_path / "five.csv")],
                                 "synth", "five.csv: exists; pass --overwrite"),
        "evolution flag for random": (search + ["--store", "eb.sqlite", "--budget", "1", "--population", "4"], "search",
                                      "--population sizes evolution and nsga2; --searcher random does not take it"),
    }
    cases["device cuda with ray"] = (search + ["--store", "dev.sqlite", "--budget", "1", "--device", "cuda:0",
                                               "--backend", "ray"], "search", "--device cuda:0", "--backend process")
    if not torch.cuda.is_available():
        cases["device cuda without CUDA"] = (search + ["--store", "dev.sqlite", "--budget", "1", "--device", "cuda"],
                                             "search", "device 'cuda' requested but CUDA is not available")
    with busy.search_lock(1, "busy"):
        results = run_cli_cases([argv for argv, *_ in cases.values()], cwd=tmp_path)
    busy.close()
    for (name, (_argv, command, *needles)), result in zip(cases.items(), results):
        try:
            assert_one_line_error(result, command, *needles)
        except AssertionError as exc:
            raise AssertionError(f"case {name!r}: {exc}") from None
    # validated before anything was written: no store file for --threads, no search entry for --budget
    assert not (tmp_path / "threads.sqlite").exists()
    with SearchStore(tmp_path / "budget.sqlite") as store:
        assert store.searches() == []
    with SearchStore(tmp_path / "eb.sqlite") as store:
        assert store.searches() == []
    assert not (tmp_path / "dev.sqlite").exists()
    assert (tmp_path / "empty.sqlite").stat().st_size == 0  # refused, not started over
    assert (tmp_path / "five.csv").read_text().startswith("y,a,c\n1,2,x")  # not replaced by raw rows
    assert (tmp_path / "model.pt").read_text() == "a file of the user's\n"
    assert not (tmp_path / "div" / "checkpoint.pt").exists()  # the diverged supernet left no non-finite checkpoint
    assert not (tmp_path / "never").exists()
    assert not (tmp_path / "ran").exists()  # the code-running supernet's function was never called


def test_all_nan_scores_end_in_a_summary_not_a_type_error(tiny, tmp_path, capsys):
    _nan_supernet(tiny.checkpoint, tmp_path / "nan.pt")
    argv = ["search", "--data", str(tiny.data), "--supernet", str(tmp_path / "nan.pt"), "--store",
            str(tmp_path / "s.sqlite"), "--budget", "2", "--scoring", "inherit", *SEARCH]
    assert main(argv) == 0
    assert "no candidate with a finite score after 2 candidates" in capsys.readouterr().out
    assert main([*argv, "--resume", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["best_hash"] is None and out["best_val_logloss"] is None and out["evaluated"] == 2


@pytest.mark.parametrize("error", [MemoryError(), OSError(errno.ENOMEM, "Cannot allocate memory"),
                                   RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't "
                                                "allocate memory: you tried to allocate 1099511627776 bytes."),
                                   OSError(errno.ENOSPC, "No space left on device", "/data/x.npy")])
def test_out_of_memory_and_disk_are_one_line(monkeypatch, capsys, error):
    from nasrec_lab.cli import _data

    def fail(args):
        raise error

    monkeypatch.setattr(_data, "cmd_synth", fail)
    parser_rc = main(["synth", "--out", "x"])
    err = capsys.readouterr().err.strip()
    assert parser_rc == 2 and len(err.splitlines()) == 1, err
    assert ("out of memory" in err) or ("No space left on device" in err and "/data/x.npy" in err), err


def test_a_bug_still_shows_its_traceback(monkeypatch):
    from nasrec_lab.cli import _data

    def fail(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(_data, "cmd_synth", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["synth", "--out", "x"])
