"""The main job on the embedded default: synthetic data -> supernet -> evolution -> best subnet from scratch.

Small settings so that it finishes in a few minutes on a 2-core CPU; every stage is the real
library code that the full-scale commands run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .data import CTRDataset, preprocess, synthesize, write_raw_criteo


def run_demo(out: Path, *, rows: int = 100_000, seed: int = 0, space: str = "full", supernet_steps: int = 300,
             budget: int = 16, progress: bool = True, echo=print) -> dict:
    """Runs every stage and returns the headline numbers it printed."""
    from .search import ScorerSpec, ScoringConfig, SearchRunner, SearchStore, make_searcher
    from .space import PathSampler
    from .supernet import SuperNet, build, cost
    from .training import TrainConfig, Trainer

    out = Path(out)
    t0 = time.perf_counter()
    echo(f"[1/5] synthesizing {rows:,} rows (known click model) -> {out / 'synthetic'}")
    ds = synthesize(out / "synthetic", rows=rows, seed=seed, overwrite=True)
    echo(ds.summary())
    echo("[2/5] the same generator as a raw Criteo file, through the real preprocessing pipeline")
    raw = write_raw_criteo(out / "raw" / "train.txt", rows=min(rows, 50_000), seed=seed)
    echo(preprocess([raw], out / "criteo-format", fmt="criteo", overwrite=True).summary())
    ds = CTRDataset(out / "synthetic")

    echo(f"[3/5] training the NASRec-{space.capitalize()} supernet for {supernet_steps} steps")
    net = SuperNet(ds.schema, space, seed=seed, sparse_grad=True)
    run_dir = out / "supernet"
    if (run_dir / "checkpoint.pt").exists():
        (run_dir / "checkpoint.pt").unlink()
    Trainer(net, ds, TrainConfig(steps=supernet_steps, batch_size=512, seed=seed, progress=progress),
            sampler=PathSampler(space, seed=seed, warmup_steps=supernet_steps // 10),
            checkpoint_dir=run_dir).run().save_checkpoint()

    echo(f"[4/5] regularized evolution, {budget} candidates (head fine-tuning, validation scores)")
    store_path = out / "search.sqlite"
    if store_path.exists():
        store_path.unlink()
    children = max(2, budget // 4)
    population = max(2, budget - 2 * children)
    searcher = make_searcher("evolution", space, seed=seed, population=population,
                             sample_size=max(1, population // 2), children=children, generations=2)
    spec = ScorerSpec(str(ds.path), str(run_dir / "checkpoint.pt"),
                      ScoringConfig(finetune_steps=30, finetune_batch=512, eval_batches=2, eval_batch_size=8192,
                                    threads=2))
    with SearchStore(store_path) as store:
        result = SearchRunner(store=store, name="demo", searcher=searcher, spec=spec, budget=budget, seed=seed,
                              callbacks=[lambda e: echo(f"  [{e.evaluated}/{budget}] val log loss "
                                                        f"{e.record.val_logloss:.5f} (best {e.best_fitness:.5f})")],
                              ).run()
    best = result.best_arch
    (out / "best_architecture.json").write_text(json.dumps({**best.to_json(), "space": space}, indent=2))

    echo("[5/5] the best architecture trained from scratch on train+val, scored on test")
    model = build(best, ds.schema, space, seed=seed)
    trainer = Trainer(model, ds, TrainConfig(epochs=1.0, batch_size=256, lr=0.05, seed=seed, train_split="train+val",
                                             eval_split="test", progress=progress)).run()
    m = trainer.evaluate("test")
    c = cost(best, ds.schema, space)
    headline = {"best_hash": best.hash(), "best_val_logloss_in_supernet": result.best_val_logloss,
                "test_logloss": m.logloss, "test_auc": m.auc, "oracle_test_logloss": ds.oracle_logloss("test"),
                "mflops": c.mflops, "evaluated": result.evaluated, "seconds": time.perf_counter() - t0}
    (out / "demo_result.json").write_text(json.dumps(headline, indent=2))
    echo(f"done in {headline['seconds']:.0f} s: best architecture {best.hash()} ({c.mflops:.3f} MFLOPs) - "
         f"test log loss {m.logloss:.5f} (AUC {m.auc:.4f}), Bayes-optimal {headline['oracle_test_logloss']:.5f}")
    echo(f"results in {out} (best_architecture.json, demo_result.json, search.sqlite, supernet/)")
    return headline
