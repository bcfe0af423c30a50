"""Per synthetic preset: the spread of standalone scores across random architectures against seed noise.

A preset can rank architectures only where architectures differ by more than retraining one
architecture with another seed does. For each preset: synthesize ``--rows`` rows, draw
``--archs`` subnets with the default sampler, train each from scratch with ``--seeds`` seeds
(the rank studies' ground truth: ``RankStudy.ground_truth``, cached in
``DATA_DIR/ground_truth.sqlite``) and score it on the validation split. Reported per preset:

* ``spread``: standard deviation across architectures of the seed-mean validation log loss;
* ``noise``: pooled standard deviation across seeds of one architecture;
* ``excess``: the architectures' own spread, ``sqrt(spread^2 - noise^2 / seeds)`` (seed means
  still carry ``noise / sqrt(seeds)``);
* ``ratio`` = excess / noise; a preset **passes** when ``ratio > 1``: architectures differ by
  more than one retraining does;
* ``tau``: Kendall tau of the architectures' ranking under seed 0 against seed 1 (the noise
  ceiling of any rank study on that preset);
* ``tau_model``: the tau that ``ratio`` implies when scores are architecture effect plus
  Gaussian seed noise: the two seeds' scores then correlate with ``rho = ratio^2 / (ratio^2 + 1)``
  and Kendall's tau of a bivariate normal is ``(2/pi) arcsin(rho)``;
* ``seeds_for_0.8``: by the same model, how many seeds each side of a mean-against-mean
  comparison needs for tau 0.8 (``rho = sin(0.4 pi)``; a k-seed mean has ``ratio * sqrt(k)``).

    python -m benchmarks.preset_spread --rows 200000 --archs 16 --seeds 2 --steps 300 --json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from ._common import preset_data, save_result


def truth_config(steps: int, batch: int = 512):
    """The ground-truth training of the rank studies (``benchmarks.rank_ablation --truth-steps`` uses the
    same, so its ground-truth cache is this benchmark's)."""
    from nasrec_lab.search import ScoringConfig

    return ScoringConfig(mode="scratch", scratch_steps=steps, scratch_batch=batch, eval_batches=None, threads=1)


def tau_from_ratio(ratio: float) -> float:
    """Seed-vs-seed Kendall tau when scores are an architecture effect (std ``ratio``) plus unit
    Gaussian noise: ``(2/pi) arcsin(ratio^2 / (ratio^2 + 1))`` (Greiner's relation).

    >>> round(tau_from_ratio(1.0), 3)
    0.333
    """
    if not np.isfinite(ratio):
        return 1.0
    return float(2 / np.pi * np.arcsin(ratio**2 / (ratio**2 + 1)))


def stepped_up_tau(tau_half: float, factor: float = 2.0) -> float:
    """Kendall tau of a mean of ``factor`` times as many seeds against another such mean, from the tau
    of two smaller means (``tau_half``): Spearman-Brown on the Pearson correlation of the model of
    :func:`tau_from_ratio`, through Greiner's relation both ways. ``nan`` when ``tau_half <= 0``
    (no reliability to step up).

    >>> round(stepped_up_tau(1 / 3), 3)  # one seed against one at ratio 1 -> two against two
    0.465
    """
    rho = float(np.sin(tau_half * np.pi / 2))
    if not rho > 0:
        return float("nan")
    return float(2 / np.pi * np.arcsin(factor * rho / (1 + (factor - 1) * rho)))


def seeds_for_tau(ratio: float, tau: float) -> int | None:
    """Seeds per side so that a k-seed mean ranks like another k-seed mean with Kendall ``tau``
    (the model of :func:`tau_from_ratio`; a mean of k seeds has ``ratio * sqrt(k)``).

    >>> seeds_for_tau(1.0, 1 / 3)
    1
    """
    if ratio <= 0:
        return None
    rho = np.sin(tau * np.pi / 2)
    return max(1, int(np.ceil(rho / (1 - rho) / ratio**2 - 1e-9)))


def _seed_truth(data: str, space: str, archs_json: list[dict], seed: int, steps: int, store: str) -> list[float]:
    """One seed's standalone validation log loss of every architecture (in a worker; cached in ``store``)."""
    import torch

    from nasrec_lab.data import CTRDataset
    from nasrec_lab.search import RankStudy, SearchStore
    from nasrec_lab.space import Architecture

    torch.set_num_threads(1)
    archs = [Architecture.from_json(a) for a in archs_json]
    with SearchStore(store) as st:
        truth = RankStudy(CTRDataset(data), space, references=archs, seed=seed, store=st,
                          ground_truth_config=truth_config(steps)).ground_truth()
    return [truth[a.hash()] for a in archs]


def run(*, presets: list[str], rows: int, archs: int, seeds: int, steps: int, space: str, workers: int,
        data_dir: Path, seed: int = 0) -> dict[str, Any]:
    from nasrec_lab.search import RankStudy

    if seeds < 2:
        raise ValueError("seed noise needs at least 2 seeds")
    table, candidates, arch_json = [], None, []
    ctx = multiprocessing.get_context("spawn")
    for name in presets:
        ds = preset_data(data_dir, preset=name, rows=rows, seed=seed)
        if candidates is None:  # the same architectures on every preset: the rank studies' references
            candidates = RankStudy(ds, space, references=archs, seed=seed).archs
            arch_json = [a.to_json() for a in candidates]
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            jobs = [pool.submit(_seed_truth, str(ds.path), space, arch_json, seed + s, steps,
                                str(data_dir / "ground_truth.sqlite")) for s in range(seeds)]
            loss = np.array([j.result() for j in jobs]).T  # (archs, seeds)
        means = loss.mean(1)
        noise = float(np.sqrt(loss.var(1, ddof=1).mean()))
        spread = float(means.std(ddof=1))
        excess = float(np.sqrt(max(spread**2 - noise**2 / seeds, 0.0)))
        tau = float(kendalltau(loss[:, 0], loss[:, 1]).statistic)
        ratio = excess / noise if noise > 0 else float("inf")
        table.append({"preset": name, "oracle": ds.oracle_logloss("val"), "mean": float(means.mean()),
                      "best": float(means.min()), "spread": spread, "excess": excess, "noise": noise,
                      "ratio": ratio, "tau": tau, "tau_model": tau_from_ratio(ratio),
                      "seeds_for_0.8": seeds_for_tau(ratio, 0.8), "passes": bool(excess > noise),
                      "losses": loss.tolist()})
        print(json.dumps({k: v for k, v in table[-1].items() if k != "losses"}), file=sys.stderr, flush=True)
    return {"title": f"preset spread: {archs} random {space} architectures x {seeds} seeds, {rows:,} rows, "
                     f"{steps} steps of 512 from scratch",
            "table": [{k: v for k, v in r.items() if k != "losses"} for r in table],
            "presets": table, "archs": arch_json, "rows": rows, "steps": steps,
            "space": space, "seeds": seeds}


def main(argv: list[str] | None = None) -> int:
    from nasrec_lab.data import SYNTHETIC_PRESETS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", choices=list(SYNTHETIC_PRESETS), default=list(SYNTHETIC_PRESETS))
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--archs", type=int, default=16)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=300, help="training steps of 512 from scratch per model")
    p.add_argument("--space", choices=["small", "full"], default="small")
    p.add_argument("--workers", type=int, default=2, help="processes (one thread each); seeds run in parallel")
    p.add_argument("--data-dir", type=Path, default=Path("data/presets"),
                   help="data sets and the ground-truth cache (a rerun, or rank_ablation --workdir, reuses them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON file (default benchmarks/results/preset_spread.json)")
    p.add_argument("--json", action="store_true", help="also print the JSON object")
    args = p.parse_args(argv)
    result = run(presets=args.presets, rows=args.rows, archs=args.archs, seeds=args.seeds, steps=args.steps,
                 space=args.space, workers=args.workers, data_dir=args.data_dir, seed=args.seed)
    save_result(result, "preset_spread", args.out)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k not in ("presets", "archs")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
