"""Live monitors: training curves with start/stop, and rank correlation over supernet steps."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W

from nasrec_lab.analysis import (
    plot_rank_over_steps,
    plot_rank_scatter,
    plot_training_curves,
    rank_over_steps_info,
    rank_scatter_info,
    training_curves_info,
)
from nasrec_lab.training import Callback

from ._common import Panel, Throttle, figure_widget, replace_figure


class TrainingMonitor(Panel, Callback):
    """Live loss / AUC curves and the warm-up schedule; start and stop a trainer running in a
    background thread (the kernel stays responsive). ``make_trainer(callbacks)`` builds it."""

    def __init__(self, make_trainer: Callable | None = None, *, title: str = "supernet training",
                 interval: float = 0.3) -> None:
        self.make_trainer, self.title = make_trainer, title
        self.steps: list = []
        self.evals: list = []
        self.trainer = None
        self.figure = figure_widget(plot_training_curves(training_curves_info([]), title=title))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="steps")
        self.label = W.HTML()
        self.start_button = W.Button(description="start", icon="play", disabled=make_trainer is None)
        self.stop_button = W.Button(description="stop", icon="stop", disabled=True)
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.throttle = Throttle(self._flush, interval)
        self.widget = W.VBox([W.HBox([self.start_button, self.stop_button, self.progress, self.label]), self.figure])

    # Callback hooks (called from the training thread)
    def on_step(self, event) -> None:
        self.steps.append(event)
        self.throttle.request()

    def on_eval(self, event) -> None:
        self.evals.append(event)
        self.throttle.request()

    def _flush(self) -> None:
        info = training_curves_info(self.steps, self.evals)
        fig = self.figure
        with fig.batch_update():
            fig.data[0].x, fig.data[0].y = info.steps, info.loss
            if len(fig.data) > 2 and info.eval_steps:
                fig.data[1].x, fig.data[1].y = info.eval_steps, info.eval_logloss
                fig.data[2].x, fig.data[2].y = info.eval_steps, info.eval_auc
            fig.data[-1].x, fig.data[-1].y = info.steps, info.full_path_probability
        if self.steps:
            last = self.steps[-1]
            self.progress.max, self.progress.value = last.total_steps, last.step
            self.label.value = f"step {last.step}/{last.total_steps}, loss {last.loss:.4f}"

    def start(self, trainer=None):
        """Start (or take) a trainer and run it in a background thread."""
        if trainer is None:
            if self.make_trainer is None:
                raise ValueError("no trainer: pass one, or make_trainer= to the monitor")
            trainer = self.make_trainer([self])
        elif self not in trainer.callbacks:
            trainer.callbacks.append(self)
        self.trainer = trainer
        if self.evals == [] and trainer.config.eval_every:
            # an eval trace pair must exist before the first update
            replace_figure(self.figure, plot_training_curves(
                training_curves_info([], [_placeholder_eval()]), title=self.title))
        self.progress.max = trainer.total_steps
        self.start_button.disabled, self.stop_button.disabled = True, False
        thread = trainer.start()
        return thread

    def stop(self) -> None:
        if self.trainer is not None:
            self.trainer.stop(wait=False)
        self.start_button.disabled, self.stop_button.disabled = self.make_trainer is None, True

    def wait(self) -> None:
        if self.trainer is not None and self.trainer._thread is not None:
            self.trainer._thread.join()
        self.throttle.flush_now()
        self.start_button.disabled, self.stop_button.disabled = self.make_trainer is None, True


def _placeholder_eval():
    from nasrec_lab.training import EvalEvent, Metrics

    return EvalEvent(0, 0, "val", Metrics(float("nan"), float("nan"), float("nan"), float("nan"), 0, 0, 0), None)


class RankMonitor(Panel):
    """Live Kendall tau / Spearman rho over supernet steps and the latest score scatter.

    Pass ``monitor.on_point`` as ``RankTracker(..., on_point=monitor.on_point)``.
    """

    def __init__(self, tracker=None, *, interval: float = 0.3) -> None:
        self.tracker = tracker
        self.points: list = []
        self.tau = figure_widget(plot_rank_over_steps(rank_over_steps_info([])))
        self.scatter = figure_widget(plot_rank_scatter(rank_scatter_info({}, {})))
        self.throttle = Throttle(self._flush, interval)
        self.widget = W.HBox([self.tau, self.scatter])

    def on_point(self, point) -> None:
        self.points.append(point)
        self.throttle.request()

    def _flush(self) -> None:
        replace_figure(self.tau, plot_rank_over_steps(rank_over_steps_info(self.points)))
        if self.tracker is not None and self.tracker.last_scores:
            info = rank_scatter_info(self.tracker.study.ground_truth(), self.tracker.last_scores)
            replace_figure(self.scatter, plot_rank_scatter(info))
