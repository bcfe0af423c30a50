"""``arch``: inspect, cost, list and draw architectures (files or published names)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import SPACE_CHOICES, CLIError, add_json, dumps, load_arch_and_space, schema_for, with_example

DRAW_FORMATS = (".svg", ".png", ".pdf", ".html", ".dot")


def add_arch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("arch", help="inspect architectures (a published name, release JSON or nasrec-lab JSON)")
    with_example(p, "nasrec-lab arch list", "nasrec-lab arch show criteo_full")
    asub = p.add_subparsers(dest="arch_command", required=True, metavar="{list,show,cost,draw}")

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

    d = asub.add_parser("draw", help="draw an architecture (or the difference of two) to SVG, PNG, PDF, HTML or DOT")
    with_example(d, "nasrec-lab arch draw criteo_full -o criteo_full.svg",
                 "nasrec-lab arch draw criteo_full -o criteo_full.png -o criteo_full.pdf --dataset criteo",
                 "nasrec-lab arch draw best.json --diff criteo_full -o diff.html")
    d.add_argument("arch", help="a published name (nasrec-lab arch list) or an architecture JSON file")
    d.add_argument("-o", "--output", action="append", required=True, metavar="FILE",
                   help="where to write; the suffix picks the format: " + ", ".join(DRAW_FORMATS) + " (repeatable)")
    d.add_argument("--diff", metavar="OTHER", help="draw ARCH above OTHER, the blocks that differ highlighted")
    d.add_argument("--dataset", help="criteo | avazu | kdd | a data set directory: field counts and costs "
                                     "(default: a published architecture's own data set, else none)")
    d.add_argument("--space", choices=SPACE_CHOICES, help="space of a nasrec-lab JSON file without one (default: full)")
    d.add_argument("--title", help="the figure's title (default: the architecture's name and hash)")
    d.add_argument("--width", type=int, help="scale the figure down to this many pixels wide (default: natural size)")
    d.add_argument("--scale", type=float, default=2.0, help="pixel density of PNG output (default: 2)")
    add_json(d, "print one JSON object")
    d.set_defaults(func=cmd_arch_draw)


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
    from ..space import architecture_document

    arch, space = load_arch_and_space(args.arch, args.space)
    if args.json:
        print(dumps(architecture_document(arch, space), indent=2))  # reloads as it is, a custom space too
        return 0
    print(f"architecture {arch.hash()} in space {space.name} ({len(arch.blocks)} blocks)")
    for i, b in enumerate(arch.blocks):
        flags = [f for f in ("dense_sparse_interact", "deep_fm") if getattr(b, f)]
        print(f"  block {i + 1}: dense {'+'.join(b.dense_ops)} w={b.dense_width} <- {list(b.dense_in)} "
              f"(left {b.left}, right {b.right}); sparse {'+'.join(b.sparse_ops)} m={b.sparse_width} "
              f"<- {list(b.sparse_in)}" + (f"; {', '.join(flags)}" if flags else ""))
    return 0


def cmd_arch_draw(args: argparse.Namespace) -> int:
    from ..analysis import (
        architecture_graph,
        count_crossings,
        export_figure,
        graph_layout,
        plot_architecture,
        plot_architecture_diff,
        to_dot,
    )
    from ..space import PUBLISHED

    outputs = [Path(o) for o in args.output]
    bad = [str(o) for o in outputs if o.suffix.lower() not in DRAW_FORMATS]
    if bad:  # before any work: a typo should not cost a drawing
        raise CLIError(f"cannot tell the format of {', '.join(bad)}: FILE must end in {', '.join(DRAW_FORMATS)}")
    if args.diff and any(o.suffix.lower() == ".dot" for o in outputs):
        raise CLIError("--diff draws to .svg, .png, .pdf or .html, not .dot (DOT holds one graph)")
    if args.width is not None and args.width < 200:
        raise CLIError(f"--width must be at least 200 pixels, got {args.width}")
    arch, space = load_arch_and_space(args.arch, args.space)
    other = load_arch_and_space(args.diff, args.space) if args.diff else None
    dataset = args.dataset or (PUBLISHED[args.arch].dataset if args.arch in PUBLISHED else None)
    schema = schema_for(dataset) if dataset else None
    name = Path(args.arch).stem if args.arch not in PUBLISHED else args.arch
    g = architecture_graph(arch, schema, space)
    if other is None:
        title = args.title or f"{name} ({arch.hash()}, {space.name} space)"
        fig = plot_architecture(g, title=title, width=args.width)
        crossings = count_crossings(graph_layout(g))
    else:
        fig = plot_architecture_diff(arch, other[0], schema, space, other_space=other[1], width=args.width)
        if args.title:
            fig.update_layout(title_text=args.title)
        crossings = None
    images = []
    for out in outputs:
        out.parent.mkdir(parents=True, exist_ok=True)
        fmt = out.suffix.lower()
        if fmt == ".dot":
            out.write_text(to_dot(g) + "\n")
        elif fmt == ".html":
            # plotly.js embedded: the file opens offline
            fig.write_html(str(out), include_plotlyjs=True, full_html=True)
        else:
            images.append(out)
    if images:
        export_figure(fig, *images, scale=args.scale)
    result = {"outputs": [str(o) for o in outputs], "hash": arch.hash(), "space": space.name,
              "dataset": dataset, "width": fig.layout.width, "height": fig.layout.height, "crossings": crossings}
    if other is not None:
        result["diff_hash"] = other[0].hash()
    if args.json:
        print(dumps(result))
    else:
        what = f"{name} vs {args.diff}" if other is not None else name
        print(f"drew {what} ({fig.layout.width} x {fig.layout.height} px) to {', '.join(map(str, outputs))}")
    return 0
