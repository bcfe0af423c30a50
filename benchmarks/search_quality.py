"""Search quality (not a test): evolution, random search and TPE with the same budget, several seeds.

On synthetic data, one supernet is trained; each searcher runs with each seed (candidates
fine-tuned in the supernet and scored on validation); the best architecture each finds is
trained from scratch by the final recipe (as in ``benchmarks.quality``: early stopping on
validation, best epoch restored) and scored on test, beside baselines trained the same way on the same data and the oracle log loss.

    python -m benchmarks.search_quality --rows 1250000 --seeds 5 --budget 48
    python -m benchmarks.search_quality --preset higher-order --searchers evolution random tpe --budget 200

Medians come with 95% bootstrap intervals (over seeds); the verdicts compare medians.

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


def _train_from_scratch(data: str, name: str, space: str, arch_json: str | None, threads: int) -> dict:
    """One final-recipe training in a worker: a found architecture (``arch_json``) or a baseline (``name``)."""
    from nasrec_lab.data import CTRDataset
    from nasrec_lab.pipeline import train_architecture, train_baseline
    from nasrec_lab.space import Architecture

    from .quality import train_and_test

    torch.set_num_threads(threads)
    ds = CTRDataset(data)
    if arch_json is not None:
        arch = Architecture.from_json(json.loads(arch_json))
        return train_and_test(ds, name, lambda d: train_architecture(arch, d, space, name=name))
    return train_and_test(ds, name, lambda d: train_baseline(name, d))


def main(argv=None) -> int:
    from nasrec_lab.data import SYNTHETIC_PRESETS
    from nasrec_lab.pipeline import PipelineConfig, scoring_config, supernet_trainer
    from nasrec_lab.search import SEARCHERS, ScorerSpec, SearchRunner, SearchStore, make_searcher, median_interval
    from nasrec_lab.supernet import cost

    from ._common import synthetic_data
    from .quality import add_gap_closed

    p = argparse.ArgumentParser(prog="python -m benchmarks.search_quality")
    p.add_argument("--rows", type=int, default=1_250_000)
    p.add_argument("--preset", default="default", choices=list(SYNTHETIC_PRESETS), help="synthetic click model")
    p.add_argument("--searchers", nargs="+", default=["evolution", "random", "tpe"], choices=list(SEARCHERS))
    p.add_argument("--space", default="full", choices=["full", "small"])
    p.add_argument("--supernet-steps", type=int, default=3000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=int, default=48, help="candidates scored per search")
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=5, help="validation batches of 8192 per candidate")
    p.add_argument("--baselines", nargs="*", default=["logistic-regression", "dlrm", "deepfm", "dcn-v2", "autoint"],
                   help="baselines trained beside the found architectures (same data, same recipe)")
    p.add_argument("--workers", type=int, default=2, help="processes for candidate scoring and the final trainings")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--workdir", help="keep the data, the supernet and the search store here")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search_quality.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads * args.workers)
    log = lambda s: print(s, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ds = synthetic_data(work / "data", rows=args.rows, seed=0, preset=args.preset)
        ckpt = work / "run" / "checkpoint.pt"
        t0 = time.perf_counter()
        if not ckpt.exists():
            supernet_trainer(ds, args.space, args.supernet_steps, seed=0,
                             checkpoint_dir=work / "run").run().save_checkpoint()
        log(f"supernet: {args.supernet_steps} steps in {time.perf_counter() - t0:.0f} s")
        config = PipelineConfig(space=args.space, supernet_steps=args.supernet_steps, budget=args.budget,
                                finetune_steps=args.finetune_steps, eval_batches=args.eval_batches,
                                threads=args.threads)
        spec = ScorerSpec(str(ds.path), str(ckpt), scoring_config(config))
        found = []
        for searcher_name in args.searchers:
            for seed in range(args.seeds):
                t1 = time.perf_counter()
                searcher = make_searcher(searcher_name, args.space, seed=seed, budget=args.budget)
                with SearchStore(work / "store.sqlite") as store:
                    res = SearchRunner(store=store, name=f"{searcher_name}-{seed}", searcher=searcher, spec=spec,
                                       budget=args.budget, seed=seed, backend="process" if args.workers > 1
                                       else "inprocess", workers=args.workers, resume=True).run()
                found.append({"searcher": searcher_name, "seed": seed, "best_hash": res.best_hash,
                              "supernet_val_logloss": res.best_val_logloss,
                              "mflops": cost(res.best_arch, ds.schema, args.space).mflops,
                              "search_s": time.perf_counter() - t1, "arch": res.best_arch})
                log(f"{searcher_name} seed {seed}: best {res.best_hash} supernet val log loss "
                    f"{res.best_val_logloss:.5f} ({found[-1]['search_s']:.0f} s)")
        # every distinct best and every baseline trained once, in parallel; each is deterministic
        jobs = {f["best_hash"]: (f["best_hash"], json.dumps(f["arch"].to_json())) for f in found}
        jobs.update({b: (b, None) for b in args.baselines})
        t2 = time.perf_counter()
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {k: pool.submit(_train_from_scratch, str(ds.path), name, args.space, arch, args.threads)
                       for k, (name, arch) in jobs.items()}
            trained = {k: f.result() for k, f in futures.items()}
        log(f"{len(jobs)} trainings from scratch in {time.perf_counter() - t2:.0f} s")
        for b in args.baselines:
            log(f"baseline {b}: test log loss {trained[b]['test_logloss']:.5f}")
        oracle = ds.oracle_logloss("test")
    baselines = [trained[b] for b in args.baselines]
    table = [{k: v for k, v in f.items() if k != "arch"}
             | {k: trained[f["best_hash"]][k] for k in ("test_logloss", "test_auc", "train_s")} for f in found]
    add_gap_closed(baselines + table, oracle)
    med_ci = {s: median_interval([r["test_logloss"] for r in table if r["searcher"] == s]) for s in args.searchers}
    med = {s: m[0] for s, m in med_ci.items()}
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
                    f"NASRec-{args.space.title()}, fine-tune {args.finetune_steps} steps + {args.eval_batches} "
                    f"validation batches per candidate; best found trained from scratch by the final recipe, test split",
           "table": table, "baselines": baselines, "oracle_test_logloss": oracle,
           "median_test_logloss": med, "median_test_logloss_ci": {s: m[1:] for s, m in med_ci.items()},
           "median_supernet_val_logloss": med_sn, **verdicts}
    save_result(res, "search_quality", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
