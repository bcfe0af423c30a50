"""Architecture graphs: architecture -> networkx DiGraph -> layered layout -> plotly figure / DOT.

Compute and drawing apart (the Optuna pattern): :func:`architecture_graph` and
:func:`graph_layout` return plain data (tested); :func:`plot_architecture` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import networkx as nx

from ..data import FeatureSchema
from ..space import OPERATOR_KINDS, Architecture, SearchSpace, get_space

# One color per operator kind (and per interaction module).
KIND_COLORS = {
    "input": "#7f7f7f",
    "dense": "#1f77b4",
    "dense-sparse": "#9467bd",
    "sparse": "#2ca02c",
    "interaction": "#ff7f0e",
    "head": "#d62728",
}
EDGE_COLORS = {"dense": "#1f77b4", "sparse": "#2ca02c", "internal": "#bbbbbb"}


def architecture_graph(arch: Architecture, schema: FeatureSchema | None = None, space: SearchSpace | str = "full",
                       *, layernorm: bool = False) -> nx.DiGraph:
    """Nodes: the dense and sparse inputs, each block's operators and interaction modules, the head.

    Node attributes: ``label``, ``kind``, ``block`` (0 inputs, 1..N blocks, N+1 head), ``lane``,
    ``width`` text, ``flops`` and ``params`` (when a schema is given; dead operators cost 0 and
    are marked ``live=False``). Edge attribute ``kind``: ``dense`` or ``sparse`` connection, or
    ``internal`` (inside a block).
    """
    from ..supernet import OPERATORS, Geometry, make_plan
    from ..supernet._ops import axis_size

    space = get_space(space)
    plan = None
    if schema is not None:
        plan = make_plan(arch, Geometry.of(schema, space), layernorm)

    def cost_of(op: str, i: int) -> tuple[int, int]:
        if plan is None:
            return 0, 0
        ctx = plan.head if i < 0 else plan.blocks[i].ctx
        params = sum(math.prod(axis_size(a) for a in spec.axes) for spec in OPERATORS[op].params(ctx).values())
        return OPERATORS[op].macs(ctx), params

    g = nx.DiGraph(name=arch.hash())
    g.add_node("D0", label="dense input", kind="input", block=0, lane=0,
               width=f"{schema.n_dense} features" if schema else "", flops=0, params=0, live=True)
    g.add_node("S0", label="sparse input", kind="input", block=0, lane=2,
               width=f"{schema.n_sparse} fields x {schema.embedding_dim}" if schema else "", flops=0,
               params=sum(schema.table_sizes) * schema.embedding_dim if schema else 0, live=True)
    dense_out = {0: "D0"}
    sparse_out = {0: "S0"}
    for i, b in enumerate(arch.blocks):
        j = i + 1
        bp = plan.blocks[i] if plan else None
        for k, op in enumerate(b.dense_ops):
            node = f"B{j}:{op}"
            f, p = cost_of(op, i)
            live = bp.dense_live if bp else True
            g.add_node(node, label=op, kind=OPERATOR_KINDS.get(op, "dense"), block=j, lane=0 + 0.35 * k,
                       width=f"w={b.dense_width}", flops=f if live else 0, params=p if live else 0, live=live)
            if op in ("sum", "sigmoid-gating"):
                g.add_edge(dense_out[b.left], node, kind="dense", role="left")
                g.add_edge(dense_out[b.right], node, kind="dense", role="right")
            else:
                for src in b.dense_in:
                    g.add_edge(dense_out[src], node, kind="dense")
                if op == "dot-product":
                    for src in b.sparse_in:
                        g.add_edge(sparse_out[src], node, kind="sparse")
        for k, op in enumerate(b.sparse_ops):
            node = f"B{j}:{op}"
            f, p = cost_of(op, i)
            live = bp.sparse_live if bp else True
            g.add_node(node, label=op, kind="sparse", block=j, lane=2 + 0.35 * k, width=f"m={b.sparse_width}",
                       flops=f if live else 0, params=p if live else 0, live=live)
            for src in b.sparse_in:
                g.add_edge(sparse_out[src], node, kind="sparse")
        d_nodes = [f"B{j}:{op}" for op in b.dense_ops]
        s_nodes = [f"B{j}:{op}" for op in b.sparse_ops]
        d_final, s_final = d_nodes[0], s_nodes[0]
        if b.deep_fm:
            node = f"B{j}:fm"
            f, p = cost_of("deep_fm", i)
            live = bp.fm_live if bp else True
            g.add_node(node, label="FM", kind="interaction", block=j, lane=1.3, width=f"-> w={b.dense_width}",
                       flops=f if live else 0, params=p if live else 0, live=live)
            for s in s_nodes:
                g.add_edge(s, node, kind="internal")
            d_final = node
        if b.dense_sparse_interact:
            node = f"B{j}:dsi"
            f, p = cost_of("dense_sparse_interact", i)
            live = bp.interact_live if bp else True
            g.add_node(node, label="dense->sparse", kind="interaction", block=j, lane=0.7,
                       width="8 fields", flops=f if live else 0, params=p if live else 0, live=live)
            for d in d_nodes:
                g.add_edge(d, node, kind="internal")
            s_final = node
        dense_out[j] = d_final
        sparse_out[j] = s_final
    n = len(arch.blocks)
    f, p = cost_of("head", -1)
    g.add_node("head", label="head", kind="head", block=n + 1, lane=1, width="1 logit", flops=f, params=p, live=True)
    g.add_edge(dense_out[n], "head", kind="dense")
    g.add_edge(sparse_out[n], "head", kind="sparse")
    return g


@dataclass(frozen=True)
class GraphInfo:
    """Plain data for drawing: node positions, labels, colors, hover text; edges as segments."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    title: str


def graph_layout(g: nx.DiGraph, *, highlight: set[str] | None = None) -> GraphInfo:
    """Layered left-to-right layout: x = block, y = lane (dense above, interactions between, sparse below)."""
    highlight = highlight or set()
    nodes = []
    for n, d in g.nodes(data=True):
        x, y = float(d["block"]), -float(d["lane"])
        hover = (f"<b>{d['label']}</b> (block {d['block']})<br>{d['width']}<br>"
                 f"{d['flops'] / 1e3:,.1f} kFLOPs, {d['params']:,} params" + ("" if d["live"] else "<br>dead: not computed"))
        nodes.append({"id": n, "x": x, "y": y, "label": d["label"], "kind": d["kind"], "color": KIND_COLORS[d["kind"]],
                      "hover": hover, "live": d["live"], "highlight": n in highlight})
    pos = {nd["id"]: (nd["x"], nd["y"]) for nd in nodes}
    edges = []
    for u, v, d in g.edges(data=True):
        (x0, y0), (x1, y1) = pos[u], pos[v]
        if abs(x1 - x0) > 1 and abs(y1 - y0) < 0.5:
            # a long edge along a lane bends away from it instead of running behind other nodes
            bend = 0.12 * (x1 - x0) * (1 if y0 > -1 else -1)
            xs, ys = (x0, (x0 + x1) / 2, x1), (y0, y0 + bend, y1)
        else:
            xs, ys = (x0, x1), (y0, y1)
        edges.append({"source": u, "target": v, "kind": d["kind"], "x": xs, "y": ys})
    return GraphInfo(nodes, edges, f"architecture {g.graph.get('name', '')}")


def plot_architecture(arch_or_graph, schema: FeatureSchema | None = None, space: SearchSpace | str = "full", *,
                      highlight: set[str] | None = None, title: str | None = None):
    """A plotly figure of the architecture graph (returned, never shown)."""
    import plotly.graph_objects as go

    g = arch_or_graph if isinstance(arch_or_graph, nx.DiGraph) else architecture_graph(arch_or_graph, schema, space)
    info = graph_layout(g, highlight=highlight)
    fig = go.Figure()
    for kind, color in EDGE_COLORS.items():
        xs, ys = [], []
        for e in info.edges:
            if e["kind"] == kind:
                xs += [*e["x"], None]
                ys += [*e["y"], None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{kind} edge", hoverinfo="skip",
                                     line=dict(color=color, width=1.2, dash="dot" if kind == "internal" else "solid"),
                                     opacity=0.55))
    for kind, color in KIND_COLORS.items():
        ns = [n for n in info.nodes if n["kind"] == kind]
        if not ns:
            continue
        fig.add_trace(go.Scatter(
            x=[n["x"] for n in ns], y=[n["y"] for n in ns], mode="markers+text", name=kind,
            text=[n["label"] for n in ns], textposition="top center", textfont=dict(size=10),
            hovertext=[n["hover"] for n in ns], hoverinfo="text",
            marker=dict(size=[22 if n["highlight"] else 16 for n in ns], color=color,
                        opacity=[1.0 if n["live"] else 0.35 for n in ns],
                        line=dict(width=[3 if n["highlight"] else 1 for n in ns],
                                  color=["#000000" if n["highlight"] else "#ffffff" for n in ns])),
            customdata=[n["id"] for n in ns]))
    n_blocks = max(n["x"] for n in info.nodes)
    fig.update_layout(title=title or info.title, showlegend=True, plot_bgcolor="white", height=420,
                      width=max(700, int(130 * (n_blocks + 1))), margin=dict(l=20, r=20, t=50, b=20),
                      xaxis=dict(tickmode="array", tickvals=list(range(int(n_blocks) + 1)),
                                 ticktext=["inputs"] + [f"block {i}" for i in range(1, int(n_blocks))] + ["head"],
                                 showgrid=False, zeroline=False),
                      yaxis=dict(showticklabels=False, showgrid=False, zeroline=False, range=[-3.6, 1.2]))
    return fig


def architecture_diff(a: Architecture, b: Architecture) -> list[dict[str, Any]]:
    """What changed between two architectures: one entry per (block, field)."""
    out = []
    for i, (x, y) in enumerate(zip(a.blocks, b.blocks)):
        for f in x.__dataclass_fields__:
            if getattr(x, f) != getattr(y, f):
                out.append({"block": i + 1, "field": f, "before": getattr(x, f), "after": getattr(y, f)})
    return out


def plot_architecture_diff(a: Architecture, b: Architecture, schema: FeatureSchema | None = None,
                           space: SearchSpace | str = "full"):
    """Two architectures side by side; the operators of changed blocks are highlighted."""
    from plotly.subplots import make_subplots

    changed = {d["block"] for d in architecture_diff(a, b)}
    fig = make_subplots(rows=2, cols=1, subplot_titles=(f"before {a.hash()}", f"after {b.hash()}"),
                        vertical_spacing=0.08)
    for row, arch in ((1, a), (2, b)):
        g = architecture_graph(arch, schema, space)
        hl = {n for n, d in g.nodes(data=True) if d["block"] in changed}
        sub = plot_architecture(g, highlight=hl)
        for tr in sub.data:
            tr.showlegend = row == 1
            fig.add_trace(tr, row=row, col=1)
    fig.update_layout(height=820, width=max(fig.layout.width or 0, 1100), plot_bgcolor="white",
                      title=f"{len(changed)} block(s) changed: {sorted(changed)}")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False)
    return fig


def to_dot(g: nx.DiGraph) -> str:
    """Graphviz DOT text (left to right, colored by kind, dashed internal edges)."""
    lines = [f'digraph "{g.graph.get("name", "arch")}" {{', "  rankdir=LR;", "  node [style=filled, fontname=Helvetica];"]
    for n, d in g.nodes(data=True):
        label = f"{d['label']}\\n{d['width']}".replace('"', "'")
        lines.append(f'  "{n}" [label="{label}", fillcolor="{KIND_COLORS[d["kind"]]}", fontcolor=white];')
    for u, v, d in g.edges(data=True):
        style = "dashed" if d["kind"] == "internal" else "solid"
        lines.append(f'  "{u}" -> "{v}" [color="{EDGE_COLORS[d["kind"]]}", style={style}];')
    lines.append("}")
    return "\n".join(lines)


def export_figure(fig, path, *, width: int | None = None, height: int | None = None) -> None:
    """SVG / PNG / PDF through kaleido (it finds Chromium itself; BROWSER_PATH overrides)."""
    fig.write_image(str(path), width=width, height=height)
