"""``train-supernet``, ``train-subnet`` and ``finetune``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..baselines import BASELINES
from ..supernet import FIELD_STARTS
from ..training import FINAL, FINETUNE, SUPERNET, space_recipe_kind
from ._common import (
    SAMPLER_CHOICES,
    CLIError,
    add_device,
    add_json,
    add_progress,
    add_seed,
    add_space,
    add_threads,
    apply_threads,
    dumps,
    load_arch_and_space,
    print_result,
    with_example,
)


def _train_options(p: argparse.ArgumentParser, recipe) -> None:
    p.add_argument("--batch-size", type=int, default=recipe.batch_size, help=f"default: the {recipe.name} recipe's")
    p.add_argument("--lr", type=float, default=recipe.lr, help=f"default: the {recipe.name} recipe's")
    add_seed(p)
    add_device(p)
    add_progress(p)
    add_threads(p)


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-supernet", help="train the weight-sharing supernet (checkpoints, resume, torchrun)")
    with_example(p, "nasrec-lab train-supernet --data data/criteo --space full --out runs/supernet   # one epoch",
                 "nasrec-lab train-supernet --data data/synthetic --space full --steps 3000 --out runs/supernet "
                 "--resume")
    p.add_argument("--data", required=True, help="data set directory")
    add_space(p, default="full")
    p.add_argument("--steps", type=int, help="optimizer steps (default: one epoch over the training split, the "
                   "release's length)")
    p.add_argument("--out", required=True, help="run directory (checkpoint.pt, supernet.pt, log.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--sampler", default="default", choices=SAMPLER_CHOICES)
    p.add_argument("--warmup-steps", type=int, help="full-path warm-up steps (default: 10%% of the run's steps; the release: 15000 on Criteo)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--no-layernorm", action="store_true", help="supernet without LayerNorm")
    p.add_argument("--standalone-paths", action="store_true",
                   help="compute paths as the release's standalone models (projections between equal sizes "
                        "skipped) instead of as its supernet (every projection applied; the default)")
    p.add_argument("--centre-dense", action="store_true",
                   help="FC and Dot-Product read their dense input centred on the batch mean (stops the shared "
                        "weights' dense chain from collapsing to a constant; measured not to rank better: README, "
                        "Benchmarks)")
    p.add_argument("--table-cap", type=int, help="cap embedding tables (the release uses 500000 in search)")
    p.add_argument("--initial-accumulator", type=float, default=SUPERNET.initial_accumulator,
                   help="Adagrad's starting accumulator of the dense weights (default: the supernet recipe's, "
                        f"{SUPERNET.initial_accumulator}; the release's: 0, which trains the deep weights of a "
                        "long run but spikes on short ones; README, Training)")
    _train_options(p, SUPERNET)
    p.set_defaults(func=cmd_train_supernet)

    s = sub.add_parser("train-subnet", help="train an architecture from scratch by the final recipe, score on test")
    with_example(s, "nasrec-lab train-subnet criteo_full --data data/criteo --json",
                 "nasrec-lab train-subnet best.json --data data/synthetic --epochs 1   # the paper's protocol")
    s.add_argument("arch", help="a published name or an architecture JSON (release or nasrec-lab format)")
    s.add_argument("--data", required=True)
    add_space(s, help="space of a nasrec-lab JSON file without one (default: the file's, else full)")
    s.add_argument("--layernorm", action="store_true", help="keep LayerNorm (default: off, as the release)")
    s.add_argument("--field-start", choices=FIELD_STARTS,
                   help="how EFC / Dot-Product / Attention field projections start (default: the final recipe's, "
                        "identity; xavier is the release's; README, Training)")
    s.add_argument("--out", help="save the trained model here (.pt)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _final_options(s)
    s.set_defaults(func=cmd_train_subnet)

    b = sub.add_parser("train-baseline", help="train a hand-designed baseline by the same recipe, score on test")
    with_example(b, "nasrec-lab train-baseline dlrm --data data/synthetic --json")
    b.add_argument("name", choices=tuple(BASELINES), help="a baseline from the registry")
    b.add_argument("--data", required=True)
    b.add_argument("--out", help="save the trained model here (.pt)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _final_options(b)
    b.set_defaults(func=cmd_train_baseline)

    f = sub.add_parser("finetune", help="fine-tune a subnet with weights inherited from a supernet, score on val")
    with_example(f, "nasrec-lab finetune --supernet runs/supernet/checkpoint.pt --arch best.json "
                    "--data data/synthetic --json")
    f.add_argument("--supernet", required=True, help="supernet checkpoint (train-supernet OUT/checkpoint.pt)")
    f.add_argument("--arch", required=True, help="architecture JSON")
    f.add_argument("--data", required=True)
    f.add_argument("--steps", type=int, default=FINETUNE.steps)
    f.add_argument("--whole-path", action="store_true", help="fine-tune every weight of the path, not just the head")
    f.add_argument("--eval-batches", type=int, help="validation batches of 8192 (default: the whole split)")
    f.add_argument("--out", help="save the fine-tuned subnet here (.pt)")
    f.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_json(f)
    _train_options(f, FINETUNE)
    f.set_defaults(func=cmd_finetune)


def cmd_train_supernet(args: argparse.Namespace) -> int:
    from .._atomic import trim_jsonl
    from ..data import CTRDataset
    from ..pipeline import supernet_trainer
    from ..training import FunctionCallback, resolve_device
    from ..training import _distributed as ddp

    apply_threads(args)
    ds = CTRDataset(args.data)
    schema = ds.schema.with_table_cap(args.table_cap)
    if schema != ds.schema:
        raise CLIError("--table-cap needs data preprocessed with that cap (nasrec-lab preprocess --table-cap)")
    out = Path(args.out)
    ckpt = out / "checkpoint.pt"
    if ckpt.exists() and not args.resume:
        raise FileExistsError(f"{ckpt} exists: pass --resume to continue it, or choose another --out")
    rank, world = ddp.init_distributed(resolve_device(args.device).type)
    log = out / "log.jsonl"

    if rank == 0 and not args.resume:
        log.unlink(missing_ok=True)  # a killed run's, with no checkpoint (else refused above): its steps run again

    def write_log(event) -> None:
        if rank == 0:
            with open(log, "a") as fh:  # strict JSON: a non-finite loss is null
                fh.write(dumps({"event": type(event).__name__, **event.to_json()}) + "\n")

    trainer = supernet_trainer(ds, args.space, args.steps, seed=args.seed, sampler=args.sampler,
                               warmup_steps=args.warmup_steps, layernorm=not args.no_layernorm,
                               always_project=not args.standalone_paths, centre_dense=args.centre_dense,
                               checkpoint_dir=out,
                               callbacks=[FunctionCallback(on_step=write_log)], progress=not args.no_progress,
                               rank=rank, world_size=world, sparse_grad=world == 1,
                               batch_size=args.batch_size, lr=args.lr, checkpoint_every=args.checkpoint_every,
                               initial_accumulator=args.initial_accumulator, stop_on_divergence=True,
                               device=args.device, bf16=args.bf16)
    if args.resume:
        if not ckpt.exists():
            raise FileNotFoundError(f"--resume: {ckpt} does not exist")
        trainer.load_checkpoint(ckpt)
        if rank == 0:
            # steps logged after the checkpoint are trained again: drop them so no step appears twice
            trim_jsonl(log, lambda record: record.get("step", 0) <= trainer.step)
            print(f"resumed from {ckpt} at step {trainer.step}")
    out.mkdir(parents=True, exist_ok=True)
    try:
        trainer.run()
        trainer.save_checkpoint()
    finally:
        ddp.shutdown()
    if rank == 0:
        print(dumps({"step": trainer.step, "samples": trainer.samples, "last_loss": trainer.last_loss,
                     "checkpoint": str(ckpt)}))
    return 0


def _final_options(p: argparse.ArgumentParser) -> None:
    """Options of final training (train-subnet and train-baseline share them, and their JSON keys)."""
    p.add_argument("--epochs", type=float, help="the paper's protocol: this many epochs on train+val "
                                                "(default: early stopping on val, best epoch restored)")
    p.add_argument("--max-epochs", type=int, help="early stopping: at most this many epochs, the cosine "
                                                  "schedule's span (default: the recipe's, 2)")
    p.add_argument("--patience", type=int, help="early stopping: epochs without improvement before stopping "
                                                "(default 1)")
    p.add_argument("--steps", type=int, help="cap the training at this many steps (quick looks, tests)")
    p.add_argument("--batch-size", type=int, help="default: the recipe's (256)")
    p.add_argument("--lr", type=float, help="default: the recipe's (0.16 Full, 0.1 Small and baselines)")
    add_json(p)
    add_seed(p)
    add_device(p)
    add_progress(p)
    add_threads(p)


def check_out_file(path: str | None, overwrite: bool) -> None:
    """Refuse an ``--out`` that would replace a user's file unasked, or that is a folder, before any training."""
    if path is None:
        return
    out = Path(path)
    if out.is_dir():
        raise CLIError(f"--out {out}: is a folder; name the model file (MODEL.pt)")
    if out.exists() and not overwrite:
        raise CLIError(f"--out {out}: exists; pass --overwrite to replace it")


def _run_final(args: argparse.Namespace, model, ds, kind: str, extra: dict) -> int:
    from ..training import final_recipe, train_final

    if args.epochs is not None and (args.max_epochs is not None or args.patience is not None):
        given = " and ".join(f for f, v in (("--max-epochs", args.max_epochs), ("--patience", args.patience)) if v
                             is not None)
        raise CLIError(f"{given} set early stopping, --epochs the fixed-epochs protocol: give one or the other")
    check_out_file(args.out, args.overwrite)
    recipe = final_recipe(kind, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          max_epochs=args.max_epochs, patience=args.patience)
    res = train_final(model, ds, recipe, seed=args.seed, device=args.device, bf16=args.bf16,
                      progress=not args.no_progress, steps=args.steps)
    if args.out:
        model.save(args.out)
    result = {**extra, "test_logloss": res.test_logloss, "test_auc": res.test_auc,
              "test_normalized_entropy": res.test_normalized_entropy, "test_calibration": res.test_calibration,
              "oracle_test_logloss": ds.oracle_logloss("test"), "protocol": res.protocol, "epochs": res.epochs,
              "best_epoch": res.best_epoch, "val_logloss_per_epoch": res.val_logloss_per_epoch,
              "steps": res.steps, "lr": recipe.lr, "batch_size": recipe.batch_size,
              "train_seconds": res.train_seconds}
    auc = "undefined" if res.test_auc is None else f"{res.test_auc:.4f}"
    print_result(result, args.json, f"test log loss {res.test_logloss:.5f}, AUC {auc} ({res.protocol}, "
                                    f"{res.epochs:g} epochs, {res.steps} steps; oracle {result['oracle_test_logloss']})")
    return 0


def cmd_train_subnet(args: argparse.Namespace) -> int:
    from ..data import CTRDataset
    from ..supernet import build

    apply_threads(args)
    arch, space = load_arch_and_space(args.arch, args.space)
    ds = CTRDataset(args.data)
    kind = space_recipe_kind(space.name)
    field_start = args.field_start or FINAL[kind].field_start
    model = build(arch, ds.schema, space, layernorm=args.layernorm, seed=args.seed, field_start=field_start)
    return _run_final(args, model, ds, kind, {"arch_hash": arch.hash(), "space": space.name,
                                              "field_start": field_start})


def cmd_train_baseline(args: argparse.Namespace) -> int:
    from ..baselines import build_baseline
    from ..data import CTRDataset

    apply_threads(args)
    ds = CTRDataset(args.data)
    model = build_baseline(args.name, ds.schema, seed=args.seed)
    return _run_final(args, model, ds, "baseline", {"baseline": args.name})


def cmd_finetune(args: argparse.Namespace) -> int:
    from ..data import CTRDataset
    from ..space import validate
    from ..training import finetune, supernet_from_checkpoint

    apply_threads(args)
    check_out_file(args.out, args.overwrite)
    net = supernet_from_checkpoint(args.supernet)
    arch, _ = load_arch_and_space(args.arch, None)
    validate(arch, net.space)
    ds = CTRDataset(args.data)
    config = FINETUNE.replace(steps=args.steps, batch_size=args.batch_size, lr=args.lr).train_config(
        seed=args.seed, eval_batches=args.eval_batches, device=args.device, bf16=args.bf16,
        progress=not args.no_progress)
    sub, m = finetune(net, arch, ds, config, whole_path=args.whole_path)
    if args.out:
        sub.save(args.out)
    result = {"arch_hash": arch.hash(), "val_logloss": m.logloss, "val_auc": m.auc, "steps": args.steps,
              "whole_path": args.whole_path}
    print(dumps(result) if args.json else f"val log loss {m.logloss:.5f}, AUC {m.auc:.4f}")
    return 0
