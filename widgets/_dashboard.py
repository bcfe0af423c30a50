"""The dashboard: edit the space, train the supernet, watch tau, explore the Pareto front."""

from __future__ import annotations

import html
import threading
from pathlib import Path

import ipywidgets as W

from nasrec_lab.data import CTRDataset

from ._common import Panel
from ._editor import SpaceEditor
from ._monitors import RankMonitor, TrainingMonitor
from ._pareto import ParetoExplorer
from ._viewer import ArchitectureViewer


class Dashboard(Panel):
    """Everything on one page. ``Run`` trains a supernet on the edited space, then runs a search;
    both in a background thread, both drawn live. Compute is the library's; this only wires it.

    >>> Dashboard("data/synthetic", out="runs/dash", supernet_steps=300, budget=32)   # doctest: +SKIP
    """

    def __init__(self, data, *, out: str | Path = "runs/dashboard", supernet_steps: int = 300, budget: int = 24,
                 batch_size: int = 512, finetune_steps: int = 30, eval_batches: int = 2, eval_batch_size: int = 8192,
                 rank_refs: int = 0, rank_every: int = 100, seed: int = 0, space="full") -> None:
        from nasrec_lab.space import get_space

        self.data = data if isinstance(data, CTRDataset) else CTRDataset(data)
        self.out = Path(out)
        self.settings = dict(supernet_steps=supernet_steps, budget=budget, batch_size=batch_size,
                             finetune_steps=finetune_steps, eval_batches=eval_batches,
                             eval_batch_size=eval_batch_size, rank_refs=rank_refs, rank_every=rank_every, seed=seed)
        # the notebook's output area is about 1000 px wide with JupyterLab's file browser open
        self.editor = SpaceEditor(get_space(space), schema=self.data.schema, seed=seed, figure_width=960)
        self.training = TrainingMonitor(title="supernet training")
        self.rank = RankMonitor()
        self.viewer = ArchitectureViewer(schema=self.data.schema, space=get_space(space), data=self.data,
                                         export_dir=self.out, train_steps=200, figure_width=960)
        self.pareto = ParetoExplorer(self.viewer)
        self.steps = W.BoundedIntText(value=supernet_steps, min=1, max=10**7, description="supernet steps")
        self.budget = W.BoundedIntText(value=budget, min=2, max=10**6, description="search budget")
        self.run_button = W.Button(description="run: train supernet + search", icon="play", button_style="primary",
                                   layout=W.Layout(width="260px"))
        self.state = W.HTML('<span class="dash-state">idle</span>')
        self.run_button.on_click(lambda _b: self.run())
        self.editor.on_change(lambda space: setattr(self.run_button, "disabled", space is None))
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.result = None
        self.widget = W.VBox([
            W.HTML(f"<h3>nasrec-lab dashboard</h3>data: <code>{html.escape(str(self.data.path), quote=False)}</code>, "
                   f"oracle test log loss {self.data.oracle_logloss('test') or 'n/a'}"),
            self.editor.widget,
            W.HBox([self.steps, self.budget, self.run_button, self.state]),
            W.HTML("<b>Supernet training</b>"), self.training.widget,
            W.HTML("<b>Rank correlation</b>"), self.rank.widget,
            W.HTML("<b>Search: Pareto front</b> (click a point)"), self.pareto.widget,
        ])

    def _set_state(self, text: str) -> None:
        self.state.value = f'<span class="dash-state">{text}</span>'

    def run(self) -> threading.Thread:
        """Train the supernet and search, in a background thread."""
        space = self.editor.space
        if space is None:
            raise ValueError(f"the space is invalid: {self.editor.error}")
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("already running")
        self.viewer.space = space
        self.run_button.disabled = True
        self._thread = threading.Thread(target=self._work, args=(space,), daemon=True, name="nasrec-dashboard")
        self._thread.start()
        return self._thread

    def _work(self, space) -> None:
        from nasrec_lab.pipeline import PipelineConfig, fresh_store, run_search, supernet_trainer
        from nasrec_lab.search import RankStudy, RankTracker, SearchStore

        s = self.settings
        try:
            steps, budget = int(self.steps.value), int(self.budget.value)
            self.out.mkdir(parents=True, exist_ok=True)
            self._set_state("training the supernet")
            run_dir = self.out / "supernet"
            ckpt = run_dir / "checkpoint.pt"
            if ckpt.exists():
                ckpt.unlink()
            sampler = self.editor.sampler.value
            trainer = supernet_trainer(self.data, space, steps, seed=s["seed"], sampler=sampler, checkpoint_dir=run_dir,
                                       callbacks=[self.training], batch_size=s["batch_size"],
                                       log_every=max(1, steps // 100))
            if s["rank_refs"]:
                study = RankStudy(self.data, space, references=s["rank_refs"], seed=s["seed"],
                                  store=SearchStore(self.out / "ground_truth.sqlite"))
                self._set_state(f"ground truth of {s['rank_refs']} references")
                study.ground_truth()
                tracker = RankTracker(study, trainer.model, every=s["rank_every"], on_point=self.rank.on_point,
                                      eval_batches=s["eval_batches"], eval_batch_size=s["eval_batch_size"])
                self.rank.tracker = tracker
                trainer.callbacks.append(tracker)
            self.training.trainer = trainer
            self._set_state("training the supernet")
            trainer.run()
            trainer.save_checkpoint()
            self.training.throttle.flush_now()
            self._set_state("searching")
            config = PipelineConfig(space=space, supernet_steps=steps, budget=budget, seed=s["seed"], threads=2, sampler=sampler,
                                    finetune_steps=s["finetune_steps"], eval_batches=s["eval_batches"],
                                    eval_batch_size=s["eval_batch_size"])
            store_path = fresh_store(self.out / "search.sqlite")  # with its -wal/-shm files
            self.result = run_search(self.data, ckpt, config, store_path, name="dashboard",
                                     callbacks=[self.pareto.on_candidate])
            self.pareto.throttle.flush_now()
            self._set_state(f"done: best {self.result.best_hash} val log loss {self.result.best_val_logloss:.5f}")
        except Exception as exc:  # shown in the page
            self.error = exc
            self._set_state(f'<span style="color:#c00">failed: {html.escape(str(exc), quote=False)}</span>')
        finally:
            self.run_button.disabled = self.editor.space is None

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
