"""Architecture viewer: the graph, metrics and JSON of one architecture (any JSON or store row)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import ipywidgets as W

from nasrec_lab.analysis import plot_architecture
from nasrec_lab.space import Architecture, get_space, validate
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
        self.json.value = json.dumps({**arch.to_json(), "space": self.space.name}, indent=1)
        self.export_button.disabled = False
        self.train_button.disabled = self.data is None

    def show_json(self, text: str) -> None:
        try:
            d = json.loads(text)
            arch = Architecture.from_json(d)
            validate(arch, self.space, path=not arch.is_subnet)
        except (ValueError, TypeError) as exc:
            self.status.value = f'<span style="color:#c00">{exc}</span>'
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
        from nasrec_lab._atomic import atomic_write_json

        atomic_write_json(path, {**self.arch.to_json(), "space": self.space.name})
        self.status.value = f"exported to {path}"
        return path

    def train(self) -> threading.Thread | None:
        if self.arch is None or self.data is None:
            return None
        from nasrec_lab.supernet import build
        from nasrec_lab.training import TrainConfig, Trainer

        arch = self.arch
        model = build(arch, self.data.schema, self.space)
        config = TrainConfig(steps=self.train_steps, epochs=None if self.train_steps else 1.0, batch_size=256,
                             lr=0.05, train_split="train+val", eval_split="test", progress=False)
        trainer = Trainer(model, self.data, config)
        self.status.value = f"training {arch.hash()} from scratch ({trainer.total_steps} steps)..."

        def work() -> None:
            try:
                trainer.run()
                m = trainer.evaluate("test")
                self.result = {"hash": arch.hash(), "test_logloss": m.logloss, "test_auc": m.auc}
                self.status.value = (f'<span class="train-result">{arch.hash()}: test log loss {m.logloss:.5f}, '
                                     f"AUC {m.auc:.4f}</span>")
            except Exception as exc:  # shown, not raised in a thread
                self.status.value = f'<span style="color:#c00">training failed: {exc}</span>'

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()
        return self._thread
