"""Quality benchmark (not a test): baselines and the published architectures against the oracle.

On synthetic data (default 1M training rows) every model is trained from scratch by the final
recipe (early stopping on validation, the best epoch restored) and scored on the test split,
beside the Bayes-optimal (oracle) log loss; ``--criteo FILE`` does the same on a real Criteo sample (no oracle there).
``--preset`` picks the synthetic click model and ``--random N`` adds N architectures drawn as the random
searcher draws them (NASRec-Small, the default sampler, seeds 0..N-1): whether a preset leaves a search
room to beat the baselines once models are trained to the end. ``--data DIR`` reuses a data set (a study's).
Prints a table and writes JSON (``benchmarks/results/quality*.json``).

    python -m benchmarks.quality --rows 1250000
    python -m benchmarks.quality --preset higher-order --random 2 --only random dlrm
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ._common import save_result

ROOT = Path(__file__).resolve().parents[1]
def models_for(schema, random: int = 0) -> list[tuple[str, Callable[..., dict]]]:
    """(name, train) for every baseline, DLRM written in the NASRec space, the six published architectures
    and ``random`` NASRec-Small architectures drawn as the random searcher draws them."""
    import numpy as np

    from nasrec_lab.baselines import BASELINES, dlrm_like_architecture
    from nasrec_lab.pipeline import train_architecture, train_baseline
    from nasrec_lab.space import PUBLISHED, load_architecture, sample_architecture

    out: list[tuple[str, Callable[..., dict]]] = [
        (name, lambda ds, n=name, **kw: train_baseline(n, ds, **kw)) for name in BASELINES]
    out.append(("dlrm-in-nasrec-space", lambda ds, **kw: train_architecture(dlrm_like_architecture(), ds, "full",
                                                                            name="dlrm-in-nasrec-space", **kw)))
    for name in PUBLISHED:
        arch, space = load_architecture(name)
        out.append((f"nasrec {name}", lambda ds, a=arch, s=space, n=name: train_architecture(
            a, ds, s, name=f"nasrec {n}")))
    for k in range(random):
        arch = sample_architecture("small", np.random.default_rng(k), "default")
        out.append((f"random-{k}", lambda ds, a=arch, n=f"random-{k}": train_architecture(a, ds, "small", name=n)))
    return out


def train_and_test(ds, name: str, train: Callable[..., object], **kwargs) -> dict:
    """One model by the final recipe (``nasrec_lab.training.final_recipe``), scored on test."""
    t0 = time.perf_counter()
    entry = train(ds, **kwargs)
    r = entry.result
    return {"model": name, "test_logloss": r.test_logloss, "test_auc": r.test_auc,
            "val_logloss": entry.val_logloss if r.val_logloss_per_epoch else None,  # none with fixed epochs
            "arch_hash": entry.arch_hash, "lr": r.recipe["lr"], "recipe": r.recipe,
            "protocol": r.protocol, "epochs": r.epochs, "best_epoch": r.best_epoch,
            "train_s": time.perf_counter() - t0, "steps": r.steps}


def add_gap_closed(rows: list[dict], oracle: float | None) -> None:
    """``gap_closed`` per row: 0 = logistic regression's test log loss (its row among ``rows``), 1 = the oracle's."""
    lr_loss = next((r["test_logloss"] for r in rows if r.get("model") == "logistic-regression"), None)
    if oracle is None or lr_loss is None or lr_loss == oracle:
        return
    for r in rows:
        r["gap_closed"] = (lr_loss - r["test_logloss"]) / (lr_loss - oracle)


def run(ds, *, only: list[str] | None = None, random: int = 0, log=print) -> dict:
    rows = []
    for name, train in models_for(ds.schema, random):
        if only and not any(o in name for o in only):
            continue
        rows.append(train_and_test(ds, name, train))
        log(f"{name}: log loss {rows[-1]['test_logloss']:.5f} AUC {rows[-1]['test_auc']:.4f} "
            f"({rows[-1]['epochs']:g} epochs, best {rows[-1]['best_epoch']}, {rows[-1]['train_s']:.0f} s)")
    oracle = ds.oracle_logloss("test")
    add_gap_closed(rows, oracle)
    preset = (ds.manifest.get("synthetic") or {}).get("spec", {}).get("preset")
    return {"title": f"quality: the final recipe (early stopping on val, best epoch restored), test split of "
                     f"{ds.path.name}", "table": rows, "oracle_test_logloss": oracle, "preset": preset,
            "train_rows": len(ds.split("train"))}


def main(argv=None) -> int:
    from nasrec_lab.data import SYNTHETIC_PRESETS, CTRDataset, preprocess, synthesize

    p = argparse.ArgumentParser(prog="python -m benchmarks.quality")
    p.add_argument("--rows", type=int, default=1_250_000, help="synthetic rows in all (80%% train)")
    p.add_argument("--preset", default="default", choices=list(SYNTHETIC_PRESETS), help="synthetic click model")
    p.add_argument("--data", help="an existing data set folder (a study's) instead of generating one")
    p.add_argument("--random", type=int, default=0, help="also train this many random NASRec-Small architectures")
    p.add_argument("--criteo", help="a raw Criteo file instead of synthetic data")
    p.add_argument("--only", nargs="*", help="substrings of model names to run")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="JSON output path")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            path = args.data
        elif args.criteo:
            path = preprocess([args.criteo], Path(tmp) / "criteo", fmt="criteo").path
        else:
            path = synthesize(Path(tmp) / "synthetic", rows=args.rows, seed=0, spec=SYNTHETIC_PRESETS[args.preset]).path
        ds = CTRDataset(path)
        res = run(ds, only=args.only, random=args.random, log=lambda s: print(s, flush=True))
    save_result(res, "quality_criteo" if args.criteo else "quality", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
