import itertools
import json

import numpy as np
import pandas as pd
import pytest

from nasrec_lab.analysis import (
    architecture_diff,
    architecture_graph,
    export_figure,
    graph_layout,
    history_info,
    operator_usage_info,
    pareto_info,
    plot_architecture,
    plot_architecture_diff,
    plot_history,
    plot_operator_usage,
    plot_pareto,
    plot_rank_over_steps,
    plot_rank_scatter,
    plot_training_curves,
    rank_over_steps_info,
    rank_scatter_info,
    to_dot,
    training_curves_info,
)
from nasrec_lab.analysis._graph import text_width
from nasrec_lab.data import PRESET_SCHEMAS
from nasrec_lab.search import RankPoint, pareto_front
from nasrec_lab.space import FULL, load_architecture, mutate, sample_architecture
from nasrec_lab.supernet import cost
from nasrec_lab.training import EvalEvent, Metrics, StepEvent
from tests.conftest import REFERENCE_NAMES, ensure_chromium, reference_config


def _load(name):
    return load_architecture(reference_config(name))


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_published_architectures_as_graphs(name):
    arch, space = _load(name)
    schema = PRESET_SCHEMAS[name.split("_")[0]]
    g = architecture_graph(arch, schema, space)
    n_interactions = sum(b.deep_fm + b.dense_sparse_interact for b in arch.blocks)
    assert g.number_of_nodes() == 2 + 2 * 7 + n_interactions + 1
    # every connection of the architecture is an edge, dense and sparse distinguished
    for j, b in enumerate(arch.blocks, start=1):
        dense_preds = [u for u, d in g.pred[f"B{j}:{b.dense_ops[0]}"].items() if d["kind"] == "dense"]
        expected = {b.left, b.right} if b.dense_ops[0] in ("sum", "sigmoid-gating") else set(b.dense_in)
        assert len(dense_preds) == len(expected)
        sparse_preds = [u for u, d in g.pred[f"B{j}:{b.sparse_ops[0]}"].items() if d["kind"] == "sparse"]
        assert len(sparse_preds) == len(b.sparse_in)
    assert sum(d["flops"] for _, d in g.nodes(data=True)) == cost(arch, schema, space).flops
    dot = to_dot(g)
    assert dot.startswith("digraph") and all(f'"{n}"' in dot for n in g.nodes)
    # legible at the default size: every label inside its box, no two boxes overlap, all inside the figure
    info = graph_layout(g)
    width, height = info.size
    for n in info.nodes:
        assert text_width(n["label"], 11, bold=True) <= n["w"] and text_width(n["width"], 10) <= n["w"], n["id"]
        assert 0 <= n["x"] - n["w"] / 2 and n["x"] + n["w"] / 2 <= width, n["id"]
        assert 0 <= n["y"] - n["h"] / 2 and n["y"] + n["h"] / 2 <= height, n["id"]
    for a, c in itertools.combinations(info.nodes, 2):
        apart_x = abs(a["x"] - c["x"]) >= (a["w"] + c["w"]) / 2 - 1e-6  # a module touches its operator
        apart_y = abs(a["y"] - c["y"]) >= (a["h"] + c["h"]) / 2 - 1e-6
        assert apart_x or apart_y, (a["id"], c["id"])
    fig = plot_architecture(g)
    assert fig.layout.xaxis.range[1] >= width and fig.layout.yaxis.range[0] >= height  # nothing clipped
    assert fig.layout.width >= width


def test_diff_highlights_what_a_mutation_changed():
    rng = np.random.default_rng(0)
    a = sample_architecture(FULL, rng)
    b = mutate(a, FULL, rng)
    diff = architecture_diff(a, b)
    assert len({d["block"] for d in diff}) == 1
    fig = plot_architecture_diff(a, b)
    assert str(diff[0]["block"]) in fig.layout.title.text
    nodes = [t for t in fig.data if t.customdata is not None]  # one trace per node kind
    highlighted = [i for t in nodes for i, w in zip(t.customdata, t.marker.line.width) if w == 3]
    assert highlighted and all(i.startswith(f"B{diff[0]['block']}:") for i in highlighted)
    shaded = [sh for sh in fig.layout.shapes if sh.type == "rect" and sh.fillcolor == "#fff3c4"]
    assert len(shaded) == 2  # the changed block's column, before and after


def test_training_and_rank_figures():
    m = Metrics(0.45, 0.78, 0.9, 1.0, 100, 0.25, 0.25)
    steps = [StepEvent(s, 30, s * 512, 0.5 - s / 100, 0.1, "h", max(0, 1 - s / 10), 0.1 * s) for s in (10, 20, 30)]
    info = training_curves_info(steps, [EvalEvent(30, 0, "val", m, None)])
    assert info.steps == [10, 20, 30] and info.eval_auc == [0.78] and info.full_path_probability[0] == 0
    plot_training_curves(info)
    sc = rank_scatter_info({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, {"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.4})
    assert sc.kendall_tau == pytest.approx(4 / 6)
    plot_rank_scatter(sc)
    pts = [RankPoint(s, t, t, 0.5, False) for s, t in ((100, 0.1), (200, 0.3))]
    over = rank_over_steps_info(pts)
    assert over["kendall_tau"] == [0.1, 0.3]
    plot_rank_over_steps(over)


def _frame():
    rng = np.random.default_rng(3)
    rows = []
    for s in range(30):
        arch = sample_architecture(FULL, rng)
        rows.append({"search": "evo" if s % 2 else "rand", "seq": s, "arch_hash": arch.hash(),
                     "arch_json": json.dumps(arch.to_json()), "val_logloss": float(rng.uniform(0.4, 0.5)),
                     "flops": int(rng.integers(1e5, 3e6)), "feasible": 1})
    return pd.DataFrame(rows)


def test_search_figures_from_a_store_frame():
    df = _frame()
    info = pareto_info(df)
    pts = list(zip(info.logloss, info.mflops))
    assert [i for i, f in enumerate(info.on_front) if f] == sorted(pareto_front(pts))
    assert all(b >= a for a, b in zip(info.hypervolume, info.hypervolume[1:]))
    plot_pareto(info)
    h = history_info(df)
    for name in ("evo", "rand"):
        best = [b for s, b in zip(h["search"], h["best_so_far"]) if s == name]
        assert best == sorted(best, reverse=True)
    plot_history(h)
    usage = operator_usage_info(df, top=5)
    assert usage["candidates"] == 5 and sum(v for k, v in usage["counts"].items() if k in FULL.dense_ops) == 35
    plot_operator_usage(usage)


def test_export_svg_and_png(tmp_path):
    pytest.importorskip("kaleido")
    ensure_chromium()
    arch, space = _load("criteo_full")
    fig = plot_architecture(arch, PRESET_SCHEMAS["criteo"], space)
    export_figure(fig, tmp_path / "a.svg")
    export_figure(fig, tmp_path / "a.png")
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<svg")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
