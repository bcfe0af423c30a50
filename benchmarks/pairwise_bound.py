"""How much of a preset's three-field structure is out of reach of pairwise field interactions.

For the presets with three-field terms (``three-field``, ``higher-order``) each term
``sum_k u[a]_k v[b]_k w[c]_k`` splits (fields are drawn independently) into parts of order one,
two and three; the order-three part, ``sum_k (u - mean u)(v - mean v)(w - mean w)``, is what no sum of
pairwise interactions fits. This scores the click model itself with that part removed (bias and
scale refitted): about the best log loss a model of pairwise field interactions can reach, beside
the oracle's. Prints a table and writes JSON (``benchmarks/results/pairwise_bound.json``).

    python -m benchmarks.pairwise_bound --presets three-field higher-order
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ._common import save_result


def pairwise_bound(preset: str, *, rows: int = 196_608, seed: int = 0) -> dict:
    """Oracle log loss and the click model's log loss without its pure three-field part, on ``rows`` rows."""
    from scipy import optimize

    from nasrec_lab.data import SYNTHETIC_PRESETS, ClickModel, binary_logloss

    model = ClickModel(SYNTHETIC_PRESETS[preset], seed)
    if not hasattr(model, "triples"):
        raise ValueError(f"preset {preset!r} has no three-field terms")
    chunks = list(model.iter_chunks(rows))
    z, ids = (np.concatenate([c[k] for c in chunks]) for k in ("dense", "sparse"))
    label = np.concatenate([c["label"] for c in chunks])
    prob = np.concatenate([c["prob"] for c in chunks]).astype(np.float64)
    pure = sum(np.prod([f[ids[:, t]] - f[ids[:, t]].mean(0) for f, t in zip(factors, fields)], 0).sum(1)
               for fields, factors in zip(model.triples, model.tri))
    spec = model.spec
    logit = model._logit(z, ids) + model.bias
    reduced = logit - spec.signal_scale * spec.preset_scale * pure / model.preset_std

    def loss(ab: np.ndarray) -> float:
        return binary_logloss(label, np.clip(model._marginal_prob(ab[0] + ab[1] * reduced), 1e-7, 1 - 1e-7))

    fit = optimize.minimize(loss, np.array([0.0, 1.0]), method="Nelder-Mead")
    return {"preset": preset, "rows": rows, "oracle_logloss": binary_logloss(label, prob),
            "pairwise_bound_logloss": float(fit.fun), "three_way_logit_std": float(
                spec.signal_scale * spec.preset_scale * pure.std() / model.preset_std),
            "logit_std": float(logit.std())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pairwise_bound")
    p.add_argument("--presets", nargs="+", default=["three-field", "higher-order"])
    p.add_argument("--rows", type=int, default=196_608)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON output path")
    args = p.parse_args(argv)
    rows = [pairwise_bound(name, rows=args.rows, seed=args.seed) for name in args.presets]
    save_result({"title": "log loss of the click model without its pure three-field part (pairwise models' bound)",
                 "table": rows}, "pairwise_bound", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
