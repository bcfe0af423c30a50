"""The ``nasrec-lab`` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .data import DataFormatError


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate the synthetic CTR data set (known click model, oracle log loss)")
    p.add_argument("--rows", type=int, default=200_000, help="rows to generate (1,000 to 50,000,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output data set directory")
    p.add_argument("--positive-rate", type=float, default=0.25)
    p.add_argument("--split", choices=["autoctr", "random"], default="autoctr")
    p.add_argument("--raw-criteo", metavar="FILE", help="instead write raw Criteo-format rows to FILE")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_synth)


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data import SyntheticSpec, synthesize, write_raw_criteo

    if args.raw_criteo:
        path = write_raw_criteo(args.raw_criteo, rows=args.rows, seed=args.seed)
        print(f"wrote {args.rows:,} raw Criteo-format rows to {path}")
        return 0
    ds = synthesize(
        args.out,
        rows=args.rows,
        seed=args.seed,
        spec=SyntheticSpec(positive_rate=args.positive_rate),
        split=args.split,
        overwrite=args.overwrite,
    )
    print(ds.summary())
    return 0


def _add_preprocess(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="raw Criteo / Avazu / KDD 2012 / CSV / Parquet files -> data set directory")
    p.add_argument("format", choices=["criteo", "avazu", "kdd", "csv"])
    p.add_argument("inputs", nargs="+", help="raw files (plain or gzip); for csv also .parquet")
    p.add_argument("--out", required=True)
    p.add_argument("--categorical", choices=["hash", "vocab"], default="hash")
    p.add_argument("--table-cap", type=int, default=500_000, help="hash mode: rows per table at most")
    p.add_argument("--min-count", type=int, default=1, help="vocab mode: rarer values share the OOV id")
    p.add_argument("--split", choices=["autoctr", "random"], default="autoctr")
    p.add_argument("--split-seed", type=int, default=2018)
    p.add_argument("--on-bad-rows", choices=["error", "skip"], default="error")
    p.add_argument("--user-profile", help="kdd: userid_profile.txt (UserID TAB Gender TAB Age)")
    p.add_argument("--label", help="csv: label column")
    p.add_argument("--dense", default="", help="csv: comma-separated dense columns")
    p.add_argument("--sparse", default="", help="csv: comma-separated sparse columns")
    p.add_argument("--delimiter", default=",", help="csv: field delimiter")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_preprocess)


def _cmd_preprocess(args: argparse.Namespace) -> int:
    from .data import PreprocessOptions, csv_columns, csv_format, preprocess

    opts = PreprocessOptions(
        categorical=args.categorical,
        table_cap=args.table_cap,
        min_count=args.min_count,
        split=args.split,
        split_seed=args.split_seed,
        on_bad_rows=args.on_bad_rows,
    )
    fmt: object = args.format
    if args.format == "csv":
        if not args.label or not args.sparse:
            raise SystemExit("preprocess csv: --label and --sparse are required (and --dense if any)")
        first = Path(args.inputs[0])
        if first.suffix == ".parquet":
            import pyarrow.parquet as pq

            columns = tuple(pq.ParquetFile(first).schema_arrow.names)
        else:
            columns = csv_columns(first, args.delimiter)
        fmt = csv_format(
            label=args.label,
            dense=tuple(c for c in args.dense.split(",") if c),
            sparse=tuple(c for c in args.sparse.split(",") if c),
            columns=columns,
            delimiter=args.delimiter,
        )
    t0 = time.perf_counter()
    ds = preprocess(args.inputs, args.out, fmt=fmt, options=opts, user_profile=args.user_profile,
                    overwrite=args.overwrite)
    print(ds.summary())
    print(f"preprocessed in {time.perf_counter() - t0:.1f} s -> {ds.path}")
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: the quickstart on synthetic data, written as an offline report")
    p.add_argument("--out", default="runs/demo", help="output folder (report.html, data, supernet, search store)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override a quickstart parameter (rows, supernet_steps, budget, space, seed, ...)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .report import parse_parameters

    run_demo(Path(args.out), parameters=parse_parameters(args.parameter), progress=not args.no_progress)
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="execute a notebook with parameters and write one offline HTML report")
    p.add_argument("notebook")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="a notebook parameter (Python literals are parsed: 3, 0.5, True, [1, 2])")
    p.add_argument("-o", "--output", required=True, help="REPORT.html")
    p.add_argument("--cwd", help="working folder of the run (default: the report's folder)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import parse_parameters, report

    path = report(args.notebook, args.output, parse_parameters(args.parameter), cwd=args.cwd,
                  progress=not args.no_progress)
    print(f"report written to {path}")
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks (each prints a table, and one JSON object with --json)")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="{data,supernet,search}")
    d = bsub.add_parser("data", help="preprocessing throughput, memory growth, loader throughput")
    d.add_argument("--rows", type=int, default=1_000_000)
    d.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    d.add_argument("--out", help="also write the JSON to this file")
    d.set_defaults(func=_cmd_bench_data)
    sn = bsub.add_parser("supernet", help="supernet training and inference throughput against the masked reference")
    sn.add_argument("--space", choices=["full", "small"], default="full")
    sn.add_argument("--steps", type=int, default=20, help="timed training steps per model")
    sn.add_argument("--table-rows", type=int, default=100_000, help="rows of each of the 26 embedding tables")
    sn.add_argument("--inference-batch", type=int, default=4096)
    sn.add_argument("--device", default="cpu", help="cpu (2 threads) or cuda")
    sn.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    sn.add_argument("--out", help="also write the JSON to this file")
    sn.set_defaults(func=_cmd_bench_supernet)
    se = bsub.add_parser("search", help="candidates scored per minute against the masked reference")
    se.add_argument("--finetune-steps", type=int, default=500)
    se.add_argument("--eval-batches", type=int, default=20)
    se.add_argument("--candidates", type=int, default=3, help="candidates timed for nasrec-lab")
    se.add_argument("--reference-candidates", type=int, default=1)
    se.add_argument("--space", choices=["full", "small"], default="full")
    se.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    se.add_argument("--out", help="also write the JSON to this file")
    se.set_defaults(func=_cmd_bench_search)


def _cmd_bench_data(args: argparse.Namespace) -> int:
    from benchmarks.data import bench_data

    result = bench_data(rows=args.rows)
    return _emit_bench(result, args)


def _cmd_bench_supernet(args: argparse.Namespace) -> int:
    from benchmarks.supernet import bench_supernet

    return _emit_bench(bench_supernet(space=args.space, steps=args.steps, table_rows=args.table_rows,
                                      inference_batch=args.inference_batch, device=args.device), args)


def _cmd_bench_search(args: argparse.Namespace) -> int:
    from benchmarks.search import bench_search

    return _emit_bench(bench_search(finetune_steps=args.finetune_steps, eval_batches=args.eval_batches,
                                    candidates=args.candidates, reference_candidates=args.reference_candidates,
                                    space=args.space), args)


def _add_arch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("arch", help="inspect architectures (release JSON or nasrec-lab JSON)")
    asub = p.add_subparsers(dest="arch_command", required=True, metavar="{cost,show}")
    c = asub.add_parser("cost", help="FLOPs per example and parameters, from the spec (no model is run)")
    c.add_argument("arch", help="architecture JSON file")
    c.add_argument("--dataset", default="criteo", help="criteo | avazu | kdd | a data set directory")
    c.add_argument("--space", choices=["full", "small"], help="space of a nasrec-lab JSON file (default: full)")
    c.add_argument("--layernorm", action="store_true", help="count the LayerNorm variant (default: off, as the paper)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=_cmd_arch_cost)
    s = asub.add_parser("show", help="print an architecture block by block, with its hash")
    s.add_argument("arch")
    s.add_argument("--space", choices=["full", "small"])
    s.add_argument("--json", action="store_true", help="print it in nasrec-lab's JSON format")
    s.set_defaults(func=_cmd_arch_show)


def _load_arch_and_space(path: str, space_name: str | None):
    from .space import get_space, load_architecture, validate

    arch, space = load_architecture(path)
    if space_name is not None:
        space = get_space(space_name)
    space = space or get_space("full")
    validate(arch, space, path=not arch.is_subnet)
    return arch, space


def _schema_for(dataset: str):
    from .data import PRESET_SCHEMAS, CTRDataset

    if dataset in PRESET_SCHEMAS:
        return PRESET_SCHEMAS[dataset]
    return CTRDataset(dataset).schema


def _cmd_arch_cost(args: argparse.Namespace) -> int:
    from .supernet import cost

    arch, space = _load_arch_and_space(args.arch, args.space)
    c = cost(arch, _schema_for(args.dataset), space, layernorm=args.layernorm)
    if args.json:
        print(json.dumps({"flops": c.flops, "params": c.params, "params_dense": c.params_dense,
                          "params_embedding": c.params_embedding, "mflops": c.mflops, "space": space.name,
                          "hash": arch.hash()}))
    else:
        print(f"{args.arch}: {c.mflops:.4f} MFLOPs per example, {c.params:,} parameters "
              f"({c.params_dense:,} dense, {c.params_embedding:,} in embeddings), space {space.name}")
    return 0


def _cmd_arch_show(args: argparse.Namespace) -> int:
    arch, space = _load_arch_and_space(args.arch, args.space)
    if args.json:
        print(json.dumps({**arch.to_json(), "space": space.name}, indent=2))
        return 0
    print(f"architecture {arch.hash()} in space {space.name} ({len(arch.blocks)} blocks)")
    for i, b in enumerate(arch.blocks):
        flags = [f for f in ("dense_sparse_interact", "deep_fm") if getattr(b, f)]
        print(f"  block {i + 1}: dense {'+'.join(b.dense_ops)} w={b.dense_width} <- {list(b.dense_in)} "
              f"(left {b.left}, right {b.right}); sparse {'+'.join(b.sparse_ops)} m={b.sparse_width} "
              f"<- {list(b.sparse_in)}" + (f"; {', '.join(flags)}" if flags else ""))
    return 0


def _train_options(p: argparse.ArgumentParser, *, batch: int, lr: float) -> None:
    p.add_argument("--batch-size", type=int, default=batch)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, help="torch CPU threads")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-supernet", help="train the weight-sharing supernet (checkpoints, resume, torchrun)")
    p.add_argument("--data", required=True, help="data set directory")
    p.add_argument("--space", choices=["full", "small"], default="full")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True, help="run directory (checkpoint.pt, supernet.pt, log.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--sampler", default="default",
                   choices=["default", "single-path", "any-path", "any-path-binomial", "full-path"])
    p.add_argument("--warmup-steps", type=int, help="full-path warm-up steps (default: 10%% of --steps)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--no-layernorm", action="store_true", help="supernet without LayerNorm")
    p.add_argument("--table-cap", type=int, help="cap embedding tables (the release uses 500000 in search)")
    _train_options(p, batch=512, lr=0.12)
    p.set_defaults(func=_cmd_train_supernet)

    s = sub.add_parser("train-subnet", help="train an architecture from scratch on train+val, score on test")
    s.add_argument("arch", help="architecture JSON (release or nasrec-lab format)")
    s.add_argument("--data", required=True)
    s.add_argument("--space", choices=["full", "small"])
    s.add_argument("--epochs", type=float, default=1.0)
    s.add_argument("--steps", type=int)
    s.add_argument("--layernorm", action="store_true", help="keep LayerNorm (default: off, as the release)")
    s.add_argument("--out", help="save the trained model here (.pt)")
    s.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    _train_options(s, batch=256, lr=0.16)
    s.set_defaults(func=_cmd_train_subnet)

    f = sub.add_parser("finetune", help="fine-tune a subnet with weights inherited from a supernet, score on val")
    f.add_argument("--supernet", required=True, help="supernet checkpoint (train-supernet OUT/checkpoint.pt)")
    f.add_argument("--arch", required=True, help="architecture JSON")
    f.add_argument("--data", required=True)
    f.add_argument("--steps", type=int, default=500)
    f.add_argument("--whole-path", action="store_true", help="fine-tune every weight of the path, not just the head")
    f.add_argument("--eval-batches", type=int, help="validation batches of 8192 (default: the whole split)")
    f.add_argument("--out", help="save the fine-tuned subnet here (.pt)")
    f.add_argument("--json", action="store_true")
    _train_options(f, batch=512, lr=0.04)
    f.set_defaults(func=_cmd_finetune)


def _threads(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def _cmd_train_supernet(args: argparse.Namespace) -> int:
    from .data import CTRDataset
    from .space import PathSampler
    from .supernet import SuperNet
    from .training import FunctionCallback, TrainConfig, Trainer
    from .training import _distributed as ddp

    _threads(args)
    ds = CTRDataset(args.data)
    schema = ds.schema.with_table_cap(args.table_cap)
    if schema != ds.schema:
        raise ValueError("--table-cap needs data preprocessed with that cap (nasrec-lab preprocess --table-cap)")
    out = Path(args.out)
    ckpt = out / "checkpoint.pt"
    if ckpt.exists() and not args.resume:
        raise FileExistsError(f"{ckpt} exists: pass --resume to continue it, or choose another --out")
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         checkpoint_every=args.checkpoint_every, device=args.device, bf16=args.bf16,
                         progress=not args.no_progress)
    from .training import resolve_device

    rank, world = ddp.init_distributed(resolve_device(args.device).type)
    warmup = args.warmup_steps if args.warmup_steps is not None else args.steps // 10
    net = SuperNet(ds.schema, args.space, layernorm=not args.no_layernorm, seed=args.seed, sparse_grad=world == 1)
    sampler = PathSampler(args.space, args.sampler, seed=args.seed, warmup_steps=warmup)
    log = out / "log.jsonl"

    def write_log(event) -> None:
        if rank == 0:
            with open(log, "a") as fh:
                fh.write(json.dumps({"event": type(event).__name__, **event.to_json()}) + "\n")

    trainer = Trainer(net, ds, config, sampler=sampler, checkpoint_dir=out, rank=rank, world_size=world,
                      callbacks=[FunctionCallback(on_step=write_log)])
    if args.resume:
        if not ckpt.exists():
            raise FileNotFoundError(f"--resume: {ckpt} does not exist")
        trainer.load_checkpoint(ckpt)
        if rank == 0:
            print(f"resumed from {ckpt} at step {trainer.step}")
    out.mkdir(parents=True, exist_ok=True)
    try:
        trainer.run()
        trainer.save_checkpoint()
    finally:
        ddp.shutdown()
    if rank == 0:
        print(json.dumps({"step": trainer.step, "samples": trainer.samples, "last_loss": trainer.last_loss,
                          "checkpoint": str(ckpt)}))
    return 0


def _cmd_train_subnet(args: argparse.Namespace) -> int:
    from .data import CTRDataset
    from .supernet import build
    from .training import TrainConfig, Trainer

    _threads(args)
    arch, space = _load_arch_and_space(args.arch, args.space)
    ds = CTRDataset(args.data)
    config = TrainConfig(steps=args.steps, epochs=None if args.steps else args.epochs, batch_size=args.batch_size,
                         lr=args.lr, seed=args.seed, train_split="train+val", eval_split="test",
                         device=args.device, bf16=args.bf16, progress=not args.no_progress)
    model = build(arch, ds.schema, space, layernorm=args.layernorm, seed=args.seed)
    t0 = time.perf_counter()
    trainer = Trainer(model, ds, config).run()
    m = trainer.evaluate("test")
    if args.out:
        model.save(args.out)
    result = {"arch_hash": arch.hash(), "space": space.name, "test_logloss": m.logloss, "test_auc": m.auc,
              "test_normalized_entropy": m.normalized_entropy, "test_calibration": m.calibration,
              "oracle_test_logloss": ds.oracle_logloss("test"), "steps": trainer.step,
              "train_seconds": time.perf_counter() - t0}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"test log loss {m.logloss:.5f}, AUC {m.auc:.4f} after {trainer.step} steps "
              f"(oracle {result['oracle_test_logloss']})")
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from .data import CTRDataset
    from .training import TrainConfig, finetune, supernet_from_checkpoint

    _threads(args)
    net = supernet_from_checkpoint(args.supernet)
    arch, space = _load_arch_and_space(args.arch, None)
    from .space import validate

    validate(arch, net.space)
    ds = CTRDataset(args.data)
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         eval_batches=args.eval_batches, device=args.device, bf16=args.bf16,
                         progress=not args.no_progress)
    sub, m = finetune(net, arch, ds, config, whole_path=args.whole_path)
    if args.out:
        sub.save(args.out)
    result = {"arch_hash": arch.hash(), "val_logloss": m.logloss, "val_auc": m.auc, "steps": args.steps,
              "whole_path": args.whole_path}
    print(json.dumps(result) if args.json else f"val log loss {m.logloss:.5f}, AUC {m.auc:.4f}")
    return 0


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="evolutionary or random search over subnets of a trained supernet")
    p.add_argument("--data", required=True)
    p.add_argument("--supernet", required=True, help="supernet checkpoint (train-supernet OUT/checkpoint.pt)")
    p.add_argument("--store", required=True, help="SQLite file that keeps every scored candidate")
    p.add_argument("--searcher", choices=["evolution", "random"], default="evolution")
    p.add_argument("--budget", type=int, required=True, help="candidates to score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--finetune-steps", type=int, default=500)
    p.add_argument("--eval-batches", type=int, default=150, help="validation batches of 8192")
    p.add_argument("--resume", action="store_true", help="continue the search of this name in the store")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--name", help="search name in the store (default: SEARCHER-seedS)")
    p.add_argument("--scoring", choices=["finetune", "inherit", "scratch"], default="finetune")
    p.add_argument("--whole-path", action="store_true", help="fine-tune the whole path, not only the head")
    p.add_argument("--finetune-batch", type=int, default=512)
    p.add_argument("--eval-batch-size", type=int, default=8192)
    p.add_argument("--population", type=int, help="evolution: initial population (default: sized from --budget; "
                                                  "at budget 2048 the paper's 128 / 64 / 8 / 240)")
    p.add_argument("--sample-size", type=int, help="evolution: tournament size")
    p.add_argument("--children", type=int, help="evolution: children per generation")
    p.add_argument("--generations", type=int, help="evolution: generations")
    p.add_argument("--top-k", type=int, help="evolution: children of each generation kept in the history")
    p.add_argument("--objective", choices=["logloss", "auc"], default="logloss")
    p.add_argument("--max-flops", type=int, help="hard budget: FLOPs per example")
    p.add_argument("--max-params", type=int, help="hard budget: parameters")
    p.add_argument("--max-latency-ms", type=float, help="hard budget: latency of a batch (measured)")
    p.add_argument("--multi-objective", action="store_true", help="keep the Pareto front of log loss and FLOPs")
    p.add_argument("--backend", choices=["inprocess", "process", "ray"], default="inprocess")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per candidate")
    p.set_defaults(func=_cmd_search)


def _cmd_search(args: argparse.Namespace) -> int:
    from .search import Objective, ScorerSpec, ScoringConfig, SearchRunner, SearchStore, make_searcher
    from .training import read_checkpoint

    ckpt = read_checkpoint(args.supernet)
    from .space import SearchSpace

    space = SearchSpace.from_json(ckpt["model_config"]["space"])
    del ckpt
    objective = Objective(args.objective, args.max_flops, args.max_params, args.max_latency_ms, args.multi_objective)
    scoring = ScoringConfig(mode=args.scoring, finetune_steps=args.finetune_steps, finetune_batch=args.finetune_batch,
                            whole_path=args.whole_path, eval_batches=args.eval_batches,
                            eval_batch_size=args.eval_batch_size, threads=args.threads,
                            latency=args.max_latency_ms is not None)
    kwargs = {}
    if args.searcher == "evolution":
        kwargs = dict(population=args.population, sample_size=args.sample_size, children=args.children,
                      generations=args.generations, top_k=args.top_k)
    searcher = make_searcher(args.searcher, space, objective, seed=args.seed, budget=args.budget, **kwargs)
    spec = ScorerSpec(str(Path(args.data).resolve()), str(Path(args.supernet).resolve()), scoring)
    name = args.name or f"{args.searcher}-seed{args.seed}"

    def progress(event) -> None:
        print(f"[{event.evaluated}/{args.budget}] {event.record.arch_hash} val log loss "
                  f"{event.record.val_logloss:.5f} (best {event.best_fitness:.5f})", flush=True)

    with SearchStore(args.store) as store:
        runner = SearchRunner(store=store, name=name, searcher=searcher, spec=spec, budget=args.budget, seed=args.seed,
                              backend=args.backend, workers=args.workers, address=args.ray_address,
                              callbacks=[progress], resume=args.resume)
        result = runner.run()
    out = result.to_json()
    print(json.dumps(out) if args.json else f"best {out['best_hash']} val log loss {out['best_val_logloss']:.5f} "
          f"after {out['evaluated']} candidates")
    return 0


def _emit_bench(result: dict, args: argparse.Namespace) -> int:
    from benchmarks._common import format_table

    print(format_table(result))
    if args.out:
        from ._atomic import atomic_write_json

        atomic_write_json(args.out, result)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasrec-lab",
        description="NASRec: weight-sharing neural architecture search for CTR prediction.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"nasrec-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


_SUBCOMMANDS = [_add_demo, _add_synth, _add_preprocess, _add_arch, _add_train, _add_search, _add_report, _add_bench]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataFormatError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"nasrec-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
