"""Shared widget plumbing: throttled, batched figure updates and a base class with close()."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import ipywidgets as W


class Throttle:
    """Run ``flush`` at most every ``interval`` seconds; the last request is never lost.

    ``request()`` marks that new data is waiting; it flushes now if the interval has passed,
    otherwise a timer flushes once the interval is over. Flushes never overlap: one asked for while
    the timer's is still drawing waits for it (two at once would edit one FigureWidget's traces
    from two threads, which plotly does not survive).
    """

    def __init__(self, flush: Callable[[], None], interval: float = 0.3, clock=time.monotonic) -> None:
        self.flush_fn, self.interval, self.clock = flush, interval, clock
        self._last = -1e9
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._flushing = threading.RLock()  # a flush that requests another (same thread) must not deadlock
        self.flushes = 0

    def request(self) -> None:
        with self._lock:
            now = self.clock()
            if now - self._last >= self.interval:
                self._last = now
                do_now = True
            else:
                do_now = False
                if self._timer is None:
                    self._timer = threading.Timer(self.interval - (now - self._last), self._timed)
                    self._timer.daemon = True
                    self._timer.start()
        if do_now:
            self._run()

    def _timed(self) -> None:
        with self._lock:
            self._timer = None
            self._last = self.clock()
        self._run()

    def _run(self) -> None:
        with self._flushing:
            self.flushes += 1
            self.flush_fn()

    def _drop_timer(self) -> None:  # caller holds the lock
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def flush_now(self) -> None:
        with self._lock:
            self._drop_timer()
            self._last = self.clock()
        self._run()

    def cancel(self) -> None:
        with self._lock:
            self._drop_timer()


class Panel:
    """A plain class holding its widgets; displays through ``_repr_mimebundle_``; ``close()`` frees them."""

    widget: W.Widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        for w in _walk(self.widget):
            w.close()


def _walk(w):
    yield w
    for child in getattr(w, "children", ()) or ():
        yield from _walk(child)


def figure_widget(fig):
    """A live plotly FigureWidget from a library figure."""
    import plotly.graph_objects as go

    return go.FigureWidget(fig)


def replace_figure(fw, fig) -> None:
    """Swap a FigureWidget's content for another figure's (one message per step)."""
    fw.data = ()
    fw.add_traces(list(fig.data))
    with fw.batch_update():
        fw.layout = fig.layout
