"""The study scripts end to end at toy size: their JSON contracts, resuming a study (rank_ablation: test_rank_ablation_script.py)."""

import json

import pytest

from benchmarks import quality, search_quality


def test_search_quality_runs_resumes_and_reports_verdicts(tmp_path):
    work, out = tmp_path / "work", tmp_path / "sq.json"
    argv = ["--rows", "6000", "--preset", "dense-width", "--space", "small", "--supernet-steps", "8", "--seeds", "2",
            "--budget", "3", "--finetune-steps", "2", "--eval-batches", "1", "--searchers", "random", "evolution",
            "--baselines", "logistic-regression", "--workers", "2", "--device", "cpu", "--workdir", str(work),
            "--out", str(out), "--supernet-accumulator", "0"]
    with pytest.raises(ValueError, match="has 0 of 3 candidates; finish it first"):
        search_quality.main([*argv, "--phase", "final"])
    assert search_quality.main([*argv, "--phase", "search"]) == 0  # the searches only, then the rest
    searched = json.loads(out.read_text())
    assert searched["scored_in_this_run"] == 12 and "test_logloss" not in searched["table"][0]
    # the supernet's Adagrad started from the accumulator asked for (the recipe's 0.1 bounds every entry below)
    import torch

    ckpt = torch.load(work / "run" / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["train_config"]["initial_accumulator"] == 0.0 == searched["supernet_initial_accumulator"]
    table = ckpt["model"]["stem.embedding.weight"].shape  # embedding rows start at 0 whatever the setting
    assert min(float(st["sum"].min()) for st in ckpt["optimizer"]["state"].values() if st["sum"].shape != table) < 0.1
    # the workdir's supernet is not reused for a run that asks for another one
    with pytest.raises(SystemExit, match="initial_accumulator 0.0, this run asks for 0.1"):
        search_quality.main([*argv[:-1], "0.1", "--phase", "search"])
    assert searched["supernet_centre_dense"] is False
    with pytest.raises(SystemExit, match="trained without --centre-dense, this run asks with"):
        search_quality.main([*argv, "--centre-dense", "--phase", "search"])
    # nor are the stored searches reported under settings they did not run with
    def final(*changes):
        args = list(argv)
        for flag, value in zip(changes[::2], changes[1::2]):
            args[args.index(flag) + 1] = value
        return search_quality.main([*args, "--phase", "final"])

    for changes, needle in ((("--space", "full"), "of the 'small' space, this run asks for 'full'"),
                            (("--finetune-steps", "77"), "scoring finetune_steps 2, this run asks 77"),
                            (("--budget", "2"), "3 candidates, this run asks --budget 2")):
        with pytest.raises(SystemExit, match=needle):
            final(*changes)
    assert search_quality.main([*argv, "--phase", "final"]) == 0
    first = json.loads(out.read_text())
    assert first["scored_in_this_run"] == 0 and first["device"] == "cpu"
    assert [r["best_hash"] for r in first["table"]] == [r["best_hash"] for r in searched["table"]]
    assert {r["searcher"] for r in first["table"]} == {"random", "evolution"} and len(first["table"]) == 4
    for key in ("random_beats_logistic-regression_in_median", "evolution_beats_logistic-regression_in_median",
                "evolution_beats_random_in_median"):
        assert isinstance(first[key], bool)
    lo, hi = first["median_test_logloss_ci"]["random"]
    assert lo <= first["median_test_logloss"]["random"] <= hi
    # each baseline is trained with as many seeds as the searches ran: its row is their median
    (lr_row,) = first["baselines"]
    per_seed = lr_row["test_logloss_per_seed"]
    assert "seed" not in lr_row and lr_row["seeds"] == [0, 1]
    assert lr_row["test_logloss"] == pytest.approx((per_seed[0] + per_seed[1]) / 2)
    assert lr_row["test_logloss_ci"][0] <= lr_row["test_logloss"] <= lr_row["test_logloss_ci"][1]
    from nasrec_lab.data import CTRDataset
    from nasrec_lab.pipeline import train_baseline

    for seed in (0, 1):  # each seed's value is that seed's training, done here independently
        alone = train_baseline("logistic-regression", CTRDataset(work / "data"), seed=seed, device="cpu")
        assert per_seed[seed] == pytest.approx(alone.result.test_logloss, abs=1e-6)
    assert per_seed[0] != pytest.approx(per_seed[1], abs=1e-6)
    # every final training is cached in the work dir: a rerun (all phases) scores and trains nothing again
    finals = sorted(p.name for p in (work / "final").glob("*.json"))
    assert {"logistic-regression-seed0.json", "logistic-regression-seed1.json"} <= set(finals)
    assert len(finals) == 2 + len({r["best_hash"] for r in first["table"]})
    cached = work / "final" / "logistic-regression-seed0.json"
    cached.write_text(json.dumps(json.loads(cached.read_text()) | {"test_logloss": 9.0}))  # marks a read-back
    assert search_quality.main(argv) == 0
    second = json.loads(out.read_text())
    assert [b["test_logloss_per_seed"] for b in second["baselines"]] == [[9.0, per_seed[1]]]
    assert second["scored_in_this_run"] == 0 and second["candidates_per_min"] is None
    assert [r["test_logloss"] for r in second["table"]] == [r["test_logloss"] for r in first["table"]]
    # a cached training by another recipe (a changed final recipe) is trained again, not read back
    stale = json.loads(cached.read_text())
    cached.write_text(json.dumps(stale | {"recipe": stale["recipe"] | {"field_start": "xavier", "lr": 0.5}}))
    assert search_quality.main(argv) == 0
    third = json.loads(out.read_text())
    assert [b["test_logloss_per_seed"] for b in third["baselines"]] == [per_seed]


def test_search_quality_final_candidates_are_the_searchs_best_and_the_lowest_validation_one_is_its_result(tmp_path):
    from nasrec_lab.data import CTRDataset
    from nasrec_lab.pipeline import train_architecture
    from nasrec_lab.search import SearchStore
    from nasrec_lab.space import Architecture

    work, out = tmp_path / "work", tmp_path / "sq.json"
    argv = ["--rows", "6000", "--preset", "dense-width", "--space", "small", "--supernet-steps", "8", "--seeds", "1",
            "--budget", "4", "--finetune-steps", "2", "--eval-batches", "1", "--searchers", "random",
            "--baselines", "logistic-regression", "--workers", "1", "--device", "cpu", "--workdir", str(work),
            "--final-candidates", "3", "--out", str(out)]
    assert search_quality.main(argv) == 0
    res = json.loads(out.read_text())
    (row,) = res["table"]
    assert res["final_candidates"] == 3 and len(row["final_candidates"]) == 3
    # the final candidates are the store's three lowest supernet scores, in that order, the first the search's best
    with SearchStore(work / "store.sqlite") as st:
        records = sorted(st.candidates(st.searches()[0]["id"]).values(), key=lambda r: r.val_logloss)
    assert [c["hash"] for c in row["final_candidates"]] == [r.arch_hash for r in records[:3]]
    assert row["best_hash"] == records[0].arch_hash
    # each final candidate's numbers are its own final training, rerun here independently
    ds = CTRDataset(work / "data")
    alone = {}
    for r in records[:3]:
        arch = Architecture.from_json(json.loads(r.arch_json))
        alone[r.arch_hash] = train_architecture(arch, ds, "small", name=r.arch_hash, device="cpu", seed=0)
    for c in row["final_candidates"]:
        assert c["val_logloss"] == pytest.approx(alone[c["hash"]].val_logloss, abs=1e-6)
        assert c["test_logloss"] == pytest.approx(alone[c["hash"]].result.test_logloss, abs=1e-6)
    # the result is the lowest validation log loss of the three, whatever test says
    chosen = min(alone, key=lambda h: alone[h].val_logloss)
    assert row["chosen_hash"] == chosen and len({round(a.val_logloss, 6) for a in alone.values()}) == 3
    assert row["test_logloss"] == pytest.approx(alone[chosen].result.test_logloss, abs=1e-6)
    assert row["top1_test_logloss"] == pytest.approx(alone[records[0].arch_hash].result.test_logloss, abs=1e-6)
    assert res["median_test_logloss"]["random"] == row["test_logloss"]
    assert res["median_top1_test_logloss"]["random"] == row["top1_test_logloss"]
    # validation, not test, decides: cached finals rewritten so that the two disagree
    last, worst_test = row["final_candidates"][2]["hash"], row["final_candidates"][0]["hash"]
    for h, (val, test) in {last: (0.1, 0.9), worst_test: (0.2, 0.05)}.items():
        cached = work / "final" / f"{h}.json"
        cached.write_text(json.dumps(json.loads(cached.read_text()) | {"val_logloss": val, "test_logloss": test}))
    assert search_quality.main(argv) == 0
    row = json.loads(out.read_text())["table"][0]
    assert row["chosen_hash"] == last and row["test_logloss"] == 0.9 and row["top1_test_logloss"] == 0.05
    with pytest.raises(SystemExit):
        search_quality.main([*argv, "--final-candidates", "0"])


def test_quality_trains_the_random_searchers_draws_on_the_chosen_preset(tmp_path):
    import numpy as np

    from nasrec_lab.data import SYNTHETIC_PRESETS, synthesize
    from nasrec_lab.space import sample_architecture

    out = tmp_path / "q.json"
    argv = ["--rows", "3000", "--preset", "higher-order", "--random", "2", "--only", "random", "logistic",
            "--threads", "1", "--out", str(out)]
    assert quality.main(argv) == 0
    res = json.loads(out.read_text())
    rows = {r["model"]: r for r in res["table"]}
    assert sorted(rows) == ["logistic-regression", "random-0", "random-1"]
    # the draws are the sampler's at seeds 0 and 1, and the data the preset's (its oracle, generated apart)
    for k in (0, 1):
        assert rows[f"random-{k}"]["arch_hash"] == sample_architecture("small", np.random.default_rng(k), "default").hash()
        assert rows[f"random-{k}"]["val_logloss"] > 0 and rows[f"random-{k}"]["epochs"] >= 2  # early stopping's val
    apart = synthesize(tmp_path / "apart", rows=3000, seed=0, spec=SYNTHETIC_PRESETS["higher-order"])
    assert res["preset"] == "higher-order" and res["oracle_test_logloss"] == apart.oracle_logloss("test")
    # --data reuses that data set: the same rows, so the same oracle and the same trained model
    assert quality.main(["--data", str(apart.path), "--only", "logistic", "--threads", "1", "--out", str(out)]) == 0
    again = json.loads(out.read_text())
    assert again["oracle_test_logloss"] == res["oracle_test_logloss"]
    assert again["table"][0]["test_logloss"] == rows["logistic-regression"]["test_logloss"]


def test_search_quality_whole_path_scores_candidates_with_the_path_fine_tuned(tmp_path):
    from nasrec_lab.search import SearchStore

    work = tmp_path / "work"
    argv = ["--rows", "6000", "--preset", "dense-width", "--space", "small", "--supernet-steps", "8", "--seeds", "1",
            "--budget", "2", "--finetune-steps", "2", "--eval-batches", "1", "--searchers", "random",
            "--baselines", "logistic-regression", "--workers", "1", "--device", "cpu", "--workdir", str(work),
            "--out", str(tmp_path / "sq.json")]
    assert search_quality.main([*argv, "--whole-path", "--phase", "search"]) == 0
    with SearchStore(work / "store.sqlite") as st:
        assert [s["config"]["scoring"]["whole_path"] for s in st.searches()] == [True]
    with pytest.raises(ValueError, match="other settings"):  # a resume cannot mix the two scorings
        search_quality.main([*argv, "--phase", "search"])


def test_a_kept_data_set_of_another_click_model_or_size_is_refused(tmp_path):
    from benchmarks._common import synthetic_data

    first = synthetic_data(tmp_path / "data", rows=2000, seed=0, preset="dense-width")
    assert synthetic_data(tmp_path / "data", rows=2000, seed=0, preset="dense-width").path == first.path  # reused
    for changed, key in ((dict(preset="higher-order"), "spec"), (dict(rows=3000), "rows"), (dict(seed=1), "seed")):
        with pytest.raises(ValueError, match=rf"data: the kept data set differs .* \['{key}'\]"):
            synthetic_data(tmp_path / "data", **{"rows": 2000, "seed": 0, "preset": "dense-width", **changed})


def test_pairwise_bound_scores_the_click_model_without_its_three_way_part(tmp_path):
    from benchmarks import pairwise_bound

    out = tmp_path / "pb.json"
    assert pairwise_bound.main(["--presets", "three-field", "--rows", "30000", "--out", str(out)]) == 0
    row = json.loads(out.read_text())["table"][0]
    # the pure three-way part carries about a fifth of the preset's variance (std ~0.46 x 1.5 of the logit),
    # and taking it out of the exact click model costs log loss that no refit of bias and scale recovers
    assert 0.45 < row["three_way_logit_std"] < 1.0
    assert row["pairwise_bound_logloss"] > row["oracle_logloss"] + 0.01
    with pytest.raises(ValueError, match="no three-field terms"):
        pairwise_bound.pairwise_bound("dense-width", rows=1000)
