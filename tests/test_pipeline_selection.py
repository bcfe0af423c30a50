"""The final stage trains the search's best candidates and chooses among them on validation only."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nasrec_lab.pipeline as pipeline
from nasrec_lab.pipeline import FinalEntry, PipelineConfig, PipelineResult, compare
from nasrec_lab.space import SMALL, sample_architecture
from nasrec_lab.training import FinalResult


def _result(val: list[float], test: float) -> FinalResult:
    return FinalResult(test_logloss=test, test_auc=0.7, test_normalized_entropy=0.9, test_calibration=1.0,
                       protocol="early-stopping", epochs=len(val), best_epoch=int(np.argmin(val)) + 1 if val else None, steps=10,
                       train_seconds=0.1, recipe={}, val_logloss_per_epoch=val)


@pytest.fixture
def candidates():
    rng = np.random.default_rng(0)
    archs = []
    while len(archs) < 4:
        a = sample_architecture(SMALL, rng)
        if a.hash() not in {b.hash() for b in archs}:
            archs.append(a)
    return archs


def test_the_lowest_validation_loss_is_chosen_and_test_plays_no_part(monkeypatch, candidates, small_synth):
    # per candidate (search rank 1..4): validation curve and test loss; rank 3 has the best validation
    # epoch, rank 2 the best test loss, rank 1 is the search's pick; rank 4 is beyond final_candidates
    planted = {candidates[0].hash(): ([0.50, 0.47], 0.470), candidates[1].hash(): ([0.49, 0.48], 0.440),
               candidates[2].hash(): ([0.48, 0.46, 0.47], 0.460), candidates[3].hash(): ([0.30], 0.300)}
    trained = []

    def fake_train(arch, data, space, **kw):
        trained.append(arch.hash())
        val, test = planted[arch.hash()]
        return FinalEntry("searched", "nasrec", _result(val, test), arch.hash(), 0.1, arch)

    monkeypatch.setattr(pipeline, "train_architecture", fake_train)
    monkeypatch.setattr(pipeline, "train_baseline",
                        lambda name, data, **kw: FinalEntry(name, "baseline", _result([0.47], 0.465)))
    config = PipelineConfig(space="small", final_candidates=3, baselines=("dlrm",))
    entries = compare(small_synth, candidates, config)
    assert trained == [a.hash() for a in candidates[:3]]  # the best three, in the search's order
    assert [(e.kind, e.search_rank) for e in entries] == [("nasrec", 3), ("candidate", 1), ("candidate", 2),
                                                          ("baseline", None)]
    assert entries[0].val_logloss == pytest.approx(0.46)
    result = PipelineResult.of(config, type("S", (), {"best_arch": candidates[0], "best_hash": candidates[0].hash(),
                                                      "evaluated": 12})(), entries, small_synth, "ck", "st")
    assert result.best_hash == candidates[2].hash() and result.best_arch == candidates[2]
    assert result.to_json()["best_test_logloss"] == pytest.approx(0.460)
    assert "of the search's best 3" in result.headline() and "beats every baseline" in result.headline()
    # one candidate: it is the searched model whatever its validation says (fixed-epochs gives none)
    config1 = PipelineConfig(space="small", baselines=())
    only = compare(small_synth, candidates, config1)
    assert [(e.kind, e.arch_hash) for e in only] == [("nasrec", candidates[0].hash())]
    assert "of the search's best" not in PipelineResult.of(config1, result, only, small_synth, "ck", "st").headline()


def test_choosing_among_candidates_needs_the_validation_split():
    with pytest.raises(ValueError, match="fixed-epochs protocol"):
        PipelineConfig(final_candidates=2, final_epochs=1)
    with pytest.raises(ValueError, match="final_candidates must be >= 1"):
        PipelineConfig(final_candidates=0)
    assert math.isnan(FinalEntry("x", "nasrec", _result([], 0.5)).val_logloss)


def test_run_pipeline_keeps_an_earlier_run_unless_told_to_replace_it(small_synth, tmp_path):
    """The whole pipeline once (tiny settings), then again into the same folder: refused, the earlier
    run's supernet and search left byte for byte; with overwrite=True it runs again."""
    from nasrec_lab.pipeline import run_pipeline

    config = PipelineConfig(space="small", supernet_steps=3, searcher="random", budget=3, finetune_steps=2, eval_batches=1,
                            eval_batch_size=1024, baselines=("logistic-regression",), max_epochs=1)
    first = run_pipeline(small_synth, config, tmp_path / "run")
    assert first.to_json()["best_test_logloss"] > 0
    kept = {p: p.read_bytes() for p in (tmp_path / "run" / "supernet" / "checkpoint.pt", tmp_path / "run" / "search.sqlite")}
    with pytest.raises(FileExistsError, match="checkpoint.pt exists .*overwrite=True"):
        run_pipeline(small_synth, config, tmp_path / "run")
    assert all(p.read_bytes() == b for p, b in kept.items())
    again = run_pipeline(small_synth, config, tmp_path / "run", overwrite=True)
    assert again.best_hash == first.best_hash  # the same seed, the same run


def test_final_trainings_can_read_the_same_rows_with_uncapped_tables(tmp_path, monkeypatch, small_synth):
    """NASREC.md: tables capped at 0.5M rows in the search, uncapped for the final models. The same raw rows
    preprocessed twice (a small cap, then the default) are accepted as one data set's twin and the final
    comparison reads the second; other rows are refused before anything is trained."""
    from nasrec_lab.data import PreprocessOptions, preprocess
    from nasrec_lab.pipeline import check_same_rows, run_pipeline

    rng = np.random.default_rng(0)
    lines = ["\t".join([str(int(rng.random() < 0.3)), *(str(v) for v in rng.integers(0, 50, 13)),
                        *(f"{v:08x}" for v in rng.integers(0, 40, 26))]) for _ in range(600)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    capped = preprocess([tmp_path / "train.txt"], tmp_path / "capped", fmt="criteo", options=PreprocessOptions(table_cap=8))
    full = preprocess([tmp_path / "train.txt"], tmp_path / "full", fmt="criteo")
    assert max(capped.schema.table_sizes) == 8 < max(full.schema.table_sizes)
    # the stages recorded, not run: a refusal that fails to come fails here, not after hours of training
    seen = {}

    def recorder(stage, returns):
        def record(data, *args, **kwargs):
            seen[stage] = data
            seen[f"{stage} config"] = next((a for a in args if isinstance(a, PipelineConfig)), None)
            return returns
        return record

    searched = type("Searched", (), {"ranked": None, "best_arch": None})()
    monkeypatch.setattr(pipeline, "train_supernet", recorder("supernet", tmp_path / "ck.pt"))
    monkeypatch.setattr(pipeline, "run_search", recorder("search", searched))
    monkeypatch.setattr(pipeline, "compare", recorder("final", []))
    monkeypatch.setattr(PipelineResult, "of", classmethod(lambda cls, config, result, entries, data, *rest: data))
    check_same_rows(capped, full)
    # the same labels and ids, other dense values: another file, however alike
    (tmp_path / "shifted.txt").write_text("\n".join(
        "\t".join([f[0], str(int(f[1]) + 1), *f[2:]]) for f in (line.split("\t") for line in lines)) + "\n")
    shifted = preprocess([tmp_path / "shifted.txt"], tmp_path / "shifted", fmt="criteo")
    random_split = preprocess([tmp_path / "train.txt"], tmp_path / "rnd", fmt="criteo",
                              options=PreprocessOptions(split="random"))
    for other, why in ((small_synth, "split has 16,000 rows, not 480"), (random_split, "other labels"),
                       (shifted, "other dense values")):
        with pytest.raises(ValueError, match=f"{other.path}: not the rows of {capped.path}: .*{why}"):
            run_pipeline(capped, PipelineConfig(space="small"), tmp_path / "never", final_data=other)
    assert not (tmp_path / "never").exists()
    # the wiring: the supernet and the search read the capped rows, the final comparison the uncapped ones
    assert run_pipeline(capped, PipelineConfig(space="small"), tmp_path / "run", final_data=full) is full
    assert (seen["supernet"], seen["search"], seen["final"]) == (capped, capped, full)
    # a default-length supernet is recorded with the steps of its one epoch, not as None
    assert seen["supernet config"].supernet_steps == -(-len(capped.split("train")) // 512)
