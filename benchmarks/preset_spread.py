"""Per synthetic preset: the spread of standalone scores across random architectures against seed noise.

A preset can rank architectures only where architectures differ by more than retraining one
architecture with another seed does. For each preset: synthesize ``--rows`` rows, draw
``--archs`` subnets with the default sampler, train each from scratch with ``--seeds`` seeds
(the rank studies' ground truth: ``CandidateScorer`` in ``scratch`` mode) and score it on
the validation split. Reported per preset:

* ``spread``: standard deviation across architectures of the seed-mean validation log loss;
* ``noise``: pooled standard deviation across seeds of one architecture;
* ``excess``: the architectures' own spread, ``sqrt(spread^2 - noise^2 / seeds)`` (seed means
  still carry ``noise / sqrt(seeds)``);
* ``ratio`` = excess / noise; a preset **passes** when ``ratio > 1``: architectures differ by
  more than one retraining does;
* ``tau``: Kendall tau of the architectures' ranking under seed 0 against seed 1 (the noise
  ceiling of any rank study on that preset).

    python -m benchmarks.preset_spread --rows 200000 --archs 16 --seeds 2 --steps 400 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from ._common import save_result


def run(*, presets: list[str], rows: int, archs: int, seeds: int, steps: int, space: str, threads: int,
        data_dir: Path, seed: int = 0) -> dict[str, Any]:
    from nasrec_lab.data import SYNTHETIC_PRESETS, CTRDataset, synthesize
    from nasrec_lab.search import CandidateScorer, ScoringConfig
    from nasrec_lab.space import get_space, sample_architecture

    if seeds < 2:
        raise ValueError("seed noise needs at least 2 seeds")
    sp = get_space(space)
    rng = np.random.default_rng(seed)
    candidates = []
    while len(candidates) < archs:  # the same architectures on every preset
        a = sample_architecture(sp, rng)
        if a.hash() not in {c.hash() for c in candidates}:
            candidates.append(a)
    config = ScoringConfig(mode="scratch", scratch_steps=steps, scratch_batch=512, eval_batches=None,
                           threads=threads)
    table = []
    for name in presets:
        path = data_dir / f"{name}-{rows}-s{seed}"
        if (path / "manifest.json").exists():
            ds = CTRDataset(path)
        else:
            ds = synthesize(path, rows=rows, seed=seed, spec=SYNTHETIC_PRESETS[name])
        scorer = CandidateScorer(ds, None, config, space=sp)
        loss = np.array([[scorer.score(a, seed=s)["val_logloss"] for s in range(seeds)] for a in candidates])
        means = loss.mean(1)
        noise = float(np.sqrt(loss.var(1, ddof=1).mean()))
        spread = float(means.std(ddof=1))
        excess = float(np.sqrt(max(spread**2 - noise**2 / seeds, 0.0)))
        tau = float(kendalltau(loss[:, 0], loss[:, 1]).statistic)
        table.append({"preset": name, "oracle": ds.oracle_logloss("val"), "mean": float(means.mean()),
                      "best": float(means.min()), "spread": spread, "excess": excess, "noise": noise,
                      "ratio": excess / noise if noise > 0 else float("inf"), "tau": tau,
                      "passes": bool(excess > noise), "losses": loss.tolist()})
        print(json.dumps({k: v for k, v in table[-1].items() if k != "losses"}), file=sys.stderr, flush=True)
    return {"title": f"preset spread: {archs} random {space} architectures x {seeds} seeds, {rows:,} rows, "
                     f"{steps} steps of 512 from scratch",
            "table": [{k: v for k, v in r.items() if k != "losses"} for r in table],
            "presets": table, "archs": [a.to_json() for a in candidates], "rows": rows, "steps": steps,
            "space": space, "seeds": seeds}


def main(argv: list[str] | None = None) -> int:
    from nasrec_lab.data import SYNTHETIC_PRESETS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", choices=list(SYNTHETIC_PRESETS), default=list(SYNTHETIC_PRESETS))
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--archs", type=int, default=16)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=400, help="training steps of 512 from scratch per model")
    p.add_argument("--space", choices=["small", "full"], default="small")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir", type=Path, default=Path("data/presets"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON file (default benchmarks/results/preset_spread.json)")
    p.add_argument("--json", action="store_true", help="also print the JSON object")
    args = p.parse_args(argv)
    result = run(presets=args.presets, rows=args.rows, archs=args.archs, seeds=args.seeds, steps=args.steps,
                 space=args.space, threads=args.threads, data_dir=args.data_dir, seed=args.seed)
    save_result(result, "preset_spread", args.out)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k not in ("presets", "archs")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
