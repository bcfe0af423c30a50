"""Search quality (not a test): evolution, random search and TPE with the same budget, several seeds.

On synthetic data, one supernet is trained; the searches (each searcher x each seed) run side by
side, one per worker process (``--workers``), candidates fine-tuned in the supernet and scored
on validation; the best architecture each finds (with ``--final-candidates K`` its K best, and of those the
one whose final training ends with the lowest validation log loss) is trained from scratch by the
final recipe (as in ``benchmarks.quality``: early stopping on validation, best epoch restored) and scored on test,
beside baselines trained the same way on the same data, each with as many seeds as the searches
(``--baseline-seeds``), and the oracle log loss.

    python -m benchmarks.search_quality --rows 1250000 --seeds 5 --budget 48
    python -m benchmarks.search_quality --preset dense-width --space small --budget 200 --device cuda --workers 16

Medians come with 95% bootstrap intervals (over seeds); the verdicts compare medians.
``--device cuda`` puts the supernet, the scoring and the final trainings on a GPU, which the
worker processes share; with ``--workdir`` a stopped study resumes where it stopped (data,
supernet, search store and each finished final training are kept there):
``benchmarks/gpu_study.sh`` runs the issue-12 study that way.

What ran on 2 CPU cores in ~95 minutes (the numbers in README and issue 5):

    python -m benchmarks.search_quality --space small --budget 40 --finetune-steps 50 --eval-batches 2

Evolution with seed s and random search with seed s draw the same first candidates (the same
generator), so the comparison is paired.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ._common import save_result

ROOT = Path(__file__).resolve().parents[1]


def _train_from_scratch(data: str, name: str, space: str, arch_json: str | None, threads: int, device: str,
                        cache: str | None, seed: int = 0) -> dict:
    """One final-recipe training in a worker: a found architecture (``arch_json``) or a baseline (``name``).
    With ``cache`` (a JSON file in the work dir) a finished training by the same recipe is read back, not
    rerun; one by another recipe (or one that does not say) is trained again."""
    from nasrec_lab._atomic import atomic_write_json
    from nasrec_lab.data import CTRDataset
    from nasrec_lab.pipeline import train_architecture, train_baseline
    from nasrec_lab.space import Architecture
    from nasrec_lab.training import final_recipe, space_recipe_kind

    from .quality import train_and_test

    recipe = final_recipe("baseline" if arch_json is None else space_recipe_kind(space))
    if cache and Path(cache).exists():
        row = json.loads(Path(cache).read_text())
        if row.get("recipe") == recipe.to_json():
            return row
    torch.set_num_threads(threads)
    ds = CTRDataset(data)
    if arch_json is not None:
        arch = Architecture.from_json(json.loads(arch_json))
        row = train_and_test(ds, name, lambda d: train_architecture(arch, d, space, name=name, device=device,
                                                                     seed=seed))
    else:
        row = train_and_test(ds, name, lambda d: train_baseline(name, d, device=device, seed=seed))
    row["seed"] = seed
    if cache:
        atomic_write_json(cache, row)
    return row


def _search(store: str, spec, space: str, searcher_name: str, seed: int, budget: int) -> dict:
    """One whole search in a worker process (scoring in that process), resumed from ``store`` if begun: its
    best for the log and its wall time (the bests and final candidates are read from the store after)."""
    from nasrec_lab.search import SearchRunner, SearchStore, make_searcher

    torch.set_num_threads(spec.scoring.threads)
    t0 = time.perf_counter()
    searcher = make_searcher(searcher_name, space, seed=seed, budget=budget)
    with SearchStore(store) as st:
        runner = SearchRunner(store=st, name=f"{searcher_name}-{seed}", searcher=searcher, spec=spec,
                              budget=budget, seed=seed, backend="inprocess", resume=True)
        res = runner.run()
    return {"searcher": searcher_name, "seed": seed, "best_hash": res.best_hash,
            "supernet_val_logloss": res.best_val_logloss, "search_s": time.perf_counter() - t0}


def _asked_scoring(args) -> dict:
    """The scoring this run's searches use (what their stored config must hold)."""
    from nasrec_lab.pipeline import PipelineConfig, scoring_config

    config = PipelineConfig(space=args.space, supernet_steps=args.supernet_steps, budget=args.budget,
                            finetune_steps=args.finetune_steps, eval_batches=args.eval_batches, threads=args.threads)
    return scoring_config(config, whole_path=args.whole_path).to_json()


def _stored_top(store: Path, name: str, budget: int, space: str, schema, k: int = 1, scoring: dict | None = None) -> dict:
    """The best of a finished search as its store holds it (the search's own objective, first of equals)
    and its ``final_candidates``: the ``k`` best distinct architectures in that order, the best first. The final
    phase needs neither the supernet nor the scorer; the search must have been run as this run asks (its
    space, ``scoring``, its budget), else the report would label another study's searches with these settings."""
    from nasrec_lab.search import Objective, SearchStore
    from nasrec_lab.space import Architecture, get_space
    from nasrec_lab.supernet import cost

    with SearchStore(store) as st:
        row = next((r for r in st.searches() if r["name"] == name), None)
        records = st.candidates(row["id"]) if row else {}
    if len(records) < budget:
        raise ValueError(f"{store}: search {name!r} has {len(records)} of {budget} candidates; finish it first "
                         "(--phase search, the same --workdir)")
    differ = []
    if row["space"] != get_space(space).to_json():
        differ.append(f"space {row['space'].get('name')!r}, this run asks {space!r} (--space)")
    stored = row["config"]["scoring"]
    for key, value in (scoring or {}).items():
        # threads change the cost, not what is scored; a key an older store lacks is its default
        if key != "threads" and key in stored and stored[key] != value:
            differ.append(f"scoring {key} {stored[key]!r}, this run asks {value!r}")
    if len(records) > budget:
        differ.append(f"{len(records)} candidates, this run asks --budget {budget}")
    if differ:
        raise SystemExit(f"{store}: search {name!r} was run with " + "; ".join(differ) +
                         ": use the settings it ran with, or another --workdir")
    objective = Objective(**row["config"]["objective"])
    ranked = sorted(records.values(), key=lambda r: (objective.value(r.score()), r.seq))  # stable: first of equals
    final_candidates: dict[str, dict] = {}
    for r in ranked:
        if len(final_candidates) == k:
            break
        if r.arch_hash not in final_candidates:
            arch = Architecture.from_json(json.loads(r.arch_json))
            final_candidates[r.arch_hash] = {"hash": r.arch_hash, "supernet_val_logloss": r.val_logloss,
                                             "mflops": cost(arch, schema, space).mflops, "arch": arch.to_json()}
    best = next(iter(final_candidates.values()))
    searcher, seed = name.rsplit("-", 1)
    return {"searcher": searcher, "seed": int(seed), "best_hash": best["hash"],
            "supernet_val_logloss": best["supernet_val_logloss"], "mflops": best["mflops"],
            "search_s": sum(r.wall_s for r in records.values()),  # its scoring time (the wall time is not stored)
            "arch": best["arch"], "final_candidates": list(final_candidates.values())}


def _without_archs(found: dict) -> dict:
    """A search's row as the JSON reports it: hashes, not architecture JSON."""
    return {k: v for k, v in found.items() if k != "arch"} | {
        "final_candidates": [{k: v for k, v in c.items() if k != "arch"} for c in found["final_candidates"]]}


def _baseline_row(per_seed: list[dict]) -> dict:
    """One baseline over its seeds: the median test log loss (and AUC) with a 95% bootstrap interval,
    each seed's value beside it; what all seeds share (model, recipe) from the first."""
    from nasrec_lab.search import median_interval

    loss, lo, hi = median_interval([r["test_logloss"] for r in per_seed])
    aucs = [r["test_auc"] for r in per_seed if r["test_auc"] is not None]
    per_seed_only = ("seed", "val_logloss", "epochs", "best_epoch", "steps")
    shared = {k: v for k, v in per_seed[0].items() if k not in per_seed_only}
    return shared | {"test_logloss": loss, "test_logloss_ci": [lo, hi],
                     "test_auc": statistics.median(aucs) if aucs else None,
                     "seeds": [r["seed"] for r in per_seed],
                     "test_logloss_per_seed": [r["test_logloss"] for r in per_seed],
                     "best_epoch_per_seed": [r["best_epoch"] for r in per_seed],
                     "train_s": sum(r["train_s"] for r in per_seed)}


def _scored(store: Path) -> int:
    """Candidates scored so far in the study's store (all searches); creates the store, so that the
    worker processes do not all create its tables at once."""
    from nasrec_lab.search import SearchStore

    with SearchStore(store) as st:
        return len(st.candidates_frame())


def _check_supernet(ckpt: Path, args) -> None:
    """A workdir's supernet is reused only if it was trained as this run asks (else its scores mean another thing)."""
    from nasrec_lab.space import SearchSpace, get_space
    from nasrec_lab.training import read_checkpoint

    state = read_checkpoint(ckpt)
    cfg = state.get("train_config", {})
    asked = {"steps": ("--supernet-steps", args.supernet_steps),
             "initial_accumulator": ("--supernet-accumulator", args.supernet_accumulator)}
    for key, (flag, value) in asked.items():
        if cfg.get(key) != value:
            raise SystemExit(f"{ckpt}: the supernet there was trained with {key} {cfg.get(key)!r}, this run asks for "
                             f"{value!r} ({flag}); use another --workdir or the same setting")
    model_cfg = state["model_config"]
    centred = model_cfg["centre_dense"]
    if centred != args.centre_dense:
        raise SystemExit(f"{ckpt}: the supernet there was trained {'with' if centred else 'without'} --centre-dense, "
                         f"this run asks {'with' if args.centre_dense else 'without'}; use another --workdir or the "
                         "same setting")
    trained = SearchSpace.from_json(model_cfg["space"])
    if trained != get_space(args.space):
        raise SystemExit(f"{ckpt}: the supernet there is of the {trained.name!r} space, this run asks for "
                         f"{args.space!r} (--space); use another --workdir or the same setting")


def _run_searches(args, ds, work: Path, runs, device: str, ctx, log) -> tuple[list[dict], int, float]:
    """Train (or reuse) the supernet, then every search, side by side in worker processes."""
    from nasrec_lab.pipeline import supernet_trainer
    from nasrec_lab.search import ScorerSpec, ScoringConfig

    ckpt = work / "run" / "checkpoint.pt"
    t0 = time.perf_counter()
    if ckpt.exists():
        _check_supernet(ckpt, args)
    else:
        supernet_trainer(ds, args.space, args.supernet_steps, seed=0, device=device, checkpoint_dir=work / "run",
                         initial_accumulator=args.supernet_accumulator,
                         centre_dense=args.centre_dense).run().save_checkpoint()
    log(f"supernet: {args.supernet_steps} steps in {time.perf_counter() - t0:.0f} s on {device}")
    spec = ScorerSpec(str(ds.path), str(ckpt), ScoringConfig(**_asked_scoring(args)), device=device)
    scored_before = _scored(work / "store.sqlite")
    t1 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
        futures = [pool.submit(_search, str(work / "store.sqlite"), spec, args.space, s, seed, args.budget)
                   for s, seed in runs]
        found = []
        for f in futures:
            found.append(f.result())
            log(f"{found[-1]['searcher']} seed {found[-1]['seed']}: best {found[-1]['best_hash']} supernet "
                f"val log loss {found[-1]['supernet_val_logloss']:.5f} ({found[-1]['search_s']:.0f} s)")
    search_s = time.perf_counter() - t1
    scored_here = _scored(work / "store.sqlite") - scored_before  # a resumed run scores only the rest
    log(f"{len(runs)} searches x {args.budget} candidates: {scored_here} scored in this run, {search_s:.0f} s")
    return found, scored_here, search_s


def main(argv=None) -> int:
    from nasrec_lab.data import SYNTHETIC_PRESETS
    from nasrec_lab.pipeline import chosen_on_validation
    from nasrec_lab.search import SEARCHERS, median_interval
    from nasrec_lab.training import SUPERNET, resolve_device

    from ._common import synthetic_data
    from .quality import add_gap_closed

    p = argparse.ArgumentParser(prog="python -m benchmarks.search_quality")
    p.add_argument("--rows", type=int, default=1_250_000)
    p.add_argument("--preset", default="default", choices=list(SYNTHETIC_PRESETS), help="synthetic click model")
    p.add_argument("--searchers", nargs="+", default=["evolution", "random", "tpe"], choices=list(SEARCHERS))
    p.add_argument("--space", default="full", choices=["full", "small"])
    p.add_argument("--supernet-steps", type=int, default=3000)
    p.add_argument("--supernet-accumulator", type=float, default=SUPERNET.initial_accumulator,
                   help="Adagrad's starting accumulator of the supernet's dense weights (default: the supernet "
                        "recipe's; 0: the release's, which the three-field study needs: README, 'What the study's "
                        "supernet sees')")
    p.add_argument("--centre-dense", action="store_true",
                   help="train the supernet with FC and Dot-Product reading their dense input centred on the batch "
                        "mean (train-supernet --centre-dense)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=int, default=48, help="candidates scored per search")
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=5, help="validation batches of 8192 per candidate")
    p.add_argument("--whole-path", action="store_true", help="fine-tune every weight of each candidate's path, not "
                   "only the head (ranks better in benchmarks.rank_ablation --whole-path; no cached-trunk shortcut)")
    p.add_argument("--final-candidates", type=int, default=1,
                   help="the K best of each search (by its objective) trained from scratch; the one with the lowest "
                        "validation log loss is the search's result (NASREC.md: 'the best subnets are then trained')")
    p.add_argument("--baselines", nargs="*", default=["logistic-regression", "dlrm", "deepfm", "dcn-v2", "autoint"],
                   help="baselines trained beside the found architectures (same data, same recipe)")
    p.add_argument("--workers", type=int, default=2,
                   help="processes: the searches run side by side, one per process, then the final trainings")
    p.add_argument("--baseline-seeds", type=int, help="seeds each baseline is trained with (default: --seeds)")
    p.add_argument("--final-workers", type=int, help="processes for the final trainings (default: --workers)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N: supernet, scoring and final "
                                                   "trainings (the worker processes share one GPU)")
    p.add_argument("--workdir", help="keep the data, the supernet and the search store here")
    p.add_argument("--phase", choices=["all", "search", "final"], default="all",
                   help="search: stop after the searches; final: train and report the bests of the finished "
                        "searches in --workdir's store (no supernet needed: the two can run on different machines)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search_quality.json"))
    args = p.parse_args(argv)
    if args.final_candidates < 1:
        p.error(f"--final-candidates must be at least 1, got {args.final_candidates}")
    torch.set_num_threads(args.threads * args.workers)
    device = str(resolve_device(args.device))
    log = lambda s: print(s, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ds = synthetic_data(work / "data", rows=args.rows, seed=0, preset=args.preset)
        # seed-major, so that a study stopped early has every searcher at the same seeds
        runs = [(s, seed) for seed in range(args.seeds) for s in args.searchers]
        ctx = multiprocessing.get_context("spawn")
        scored_here, search_s = 0, 0.0
        scoring = _asked_scoring(args)  # what every stored search must have been scored with
        if args.phase == "final":
            if (work / "run" / "checkpoint.pt").exists():  # absent where only the store was carried over
                _check_supernet(work / "run" / "checkpoint.pt", args)
            found = [_stored_top(work / "store.sqlite", f"{s}-{seed}", args.budget, args.space, ds.schema,
                                 args.final_candidates, scoring) for s, seed in runs]
            log(f"{len(found)} finished searches read from {work / 'store.sqlite'}")
        else:
            found, scored_here, search_s = _run_searches(args, ds, work, runs, device, ctx, log)
            # the bests and final candidates as the final phase reads them (one rule), with the searches' wall times
            found = [_stored_top(work / "store.sqlite", f"{f['searcher']}-{f['seed']}", args.budget, args.space,
                                 ds.schema, args.final_candidates, scoring) | {"search_s": f["search_s"]}
                     for f in found]
        rate = scored_here / (search_s / 60) if scored_here else None  # candidates per minute
        if args.phase == "search":
            save_result({"title": f"search phase: {len(runs)} searches x budget {args.budget} ({args.preset} preset, "
                                  f"{args.rows:,} rows); final trainings: --phase final",
                         "table": [_without_archs(f) for f in found], "device": device,
                         "search_s": search_s, "scored_in_this_run": scored_here, "candidates_per_min": rate,
                         "supernet_initial_accumulator": args.supernet_accumulator,
                         "supernet_centre_dense": args.centre_dense},
                        "search_quality", args.out)
            return 0
        # every distinct final candidate trained once (its search's seed is the noise it brings), every baseline with
        # --baseline-seeds seeds: a baseline's median, not one draw of its training noise, is what the
        # searched median has to beat. Parallel; each training is deterministic on CPU.
        baseline_seeds = args.baseline_seeds or args.seeds
        jobs = {c["hash"]: (c["hash"], json.dumps(c["arch"]), 0) for f in found for c in f["final_candidates"]}
        jobs.update({f"{b}-seed{k}": (b, None, k) for b in args.baselines for k in range(baseline_seeds)})
        (work / "final").mkdir(exist_ok=True)
        t2 = time.perf_counter()
        with ProcessPoolExecutor(args.final_workers or args.workers, mp_context=ctx) as pool:
            futures = {k: pool.submit(_train_from_scratch, str(ds.path), name, args.space, arch, args.threads,
                                      device, str(work / "final" / f"{k}.json"), seed)
                       for k, (name, arch, seed) in jobs.items()}
            trained = {k: f.result() for k, f in futures.items()}
        final_s = time.perf_counter() - t2
        log(f"{len(jobs)} trainings from scratch in {final_s:.0f} s")
        baselines = [_baseline_row([trained[f"{b}-seed{k}"] for k in range(baseline_seeds)]) for b in args.baselines]
        for b in baselines:
            lo, hi = b["test_logloss_ci"]
            log(f"baseline {b['model']}: median test log loss {b['test_logloss']:.5f} [{lo:.5f}, {hi:.5f}] over "
                f"{baseline_seeds} seeds")
        oracle = ds.oracle_logloss("test")
    table = []
    for f in found:
        chosen = chosen_on_validation(f["final_candidates"], lambda c: trained[c["hash"]]["val_logloss"])
        row = _without_archs(f) | {k: trained[chosen["hash"]][k] for k in ("test_logloss", "test_auc", "val_logloss")}
        row |= {"chosen_hash": chosen["hash"], "top1_test_logloss": trained[f["best_hash"]]["test_logloss"],
                "train_s": sum(trained[c["hash"]]["train_s"] for c in f["final_candidates"])}
        for c in row["final_candidates"]:
            c |= {k: trained[c["hash"]][k] for k in ("val_logloss", "test_logloss")}
        table.append(row)
    add_gap_closed(baselines + table, oracle)
    med_ci = {s: median_interval([r["test_logloss"] for r in table if r["searcher"] == s]) for s in args.searchers}
    med = {s: m[0] for s, m in med_ci.items()}
    med_top1 = {s: statistics.median(r["top1_test_logloss"] for r in table if r["searcher"] == s)
                for s in args.searchers}
    med_sn = {s: statistics.median(r["supernet_val_logloss"] for r in table if r["searcher"] == s)
              for s in args.searchers}
    best_baseline = min(baselines, key=lambda b: b["test_logloss"])
    for s, (m, lo, hi) in med_ci.items():
        log(f"{s}: median test log loss {m:.5f} [{lo:.5f}, {hi:.5f}] over {args.seeds} seeds")
    verdicts = {f"{s}_beats_{best_baseline['model']}_in_median": med[s] < best_baseline["test_logloss"]
                for s in args.searchers}
    if "evolution" in med and "random" in med:
        verdicts["evolution_beats_random_in_median"] = med["evolution"] < med["random"]
    res = {"title": f"search quality: {args.seeds} seeds x budget {args.budget}, {args.rows:,} synthetic rows "
                    f"({args.preset} preset), "
                    f"NASRec-{args.space.title()}, fine-tune {args.finetune_steps} steps"
                    f"{' of the whole path' if args.whole_path else ''} + {args.eval_batches} "
                    f"validation batches per candidate; the {args.final_candidates} best found trained from scratch by the final "
                    f"recipe, the lowest validation log loss of them scored on test",
           "table": table, "baselines": baselines, "oracle_test_logloss": oracle,
           "median_test_logloss": med, "median_test_logloss_ci": {s: m[1:] for s, m in med_ci.items()},
           "median_top1_test_logloss": med_top1, "final_candidates": args.final_candidates,
           "median_supernet_val_logloss": med_sn, "device": device, "search_s": search_s, "final_s": final_s,
           "scored_in_this_run": scored_here, "candidates_per_min": rate,
           "supernet_initial_accumulator": args.supernet_accumulator, "supernet_centre_dense": args.centre_dense,
           **verdicts}
    save_result(res, "search_quality", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
