"""Architecture graphs: architecture -> networkx DiGraph -> layered layout -> plotly figure / DOT.

Compute and drawing apart (the Optuna pattern): :func:`architecture_graph` and
:func:`graph_layout` return plain data (tested); :func:`plot_architecture` only draws it.

The layout is a Sugiyama-style layered drawing, as Graphviz's ``dot`` does: one column per
block (its operators, each interaction module beside the operator it extends), long edges split
into chains of virtual nodes, nodes ordered inside each column by weighted-median sweeps,
adjacent swaps and sifting to reduce edge crossings, then placed vertically by isotonic
regression so long edges run straight. Coordinates are pixels at scale 1, which is what keeps
every label inside its box and every box inside the figure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from ..data import FeatureSchema
from ..space import Architecture, SearchSpace, get_space, operator_info
from ..space._operators import OPERATOR_INFO, OPERATOR_LABELS  # noqa: F401 (labels: re-exported)

# One color per node kind (the interaction modules are one kind).
KIND_COLORS = {
    "input": "#7f7f7f",
    "dense": "#1f77b4",
    "dense-sparse": "#9467bd",
    "sparse": "#2ca02c",
    "interaction": "#ff7f0e",
    "head": "#d62728",
}
EDGE_COLORS = {"dense": "#1f77b4", "sparse": "#2ca02c", "internal": "#8c8c8c"}
KIND_NAMES = {"input": "input", "dense": "dense op", "dense-sparse": "dense-sparse op", "sparse": "sparse op",
              "interaction": "interaction", "head": "head"}
FONT_FAMILY = "Helvetica, Arial, 'Liberation Sans', sans-serif"

# Geometry at scale 1, in pixels.
_NAME_SIZE = 11  # font size of the operator name (bold)
_SUB_SIZE = 10  # font size of the width line
_PAD_X, _BOX_H1, _BOX_H2 = 7, 22, 36  # box padding, box height with one / two text lines
_GAP_BLOCK = 50  # horizontal gap between two columns
_SEP_NODE, _SEP_MIXED, _SEP_EDGE = 18, 9, 6  # vertical gaps: box-box, box-edge, edge-edge
_HEADER, _MARGIN = 30, 10
_ARROW = 6  # arrowhead length
_SAMPLES = 10  # points per edge curve between two columns

# Helvetica / Arial advance widths (1/1000 em); unknown characters count as wide ones.
_CHAR_W = {**dict.fromkeys("ijl'", 222), **dict.fromkeys(" !,./:;I[]ft", 278), **dict.fromkeys("()-`r", 333),
           **dict.fromkeys("Jcksvxyz", 500), **dict.fromkeys("0123456789#$?L_abdeghnopqu", 556),
           **dict.fromkeys("+<=>×", 584), **dict.fromkeys("FTZ", 611), **dict.fromkeys("ABEKPSVXY", 667),
           **dict.fromkeys("CDHNRUw", 722), **dict.fromkeys("GOQ", 778), **dict.fromkeys("Mm", 833), "W": 944}
_FALLBACK_FACTOR = 1.12  # DejaVu Sans, the usual fallback where Arial is missing, is this much wider


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimated width in pixels of ``text`` at font ``size`` (Helvetica metrics, with room for fallbacks)."""
    em = sum(_CHAR_W.get(c, 700) for c in text) / 1000
    return em * size * (1.08 if bold else 1.0) * _FALLBACK_FACTOR


def architecture_graph(arch: Architecture, schema: FeatureSchema | None = None, space: SearchSpace | str = "full",
                       *, layernorm: bool = False) -> nx.DiGraph:
    """Nodes: the dense and sparse inputs, each block's operators and interaction modules, the head.

    Names, kinds, what each operator reads and the size lines come from the operator registry
    (``nasrec_lab.space.operator_info``).

    Node attributes: ``label`` (the operator's name), ``op`` (its registry key), ``kind``, ``block``
    (0 inputs, 1..N blocks, N+1 head), ``lane`` (0 dense, 1 interaction, 2 sparse: a first order),
    ``width`` text (``w=512`` dense, ``48×16`` sparse m x e), ``live`` (False where the output never
    reaches the head, so it is not computed), ``flops`` and ``params`` (when a schema is given; 0 for
    dead nodes). Edge attributes: ``kind`` (``dense`` or ``sparse`` connection between blocks, or
    ``internal`` inside a block) and ``role`` (``left`` / ``right`` for binary operators, ``reads``
    for an interaction module). A block's dense output leaves from its FM module when it has one
    (FM is added to the dense operator's output), its sparse output from its DSI module (which
    appends fields to the sparse operator's output).
    """
    from ..supernet import OPERATORS, Geometry, make_plan
    from ..supernet._ops import axis_size

    space = get_space(space)
    plan = make_plan(arch, Geometry.of(schema, space), layernorm) if schema is not None else None
    live = arch.liveness()
    e = schema.embedding_dim if schema is not None else space.embedding_dim
    k_fields = space.interaction_fields

    def cost_of(op: str, i: int) -> tuple[int, int]:
        if plan is None:
            return 0, 0
        ctx = plan.head if i < 0 else plan.blocks[i].ctx
        params = sum(math.prod(axis_size(a) for a in spec.axes) for spec in OPERATORS[op].params(ctx).values())
        return OPERATORS[op].macs(ctx), params

    def add(node: str, op: str, i: int, is_live: bool, **attrs: Any) -> None:
        f, p = cost_of(op, i) if op else (0, 0)
        g.add_node(node, op=op, flops=f if is_live else 0, params=p if is_live else 0, live=is_live, **attrs)

    g = nx.DiGraph(name=arch.hash(), space=space.name, interaction_fields=k_fields)
    add("D0", "", 0, True, label="Dense input", kind="input", block=0, lane=0,
        width=f"w={schema.n_dense}" if schema else "")
    add("S0", "", 0, True, label="Sparse input", kind="input", block=0, lane=2,
        width=f"{schema.n_sparse}×{e}" if schema else "")
    g.nodes["S0"]["params"] = sum(schema.table_sizes) * schema.embedding_dim if schema else 0
    dense_out: dict[int, list[str]] = {0: ["D0"]}
    sparse_out: dict[int, list[str]] = {0: ["S0"]}
    for i, b in enumerate(arch.blocks):
        j = i + 1
        dense_live, sparse_live, sparse_needed = live[i]
        d_nodes, s_nodes = [], []
        sizes = dict(w=b.dense_width, m=b.sparse_width, e=e, k=k_fields)
        for k, op in enumerate(b.dense_ops):
            node = f"B{j}:{op}"
            info = operator_info(op)
            add(node, op, i, dense_live, label=info.label, kind=info.kind, block=j, lane=0.1 * k,
                width=info.output_text(**sizes))
            if info.reads_left_right:
                for src in dense_out[b.left]:  # every operator of that block: the supernet sums them
                    g.add_edge(src, node, kind="dense", role="left")
                for src in dense_out[b.right]:
                    if not g.has_edge(src, node):
                        g.add_edge(src, node, kind="dense", role="right")
            if info.reads_dense_set:
                for src in b.dense_in:
                    for u in dense_out[src]:
                        g.add_edge(u, node, kind="dense")
            if info.reads_sparse:
                for src in b.sparse_in:
                    for u in sparse_out[src]:
                        g.add_edge(u, node, kind="sparse")
            d_nodes.append(node)
        for k, op in enumerate(b.sparse_ops):
            node = f"B{j}:{op}"
            info = operator_info(op)
            add(node, op, i, sparse_live, label=info.label, kind=info.kind, block=j, lane=2 + 0.1 * k,
                width=info.output_text(**sizes))
            for src in b.sparse_in:
                for u in sparse_out[src]:
                    g.add_edge(u, node, kind="sparse")
            s_nodes.append(node)
        dense_out[j], sparse_out[j] = d_nodes, s_nodes
        if b.deep_fm:
            # FM reads the block's sparse output and is added to its dense output, which leaves from here
            # (the dense op's part of that sum is the label's "+", not an edge: one edge more per module
            # would cross the DSI's read in every block that has both)
            node = f"B{j}:fm"
            info = operator_info("deep_fm")
            add(node, "deep_fm", i, b.deep_fm and dense_live, label=info.label, kind=info.kind, block=j, lane=0.5,
                width=info.output_text(**sizes))
            for s in s_nodes:
                g.add_edge(s, node, kind="internal", role="reads")
            dense_out[j] = [node]
        if b.dense_sparse_interact:
            # the block's dense output as k more fields, appended to its sparse output
            node = f"B{j}:dsi"
            info = operator_info("dense_sparse_interact")
            add(node, "dense_sparse_interact", i, sparse_needed, label=info.label, kind=info.kind, block=j,
                lane=1.5, width=info.output_text(**sizes))
            for d in d_nodes:
                g.add_edge(d, node, kind="internal", role="reads")
            sparse_out[j] = [node]
    n = len(arch.blocks)
    info = operator_info("head")
    add("head", "head", -1, True, label=info.label, kind=info.kind, block=n + 1, lane=1,
        width=info.output_text(w=0))
    for u in dense_out[n]:
        g.add_edge(u, "head", kind="dense")
    for u in sparse_out[n]:
        g.add_edge(u, "head", kind="sparse")
    return g


# -- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphInfo:
    """Plain data for drawing, in pixels at scale 1 (y grows downwards).

    ``nodes``: id, label, width (text), kind, color, x/y (box centre), w/h (box size), hover, live,
    highlight. ``edges``: source, target, kind, role, live, x/y (the curve's points, ending at the
    arrowhead's tip). ``columns``: label, x0, x1, changed, one per block (inputs and head too).
    ``size``: (width, height) of the drawing. ``legend``: rows of items; ``caption``: text lines.
    """

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    title: str
    columns: list[dict[str, Any]] = field(default_factory=list)
    size: tuple[float, float] = (0.0, 0.0)
    legend: list[list[dict[str, Any]]] = field(default_factory=list)
    caption: list[str] = field(default_factory=list)


def _layers(g: nx.DiGraph) -> dict[Any, int]:
    """Column of each node: its block (interaction modules sit beside their operator, in its column)."""
    used = {b: i for i, b in enumerate(sorted({d["block"] for _, d in g.nodes(data=True)}))}
    return {n: used[d["block"]] for n, d in g.nodes(data=True)}


def _anchors(g: nx.DiGraph) -> dict[str, str]:
    """The operator each interaction module is drawn beside: FM beside the dense operator whose output
    it is added to, DSI beside the sparse operator whose output it extends."""
    out = {}
    for n, d in g.nodes(data=True):
        if d["kind"] != "interaction":
            continue
        sparse_side = d["op"] == "dense_sparse_interact"
        ops = sorted(m for m, e in g.nodes(data=True) if e["block"] == d["block"] and e["kind"] != "interaction"
                     and (e["kind"] == "sparse") == sparse_side)
        out[n] = ops[0]
    return out


def _split_long_edges(g: nx.DiGraph, layer: dict[Any, int], anchor: dict[str, str] | None = None
                      ) -> tuple[dict[tuple, list[Any]], dict[Any, int], list[tuple[Any, Any]]]:
    """Each edge between columns as a chain of nodes, one per column it passes (virtual nodes are tuples);
    edges inside a column (an operator to the module beside its partner) as flat pairs."""
    anchor = anchor or {}
    chains, flats = {}, []
    layer = {n: lv for n, lv in layer.items() if n not in anchor}
    for u, v in g.edges:
        a, b = anchor.get(u, u), anchor.get(v, v)
        if layer[a] == layer[b]:
            flats.append((a, b))
            continue
        chain = [a]
        for lv in range(layer[a] + 1, layer[b]):
            dummy = ("~", u, v, lv)
            layer[dummy] = lv
            chain.append(dummy)
        chain.append(b)
        chains[(u, v)] = chain
    return chains, layer, flats


def _crossings_between(upper: dict[Any, int], lower: dict[Any, int], pairs: list[tuple[Any, Any]]) -> int:
    ends = sorted((upper[a], lower[b]) for a, b in pairs)
    n = 0
    for i, (a0, b0) in enumerate(ends):
        for a1, b1 in ends[i + 1:]:
            n += a1 > a0 and b1 < b0
    return n


def _median(ps: list[int]) -> float:
    """dot's weighted median of neighbour positions (-1: no neighbours, the node keeps its place)."""
    ps = sorted(ps)
    m = len(ps)
    if m == 0:
        return -1.0
    if m % 2:
        return float(ps[m // 2])
    if m == 2:
        return (ps[0] + ps[1]) / 2
    left, right = ps[m // 2 - 1] - ps[0], ps[-1] - ps[m // 2]
    if left + right == 0:
        return (ps[m // 2 - 1] + ps[m // 2]) / 2
    return (ps[m // 2 - 1] * right + ps[m // 2] * left) / (left + right)


def _order_columns(g: nx.DiGraph, chains: dict[tuple, list[Any]], layer: dict[Any, int],
                   flats: Sequence[tuple[Any, Any]] = (), *, iterations: int = 24,
                   restarts: int = 6) -> list[list[Any]]:
    """Order the nodes of each column to reduce crossings, the way Graphviz's dot does.

    From a breadth-first order (its mirror, the lane order with dense on top, and ``restarts``
    breadth-first orders with ties broken by a seeded shuffle, so a layout is reproducible),
    alternate down and up passes that sort each column by the weighted median of its neighbours,
    each followed by adjacent swaps while they help (or, every other pair of passes, do not hurt).
    Each start's best order is then sifted (each node moved to the place where its edges to both
    neighbouring columns cross least); the best of all is kept.
    An edge inside a column (``flats``) crosses whatever lies between its ends: one per edge
    passing, two per box (a connector drawn over a box is worse than a crossing).
    """
    import random

    n_layers = max(layer.values()) + 1
    pairs: list[list[tuple[Any, Any]]] = [[] for _ in range(n_layers - 1)]  # edges from column l to l+1
    preds, succs = defaultdict(list), defaultdict(list)
    for chain in chains.values():
        for a, b in zip(chain, chain[1:]):
            pairs[layer[a]].append((a, b))
            preds[b].append(a)
            succs[a].append(b)

    partners: dict[Any, list[Any]] = defaultdict(list)
    flats_in: dict[int, list[tuple[Any, Any]]] = defaultdict(list)
    for a, b in flats:
        partners[a].append(b)
        partners[b].append(a)
        flats_in[layer[a]].append((a, b))
    # a path with more connections than a subnet (any-path or full-path sampling) gets a quicker
    # layout: the published subnets have 60-100 column items, an any-path sample more
    big = len(layer) > 250
    if len(layer) > 105:
        restarts, iterations = 0, min(iterations, 8 if big else 12)

    def weight(x: Any) -> int:  # what lying between the ends of a flat edge costs
        return 1 if isinstance(x, tuple) else 2

    def flat_cost(col: list[Any]) -> int:
        if not partners:
            return 0
        idx = {x: i for i, x in enumerate(col)}
        n = 0
        for a, b in flats:
            if a in idx and b in idx:
                lo, hi = sorted((idx[a], idx[b]))
                n += sum(weight(x) for x in col[lo + 1:hi])
        return n

    def lane(x: Any) -> float:
        return g.nodes[x]["lane"] if not isinstance(x, tuple) else g.nodes[x[1]]["lane"]

    def key(x: Any) -> tuple[float, str]:
        return lane(x), str(x)

    def bfs(roots: list[Any], nbrs: dict[Any, list[Any]]) -> list[list[Any]]:
        cs: list[list[Any]] = [[] for _ in range(n_layers)]
        seen = set(roots)
        queue = list(roots)
        while queue:
            x = queue.pop(0)
            cs[layer[x]].append(x)
            for y in sorted(nbrs[x], key=key):
                if y not in seen:
                    seen.add(y)
                    queue.append(y)
        for x in sorted(set(layer) - seen, key=key):
            cs[layer[x]].append(x)
        return cs

    def total(cs: list[list[Any]]) -> int:
        pos = [{x: i for i, x in enumerate(c)} for c in cs]
        return (sum(_crossings_between(pos[lv], pos[lv + 1], pairs[lv]) for lv in range(n_layers - 1))
                + sum(flat_cost(c) for c in cs))

    def transpose(cs: list[list[Any]], plateau: bool) -> None:
        pos = [{x: i for i, x in enumerate(c)} for c in cs]

        def cost(lv: int, v: Any, w: Any) -> int:  # crossings of v's and w's edges with v above w
            n = 0
            if partners:  # w between v and a partner below, or v between w and a partner above
                here, i = pos[lv], min(pos[lv][v], pos[lv][w])
                n += weight(w) * sum(here[p] > i + 1 for p in partners[v] if p != w)
                n += weight(v) * sum(here[q] < i for q in partners[w] if q != v)
            if lv:
                up = pos[lv - 1]
                n += sum(up[a] > up[b] for a in preds[v] for b in preds[w])
            if lv + 1 < n_layers:
                down = pos[lv + 1]
                n += sum(down[a] > down[b] for a in succs[v] for b in succs[w])
            return n

        for _ in range(6):
            changed = False
            for lv in range(n_layers):
                col = cs[lv]
                for i in range(len(col) - 1):
                    v, w = col[i], col[i + 1]
                    c0, c1 = cost(lv, v, w), cost(lv, w, v)
                    if c1 < c0 or (plateau and c0 > 0 and c1 == c0):
                        col[i], col[i + 1] = w, v
                        pos[lv][v], pos[lv][w] = i + 1, i
                        changed = changed or c1 < c0
            if not changed:
                return

    def reorder(cs: list[list[Any]], lv: int, fixed: list[Any], nbrs: dict[Any, list[Any]]) -> None:
        pos = {x: i for i, x in enumerate(fixed)}
        col = cs[lv]
        med = {x: _median([pos[y] for y in nbrs[x]]) for x in col}
        movable = [x for x in col if med[x] >= 0]
        movable.sort(key=lambda x: med[x])  # stable: ties keep their order
        it = iter(movable)
        cs[lv] = [next(it) if med[x] >= 0 else x for x in col]

    def flat_extra(me: Any, items: list[Any], fl: list[tuple[Any, Any]]) -> list[int]:
        """What the flat edges cost with ``me`` inserted at each place of ``items``, beyond their cost without it."""
        prefix = [0]
        for x in items:
            prefix.append(prefix[-1] + weight(x))
        idx = {x: k for k, x in enumerate(items)}
        extra = [0] * (len(items) + 1)
        for a, b in fl:
            if me in (a, b):
                k = idx.get(b if a == me else a)
                if k is None:
                    continue
                for p in range(len(items) + 1):  # inserted before items[p]: what lies between it and its partner
                    extra[p] += prefix[k] - prefix[p] if p <= k else prefix[p] - prefix[k + 1]
            elif a in idx and b in idx:
                lo, hi = sorted((idx[a], idx[b]))
                for p in range(lo + 1, hi + 1):  # inserted between the two ends
                    extra[p] += weight(me)
        return extra

    def sift(cs: list[list[Any]], lv: int) -> None:
        col = cs[lv]
        layer_flats = flats_in[lv]
        up = {x: i for i, x in enumerate(cs[lv - 1])} if lv else {}
        down = {x: i for i, x in enumerate(cs[lv + 1])} if lv + 1 < n_layers else {}
        ends = [([up[a] for a in preds[x]], [down[b] for b in succs[x]]) for x in col]
        n = len(col)
        # c[i][j]: crossings between the edges of col[i] and col[j] when col[i] is above col[j]
        c = [[sum(a > b for s in (0, 1) for a in ends[i][s] for b in ends[j][s]) if i != j else 0
              for j in range(n)] for i in range(n)]
        order = list(range(n))
        for v in list(order):
            rest = [y for y in order if y != v]
            cost = sum(c[v][y] for y in rest)
            costs = [cost]
            for y in rest:
                cost += c[y][v] - c[v][y]
                costs.append(cost)
            if layer_flats:
                costs = [k + e for k, e in zip(costs, flat_extra(col[v], [col[i] for i in rest], layer_flats))]
            here = order.index(v)
            p = min(range(len(costs)), key=lambda k: (costs[k], k != here))
            order = rest[:p] + [v] + rest[p:]
        cs[lv] = [col[i] for i in order]

    def polish(cs: list[list[Any]]) -> int:
        n = total(cs)
        if big:
            return n
        while True:
            for lv in [*range(n_layers), *range(n_layers - 2, -1, -1)]:
                sift(cs, lv)
            m = total(cs)
            if m >= n:
                return m
            n = m

    sources = [x for x in layer if not preds[x]]
    sinks = [x for x in layer if not succs[x]]
    lanes: list[list[Any]] = [[] for _ in range(n_layers)]
    for x in sorted(layer, key=key):
        lanes[layer[x]].append(x)
    best, best_n = lanes, total(lanes)
    rng = random.Random(0)
    starts = [bfs(sorted(sources, key=key), succs), bfs(sorted(sinks, key=key), preds), lanes]
    for _ in range(restarts):
        shuffled = {x: rng.sample(v, len(v)) for x, v in succs.items()}
        starts.append(bfs(rng.sample(sources, len(sources)), shuffled))
    for start in starts:
        cols = [list(c) for c in start]
        mine, mine_n, stale = [list(c) for c in cols], total(cols), 0
        for it in range(iterations):
            down = it % 2 == 0
            for lv in (range(1, n_layers) if down else range(n_layers - 2, -1, -1)):
                reorder(cols, lv, cols[lv - 1] if down else cols[lv + 1], preds if down else succs)
            transpose(cols, plateau=it % 4 < 2)
            n = total(cols)
            if n < mine_n:
                mine, mine_n, stale = [list(c) for c in cols], n, 0
            else:
                stale += 1
                if stale >= 8:
                    break
        mine_n = polish(mine)
        if mine_n < best_n:
            best, best_n = mine, mine_n
    cols = best
    if "S0" in cols[0] and "D0" in cols[0] and cols[0].index("S0") < cols[0].index("D0"):
        # the same crossings upside down: keep the dense input on top, as the paper draws it
        cols = [list(reversed(c)) for c in cols]
    return cols


def _isotonic(targets: list[float], weights: list[float]) -> list[float]:
    """Non-decreasing fit minimizing the weighted squared error (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for t, w in zip(targets, weights):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m1, w1, c1 = blocks.pop()
            m0, w0, c0 = blocks.pop()
            blocks.append([(m0 * w0 + m1 * w1) / (w0 + w1), w0 + w1, c0 + c1])
    out = []
    for m, _, c in blocks:
        out += [m] * int(c)
    return out


def _place_vertically(cols: list[list[Any]], heights: dict[Any, float], preds: dict[Any, list[Any]],
                      succs: dict[Any, list[Any]], rounds: int = 16) -> dict[Any, float]:
    """Centres y: column order kept, minimum gaps kept, each node as close to its neighbours as possible."""

    def sep(a: Any, b: Any) -> float:
        real = (not isinstance(a, tuple)) + (not isinstance(b, tuple))
        return heights[a] / 2 + heights[b] / 2 + (_SEP_EDGE, _SEP_MIXED, _SEP_NODE)[real]

    offsets = []
    for col in cols:
        c, off = 0.0, [0.0]
        for a, b in zip(col, col[1:]):
            c += sep(a, b)
            off.append(c)
        offsets.append(off)
    y = {x: off for col, offs in zip(cols, offsets) for x, off in zip(col, offs)}
    for col, offs in zip(cols, offsets):  # start centred on each other
        shift = -offs[-1] / 2 if offs else 0.0
        for x in col:
            y[x] += shift
    for r in range(rounds):
        order = range(len(cols)) if r % 2 == 0 else range(len(cols) - 1, -1, -1)
        for lv in order:
            col, offs = cols[lv], offsets[lv]
            targets, weights = [], []
            for x, off in zip(col, offs):
                nb = (preds[x] + succs[x]) if r >= rounds - 4 else (preds[x] if r % 2 == 0 else succs[x])
                nb = nb or preds[x] + succs[x]
                t = sum(y[v] for v in nb) / len(nb) if nb else y[x]
                targets.append(t - off)
                # virtual nodes want to be straight more than boxes do
                weights.append(len(nb) * (2.0 if isinstance(x, tuple) else 1.0) + 1e-3)
            for x, z, off in zip(col, _isotonic(targets, weights), offs):
                y[x] = z + off
    return y


def _curve(x0: float, y0: float, x1: float, y1: float) -> tuple[list[float], list[float]]:
    """A cubic Bezier with horizontal ends, sampled: x-monotone, so two curves cross at most once."""
    xs, ys = [], []
    for s in range(1, _SAMPLES + 1):
        t = s / _SAMPLES
        a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
        xs.append(a * x0 + b * (x0 + x1) / 2 + c * (x0 + x1) / 2 + d * x1)
        ys.append((a + b) * y0 + (c + d) * y1)
    return xs, ys


def _node_text(d: dict[str, Any]) -> tuple[float, float]:
    w = max(text_width(d["label"], _NAME_SIZE, bold=True), text_width(d.get("width", ""), _SUB_SIZE))
    return w + 2 * _PAD_X, _BOX_H2 if d.get("width") else _BOX_H1


def graph_layout(g: nx.DiGraph, *, highlight: set[str] | None = None, changed_blocks: set[int] | None = None,
                 title: str | None = None) -> GraphInfo:
    """The layered drawing of ``g`` as plain data (see :class:`GraphInfo`); nothing is drawn."""
    highlight = highlight or set()
    changed_blocks = changed_blocks or set()
    anchor = _anchors(g)
    beside: dict[str, list[str]] = defaultdict(list)  # operator -> the modules drawn at its right
    for m, op in sorted(anchor.items()):
        beside[op].append(m)
    chains, layer, flats = _split_long_edges(g, _layers(g), anchor)
    cols = _order_columns(g, chains, layer, flats)
    preds, succs = defaultdict(list), defaultdict(list)
    for chain in chains.values():
        for a, b in zip(chain, chain[1:]):
            preds[b].append(a)
            succs[a].append(b)
    box = {n: _node_text(d) for n, d in g.nodes(data=True)}
    for op, ms in beside.items():  # an operator and its modules: one height
        h = max(box[x][1] for x in [op, *ms])
        for x in [op, *ms]:
            box[x] = (box[x][0], h)
    # a column item: an operator with its modules beside it, or a virtual node
    item_w = {x: box[x][0] + sum(box[m][0] for m in beside[x]) for col in cols for x in col if not isinstance(x, tuple)}
    heights = {x: (box[x][1] if not isinstance(x, tuple) else 0.0) for col in cols for x in col}
    near_p, near_s = defaultdict(list), defaultdict(list)
    for a, b in flats:  # the two ends of an edge inside a column attract each other too
        near_p[b].append(a)
        near_s[a].append(b)
    y = _place_vertically(cols, heights, {x: preds[x] + near_p[x] for x in heights},
                          {x: succs[x] + near_s[x] for x in heights})

    col_block = [g.nodes[next(x for x in col if not isinstance(x, tuple))]["block"] for col in cols]
    col_w = [max([item_w[x] for x in col if not isinstance(x, tuple)] + [0.0]) for col in cols]
    x0s, x = [], float(_MARGIN)
    for lv in range(len(cols)):
        if lv:
            x += _GAP_BLOCK
        x0s.append(x)
        x += col_w[lv]
    width = x + _MARGIN
    top = min(y[x] - heights[x] / 2 for x in y)
    for k in y:
        y[k] += _MARGIN + _HEADER - top
    height = max(y[x] + heights[x] / 2 for x in y) + _MARGIN

    nodes = []
    pos: dict[Any, tuple[float, float, float, float]] = {}  # item -> x0, x1, y, h (modules included)
    centre: dict[str, tuple[float, float]] = {}
    for lv, col in enumerate(cols):
        cx = x0s[lv] + col_w[lv] / 2
        for n in col:
            if isinstance(n, tuple):
                pos[n] = (x0s[lv], x0s[lv] + col_w[lv], y[n], 0.0)
                continue
            x0 = cx - item_w[n] / 2
            pos[n] = (x0, x0 + item_w[n], y[n], box[n][1])
            for m in [n, *beside[n]]:
                w, h = box[m]
                centre[m] = (x0 + w / 2, y[n])
                x0 += w
    for n, d in g.nodes(data=True):
        (cx, cy), (w, h) = centre[n], box[n]
        where = f"block {d['block']}" if d["kind"] not in ("input", "head") else d["kind"]
        formula = OPERATOR_INFO[d["op"]].flops if d.get("op") in OPERATOR_INFO else ""
        hover = (f"<b>{d['label']}</b> ({where})<br>{d.get('width', '')}<br>"
                 f"{d['flops'] / 1e3:,.1f} kFLOPs, {d['params']:,} params"
                 + (f"<br>multiply-adds: {formula}" if formula else "")
                 + ("" if d["live"] else "<br>dead: never reaches the head, not computed"))
        nodes.append({"id": n, "label": d["label"], "width": d.get("width", ""), "kind": d["kind"],
                      "color": KIND_COLORS[d["kind"]], "block": d["block"], "x": cx, "y": cy, "w": w, "h": h,
                      "hover": hover, "live": d["live"], "highlight": n in highlight or d["block"] in changed_blocks,
                      "beside": anchor.get(n)})

    # ports: edges leave and enter an item spread over its side, in the order of their other ends
    out_port, in_port = {}, {}
    for n in pos:
        if isinstance(n, tuple):
            continue
        _, _, yc, h = pos[n]
        for ports, nbrs, other in ((out_port, succs[n], 1), (in_port, preds[n], 0)):
            if not nbrs:
                continue
            ends = sorted(nbrs, key=lambda v: (pos[v][2], str(v)))
            span = min(h * 0.6, 7.0 * (len(ends) - 1))
            for i, v in enumerate(ends):
                off = -span / 2 + span * i / max(len(ends) - 1, 1) if len(ends) > 1 else 0.0
                ports[(n, v) if other else (v, n)] = yc + off
    edges = []
    col_x = [(x0s[lv], x0s[lv] + col_w[lv]) for lv in range(len(cols))]
    for u, v, d in g.edges(data=True):
        is_live = g.nodes[u]["live"] and g.nodes[v]["live"]
        if (u, v) not in chains:
            # inside a column: from the operator's top or bottom to the module beside its partner
            (xu, yu), (xv, yv) = centre[u], centre[v]
            down = yv > yu
            y0 = yu + (box[u][1] / 2 if down else -box[u][1] / 2)
            y1 = yv - (box[v][1] / 2 if down else -box[v][1] / 2)
            base = y1 - _ARROW if down else y1 + _ARROW
            xs, ys = [xu], [y0]
            for t in range(1, _SAMPLES + 1):
                k = t / _SAMPLES
                a, b_, c, e = (1 - k) ** 3, 3 * k * (1 - k) ** 2, 3 * k * k * (1 - k), k ** 3
                xs.append((a + b_) * xu + (c + e) * xv)
                ys.append(a * y0 + b_ * (y0 + base) / 2 + c * (y0 + base) / 2 + e * base)
            xs.append(xv)
            ys.append(y1)
            edges.append({"source": u, "target": v, "kind": d["kind"], "role": d.get("role", ""), "live": is_live,
                          "x": xs, "y": ys, "arrow": "down" if down else "up"})
            continue
        chain = chains[(u, v)]
        a0, bn = chain[0], chain[-1]
        y_out = out_port[(a0, chain[1])]
        # a straight stub to the column's edge, curves only in the gaps between columns, straight through
        # the columns a long edge passes, a stub to the target's box, the arrowhead at its side
        xs, ys = [pos[a0][1], col_x[layer[a0]][1]], [y_out, y_out]
        for a, b in zip(chain, chain[1:]):
            ya = ys[-1]
            yb = in_port[(a, b)] if not isinstance(b, tuple) else pos[b][2]
            cx, cy = _curve(col_x[layer[a]][1], ya, col_x[layer[b]][0] - (_ARROW if b == bn else 0.0), yb)
            xs += cx
            ys += cy
            if isinstance(b, tuple):
                xs.append(col_x[layer[b]][1])
                ys.append(yb)
        xs += [max(pos[bn][0] - _ARROW, xs[-1]), pos[bn][0]]  # the last point is the arrowhead's tip
        ys += [ys[-1], ys[-1]]
        edges.append({"source": u, "target": v, "kind": d["kind"], "role": d.get("role", ""), "live": is_live,
                      "x": xs, "y": ys, "arrow": "right"})

    columns = []
    for lv in range(len(cols)):
        b = col_block[lv]
        if columns and columns[-1]["block"] == b:
            columns[-1]["x1"] = x0s[lv] + col_w[lv]
            continue
        n_blocks = max(col_block)
        label = "inputs" if b == 0 else "head" if b == n_blocks else f"block {b}"
        columns.append({"block": b, "label": label, "x0": x0s[lv], "x1": x0s[lv] + col_w[lv],
                        "changed": b in changed_blocks})
    legend, caption = _legend(g, width)
    return GraphInfo(nodes, edges, title or f"architecture {g.graph.get('name', '')}", columns, (width, height),
                     legend, caption)


def _legend(g: nx.DiGraph, width: float) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """Legend items (kinds present, edge kinds, dead nodes) wrapped into rows, and the caption's lines."""
    kinds = {d["kind"] for _, d in g.nodes(data=True)}
    items = [{"type": "node", "kind": k, "text": KIND_NAMES[k], "color": KIND_COLORS[k]}
             for k in KIND_COLORS if k in kinds]
    items += [{"type": "edge", "kind": k, "text": t, "color": EDGE_COLORS[k]}
              for k, t in (("dense", "dense tensor"), ("sparse", "sparse tensor"), ("internal", "inside a block"))]
    if any(not d["live"] for _, d in g.nodes(data=True)):
        items.append({"type": "dead", "kind": "dead", "text": "dead: never reaches the head", "color": "#9e9e9e"})
    rows, row, x = [], [], 0.0
    for it in items:
        w = 24 + text_width(it["text"], _SUB_SIZE) + 16
        if row and x + w > width - 2 * _MARGIN:
            rows.append(row)
            row, x = [], 0.0
        row.append({**it, "dx": x})
        x += w
    if row:
        rows.append(row)
    k_fields = g.graph.get("interaction_fields", get_space("full").interaction_fields)
    drawn = {d.get("op") for _, d in g.nodes(data=True)}
    notes = [OPERATOR_INFO[op].note.format(k=k_fields) for op in OPERATOR_INFO
             if op in drawn and OPERATOR_INFO[op].note]
    notes.append("Dense width w; sparse fields m × embedding dim e.")
    if any(not d["live"] for _, d in g.nodes(data=True)):
        notes.append("Faded: dead, its output never reaches the head, so it is not computed.")
    lines, line = [], ""
    for word in " ".join(notes).split(" "):
        trial = f"{line} {word}".strip()
        if line and text_width(trial, _SUB_SIZE) > width - 2 * _MARGIN:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    return rows, lines


# -- crossings ---------------------------------------------------------------------------------


def polyline_crossings(lines: Sequence[tuple[Sequence[float], Sequence[float]]],
                       boxes: Sequence[tuple[float, float, float, float]] = ()) -> int:
    """How many times the polylines cross each other (each proper crossing of two lines once).

    ``boxes`` (x0, x1, y0, y1): crossings inside a node's box do not count (edges meet there).
    """
    import numpy as np

    segs, owner = [], []
    for k, (xs, ys) in enumerate(lines):
        for i in range(len(xs) - 1):
            segs.append((xs[i], ys[i], xs[i + 1], ys[i + 1]))
            owner.append(k)
    if not segs:
        return 0
    s = np.asarray(segs, dtype=float)
    own = np.asarray(owner)
    lo, hi = np.minimum(s[:, 0], s[:, 2]), np.maximum(s[:, 0], s[:, 2])
    order = np.argsort(lo)
    s, own, lo, hi = s[order], own[order], lo[order], hi[order]
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    total = 0
    for i in range(len(s)):
        # candidates: later segments (by left end) that start before this one ends, on another line
        j = np.arange(i + 1, np.searchsorted(lo, hi[i], side="right"))
        j = j[own[j] != own[i]]
        if not len(j):
            continue
        p, r = s[i, :2], s[i, 2:] - s[i, :2]
        q, t = s[j, :2], s[j, 2:] - s[j, :2]
        den = r[0] * t[:, 1] - r[1] * t[:, 0]
        ok = np.abs(den) > 1e-12
        qp = q - p
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (qp[:, 0] * t[:, 1] - qp[:, 1] * t[:, 0]) / den
            v = (qp[:, 0] * r[1] - qp[:, 1] * r[0]) / den
        eps = 1e-9
        hit = ok & (u > eps) & (u < 1 - eps) & (v > eps) & (v < 1 - eps)
        if not hit.any():
            continue
        px, py = p[0] + u[hit] * r[0], p[1] + u[hit] * r[1]
        if len(b):
            inside = ((px[:, None] >= b[:, 0]) & (px[:, None] <= b[:, 1]) & (py[:, None] >= b[:, 2])
                      & (py[:, None] <= b[:, 3])).any(axis=1)
            total += int((~inside).sum())
        else:
            total += int(hit.sum())
    return total


def count_crossings(info: GraphInfo) -> int:
    """Edge crossings of a layout (edges meeting at a node do not cross)."""
    boxes = [(n["x"] - n["w"] / 2, n["x"] + n["w"] / 2, n["y"] - n["h"] / 2, n["y"] + n["h"] / 2) for n in info.nodes]
    return polyline_crossings([(e["x"], e["y"]) for e in info.edges], boxes)


# -- drawing -----------------------------------------------------------------------------------


def _tint(color: str, amount: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(round(c + (255 - c) * amount) for c in (r, g, b)))


def _rounded(x0: float, x1: float, y0: float, y1: float, r: float = 5.0) -> str:
    return (f"M{x0 + r},{y0} L{x1 - r},{y0} Q{x1},{y0} {x1},{y0 + r} L{x1},{y1 - r} Q{x1},{y1} {x1 - r},{y1} "
            f"L{x0 + r},{y1} Q{x0},{y1} {x0},{y1 - r} L{x0},{y0 + r} Q{x0},{y0} {x0 + r},{y0} Z")


def _legend_height(info: GraphInfo) -> float:
    return 22.0 * len(info.legend) + 15.0 * len(info.caption) + 10.0


def _draw(fig, info: GraphInfo, dy: float, s: float, subtitle: str | None = None) -> None:
    """Add one layout to ``fig`` (shapes, traces, annotations), shifted down by ``dy``; ``s`` scales fonts."""
    import plotly.graph_objects as go

    width, height = info.size
    if subtitle:
        fig.add_annotation(x=_MARGIN, y=dy + 2, text=f"<b>{subtitle}</b>", showarrow=False, xanchor="left",
                           yanchor="top", font=dict(size=12 * s, color="#222"))
    for c in info.columns:
        fig.add_shape(type="rect", x0=c["x0"] - 8, x1=c["x1"] + 8, y0=dy + _MARGIN + (18 if subtitle else 0),
                      y1=dy + height - 2, line=dict(width=0), fillcolor="#fff3c4" if c["changed"] else "#f4f5f7",
                      layer="below")
        fig.add_annotation(x=(c["x0"] + c["x1"]) / 2, y=dy + _MARGIN + (18 if subtitle else 0) + 3,
                           text=c["label"] + (" (changed)" if c["changed"] else ""), showarrow=False,
                           yanchor="top", font=dict(size=10 * s, color="#555"))
    # edges: one trace per kind and liveness; arrowheads as triangles at the tips
    for kind, color in EDGE_COLORS.items():
        for is_live in (True, False):
            es = [e for e in info.edges if e["kind"] == kind and e["live"] == is_live]
            if not es:
                continue
            xs, ys, ax, ay, sym = [], [], [], [], []
            for e in es:
                xs += [*e["x"][:-1], None]
                ys += [*(y + dy for y in e["y"][:-1]), None]
                step = {"right": (-1, 0), "down": (0, -1), "up": (0, 1)}[e["arrow"]]
                ax.append(e["x"][-1] + step[0] * _ARROW / 2)
                ay.append(e["y"][-1] + step[1] * _ARROW / 2 + dy)
                sym.append(f"triangle-{e['arrow']}")
            op = 1.0 if is_live else 0.3
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False, opacity=0.75 * op,
                                     name=f"{kind} edge", line=dict(color=color, width=1.3 * max(s, 0.7),
                                                                    dash="dot" if kind == "internal" else "solid")))
            fig.add_trace(go.Scatter(x=ax, y=ay, mode="markers", hoverinfo="skip", showlegend=False, opacity=op,
                                     name=f"{kind} arrow", marker=dict(symbol=sym, size=8 * s,
                                                                       color=color, line=dict(width=0))))
    for n in info.nodes:
        x0, x1 = n["x"] - n["w"] / 2, n["x"] + n["w"] / 2
        y0, y1 = n["y"] - n["h"] / 2 + dy, n["y"] + n["h"] / 2 + dy
        color = n["color"] if n["live"] else "#9e9e9e"
        fig.add_shape(type="path", path=_rounded(x0, x1, y0, y1), fillcolor=_tint(color, 0.82 if n["live"] else 0.93),
                      line=dict(color="#000000" if n["highlight"] else color, width=(2.6 if n["highlight"] else 1.3) * s,
                                dash="solid" if n["live"] else "dash"), layer="below")
    for kind in KIND_COLORS:
        ns = [n for n in info.nodes if n["kind"] == kind]
        if not ns:
            continue
        text = [f"<b>{n['label']}</b>" + (f"<br>{n['width']}" if n["width"] else "") for n in ns]
        fig.add_trace(go.Scatter(
            x=[n["x"] for n in ns], y=[n["y"] + dy for n in ns], mode="markers+text", name=kind,
            text=text, textposition="middle center", showlegend=False, cliponaxis=False,
            textfont=dict(size=_NAME_SIZE * s, family=FONT_FAMILY,
                          color=["#1a1a1a" if n["live"] else "#8a8a8a" for n in ns]),
            hovertext=[n["hover"] for n in ns], hoverinfo="text", customdata=[n["id"] for n in ns],
            marker=dict(symbol="square", size=[n["h"] * s for n in ns], color=KIND_COLORS[kind], opacity=0,
                        line=dict(width=[3 if n["highlight"] else 0 for n in ns]))))


def _draw_legend(fig, info: GraphInfo, y0: float, s: float) -> None:
    y = y0
    for row in info.legend:
        for it in row:
            x = _MARGIN + it["dx"]
            if it["type"] == "edge":
                fig.add_shape(type="line", x0=x, x1=x + 18, y0=y, y1=y, line=dict(
                    color=it["color"], width=1.6 * s, dash="dot" if it["kind"] == "internal" else "solid"))
            else:
                dead = it["type"] == "dead"
                fig.add_shape(type="path", path=_rounded(x + 2, x + 16, y - 6, y + 6, 3),
                              fillcolor=_tint(it["color"], 0.93 if dead else 0.82),
                              line=dict(color=it["color"], width=1.3 * s, dash="dash" if dead else "solid"))
            fig.add_annotation(x=x + 22, y=y, text=it["text"], showarrow=False, xanchor="left", yanchor="middle",
                               font=dict(size=_SUB_SIZE * s, color="#333"))
        y += 22
    for line in info.caption:
        fig.add_annotation(x=_MARGIN, y=y - 4, text=line, showarrow=False, xanchor="left", yanchor="top",
                           font=dict(size=_SUB_SIZE * s, color="#555"))
        y += 15


def _figure(parts: list[tuple[GraphInfo, str | None]], title: str, width: int | None):
    import plotly.graph_objects as go

    fig_w = max(info.size[0] for info, _ in parts)
    s = 1.0 if width is None else min(1.0, (width - 2) / fig_w)
    fig = go.Figure()
    dy = 0.0
    for info, subtitle in parts:
        _draw(fig, info, dy, s, subtitle)
        dy += info.size[1] + (8 if subtitle else 0)
    legend_info = max((info for info, _ in parts), key=lambda i: i.size[0])
    _draw_legend(fig, legend_info, dy + 12, s)
    total_h = dy + _legend_height(legend_info) + 6
    top = 40
    fig.update_layout(
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=14 * max(s, 0.8))),
        width=int(math.ceil(fig_w * s)) + 2, height=int(math.ceil(total_h * s)) + top,
        margin=dict(l=1, r=1, t=top, b=0, autoexpand=False), plot_bgcolor="white", paper_bgcolor="white",
        font=dict(family=FONT_FAMILY), showlegend=False, hoverlabel=dict(align="left"), dragmode="pan",
        xaxis=dict(range=[0, fig_w], visible=False, fixedrange=False),
        yaxis=dict(range=[total_h, 0], visible=False, scaleanchor="x", scaleratio=1),
    )
    return fig


def plot_architecture(arch_or_graph: Architecture | nx.DiGraph, schema: FeatureSchema | None = None,
                      space: SearchSpace | str = "full", *, highlight: set[str] | None = None, title: str | None = None,
                      width: int | None = None):
    """A plotly figure of the architecture graph (returned, never shown).

    Its natural size fits every label; ``width`` (pixels) scales it down to fit a narrower place.
    """
    g = arch_or_graph if isinstance(arch_or_graph, nx.DiGraph) else architecture_graph(arch_or_graph, schema, space)
    info = graph_layout(g, highlight=highlight, title=title)
    return _figure([(info, None)], info.title, width)


def architecture_diff(a: Architecture, b: Architecture) -> list[dict[str, Any]]:
    """What changed between two architectures: one entry per (block, field)."""
    out = []
    for i, (x, y) in enumerate(zip(a.blocks, b.blocks)):
        for f in x.__dataclass_fields__:
            if getattr(x, f) != getattr(y, f):
                out.append({"block": i + 1, "field": f, "before": getattr(x, f), "after": getattr(y, f)})
    for i in range(min(len(a.blocks), len(b.blocks)), max(len(a.blocks), len(b.blocks))):
        out.append({"block": i + 1, "field": "blocks", "before": i < len(a.blocks), "after": i < len(b.blocks)})
    return out


def plot_architecture_diff(a: Architecture, b: Architecture, schema: FeatureSchema | None = None,
                           space: SearchSpace | str = "full", *, other_space: SearchSpace | str | None = None,
                           width: int | None = None):
    """``a`` above ``b``; the blocks that differ are shaded and their operators outlined in black."""
    diff = architecture_diff(a, b)
    changed = {d["block"] for d in diff}
    parts = []
    for label, arch, sp in (("before", a, space), ("after", b, other_space or space)):
        g = architecture_graph(arch, schema, sp)
        parts.append((graph_layout(g, changed_blocks=changed), f"{label}: {arch.hash()}"))
    fields = sorted({d["field"] for d in diff})
    title = (f"{len(changed)} block(s) changed: {sorted(changed)}" + (f" ({', '.join(fields)})" if fields else "")
             if changed else "no difference")
    return _figure(parts, title, width)


def to_dot(g: nx.DiGraph, *, clusters: bool = True) -> str:
    """Graphviz DOT text: left to right, one column per block (a cluster, or only a rank without ``clusters``)."""
    name = str(g.graph.get("name", "arch")).replace('"', "'")
    lines = [f'digraph "{name}" {{', "  rankdir=LR; newrank=true; nodesep=0.15; ranksep=0.45;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, penwidth=1.3];',
             "  edge [arrowsize=0.6];"]
    layer = _layers(g)
    by_layer: dict[int, list[str]] = defaultdict(list)
    for n in g.nodes:
        by_layer[layer[n]].append(n)
    n_blocks = max(d["block"] for _, d in g.nodes(data=True))
    blocks: dict[int, list[int]] = defaultdict(list)
    for lv, ns in sorted(by_layer.items()):
        blocks[g.nodes[ns[0]]["block"]].append(lv)
    for b, lvs in sorted(blocks.items()):
        label = "inputs" if b == 0 else "head" if b == n_blocks else f"block {b}"
        if clusters:
            lines.append(f'  subgraph "cluster_{b}" {{ label="{label}"; style=filled; color="#f4f5f7"; fontsize=10;')
        for lv in lvs:
            lines.append(f'    {{ rank=same; "_col{lv}"; ' + " ".join(f'"{n}";' for n in by_layer[lv]) + " }")
        if clusters:
            lines.append("  }")
    # an invisible backbone, one node per column, so that dot keeps the blocks as columns
    # (a rank=same group alone lets other nodes share its rank)
    for lv in sorted(by_layer):
        lines.append(f'  "_col{lv}" [style=invis, shape=point, width=0, label=""];')
    lines += [f'  "_col{lv}" -> "_col{lv + 1}" [style=invis, weight=0];' for lv in sorted(by_layer)[:-1]]
    for n, d in g.nodes(data=True):
        color = KIND_COLORS[d["kind"]] if d["live"] else "#9e9e9e"
        label = d["label"] + (f"\\n{d['width']}" if d.get("width") else "")
        style = "" if d["live"] else ', style="rounded,filled,dashed", fontcolor="#8a8a8a"'
        lines.append(f'  "{n}" [label="{label}", color="{color}", fillcolor="{_tint(color, 0.82)}"{style}];')
    for u, v, d in g.edges(data=True):
        style = "dotted" if d["kind"] == "internal" else "solid"
        lines.append(f'  "{u}" -> "{v}" [color="{EDGE_COLORS[d["kind"]]}", style={style}];')
    lines.append("}")
    return "\n".join(lines)


def export_figure(fig, *paths: str | Path, width: int | None = None, height: int | None = None,
                  scale: float = 1.0) -> None:
    """SVG / PNG / PDF through kaleido, several files with one browser.

    Kaleido finds Chrome or Chromium itself; ``BROWSER_PATH`` overrides, and Debian's
    ``/usr/bin/chromium`` is used when nothing else is set.
    """
    import os

    import kaleido

    if not paths:
        raise ValueError("export_figure: no path given")
    if "BROWSER_PATH" not in os.environ and Path("/usr/bin/chromium").exists():
        os.environ["BROWSER_PATH"] = "/usr/bin/chromium"
    items = []
    for p in paths:
        p = Path(p)
        fmt = p.suffix.lower().lstrip(".")
        if fmt not in ("svg", "png", "pdf", "jpeg", "jpg", "webp"):
            raise ValueError(f"export_figure: {p.name}: unknown image format {p.suffix!r} (svg, png, pdf)")
        opts = {"format": "jpeg" if fmt == "jpg" else fmt, "scale": scale,
                "width": width or fig.layout.width, "height": height or fig.layout.height}
        items.append({"fig": fig, "path": str(p), "opts": {k: v for k, v in opts.items() if v is not None}})
    kaleido.write_fig_from_object_sync(items)
