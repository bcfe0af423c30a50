"""Search quality (not a test): evolution against random search with the same budget, several seeds.

On synthetic data, one supernet is trained; each searcher runs with each seed; the best
architecture each finds is trained from scratch (one epoch, as in ``benchmarks.quality``) and
scored on test, beside the oracle log loss (and the baselines, when a quality JSON is given).

    python -m benchmarks.search_quality --rows 1250000 --seeds 5 --budget 48
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from ._common import save_result

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    from nasrec_lab.data import synthesize
    from nasrec_lab.search import ScorerSpec, ScoringConfig, SearchRunner, SearchStore, make_searcher
    from nasrec_lab.space import PathSampler
    from nasrec_lab.supernet import SuperNet, build, cost
    from nasrec_lab.training import TrainConfig, Trainer

    p = argparse.ArgumentParser(prog="python -m benchmarks.search_quality")
    p.add_argument("--rows", type=int, default=1_250_000)
    p.add_argument("--space", default="full")
    p.add_argument("--supernet-steps", type=int, default=3000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=int, default=48)
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--baselines", help="a quality JSON from benchmarks.quality to show beside")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search_quality.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    log = lambda s: print(s, flush=True)  # noqa: E731
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ds = synthesize(tmp / "data", rows=args.rows, seed=0)
        net = SuperNet(ds.schema, args.space, seed=0)
        t0 = time.perf_counter()
        Trainer(net, ds, TrainConfig(steps=args.supernet_steps, batch_size=512, progress=False),
                sampler=PathSampler(args.space, seed=0, warmup_steps=args.supernet_steps // 10),
                checkpoint_dir=tmp / "run").run().save_checkpoint()
        log(f"supernet: {args.supernet_steps} steps in {time.perf_counter() - t0:.0f} s")
        spec = ScorerSpec(str(ds.path), str(tmp / "run" / "checkpoint.pt"),
                          ScoringConfig(finetune_steps=args.finetune_steps, eval_batches=args.eval_batches,
                                        threads=args.threads))
        children = 8
        population = max(8, args.budget // 3)
        generations = max(1, (args.budget - population) // children)
        for searcher_name in ("evolution", "random"):
            for seed in range(args.seeds):
                kw = dict(population=population, sample_size=population // 2, children=children,
                          generations=generations) if searcher_name == "evolution" else {}
                searcher = make_searcher(searcher_name, args.space, seed=seed, budget=args.budget, **kw)
                with SearchStore(tmp / "store.sqlite") as store:
                    res = SearchRunner(store=store, name=f"{searcher_name}-{seed}", searcher=searcher, spec=spec,
                                       budget=args.budget, seed=seed).run()
                model = build(res.best_arch, ds.schema, args.space, seed=0)
                trainer = Trainer(model, ds, TrainConfig(epochs=1.0, batch_size=256,
                                                         lr=0.16 if args.space == "full" else 0.1, progress=False))
                trainer.run()
                m = trainer.evaluate("test")
                rows.append({"searcher": searcher_name, "seed": seed, "best_hash": res.best_hash,
                             "supernet_val_logloss": res.best_val_logloss, "test_logloss": m.logloss,
                             "test_auc": m.auc, "mflops": cost(res.best_arch, ds.schema, args.space).mflops})
                log(f"{searcher_name} seed {seed}: {res.best_hash} supernet {res.best_val_logloss:.5f} "
                    f"-> scratch test {m.logloss:.5f}")
        oracle = ds.oracle_logloss("test")
    med = {s: statistics.median(r["test_logloss"] for r in rows if r["searcher"] == s) for s in ("evolution", "random")}
    res = {"title": f"search quality: {args.seeds} seeds x budget {args.budget}, {args.rows:,} rows, {args.space}",
           "table": rows, "median_test_logloss": med, "oracle_test_logloss": oracle,
           "evolution_beats_random_in_median": med["evolution"] < med["random"]}
    if args.baselines and Path(args.baselines).exists():
        res["baselines"] = json.loads(Path(args.baselines).read_text())["table"]
    save_result(res, "search_quality", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
