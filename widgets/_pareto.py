"""Pareto explorer: the live front of a running or stored search; click a point to see its subnet."""

from __future__ import annotations

import json

import ipywidgets as W
import pandas as pd

from nasrec_lab.analysis import pareto_info, plot_pareto
from nasrec_lab.space import Architecture

from ._common import Panel, Throttle, figure_widget, replace_figure
from ._viewer import ArchitectureViewer


class ParetoExplorer(Panel):
    """Candidates (val log loss against MFLOPs) with the front highlighted and the hypervolume;
    feed it ``on_candidate`` events from a :class:`SearchRunner` or ``load(frame)`` from a store."""

    def __init__(self, viewer: ArchitectureViewer | None = None, *, interval: float = 0.3) -> None:
        self.viewer = viewer or ArchitectureViewer()
        self.rows: list[dict] = []
        self.figure = figure_widget(plot_pareto(pareto_info(_frame([]))))
        self.info = pareto_info(_frame([]))
        self.count = W.HTML("no candidates yet")
        self.throttle = Throttle(self._flush, interval)
        self.selected: Architecture | None = None
        self.widget = W.VBox([self.count, self.figure, self.viewer.widget])
        self._wire_clicks()

    def _wire_clicks(self) -> None:
        for trace in self.figure.data[:2]:
            trace.on_click(self._on_click)

    def on_candidate(self, event) -> None:
        r = event.record
        self.rows.append({"search": "live", "seq": r.seq, "arch_hash": r.arch_hash, "arch_json": r.arch_json,
                          "val_logloss": r.val_logloss, "val_auc": r.val_auc, "flops": r.flops,
                          "feasible": int(r.feasible)})
        self.throttle.request()

    def load(self, frame: pd.DataFrame) -> None:
        self.rows = frame.to_dict("records")
        self.throttle.flush_now()

    def _flush(self) -> None:
        self.info = pareto_info(_frame(self.rows))
        replace_figure(self.figure, plot_pareto(self.info))
        self._wire_clicks()
        n_front = sum(self.info.on_front)
        self.count.value = (f'<span class="pareto-count">{len(self.info.seq)} candidates, {n_front} on the front'
                            + (f", hypervolume {self.info.hypervolume[-1]:.3f}" if self.info.hypervolume else "")
                            + "</span>")

    def _on_click(self, trace, points, _state=None) -> None:
        if not points.point_inds:
            return
        hashes = list(trace.customdata)
        self.select(hashes[points.point_inds[0]])

    def select(self, arch_hash: str) -> Architecture:
        row = next(r for r in self.rows if r["arch_hash"] == arch_hash)
        arch = Architecture.from_json(json.loads(row["arch_json"]))
        self.selected = arch
        self.viewer.show(arch, metrics={"val log loss": float(row["val_logloss"]),
                                        "val AUC": float(row["val_auc"]), "candidate": int(row["seq"])})
        return arch


def _frame(rows) -> pd.DataFrame:
    cols = ["search", "seq", "arch_hash", "arch_json", "val_logloss", "val_auc", "flops", "feasible"]
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame({c: [] for c in cols})
