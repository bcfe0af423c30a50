"""``search``: evolutionary or random search over subnets of a trained supernet."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..search import SEARCHERS
from ._common import CLIError, add_device, add_json, add_seed, add_threads, apply_threads, dumps, with_example


def add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="evolutionary or random search over subnets of a trained supernet")
    with_example(p, "nasrec-lab search --data data/synthetic --supernet runs/supernet/checkpoint.pt "
                    "--store runs/search.sqlite --searcher evolution --budget 2048 --seed 0 --json")
    p.add_argument("--data", required=True)
    p.add_argument("--supernet", required=True, help="supernet checkpoint (train-supernet OUT/checkpoint.pt)")
    p.add_argument("--store", required=True, help="SQLite file that keeps every scored candidate")
    p.add_argument("--searcher", choices=tuple(SEARCHERS), default="evolution")
    p.add_argument("--budget", type=int, required=True, help="candidates to score")
    add_seed(p)
    p.add_argument("--finetune-steps", type=int, default=500)
    p.add_argument("--eval-batches", type=int, default=150, help="validation batches of 8192")
    p.add_argument("--resume", action="store_true", help="continue the search of this name in the store")
    add_json(p)
    p.add_argument("--name", help="search name in the store (default: SEARCHER-seedS)")
    p.add_argument("--export", metavar="BEST.json", help="write the best architecture here (with its space; "
                                                         "nasrec-lab train-subnet takes it as is)")
    p.add_argument("--scoring", choices=["finetune", "inherit", "scratch"], default="finetune")
    p.add_argument("--whole-path", action="store_true", help="fine-tune the whole path, not only the head")
    p.add_argument("--finetune-batch", type=int, default=512)
    p.add_argument("--eval-batch-size", type=int, default=8192)
    p.add_argument("--population", type=int, help="evolution: initial population (default: sized from --budget; "
                                                  "at budget 2048 the paper's 128 / 64 / 8 / 240); "
                                                  "nsga2: population size (default 50)")
    p.add_argument("--sample-size", type=int, help="evolution: tournament size")
    p.add_argument("--children", type=int, help="evolution: children per generation")
    p.add_argument("--generations", type=int, help="evolution: generations")
    p.add_argument("--top-k", type=int, help="evolution: children of each generation kept in the searcher's history, the "
                   "release's result list (the search's best is the best of every scored candidate)")
    p.add_argument("--objective", choices=["logloss", "auc"], default="logloss")
    p.add_argument("--max-flops", type=int, help="hard budget: FLOPs per example")
    p.add_argument("--max-params", type=int, help="hard budget: parameters")
    p.add_argument("--max-latency-ms", type=float, help="hard budget: latency of a batch (measured)")
    p.add_argument("--multi-objective", action="store_true", help="keep the Pareto front of log loss and FLOPs")
    p.add_argument("--backend", choices=["inprocess", "process", "ray"], default="inprocess")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")
    add_threads(p, default=1, help="torch threads per candidate")
    add_device(p, bf16=False)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from ..search import (
        Objective,
        ScorerSpec,
        ScoringConfig,
        SearchRunner,
        SearchStore,
        make_searcher,
        optuna_storage_path,
    )
    from ..space import SearchSpace
    from ..training import read_checkpoint, resolve_device

    apply_threads(args)
    takes = {"--population": ("evolution", "nsga2"), "--sample-size": ("evolution",), "--children": ("evolution",),
             "--generations": ("evolution",), "--top-k": ("evolution",)}
    for flag, searchers in takes.items():
        if getattr(args, flag[2:].replace("-", "_")) is not None and args.searcher not in searchers:
            raise CLIError(f"{flag} sizes {' and '.join(searchers)}; --searcher {args.searcher} does not take it")
    ckpt = read_checkpoint(args.supernet, mmap=True)
    space = SearchSpace.from_json(ckpt["model_config"]["space"])
    del ckpt
    objective = Objective(args.objective, args.max_flops, args.max_params, args.max_latency_ms, args.multi_objective)
    scoring = ScoringConfig(mode=args.scoring, finetune_steps=args.finetune_steps, finetune_batch=args.finetune_batch,
                            whole_path=args.whole_path, eval_batches=args.eval_batches,
                            eval_batch_size=args.eval_batch_size, threads=args.threads,
                            latency=args.max_latency_ms is not None)
    name = args.name or f"{args.searcher}-seed{args.seed}"
    kwargs = {}
    if args.searcher == "evolution":
        kwargs = dict(population=args.population, sample_size=args.sample_size, children=args.children,
                      generations=args.generations, top_k=args.top_k)
    elif args.searcher in ("tpe", "nsga2"):  # the Optuna study beside the store, for optuna-dashboard
        kwargs = dict(storage=optuna_storage_path(args.store), study_name=name,
                      population=args.population if args.searcher == "nsga2" else None)
    searcher = make_searcher(args.searcher, space, objective, seed=args.seed, budget=args.budget, **kwargs)
    if args.backend == "ray" and args.device.startswith("cuda"):
        raise CLIError(f"--device {args.device}: Ray workers score on the CPU; score on a GPU with --backend "
                       "process (or inprocess)")
    # Ray actors hold no GPU resource (Ray hides the GPUs from them), so "auto" means the CPU there
    device = "cpu" if args.backend == "ray" else str(resolve_device(args.device))
    spec = ScorerSpec(str(Path(args.data).resolve()), str(Path(args.supernet).resolve()), scoring, device=device)

    def progress(event) -> None:
        loss = event.record.val_logloss  # None when over a hard budget (not trained)
        print(f"[{event.evaluated}/{args.budget}] {event.record.arch_hash} val log loss "
              f"{'over budget' if loss is None else f'{loss:.5f}'} (best {event.best_fitness:.5f})", flush=True)

    with SearchStore(args.store) as store:
        runner = SearchRunner(store=store, name=name, searcher=searcher, spec=spec, budget=args.budget, seed=args.seed,
                              backend=args.backend, workers=args.workers, address=args.ray_address,
                              callbacks=[progress], resume=args.resume)
        result = runner.run()
    out = result.to_json()
    if args.export:
        if result.best_arch is None:
            raise CLIError(f"--export: search {name!r} has no best architecture to write (no finite score)")
        from ..space import save_architecture

        save_architecture(args.export, result.best_arch, space, search=name, store=str(Path(args.store).resolve()),
                          val_logloss=result.best_val_logloss)
        out["export"] = str(Path(args.export).resolve())
    if args.json:
        print(dumps(out))
    elif out["best_val_logloss"] is None:
        print(f"no candidate with a finite score after {out['evaluated']} candidates (all over budget or NaN)")
    else:
        print(f"best {out['best_hash']} val log loss {out['best_val_logloss']:.5f} after {out['evaluated']} candidates")
    return 0
