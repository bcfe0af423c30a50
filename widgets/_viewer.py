"""Architecture viewer: the graph, metrics and JSON of one architecture (any JSON or store row)."""

from __future__ import annotations

import html
import json
import threading
from pathlib import Path
from typing import Any

import ipywidgets as W

from nasrec_lab.analysis import plot_architecture
from nasrec_lab.space import Architecture, architecture_document, get_space, validate
from nasrec_lab.supernet import cost

from ._common import Panel, figure_widget, replace_figure


class ArchitectureViewer(Panel):
    """Shows one architecture; ``Export`` writes its JSON; ``Train from scratch`` runs the library's
    trainer in a background thread (on ``data`` when given)."""

    def __init__(self, *, schema=None, space="full", data=None, export_dir: str | Path = ".",
                 train_steps: int | None = None, figure_width: int | None = None) -> None:
        import plotly.graph_objects as go

        self.schema, self.space, self.data = schema, get_space(space), data
        self.export_dir, self.train_steps = Path(export_dir), train_steps
        # the graph is drawn at its natural size unless told the room it has (it scales down to fit)
        self.figure_width = figure_width
        self.arch: Architecture | None = None
        self.figure = figure_widget(go.Figure(layout=dict(title="no architecture selected", height=420)))
        self.metrics = W.HTML()
        self.json = W.Textarea(layout=W.Layout(width="100%", height="140px"))
        self.load_button = W.Button(description="show JSON", tooltip="draw the architecture in the text box")
        self.export_button = W.Button(description="export JSON", icon="download", disabled=True)
        self.train_button = W.Button(description="train from scratch", icon="play", disabled=True)
        self.status = W.HTML()
        self.load_button.on_click(lambda _b: self.show_json(self.json.value))
        self.export_button.on_click(lambda _b: self.export())
        self.train_button.on_click(lambda _b: self.train())
        self.widget = W.VBox([self.figure, self.metrics,
                              W.HBox([self.export_button, self.train_button, self.load_button]), self.status,
                              self.json], layout=W.Layout(width="100%"))
        self._thread: threading.Thread | None = None
        self.result: dict[str, Any] | None = None

    def show(self, arch: Architecture, *, metrics: dict[str, Any] | None = None, space=None) -> None:
        if space is not None:
            self.space = get_space(space)
        self.arch = arch
        replace_figure(self.figure, plot_architecture(arch, self.schema, self.space, width=self.figure_width,
                                                      title=f"selected subnet {arch.hash()}"))
        rows = dict(metrics or {})
        if self.schema is not None:
            c = cost(arch, self.schema, self.space)
            rows.setdefault("MFLOPs", round(c.mflops, 4))
            rows.setdefault("parameters", f"{c.params:,}")
        rows["hash"] = arch.hash()
        self.metrics.value = ("<table class='arch-metrics'>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{v:.5f}</td></tr>" if isinstance(v, float) else
            f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows.items()) + "</table>")
        self.json.value = json.dumps(architecture_document(arch, self.space), indent=1)
        self.export_button.disabled = False
        self.train_button.disabled = self.data is None

    def show_json(self, text: str) -> None:
        try:
            d = json.loads(text)
            arch = Architecture.from_json(d)
            validate(arch, self.space, path=not arch.is_subnet)
        except (ValueError, TypeError) as exc:
            self.status.value = f'<span style="color:#c00">{html.escape(str(exc), quote=False)}</span>'
            return
        self.status.value = ""
        self.show(arch)

    def show_row(self, row) -> None:
        """A row of ``SearchStore.candidates_frame()``."""
        self.show(Architecture.from_json(json.loads(row["arch_json"])),
                  metrics={"val log loss": float(row["val_logloss"]), "val AUC": float(row["val_auc"])})

    def export(self) -> Path | None:
        if self.arch is None:
            return None
        path = self.export_dir / f"architecture-{self.arch.hash()}.json"
        from nasrec_lab.space import save_architecture

        save_architecture(path, self.arch, self.space)
        self.status.value = f"exported to {path}"
        return path

    def train(self) -> threading.Thread | None:
        if self.arch is None or self.data is None:
            return None
        from nasrec_lab.pipeline import train_architecture

        arch, space, data, steps = self.arch, self.space, self.data, self.train_steps
        self.status.value = f"training {arch.hash()} from scratch (the final recipe)..."

        def work() -> None:
            try:
                res = train_architecture(arch, data, space, steps=steps).result
                auc = "undefined" if res.test_auc is None else f"{res.test_auc:.4f}"
                self.result = {"hash": arch.hash(), "test_logloss": res.test_logloss, "test_auc": res.test_auc,
                               "epochs": res.epochs}
                self.status.value = (f'<span class="train-result">{arch.hash()}: test log loss '
                                     f"{res.test_logloss:.5f}, AUC {auc} ({res.epochs:g} epochs)</span>")
            except Exception as exc:  # shown, not raised in a thread
                self.status.value = f'<span style="color:#c00">training failed: {html.escape(str(exc), quote=False)}</span>'

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()
        return self._thread
