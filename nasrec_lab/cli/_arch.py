"""``arch``: inspect, cost and list architectures (files or published names)."""

from __future__ import annotations

import argparse

from ._common import SPACE_CHOICES, add_json, dumps, load_arch_and_space, schema_for, with_example


def add_arch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("arch", help="inspect architectures (a published name, release JSON or nasrec-lab JSON)")
    with_example(p, "nasrec-lab arch list", "nasrec-lab arch show criteo_full")
    asub = p.add_subparsers(dest="arch_command", required=True, metavar="{list,show,cost}")

    ls = asub.add_parser("list", help="the published architectures shipped with nasrec-lab, with the paper's numbers")
    with_example(ls, "nasrec-lab arch list --json")
    add_json(ls, "print one JSON object")
    ls.set_defaults(func=cmd_arch_list)

    c = asub.add_parser("cost", help="FLOPs per example and parameters, from the spec (no model is run)")
    with_example(c, "nasrec-lab arch cost criteo_full --dataset criteo --json")
    c.add_argument("arch", help="a published name (nasrec-lab arch list) or an architecture JSON file")
    c.add_argument("--dataset", default="criteo", help="criteo | avazu | kdd | a data set directory")
    c.add_argument("--space", choices=SPACE_CHOICES, help="space of a nasrec-lab JSON file without one (default: full)")
    c.add_argument("--layernorm", action="store_true", help="count the LayerNorm variant (default: off, as the paper)")
    add_json(c, "print one JSON object")
    c.set_defaults(func=cmd_arch_cost)

    s = asub.add_parser("show", help="print an architecture block by block, with its hash")
    with_example(s, "nasrec-lab arch show criteo_full", "nasrec-lab arch show best.json --json")
    s.add_argument("arch", help="a published name or an architecture JSON file")
    s.add_argument("--space", choices=SPACE_CHOICES)
    add_json(s, "print it in nasrec-lab's JSON format")
    s.set_defaults(func=cmd_arch_show)


def cmd_arch_list(args: argparse.Namespace) -> int:
    from ..space import PUBLISHED

    if args.json:
        print(dumps({"architectures": [p.to_json() for p in PUBLISHED.values()]}))
        return 0
    print(f"{'name':<14}{'dataset':<9}{'space':<7}{'paper test log loss':>20}{'AUC':>8}{'MFLOPs':>8}")
    for p in PUBLISHED.values():
        print(f"{p.name:<14}{p.dataset:<9}{p.space:<7}{p.test_logloss:>20.4f}{p.test_auc:>8.4f}{p.mflops:>8.2f}")
    print("(Zhang et al., NASRec, WWW 2023; architectures from the authors' release, Apache-2.0)")
    return 0


def cmd_arch_cost(args: argparse.Namespace) -> int:
    from ..supernet import cost

    arch, space = load_arch_and_space(args.arch, args.space)
    c = cost(arch, schema_for(args.dataset), space, layernorm=args.layernorm)
    if args.json:
        print(dumps({"flops": c.flops, "params": c.params, "params_dense": c.params_dense,
                     "params_embedding": c.params_embedding, "mflops": c.mflops, "space": space.name,
                     "hash": arch.hash()}))
    else:
        print(f"{args.arch}: {c.mflops:.4f} MFLOPs per example, {c.params:,} parameters "
              f"({c.params_dense:,} dense, {c.params_embedding:,} in embeddings), space {space.name}")
    return 0


def cmd_arch_show(args: argparse.Namespace) -> int:
    arch, space = load_arch_and_space(args.arch, args.space)
    if args.json:
        print(dumps({**arch.to_json(), "space": space.name}, indent=2))
        return 0
    print(f"architecture {arch.hash()} in space {space.name} ({len(arch.blocks)} blocks)")
    for i, b in enumerate(arch.blocks):
        flags = [f for f in ("dense_sparse_interact", "deep_fm") if getattr(b, f)]
        print(f"  block {i + 1}: dense {'+'.join(b.dense_ops)} w={b.dense_width} <- {list(b.dense_in)} "
              f"(left {b.left}, right {b.right}); sparse {'+'.join(b.sparse_ops)} m={b.sparse_width} "
              f"<- {list(b.sparse_in)}" + (f"; {', '.join(flags)}" if flags else ""))
    return 0
