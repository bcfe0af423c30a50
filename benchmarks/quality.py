"""Quality benchmark (not a test): baselines and the published architectures against the oracle.

On synthetic data (default 1M training rows) every model is trained from scratch for one
epoch by the same trainer and scored on the test split, beside the Bayes-optimal (oracle)
log loss; ``--criteo FILE`` does the same on a real Criteo sample (no oracle there).
Prints a table and writes JSON (``benchmarks/results/quality*.json``).

    python -m benchmarks.quality --rows 1250000
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
import time
from pathlib import Path

import torch

from ._common import save_result

ROOT = Path(__file__).resolve().parents[1]
FINAL_LR = {"full": 0.16, "small": 0.1}  # the release's final-model learning rates per search space


def models_for(schema):
    from nasrec_lab.baselines import BASELINES, build_baseline, dlrm_like_architecture
    from nasrec_lab.space import load_architecture
    from nasrec_lab.supernet import build

    out = [(name, 0.1, lambda n=name: build_baseline(n, schema, seed=0)) for name in BASELINES]
    out.append(("dlrm-in-nasrec-space", 0.1, lambda: build(dlrm_like_architecture(), schema, "full")))
    for f in sorted(glob.glob(str(ROOT.parent / "shared" / "reference" / "nasrec_best_configs" / "*.json"))):
        arch, space = load_architecture(f)
        out.append((f"nasrec {Path(f).stem}", FINAL_LR[space.name], lambda a=arch, s=space: build(a, schema, s, seed=0)))
    return out


def train_and_test(ds, name: str, model, lr: float, *, batch_size: int = 256) -> dict:
    """The quality recipe: one epoch from scratch (Adagrad, cosine, 10% warm-up), scored on test."""
    from nasrec_lab.training import TrainConfig, Trainer

    t0 = time.perf_counter()
    trainer = Trainer(model, ds, TrainConfig(epochs=1.0, batch_size=batch_size, lr=lr, progress=False))
    trainer.run()
    m = trainer.evaluate("test")
    return {"model": name, "test_logloss": m.logloss, "test_auc": m.auc, "lr": lr,
            "train_s": time.perf_counter() - t0, "steps": trainer.step}


def add_gap_closed(rows: list[dict], oracle: float | None) -> None:
    """``gap_closed`` per row: 0 = logistic regression's test log loss (its row among ``rows``), 1 = the oracle's."""
    lr_loss = next((r["test_logloss"] for r in rows if r.get("model") == "logistic-regression"), None)
    if oracle is None or lr_loss is None or lr_loss == oracle:
        return
    for r in rows:
        r["gap_closed"] = (lr_loss - r["test_logloss"]) / (lr_loss - oracle)


def run(ds, *, batch_size: int = 256, only: list[str] | None = None, log=print) -> dict:
    rows = []
    for name, lr, make in models_for(ds.schema):
        if only and not any(o in name for o in only):
            continue
        rows.append(train_and_test(ds, name, make(), lr, batch_size=batch_size))
        log(f"{name}: log loss {rows[-1]['test_logloss']:.5f} AUC {rows[-1]['test_auc']:.4f} "
            f"({rows[-1]['train_s']:.0f} s)")
    oracle = ds.oracle_logloss("test")
    add_gap_closed(rows, oracle)
    return {"title": f"quality: one epoch, batch {batch_size}, test split of {ds.path.name}", "table": rows,
            "oracle_test_logloss": oracle, "train_rows": len(ds.split("train"))}


def main(argv=None) -> int:
    from nasrec_lab.data import CTRDataset, preprocess, synthesize

    p = argparse.ArgumentParser(prog="python -m benchmarks.quality")
    p.add_argument("--rows", type=int, default=1_250_000, help="synthetic rows in all (80%% train)")
    p.add_argument("--criteo", help="a raw Criteo file instead of synthetic data")
    p.add_argument("--only", nargs="*", help="substrings of model names to run")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="JSON output path")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.criteo:
            ds = preprocess([args.criteo], Path(tmp) / "criteo", fmt="criteo")
        else:
            ds = synthesize(Path(tmp) / "synthetic", rows=args.rows, seed=0)
        ds = CTRDataset(ds.path)
        res = run(ds, only=args.only, log=lambda s: print(s, flush=True))
    save_result(res, "quality_criteo" if args.criteo else "quality", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
