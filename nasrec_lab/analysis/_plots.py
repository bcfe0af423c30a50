"""Figures for training, rank correlation and search: an info function (plain data, tested) and a
draw function returning a ``plotly.graph_objects.Figure`` (never shown) for each."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


# -- training curves ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingCurvesInfo:
    steps: list[int]
    loss: list[float]
    lr: list[float]
    full_path_probability: list[float]
    eval_steps: list[int]
    eval_logloss: list[float]
    eval_auc: list[float]


def training_curves_info(step_events: Sequence[Any], eval_events: Sequence[Any] = ()) -> TrainingCurvesInfo:
    """From :class:`StepEvent` / :class:`EvalEvent` records (or their ``to_json()`` dicts)."""
    def get(e, k):
        return e[k] if isinstance(e, dict) else getattr(e, k)

    def metric(e, k):
        m = get(e, "metrics")
        return m[k] if isinstance(m, dict) else getattr(m, k)

    return TrainingCurvesInfo([get(e, "step") for e in step_events], [get(e, "loss") for e in step_events],
                              [get(e, "lr") for e in step_events],
                              [get(e, "full_path_probability") for e in step_events],
                              [get(e, "step") for e in eval_events], [metric(e, "logloss") for e in eval_events],
                              [metric(e, "auc") for e in eval_events])


def plot_training_curves(info: TrainingCurvesInfo, *, title: str = "training"):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "AUC / warm-up"), specs=[[{}, {"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=info.steps, y=info.loss, name="train loss", mode="lines"), row=1, col=1)
    if info.eval_steps:
        fig.add_trace(go.Scatter(x=info.eval_steps, y=info.eval_logloss, name="val log loss", mode="lines+markers"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=info.eval_steps, y=info.eval_auc, name="val AUC", mode="lines+markers"),
                      row=1, col=2)
    fig.add_trace(go.Scatter(x=info.steps, y=info.full_path_probability, name="P(full path)", mode="lines",
                             line=dict(dash="dot")), row=1, col=2, secondary_y=True)
    fig.update_layout(title=title, height=360, xaxis_title="step", xaxis2_title="step")
    return fig


# -- rank correlation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RankScatterInfo:
    truth: list[float]
    predicted: list[float]
    hashes: list[str]
    kendall_tau: float
    spearman_rho: float


def rank_scatter_info(truth: dict[str, float], predicted: dict[str, float]) -> RankScatterInfo:
    from ..search import rank_correlation

    keys = [k for k in truth if k in predicted]
    t, p = [truth[k] for k in keys], [predicted[k] for k in keys]
    rc = rank_correlation(t, p) if len(keys) >= 3 else None
    return RankScatterInfo(t, p, keys, rc.kendall_tau if rc else math.nan, rc.spearman_rho if rc else math.nan)


def plot_rank_scatter(info: RankScatterInfo, *, title: str | None = None):
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=info.truth, y=info.predicted, mode="markers", text=info.hashes,
                               hovertemplate="%{text}<br>standalone %{x:.5f}<br>supernet %{y:.5f}<extra></extra>"))
    fig.update_layout(title=title or f"supernet score vs standalone: Kendall tau {info.kendall_tau:.3f}, "
                      f"Spearman rho {info.spearman_rho:.3f}", xaxis_title="standalone val log loss",
                      yaxis_title="supernet val log loss", height=400)
    return fig


def rank_over_steps_info(points: Sequence[Any]) -> dict[str, list]:
    """From :class:`RankPoint` records: step, tau, rho, split by fine-tuning."""
    out: dict[str, list] = {"step": [], "kendall_tau": [], "spearman_rho": [], "finetune": []}
    for p in points:
        for k in out:
            out[k].append(p[k] if isinstance(p, dict) else getattr(p, k))
    return out


def plot_rank_over_steps(info: dict[str, list], *, title: str = "rank correlation over supernet training"):
    import plotly.graph_objects as go

    fig = go.Figure()
    for ft in sorted(set(info["finetune"])):
        idx = [i for i, f in enumerate(info["finetune"]) if f == ft]
        suffix = " (fine-tuned)" if ft else ""
        fig.add_trace(go.Scatter(x=[info["step"][i] for i in idx], y=[info["kendall_tau"][i] for i in idx],
                                 mode="lines+markers", name="Kendall tau" + suffix))
        fig.add_trace(go.Scatter(x=[info["step"][i] for i in idx], y=[info["spearman_rho"][i] for i in idx],
                                 mode="lines+markers", name="Spearman rho" + suffix, line=dict(dash="dot")))
    fig.update_layout(title=title, xaxis_title="supernet step", yaxis_title="correlation", yaxis_range=[-1, 1],
                      height=360)
    return fig


# -- search ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParetoInfo:
    seq: list[int]
    logloss: list[float]
    mflops: list[float]
    hashes: list[str]
    on_front: list[bool]
    hypervolume_seq: list[int]
    hypervolume: list[float]


def pareto_info(frame, *, reference: tuple[float, float] | None = None) -> ParetoInfo:
    """From a store DataFrame (``SearchStore.candidates_frame()``): the front of (val log loss, FLOPs)
    and the hypervolume after each candidate (relative to ``reference``, default: the worst seen)."""
    from ..search import hypervolume_2d, pareto_front

    rows = frame[frame["feasible"].astype(bool) & frame["val_logloss"].notna()].sort_values("seq")
    pts = list(zip(rows["val_logloss"].astype(float), rows["flops"].astype(float)))
    front = set(pareto_front(pts))
    if reference is None and pts:
        reference = (max(p[0] for p in pts) * 1.001 + 1e-12, max(p[1] for p in pts) * 1.001 + 1)
    hv = [hypervolume_2d(pts[: i + 1], reference) / (reference[0] * reference[1]) for i in range(len(pts))] if pts else []
    return ParetoInfo(rows["seq"].astype(int).tolist(), [p[0] for p in pts], [p[1] / 1e6 for p in pts],
                      rows["arch_hash"].tolist(), [i in front for i in range(len(pts))],
                      rows["seq"].astype(int).tolist(), hv)


def plot_pareto(info: ParetoInfo, *, title: str = "Pareto front: validation log loss vs FLOPs"):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.65, 0.35], subplot_titles=("candidates", "hypervolume"))
    fig.add_trace(go.Scatter(x=info.mflops, y=info.logloss, mode="markers", name="candidate",
                             marker=dict(color="#9ecae1", size=7), customdata=info.hashes,
                             text=[f"#{s}" for s in info.seq],
                             hovertemplate="%{customdata} %{text}<br>%{x:.3f} MFLOPs<br>%{y:.5f}<extra></extra>"),
                  row=1, col=1)
    front = sorted((x, y, h) for x, y, h, f in zip(info.mflops, info.logloss, info.hashes, info.on_front) if f)
    fig.add_trace(go.Scatter(x=[f[0] for f in front], y=[f[1] for f in front], mode="lines+markers",
                             name="Pareto front", line=dict(shape="hv", color="#d62728"),
                             marker=dict(size=10, color="#d62728"), customdata=[f[2] for f in front],
                             hovertemplate="%{customdata}<br>%{x:.3f} MFLOPs<br>%{y:.5f}<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=list(range(1, len(info.hypervolume) + 1)), y=info.hypervolume, mode="lines",
                             name="hypervolume"), row=1, col=2)
    fig.update_xaxes(title_text="MFLOPs per example", row=1, col=1)
    fig.update_yaxes(title_text="val log loss", row=1, col=1)
    fig.update_xaxes(title_text="candidates", row=1, col=2)
    fig.update_layout(title=title, height=420)
    return fig


def history_info(frame) -> dict[str, list]:
    """Best-so-far validation log loss against candidates, per search in the frame."""
    out: dict[str, list] = {"search": [], "n": [], "val_logloss": [], "best_so_far": []}
    for name, rows in frame.sort_values("seq").groupby("search", sort=True):
        best = math.inf
        for i, v in enumerate(rows["val_logloss"], start=1):
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                best = min(best, float(v))
            out["search"].append(name)
            out["n"].append(i)
            out["val_logloss"].append(float(v) if v is not None else math.nan)
            out["best_so_far"].append(best)
    return out


def plot_history(info: dict[str, list], *, title: str = "search history"):
    import plotly.graph_objects as go

    fig = go.Figure()
    for name in dict.fromkeys(info["search"]):
        idx = [i for i, s in enumerate(info["search"]) if s == name]
        fig.add_trace(go.Scatter(x=[info["n"][i] for i in idx], y=[info["val_logloss"][i] for i in idx],
                                 mode="markers", name=f"{name}", opacity=0.4, marker=dict(size=5)))
        fig.add_trace(go.Scatter(x=[info["n"][i] for i in idx], y=[info["best_so_far"][i] for i in idx],
                                 mode="lines", name=f"{name} best so far", line=dict(shape="hv")))
    fig.update_layout(title=title, xaxis_title="candidates scored", yaxis_title="val log loss", height=380)
    return fig


def operator_usage_info(frame, *, top: int = 20) -> dict[str, dict[str, int]]:
    """How often each operator and interaction module appears among the ``top`` candidates."""
    rows = frame[frame["val_logloss"].notna()].nsmallest(top, "val_logloss")
    counts: Counter = Counter()
    for arch_json in rows["arch_json"]:
        for b in json.loads(arch_json)["blocks"]:
            for op in b["dense_ops"] + b["sparse_ops"]:
                counts[op] += 1
            counts["deep_fm"] += bool(b["deep_fm"])
            counts["dense_sparse_interact"] += bool(b["dense_sparse_interact"])
    return {"counts": dict(counts), "candidates": len(rows)}


def plot_operator_usage(info: dict[str, Any], *, title: str | None = None):
    import plotly.graph_objects as go

    items = sorted(info["counts"].items(), key=lambda kv: -kv[1])
    fig = go.Figure(go.Bar(x=[k for k, _ in items], y=[v for _, v in items]))
    fig.update_layout(title=title or f"operator usage among the top {info['candidates']} candidates",
                      yaxis_title="blocks using it", height=360)
    return fig
