"""benchmarks.rank_ablation end to end at toy size: ceilings, cached supernet scores, the truth it reads."""

import json

import pytest

from benchmarks import rank_ablation


def test_rank_ablation_steps_the_split_half_ceiling_up_to_the_whole_truth(tmp_path):
    out = tmp_path / "ra.json"
    assert rank_ablation.main(["--rows", "6000", "--refs", "5", "--steps", "6", "--finetune-steps", "2",
                               "--space", "small", "--preset", "dense-width", "--truth-steps", "4",
                               "--truth-seeds", "4", "--samplers", "default", "--workdir", str(tmp_path / "w"),
                               "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    ceiling = res["noise_ceiling"]
    assert ceiling["truth_seeds"] == 4 and len(res["ground_truth_val_logloss_per_seed"]) == 4
    lo, hi = ceiling["split_half_kendall_tau_ci"]
    assert lo <= ceiling["split_half_kendall_tau"] <= hi
    tau_half, tau_truth = ceiling["split_half_kendall_tau"], ceiling["truth_kendall_tau"]
    if tau_half > 0:  # a mean of twice the seeds agrees more (nan where the halves do not agree at all)
        assert tau_half < tau_truth <= 1
        assert all(r["of_truth_ceiling"] == pytest.approx(r["kendall_tau"] / tau_truth) for r in res["table"])
    assert [(r["sampler"], r["finetune"]) for r in res["table"]] == [("default", False), ("default", True)]


def test_rank_ablation_scores_supernets_first_caches_them_and_scoring_on_the_way_leaves_training_alone(tmp_path):
    work = tmp_path / "w"
    base = ["--rows", "6000", "--refs", "5", "--steps", "20", "--finetune-steps", "2", "--space", "small",
            "--preset", "dense-width", "--truth-steps", "4", "--truth-seeds", "2", "--samplers", "default",
            "--workdir", str(work)]
    plain, along = tmp_path / "plain.json", tmp_path / "along.json"
    # --phase supernet needs no ground truth: none is trained, nothing but supernet scores comes out
    assert rank_ablation.main([*base, "--phase", "supernet", "--out", str(plain)]) == 0
    assert not (work / "ground_truth.sqlite").exists()
    first = json.loads(plain.read_text())
    assert first["phase"] == "supernet" and "table" not in first
    assert rank_ablation.main([*base, "--phase", "supernet", "--score-at", "10", "--out", str(along)]) == 0
    by_step = json.loads(along.read_text())["supernet_val_logloss_by_step"]["default"]
    assert sorted(by_step, key=int) == ["10", "20"]
    # scoring the references at step 10 of the run changes nothing the run ends with
    assert by_step["20"] == first["supernet_val_logloss_by_step"]["default"]["20"]
    assert by_step["10"]["finetune"] != by_step["20"]["finetune"]
    # the whole run reads the supernet scores back from the work dir (marked) and adds the truth
    cache = next(p for p in (work / "supernet_scores").glob("default-*.json")
                 if list(json.loads(p.read_text())["at"]) == ["20"])
    marked = json.loads(cache.read_text())
    marked["at"]["20"]["inherit"] = [float(i) for i in range(5)]
    cache.write_text(json.dumps(marked))
    assert rank_ablation.main([*base, "--out", str(plain)]) == 0
    res = json.loads(plain.read_text())
    assert res["supernet_val_logloss"]["default/inherit"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [(r["sampler"], r["finetune"]) for r in res["table"]] == [("default", False), ("default", True)]
    with pytest.raises(ValueError, match="multiples of 10"):
        rank_ablation.main([*base, "--phase", "supernet", "--score-at", "5", "--out", str(along)])


def test_rank_ablation_whole_path_scores_fine_tune_the_trunk_too(tmp_path):
    out = tmp_path / "ra.json"
    assert rank_ablation.main(["--rows", "6000", "--refs", "4", "--steps", "20", "--finetune-steps", "3",
                               "--space", "small", "--preset", "dense-width", "--truth-steps", "4",
                               "--truth-seeds", "2", "--samplers", "default", "--whole-path",
                               "--workdir", str(tmp_path / "w"), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [(r["finetune"], r["finetune_scope"]) for r in res["table"]] == [(False, None), (True, "head"),
                                                                           (True, "whole path")]
    head, whole = res["supernet_val_logloss"]["default/finetune"], res["supernet_val_logloss"]["default/finetune-whole"]
    # the trunk moves too: no reference scores as it does with the head alone
    assert all(h != w for h, w in zip(head, whole))


def test_rank_ablation_trains_the_supernet_without_layernorm_when_asked(tmp_path, monkeypatch):
    import nasrec_lab.pipeline

    built, real = [], nasrec_lab.pipeline.supernet_trainer

    def spy(*args, **kwargs):
        trainer = real(*args, **kwargs)
        built.append(trainer.model.layernorm)
        return trainer

    monkeypatch.setattr(nasrec_lab.pipeline, "supernet_trainer", spy)
    base = ["--rows", "6000", "--refs", "3", "--steps", "20", "--finetune-steps", "2", "--space", "small",
            "--preset", "dense-width", "--samplers", "default", "--phase", "supernet", "--workdir", str(tmp_path)]
    with_ln, without = tmp_path / "ln.json", tmp_path / "no_ln.json"
    assert rank_ablation.main([*base, "--out", str(with_ln)]) == 0
    assert rank_ablation.main([*base, "--no-layernorm", "--out", str(without)]) == 0
    assert built == [True, False]  # the second supernet was trained, not read from the first's cache
    a, b = (json.loads(p.read_text()) for p in (with_ln, without))
    assert "without LayerNorm" in b["title"] and "without LayerNorm" not in a["title"]
    assert all(x != y for x, y in zip(a["supernet_val_logloss"]["default/inherit"],
                                      b["supernet_val_logloss"]["default/inherit"]))


def test_rank_ablation_refuses_a_bad_score_step_before_training(tmp_path, monkeypatch):
    import nasrec_lab.pipeline

    def no_training(*args, **kwargs):
        raise AssertionError("a supernet was built before the --score-at steps were checked")

    monkeypatch.setattr(nasrec_lab.pipeline, "supernet_trainer", no_training)
    with pytest.raises(ValueError, match="multiples of 10"):
        rank_ablation.main(["--rows", "3000", "--refs", "3", "--steps", "20", "--space", "small", "--samplers",
                            "default", "--phase", "supernet", "--score-at", "5", "--workdir", str(tmp_path),
                            "--out", str(tmp_path / "r.json")])


def test_rank_ablation_trains_the_supernet_on_further_rows_when_asked(tmp_path):
    from nasrec_lab.data import CTRDataset

    base = ["--rows", "6000", "--refs", "5", "--steps", "20", "--finetune-steps", "2", "--space", "small",
            "--preset", "dense-width", "--samplers", "default", "--phase", "supernet", "--workdir", str(tmp_path)]
    own, fresh = tmp_path / "own.json", tmp_path / "fresh.json"
    assert rank_ablation.main([*base, "--out", str(own)]) == 0
    assert rank_ablation.main([*base, "--supernet-rows", "12000", "--out", str(fresh)]) == 0
    more = CTRDataset(tmp_path / "dense-width-12000-s0-part1")
    assert more.manifest["synthetic"]["part"] == 1 and more.manifest["synthetic"]["seed"] == 0
    a, b = json.loads(own.read_text()), json.loads(fresh.read_text())
    assert a["references"] == b["references"]  # the same references, scored on their own data set
    assert a["supernet_val_logloss"]["default/inherit"] != b["supernet_val_logloss"]["default/inherit"]
    assert "12,000 further rows" in b["title"]
    # the same supernet (12,000 further rows) scoring the references of another data set: not read from the cache
    other = tmp_path / "other.json"
    rows_at = base.index("--rows") + 1
    assert rank_ablation.main([*base[:rows_at], "7000", *base[rows_at + 1:], "--supernet-rows", "12000",
                               "--out", str(other)]) == 0
    c = json.loads(other.read_text())
    assert len(list((tmp_path / "supernet_scores").glob("default-*.json"))) == 3
    assert c["supernet_val_logloss"]["default/inherit"] != b["supernet_val_logloss"]["default/inherit"]


def test_rank_ablation_reads_the_truth_preset_spread_trained_on_more_rows(tmp_path):
    import sqlite3

    from benchmarks import preset_spread

    def truths() -> int:
        with sqlite3.connect(tmp_path / "ground_truth.sqlite") as db:
            return db.execute("select count(*) from ground_truth").fetchone()[0]

    assert preset_spread.main(["--presets", "dense-width", "--rows", "8000", "--archs", "5", "--seeds", "2",
                               "--steps", "4", "--workers", "1", "--data-dir", str(tmp_path),
                               "--out", str(tmp_path / "spread.json")]) == 0
    assert truths() == 10
    out = tmp_path / "ra.json"
    assert rank_ablation.main(["--rows", "6000", "--refs", "5", "--steps", "6", "--finetune-steps", "2",
                               "--space", "small", "--preset", "dense-width", "--truth-steps", "4",
                               "--truth-seeds", "2", "--truth-rows", "8000", "--samplers", "default",
                               "--workdir", str(tmp_path), "--out", str(out)]) == 0
    assert truths() == 10  # the references' truth on the 8000-row set was read back, none trained again
    res = json.loads(out.read_text())
    assert "ground truth trained on 8,000 rows" in res["title"] and len(res["ground_truth_val_logloss_per_seed"]) == 2
    ceiling = res["noise_ceiling"]  # two seeds: the halves are the seeds, stepped up to the 2-seed truth
    assert ceiling["split_half_kendall_tau"] == ceiling["kendall_tau"] and ceiling["truth_seeds"] == 2
    if 0 < ceiling["kendall_tau"] < 1:
        assert ceiling["kendall_tau"] < ceiling["truth_kendall_tau"] <= 1
