"""Search-space editor: operators, widths, blocks, interactions, sampler; validated live."""

from __future__ import annotations

import html
import math
from collections.abc import Callable

import ipywidgets as W
import numpy as np

from nasrec_lab.analysis import plot_architecture
from nasrec_lab.space import (
    FULL,
    INTERACTIONS,
    STRATEGIES,
    SearchSpace,
    operator_info,
    operators,
    sample_architecture,
)

from ._common import Panel, figure_widget, replace_figure

DENSE_WIDTH_CHOICES = (8, 16, 32, 64, 128, 256, 512, 768, 1024, 2048)
SPARSE_WIDTH_CHOICES = (8, 16, 32, 48, 64, 96, 128)


class SpaceEditor(Panel):
    """Edit a :class:`SearchSpace`; ``space`` is the current valid one (None while invalid).

    The rules live in the library (``SearchSpace`` rejects an invalid space with a message);
    the editor shows that message, or the size of the space and a sample architecture.
    """

    def __init__(self, space: SearchSpace = FULL, *, schema=None, seed: int = 0,
                 figure_width: int | None = None) -> None:
        self.schema = schema
        self.base = space
        self.rng = np.random.default_rng(seed)
        self._listeners: list[Callable[[SearchSpace | None], None]] = []
        # one checkbox per registered operator (the registry: nasrec_lab.space.operators)
        self.dense = {op: W.Checkbox(value=op in space.dense_ops, description=op, indent=False,
                                     tooltip=_tooltip(op), layout=W.Layout(width="150px"))
                      for op in operators("dense", "dense-sparse")}
        self.sparse = {op: W.Checkbox(value=op in space.sparse_ops, description=op, indent=False,
                                      tooltip=_tooltip(op), layout=W.Layout(width="150px"))
                       for op in operators("sparse")}
        self.dense_widths = W.SelectMultiple(options=sorted(set(DENSE_WIDTH_CHOICES) | set(space.dense_widths)),
                                             value=space.dense_widths, description="dense w", rows=6)
        self.sparse_widths = W.SelectMultiple(options=sorted(set(SPARSE_WIDTH_CHOICES) | set(space.sparse_widths)),
                                              value=space.sparse_widths, description="sparse m", rows=6)
        self.blocks = W.IntSlider(value=space.num_blocks, min=1, max=12, description="blocks")
        self.max_inputs = W.IntSlider(value=space.max_inputs, min=1, max=8, description="max inputs")
        self.interactions = {i: W.Checkbox(value=i in space.interactions, description=i, indent=False)
                             for i in INTERACTIONS}
        self.sampler = W.Dropdown(options=STRATEGIES, value="default", description="sampler")
        self.status = W.HTML()
        self.sample_button = W.Button(description="sample an architecture", icon="random")
        self.figure_width = figure_width  # None: the preview's natural size; else it scales down to fit
        self.preview = figure_widget(plot_architecture(sample_architecture(space, self.rng), space=space,
                                                       width=figure_width))
        self.name = space.name
        for w in [*self.dense.values(), *self.sparse.values(), *self.interactions.values(), self.dense_widths,
                  self.sparse_widths, self.blocks, self.max_inputs]:
            w.observe(lambda _change: self._update(), names="value")
        self.sample_button.on_click(lambda _b: self.sample())
        self.widget = W.VBox([
            W.HTML("<b>Search space</b>"),
            W.HBox([W.VBox([W.HTML("dense operators"), *self.dense.values()]),
                    W.VBox([W.HTML("sparse operators"), *self.sparse.values()]),
                    W.VBox([W.HTML("interaction modules"), *self.interactions.values()]),
                    self.dense_widths, self.sparse_widths]),
            W.HBox([self.blocks, self.max_inputs, self.sampler]),
            self.status,
            self.sample_button,
            self.preview,
        ])
        self.space: SearchSpace | None = None
        self.error: str | None = None
        self._update()

    def on_change(self, fn: Callable[[SearchSpace | None], None]) -> None:
        self._listeners.append(fn)

    def build_space(self) -> SearchSpace:
        """The space the widgets describe (raises ``ValueError`` with the library's message).

        Unedited, it is the space the editor started from (its name, and the release's config for
        a preset, kept); what has no control here (embedding size, interaction fields) is carried
        over into an edited one.
        """
        base = self.base

        def chosen(boxes: dict, current: tuple) -> tuple:  # the start's order where the choice is the same
            picked = tuple(k for k, cb in boxes.items() if cb.value)
            return current if set(picked) == set(current) else picked

        edits = dict(dense_ops=chosen(self.dense, base.dense_ops), sparse_ops=chosen(self.sparse, base.sparse_ops),
                     dense_widths=tuple(sorted(self.dense_widths.value)),
                     sparse_widths=tuple(sorted(self.sparse_widths.value)), num_blocks=self.blocks.value,
                     interactions=chosen(self.interactions, base.interactions), max_inputs=self.max_inputs.value)
        if all(getattr(base, k) == v for k, v in edits.items()):
            return base
        name = f"custom-{self.name}" if not self.name.startswith("custom") else self.name
        return base.replace(name=name, release_config=None, **edits)

    def _update(self) -> None:
        try:
            space = self.build_space()
        except ValueError as exc:
            self.space, self.error = None, str(exc)
            self.status.value = f'<span style="color:#c00" class="space-error">{html.escape(str(self.error), quote=False)}</span>'
            self.sample_button.disabled = True
        else:
            self.space, self.error = space, None
            size = space.size()
            self.status.value = (f'<span class="space-size">{size:,} architectures '
                                 f"(10^{math.log10(size):.1f})</span>")
            self.sample_button.disabled = False
        for fn in self._listeners:
            fn(self.space)

    def sample(self):
        """Draw one architecture with the chosen sampler and draw it; returns it."""
        if self.space is None:
            return None
        arch = sample_architecture(self.space, self.rng, self.sampler.value)
        fig = plot_architecture(arch, self.schema, self.space, title=f"sample: {arch.hash()}", width=self.figure_width)
        replace_figure(self.preview, fig)
        self.last_sample = arch
        return arch


def _tooltip(op: str) -> str:
    info = operator_info(op)
    return f"{info.label} ({info.kind}, reads {' + '.join(info.reads)})" + (f"; {info.flops}" if info.flops else "")
