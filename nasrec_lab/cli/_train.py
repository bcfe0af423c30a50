"""``train-supernet``, ``train-subnet`` and ``finetune``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

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
    with_example,
)


def _train_options(p: argparse.ArgumentParser, *, batch: int, lr: float) -> None:
    p.add_argument("--batch-size", type=int, default=batch)
    p.add_argument("--lr", type=float, default=lr)
    add_seed(p)
    add_device(p)
    add_progress(p)
    add_threads(p)


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-supernet", help="train the weight-sharing supernet (checkpoints, resume, torchrun)")
    with_example(p, "nasrec-lab train-supernet --data data/synthetic --space full --steps 15000 --out runs/supernet",
                 "nasrec-lab train-supernet --data data/synthetic --space full --steps 15000 --out runs/supernet "
                 "--resume")
    p.add_argument("--data", required=True, help="data set directory")
    add_space(p, default="full")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True, help="run directory (checkpoint.pt, supernet.pt, log.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--sampler", default="default", choices=SAMPLER_CHOICES)
    p.add_argument("--warmup-steps", type=int, help="full-path warm-up steps (default: 10%% of --steps)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--no-layernorm", action="store_true", help="supernet without LayerNorm")
    p.add_argument("--table-cap", type=int, help="cap embedding tables (the release uses 500000 in search)")
    _train_options(p, batch=512, lr=0.12)
    p.set_defaults(func=cmd_train_supernet)

    s = sub.add_parser("train-subnet", help="train an architecture from scratch on train+val, score on test")
    with_example(s, "nasrec-lab train-subnet criteo_full --data data/criteo --json")
    s.add_argument("arch", help="a published name or an architecture JSON (release or nasrec-lab format)")
    s.add_argument("--data", required=True)
    add_space(s)
    s.add_argument("--epochs", type=float, default=1.0)
    s.add_argument("--steps", type=int)
    s.add_argument("--layernorm", action="store_true", help="keep LayerNorm (default: off, as the release)")
    s.add_argument("--out", help="save the trained model here (.pt)")
    add_json(s)
    _train_options(s, batch=256, lr=0.16)
    s.set_defaults(func=cmd_train_subnet)

    f = sub.add_parser("finetune", help="fine-tune a subnet with weights inherited from a supernet, score on val")
    with_example(f, "nasrec-lab finetune --supernet runs/supernet/checkpoint.pt --arch best.json "
                    "--data data/synthetic --json")
    f.add_argument("--supernet", required=True, help="supernet checkpoint (train-supernet OUT/checkpoint.pt)")
    f.add_argument("--arch", required=True, help="architecture JSON")
    f.add_argument("--data", required=True)
    f.add_argument("--steps", type=int, default=500)
    f.add_argument("--whole-path", action="store_true", help="fine-tune every weight of the path, not just the head")
    f.add_argument("--eval-batches", type=int, help="validation batches of 8192 (default: the whole split)")
    f.add_argument("--out", help="save the fine-tuned subnet here (.pt)")
    add_json(f)
    _train_options(f, batch=512, lr=0.04)
    f.set_defaults(func=cmd_finetune)


def cmd_train_supernet(args: argparse.Namespace) -> int:
    from .._atomic import trim_jsonl
    from ..data import CTRDataset
    from ..space import PathSampler
    from ..supernet import SuperNet
    from ..training import FunctionCallback, TrainConfig, Trainer, resolve_device
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
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         checkpoint_every=args.checkpoint_every, device=args.device, bf16=args.bf16,
                         progress=not args.no_progress)
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


def cmd_train_subnet(args: argparse.Namespace) -> int:
    from ..data import CTRDataset
    from ..supernet import build
    from ..training import TrainConfig, Trainer

    apply_threads(args)
    arch, space = load_arch_and_space(args.arch, args.space)
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
        print(dumps(result))
    else:
        print(f"test log loss {m.logloss:.5f}, AUC {m.auc:.4f} after {trainer.step} steps "
              f"(oracle {result['oracle_test_logloss']})")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from ..data import CTRDataset
    from ..space import validate
    from ..training import TrainConfig, finetune, supernet_from_checkpoint

    apply_threads(args)
    net = supernet_from_checkpoint(args.supernet)
    arch, _ = load_arch_and_space(args.arch, None)
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
    print(dumps(result) if args.json else f"val log loss {m.logloss:.5f}, AUC {m.auc:.4f}")
    return 0
