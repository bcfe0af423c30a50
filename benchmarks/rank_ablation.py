"""The paper's rank-correlation ablation, runnable: samplers x fine-tuning -> Kendall tau, Spearman rho.

Same data, same K reference architectures (ground truth: each trained from scratch, cached in
a store), and the same supernet training budget for single-path, any-path and
single-operator any-connection (default) sampling; each supernet scores the references with
and without post-training fine-tuning.

    python -m benchmarks.rank_ablation --rows 150000 --refs 30 --steps 1500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from ._common import save_result

ROOT = Path(__file__).resolve().parents[1]


def run(*, rows: int, refs: int, steps: int, batch: int, finetune_steps: int, space: str, seed: int, threads: int,
        workdir: Path, log=print) -> dict:
    from nasrec_lab.data import synthesize
    from nasrec_lab.search import RankStudy, ScoringConfig, SearchStore
    from nasrec_lab.space import PathSampler
    from nasrec_lab.supernet import SuperNet
    from nasrec_lab.training import TrainConfig, Trainer

    torch.set_num_threads(threads)
    ds = synthesize(workdir / "data", rows=rows, seed=seed)
    store = SearchStore(workdir / "ground_truth.sqlite")
    study = RankStudy(ds, space, references=refs, seed=seed, store=store,
                      ground_truth_config=ScoringConfig(mode="scratch", scratch_epochs=1.0, scratch_batch=batch,
                                                        scratch_lr=0.05, eval_batches=None, threads=threads))
    t0 = time.perf_counter()
    truth = study.ground_truth(progress=lambda i, n: log(f"ground truth {i}/{n}") if i % 5 == 0 else None)
    log(f"ground truth of {len(truth)} references in {time.perf_counter() - t0:.0f} s")
    rows_out = []
    for strategy in ("single-path", "any-path", "default"):
        t1 = time.perf_counter()
        net = SuperNet(ds.schema, space, seed=seed, sparse_grad=True)
        Trainer(net, ds, TrainConfig(steps=steps, batch_size=batch, seed=seed, progress=False),
                sampler=PathSampler(space, strategy, seed=seed, warmup_steps=steps // 10)).run()
        train_s = time.perf_counter() - t1
        for ft in (False, True):
            scores = study.supernet_scores(net, finetune=ft, finetune_steps=finetune_steps, batch_size=batch,
                                           threads=threads)
            rc = study.correlation(scores)
            rows_out.append({"sampler": strategy, "finetune": ft, "kendall_tau": rc.kendall_tau,
                             "spearman_rho": rc.spearman_rho, "top_k_overlap": rc.top_k_overlap,
                             "supernet_train_s": train_s})
            log(f"{strategy:12s} finetune={ft}: tau {rc.kendall_tau:+.3f} rho {rc.spearman_rho:+.3f}")
    store.close()
    return {"title": f"rank correlation ablation ({space}, {refs} references, {steps} supernet steps of {batch}, "
                     f"{rows:,} synthetic rows)", "table": rows_out, "references": refs,
            "ground_truth_val_logloss": sorted(truth.values())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.rank_ablation")
    p.add_argument("--rows", type=int, default=150_000)
    p.add_argument("--refs", type=int, default=30)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument("--space", default="full")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rank_ablation.json"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        res = run(rows=args.rows, refs=args.refs, steps=args.steps, batch=args.batch,
                  finetune_steps=args.finetune_steps, space=args.space, seed=args.seed, threads=args.threads,
                  workdir=Path(tmp), log=lambda s: print(s, flush=True))
    save_result(res, "rank_ablation", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
