"""The paper's rank-correlation ablation, runnable: samplers x fine-tuning -> Kendall tau, Spearman rho.

Same data, same K reference architectures and the same supernet training budget for
single-path, any-path and single-operator any-connection (default) sampling; each supernet
scores the references with and without post-training fine-tuning.

Ground truth: each reference trained from scratch (cached in a store) with ``--truth-seeds``
different seeds; the mean is the truth, and the correlation of one seed's ranking with
another's is printed as the noise ceiling (no supernet can rank the references better than
standalone training agrees with itself).

    python -m benchmarks.rank_ablation --space small --rows 200000 --refs 30 --steps 1500

Which rows each side learns from is a choice the result depends on: by default the supernet and
the ground truth both train on the references' data set; ``--supernet-rows N`` trains the
supernet on N further rows of the same click model instead (about one pass, as the paper's
supernet over Criteo), ``--truth-rows N`` trains the truth on an N-row data set
(``preset_spread --rows N`` trains the same and shares its cache). Scoring (fine-tuning and
validation) stays on the references' data set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nasrec_lab._atomic import atomic_write_json

from ._common import preset_data, save_result
from .preset_spread import stepped_up_tau, truth_config

ROOT = Path(__file__).resolve().parents[1]
SAMPLERS = ("single-path", "any-path", "default")
# Each score's mode and what it fine-tunes; "finetune-whole" only with --whole-path.
SCOPES = {"inherit": None, "finetune": "head", "finetune-whole": "whole path"}


def supernet_scores(ds, study, *, space: str, strategy: str, steps: int, batch: int, seed: int, finetune_steps: int,
                    threads: int, score_at=(), whole_path: bool = False, layernorm: bool = True,
                    centre_dense: bool = False, workdir: Path, log=print) -> dict:
    """The references' supernet scores, inherited and fine-tuned, after ``steps`` steps of supernet
    training on ``ds`` (the references' data set, or fresh rows of its click model) by ``strategy``
    and at each step of ``score_at`` on the way (the same run: how the ranking grows with training,
    under the schedule of the whole run). Cached in
    ``WORKDIR/supernet_scores/`` (JSON), so ``--phase supernet`` can run while the ground truth
    is trained elsewhere and a later run reuses it.

    Returns ``{"train_s": seconds, "at": {step: {"inherit": [...], "finetune": [...]}}}`` (scores in
    the order of ``study.archs``); ``whole_path`` adds ``"finetune-whole"``, the same fine-tuning of
    every weight of the path instead of only the head. ``layernorm=False`` trains (and so scores) the
    supernet without LayerNorm, the form of the final models, instead of the paper's supernet form;
    ``centre_dense=True`` trains (and scores) it with FC and Dot-Product reading their dense input
    centred on the batch mean (``SuperNet(centre_dense=True)``)."""
    from nasrec_lab.pipeline import supernet_trainer
    from nasrec_lab.search import RankTracker
    from nasrec_lab.training import FunctionCallback

    keys = [a.hash() for a in study.archs]
    modes = tuple(m for m in SCOPES if whole_path or m != "finetune-whole")
    marks = sorted({int(s) for s in score_at if 0 < int(s) < steps} | {steps})
    blob = json.dumps({**ds.identity(), "space": space,
                       "references": keys, "sampler": strategy, "steps": steps, "batch": batch, "seed": seed,
                       "finetune_steps": finetune_steps, "at": marks} | ({"modes": list(modes)} if whole_path else {})
                      | ({} if layernorm else {"layernorm": False}) | ({"centre_dense": True} if centre_dense else {})
                      # the references are scored on the study's data: when the supernet trains on other rows
                      # (--supernet-rows), those are part of the key too (a cache of other references' rows
                      # was read back before)
                      | ({} if study.data.identity() == ds.identity() else {"scored_on": study.data.identity()}),
                      sort_keys=True)
    cache = workdir / "supernet_scores" / f"{strategy}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
    if cache.exists():
        log(f"{strategy}: supernet scores read from {cache}")
        return json.loads(cache.read_text())

    every = 10  # the trainer's step events come every ``log_every`` steps: the marks must fall on them
    if any(m % every for m in marks[:-1]):
        raise ValueError(f"--score-at steps must be multiples of {every} (the trainer's step events); got {marks[:-1]}")
    t0 = time.perf_counter()
    trainer = supernet_trainer(ds, space, steps, seed=seed, sampler=strategy, batch_size=batch, log_every=every,
                               layernorm=layernorm, centre_dense=centre_dense)
    trackers = {mode: RankTracker(study, trainer.model, at=marks, finetune=mode != "inherit", correlate=False,
                                  whole_path=mode == "finetune-whole", finetune_steps=finetune_steps,
                                  batch_size=batch, threads=threads)
                for mode in modes}
    trainer.callbacks.append(FunctionCallback(
        on_step=lambda e: log(f"{strategy}: scoring the references at step {e.step} of {steps}") if e.step in marks
        else None))
    trainer.callbacks.extend(trackers.values())
    trainer.run()
    train_s = time.perf_counter() - t0 - sum(t.seconds for t in trackers.values())
    at = {str(m): {mode: [t.scores[m][k] for k in keys] for mode, t in trackers.items()} for m in marks}
    result = {"train_s": train_s, "at": at}
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cache, result)
    return result


def run(*, rows: int, refs: int, steps: int, batch: int, finetune_steps: int, space: str, seed: int, threads: int,
        truth_seeds: int, workdir: Path, samplers=SAMPLERS, preset: str = "default", truth_steps: int | None = None,
        score_at=(), phase: str = "all", supernet_rows: int = 0, truth_rows: int = 0, whole_path: bool = False,
        layernorm: bool = True, centre_dense: bool = False, log=print) -> dict:
    from nasrec_lab.search import RankStudy, ScoringConfig, SearchStore, rank_correlation, rank_correlation_interval

    torch.set_num_threads(threads)
    # The data path and the store are those of ``benchmarks.preset_spread --data-dir WORKDIR``: with the
    # same --truth-steps its ground truth is reused.
    ds = preset_data(workdir, preset=preset, rows=rows, seed=seed)
    gt_config = (truth_config(truth_steps, batch) if truth_steps else
                 ScoringConfig(mode="scratch", scratch_batch=batch, eval_batches=None, threads=threads))
    study = RankStudy(ds, space, references=refs, seed=seed, ground_truth_config=gt_config)
    keys = [a.hash() for a in study.archs]
    # With --supernet-rows the supernet trains on rows of the same click model that the references'
    # data set does not hold (part 1 of the generator), as the paper's supernet sees each Criteo row
    # about once; scoring (fine-tuning and validation) stays on the references' data set.
    super_ds = preset_data(workdir, preset=preset, rows=supernet_rows, seed=seed, part=1) if supernet_rows else ds
    title = (f"rank correlation ablation ({space}, {refs} references, {steps} supernet steps of {batch}, "
             f"{rows:,} synthetic rows ({preset} preset)"
             + (f", supernet on {supernet_rows:,} further rows" if supernet_rows else "")
             + (f", ground truth trained on {truth_rows:,} rows" if truth_rows else "")
             + ("" if layernorm else ", supernet without LayerNorm")
             + (", dense inputs centred" if centre_dense else "")
             + f", fine-tune {finetune_steps} steps of the head" + (" or of the whole path" if whole_path else "")
             + "; 95% bootstrap intervals over references)")
    # The supernets first: they need no ground truth (``--phase supernet`` stops after them).
    by_sampler = {strategy: supernet_scores(super_ds, study, space=space, strategy=strategy, steps=steps, batch=batch,
                                            seed=seed, finetune_steps=finetune_steps, threads=threads,
                                            score_at=score_at, whole_path=whole_path, layernorm=layernorm,
                                            centre_dense=centre_dense,
                                            workdir=workdir, log=log)
                  for strategy in samplers}
    supernet_scores_out = {f"{strategy}/{mode}": r["at"][str(steps)][mode]
                           for strategy, r in by_sampler.items() for mode in r["at"][str(steps)]}
    if phase == "supernet":
        return {"title": title, "phase": "supernet", "references": keys, "supernet_val_logloss": supernet_scores_out,
                "supernet_val_logloss_by_step": {s: r["at"] for s, r in by_sampler.items()}}

    # With --truth-rows the references are trained standalone on a larger data set of the same click model
    # (that of ``preset_spread --rows N``, whose cache this reuses): a truth nearer the well-trained
    # models a search's final training makes than a few hundred steps on the references' rows.
    truth_ds = preset_data(workdir, preset=preset, rows=truth_rows, seed=seed) if truth_rows else ds
    store = SearchStore(workdir / "ground_truth.sqlite")
    t0 = time.perf_counter()
    per_seed = []
    for s in range(truth_seeds):
        one = RankStudy(truth_ds, space, references=study.archs, seed=seed + s, store=store, ground_truth_config=gt_config)
        truth = one.ground_truth(progress=lambda i, n, s=s: log(f"ground truth seed {s}: {i}/{n}") if i % 5 == 0
                                 else None)
        per_seed.append([truth[k] for k in keys])
    store.close()
    truth = np.mean(per_seed, axis=0)
    log(f"ground truth of {refs} references x {truth_seeds} seeds in {time.perf_counter() - t0:.0f} s; "
        f"val log loss {truth.min():.5f} .. {truth.max():.5f}")
    ceiling = None
    if truth_seeds >= 2:
        rc = rank_correlation(per_seed[0], per_seed[1])
        ci = rank_correlation_interval(per_seed[0], per_seed[1])
        ceiling = {"kendall_tau": rc.kendall_tau, "spearman_rho": rc.spearman_rho, "top_k_overlap": rc.top_k_overlap,
                   "kendall_tau_ci": ci["kendall_tau"], "spearman_rho_ci": ci["spearman_rho"]}
        log(f"noise ceiling (seed {seed} vs seed {seed + 1} of standalone training): tau {rc.kendall_tau:+.3f} "
            f"[{ci['kendall_tau'][0]:+.2f}, {ci['kendall_tau'][1]:+.2f}] rho {rc.spearman_rho:+.3f}")
        if truth_seeds >= 2:
            # The truth is a mean of seeds: its own reliability is that of half the seeds' mean against
            # the other half's, measured, and stepped up to a mean of all of them against another such
            # mean (Spearman-Brown through Greiner's relation; tests/test_benchmark_models.py). With two
            # seeds the halves are the two seeds themselves.
            half = truth_seeds // 2
            a, b = np.mean(per_seed[:half], 0), np.mean(per_seed[half:2 * half], 0)
            rc, ci = rank_correlation(a, b), rank_correlation_interval(a, b)
            factor = truth_seeds / half  # from a mean of ``half`` seeds to the truth's mean of all of them
            ceiling |= {"split_half_kendall_tau": rc.kendall_tau, "split_half_kendall_tau_ci": ci["kendall_tau"],
                        "split_half_spearman_rho": rc.spearman_rho, "truth_seeds": truth_seeds,
                        "truth_kendall_tau": stepped_up_tau(rc.kendall_tau, factor),
                        "truth_kendall_tau_ci": [stepped_up_tau(t, factor) for t in ci["kendall_tau"]]}
            log(f"noise ceiling of a {half}-seed mean against another: tau {rc.kendall_tau:+.3f} "
                f"[{ci['kendall_tau'][0]:+.2f}, {ci['kendall_tau'][1]:+.2f}]; of the {truth_seeds}-seed truth "
                f"(stepped up): tau {ceiling['truth_kendall_tau']:+.3f}")
    rows_out, by_step = [], []
    for strategy, r in by_sampler.items():
        for step, scores in sorted(r["at"].items(), key=lambda kv: int(kv[0])):
            for mode in (m for m in SCOPES if m in scores):
                ft, predicted = mode != "inherit", scores[mode]
                rc = rank_correlation(truth, predicted)
                ci = rank_correlation_interval(truth, predicted)
                row = {"sampler": strategy, "finetune": ft, "finetune_scope": SCOPES[mode], "kendall_tau": rc.kendall_tau,
                       "kendall_tau_ci": ci["kendall_tau"], "spearman_rho": rc.spearman_rho,
                       "spearman_rho_ci": ci["spearman_rho"], "top_k_overlap": rc.top_k_overlap}
                if int(step) == steps:
                    rows_out.append(row | {"supernet_train_s": r["train_s"]})
                by_step.append(row | {"step": int(step)})
                log(f"{strategy:12s} step {int(step):6d} finetune={SCOPES[mode] or 'no'}: tau {rc.kendall_tau:+.3f} "
                    f"[{ci['kendall_tau'][0]:+.2f}, {ci['kendall_tau'][1]:+.2f}] rho {rc.spearman_rho:+.3f} "
                    f"top-{rc.k} overlap {rc.top_k_overlap:.2f}")
    if ceiling and "truth_kendall_tau" in ceiling:
        for r in (*rows_out, *by_step):  # how much of what the truth's own noise leaves each score reaches
            r["of_truth_ceiling"] = r["kendall_tau"] / ceiling["truth_kendall_tau"]
    return {"title": title, "table": rows_out, "by_step": by_step, "references": keys, "noise_ceiling": ceiling,
            "supernet_val_logloss": supernet_scores_out,
            "ground_truth_val_logloss_per_seed": per_seed, "ground_truth_val_logloss": truth.tolist()}


def main(argv=None) -> int:
    from nasrec_lab.data import SYNTHETIC_PRESETS

    p = argparse.ArgumentParser(prog="python -m benchmarks.rank_ablation")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--refs", type=int, default=30)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument("--space", default="small")
    p.add_argument("--preset", default="default", choices=list(SYNTHETIC_PRESETS), help="synthetic click model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--truth-steps", type=int, help="ground truth: this many steps of --batch from scratch (one "
                   "thread; as benchmarks.preset_spread --steps) instead of one epoch")
    p.add_argument("--truth-seeds", type=int, default=2, help="standalone trainings per reference (>= 2 gives the "
                                                              "noise ceiling)")
    p.add_argument("--samplers", nargs="*", default=list(SAMPLERS), choices=SAMPLERS)
    p.add_argument("--score-at", type=int, nargs="*", default=[], metavar="STEP",
                   help="also score the references at these supernet steps of the same run (tau against training)")
    p.add_argument("--supernet-rows", type=int, default=0, metavar="N",
                   help="train the supernets on N further rows of the same click model (none of them in the "
                        "references' data set) instead of the references' training split")
    p.add_argument("--whole-path", action="store_true",
                   help="also score with every weight of the path fine-tuned (the paper's option), not only the head")
    p.add_argument("--no-layernorm", action="store_true",
                   help="train the supernets without LayerNorm (the final models' form; the paper's supernet has it)")
    p.add_argument("--centre-dense", action="store_true",
                   help="train the supernets with FC and Dot-Product reading their dense input centred on the "
                        "batch mean (train-supernet --centre-dense)")
    p.add_argument("--truth-rows", type=int, default=0, metavar="N",
                   help="train the ground truth on a data set of N rows of the same click model (as "
                        "preset_spread --rows N) instead of the references' data set")
    p.add_argument("--phase", choices=["all", "supernet"], default="all",
                   help="supernet: train and score the supernets only (cached in --workdir), no ground truth")
    p.add_argument("--workdir", help="keep data and the ground-truth cache here (a rerun reuses them)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rank_ablation.json"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        res = run(rows=args.rows, refs=args.refs, steps=args.steps, batch=args.batch,
                  finetune_steps=args.finetune_steps, space=args.space, seed=args.seed, threads=args.threads,
                  truth_seeds=args.truth_seeds, workdir=workdir, samplers=args.samplers, preset=args.preset,
                  truth_steps=args.truth_steps, score_at=args.score_at, phase=args.phase,
                  supernet_rows=args.supernet_rows, truth_rows=args.truth_rows, whole_path=args.whole_path,
                  layernorm=not args.no_layernorm, centre_dense=args.centre_dense, log=lambda s: print(s, flush=True))
    save_result(res, "rank_ablation", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
