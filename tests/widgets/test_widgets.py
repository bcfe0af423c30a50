"""Widget logic without a browser: state, validation, callbacks, throttling."""

import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("anywidget")

from nasrec_lab.data import SyntheticSpec, synthesize  # noqa: E402
from nasrec_lab.space import FULL, SMALL, sample_architecture  # noqa: E402
from nasrec_lab.supernet import build  # noqa: E402
from nasrec_lab.training import TrainConfig, Trainer  # noqa: E402
from widgets import ArchitectureViewer, Dashboard, ParetoExplorer, SpaceEditor, Throttle, TrainingMonitor  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    spec = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, 2000, 26)))
    return synthesize(tmp_path_factory.mktemp("w") / "ds", rows=5000, seed=0, spec=spec)


def test_throttle_limits_updates_and_keeps_the_last():
    now = [0.0]
    calls = []
    t = Throttle(lambda: calls.append(now[0]), interval=0.2, clock=lambda: now[0])
    t.request()  # flushes at once
    for _ in range(50):
        now[0] += 0.001
        t.request()  # within the interval: one deferred flush is scheduled, not 50
    assert len(calls) == 1 and t._timer is not None
    t._timer.cancel()
    t._timed()  # what the timer does when it fires: the last request is not lost
    assert len(calls) == 2 and t._timer is None
    # 200 events over one (simulated) second: at most one flush per interval goes out at once
    now[0] = 10.0
    before = t.flushes
    for _ in range(200):
        now[0] += 0.005
        t.request()
    t.cancel()
    assert t.flushes - before <= 1.0 / 0.2 + 1


def test_throttle_never_runs_two_flushes_at_once():
    # a redraw slower than the interval: the timer's flush is still drawing when the next request
    # is due at once (the race that broke notebook 04's live Pareto plot)
    now, active, seen = [0.0], [0], []
    timer_started = threading.Event()

    def slow_flush():
        active[0] += 1
        seen.append(active[0])
        if threading.current_thread() is not threading.main_thread():
            timer_started.set()
        time.sleep(0.3)
        active[0] -= 1

    t = Throttle(slow_flush, interval=0.2, clock=lambda: now[0])
    t.request()  # flushes at once, in this thread
    now[0] += 0.1
    t.request()  # deferred: the timer flushes in 0.1 s
    assert timer_started.wait(5)
    now[0] += 1.0
    t.request()  # due at once, while the timer's flush draws
    time.sleep(0.5)
    assert seen == [1, 1, 1] and t.flushes == 3


def test_space_editor_validates_live_with_the_librarys_messages():
    ed = SpaceEditor(FULL)
    assert ed.space is FULL and str(f"{FULL.size():,}") in ed.status.value  # unedited: the preset itself
    seen = []
    ed.on_change(seen.append)
    for cb in ed.dense.values():
        cb.value = False
    assert ed.space is None and "dense_ops is empty" in ed.error and "space-error" in ed.status.value
    assert ed.sample_button.disabled and seen[-1] is None
    ed.dense["fc"].value = True
    ed.blocks.value = 3
    ed.dense_widths.value = (16, 64)
    assert ed.space.num_blocks == 3 and ed.space.dense_ops == ("fc",) and ed.space.dense_widths == (16, 64)
    assert f"{ed.space.size():,}" in ed.status.value and "10^" in ed.status.value
    arch = ed.sample()
    assert len(arch.blocks) == 3 and all(b.dense_ops == ("fc",) for b in arch.blocks)
    assert any(t.name == "dense" for t in ed.preview.data)
    ed.close()


def test_training_monitor_runs_in_the_background_and_can_stop(tiny):
    arch = sample_architecture(SMALL, np.random.default_rng(0))

    def make(callbacks):
        return Trainer(build(arch, tiny.schema, SMALL), tiny,
                       TrainConfig(steps=60, batch_size=64, lr=0.01, progress=False, log_every=2, eval_every=30),
                       callbacks=callbacks)

    mon = TrainingMonitor(make, interval=0.05)
    thread = mon.start()
    assert isinstance(thread, threading.Thread) and mon.stop_button.disabled is False
    mon.wait()
    assert mon.progress.value == 60 == mon.progress.max
    assert list(mon.figure.data[0].x)[-1] == 60 and len(mon.figure.data[0].y) == 30
    assert list(mon.figure.data[1].x) == [30, 60]  # validation log loss points
    stopper = TrainingMonitor(lambda cbs: Trainer(build(arch, tiny.schema, SMALL), tiny,
                                                  TrainConfig(steps=100_000, batch_size=64, progress=False),
                                                  callbacks=cbs), interval=0.05)
    stopper.start()
    time.sleep(0.5)
    stopper.stop()
    stopper.wait()
    assert 0 < stopper.trainer.step < 100_000
    mon.close()
    stopper.close()


def test_space_editor_keeps_what_it_has_no_control_for_and_its_subnets_load_back(tmp_path):
    from nasrec_lab.space import load_architecture

    wide = FULL.replace(name="wide", embedding_dim=32, interaction_fields=4)
    ed = SpaceEditor(wide)
    assert ed.space is wide
    ed.blocks.value = 5
    assert (ed.space.name, ed.space.num_blocks, ed.space.embedding_dim, ed.space.interaction_fields) == \
        ("custom-wide", 5, 32, 4)
    ed.blocks.value = 7
    assert ed.space is wide  # edited back: the space it started from
    ed.blocks.value = 4
    viewer = ArchitectureViewer(space=ed.space, export_dir=tmp_path)
    arch = ed.sample()
    viewer.show(arch)
    (tmp_path / "shown.json").write_text(viewer.json.value)  # what a user copies out of the JSON box
    loaded, space = load_architecture(tmp_path / "shown.json")
    assert loaded == arch and space == ed.space
    ed.close()


def test_pareto_explorer_click_shows_the_subnet(tiny, tmp_path):
    viewer = ArchitectureViewer(schema=tiny.schema, space=SMALL, data=tiny, export_dir=tmp_path, train_steps=5)
    ex = ParetoExplorer(viewer, interval=0.01)
    rng = np.random.default_rng(1)
    archs = [sample_architecture(SMALL, rng) for _ in range(6)]
    for i, a in enumerate(archs):
        rec = SimpleNamespace(seq=i, arch_hash=a.hash(), arch_json=json.dumps(a.to_json()), val_logloss=0.5 - i / 100,
                              val_auc=0.7, flops=1000 * (i + 1), feasible=True)
        ex.on_candidate(SimpleNamespace(record=rec))
    ex.throttle.flush_now()
    assert "6 candidates" in ex.count.value
    front_trace = ex.figure.data[1]
    assert len(front_trace.x) == sum(ex.info.on_front) >= 1
    ex._on_click(front_trace, SimpleNamespace(point_inds=[0]))
    assert ex.selected.hash() == front_trace.customdata[0]
    assert json.loads(viewer.json.value)["blocks"] == ex.selected.to_json()["blocks"]
    assert "val log loss" in viewer.metrics.value and any(t.name == "head" for t in viewer.figure.data)
    path = viewer.export()
    assert json.loads(path.read_text())["blocks"] == ex.selected.to_json()["blocks"]
    viewer.train().join()
    assert viewer.result["hash"] == ex.selected.hash() and viewer.result["test_logloss"] > 0
    viewer.show_json("{not json")
    assert "color:#c00" in viewer.status.value
    ex.close()


def test_dashboard_runs_a_tiny_search(tiny, tmp_path):
    dash = Dashboard(tiny, out=tmp_path / "dash", supernet_steps=4, budget=4, finetune_steps=2, eval_batches=1,
                     eval_batch_size=512, space="small")
    for cb in dash.editor.sparse.values():
        cb.value = False
    assert dash.run_button.disabled  # invalid space: nothing to run
    dash.editor.sparse["efc"].value = True
    assert not dash.run_button.disabled
    dash.editor.sampler.value = "single-path"
    dash.run().join()
    assert dash.error is None and "done" in dash.state.value
    from nasrec_lab.training import read_checkpoint

    # the sampler chosen in the editor trained the supernet
    assert read_checkpoint(tmp_path / "dash" / "supernet" / "checkpoint.pt")["sampler"]["strategy"] == "single-path"
    assert len(dash.pareto.rows) == 4 and len(dash.training.steps) >= 1
    assert (tmp_path / "dash" / "search.sqlite").exists()
    dash.close()


def test_rank_monitor_draws_tau_over_steps_and_the_scatter():
    from nasrec_lab.search import RankPoint
    from widgets import RankMonitor

    truth = {f"h{i}": 0.4 + i / 100 for i in range(6)}
    tracker = SimpleNamespace(last_scores={k: v * 2 for k, v in truth.items()},
                              study=SimpleNamespace(ground_truth=lambda: truth))
    mon = RankMonitor(tracker, interval=0.01)
    for step, tau in ((100, 0.2), (200, 0.5), (300, 0.7)):
        mon.on_point(RankPoint(step, tau, tau, 0.5, False))
    mon.throttle.flush_now()
    assert list(mon.tau.data[0].x) == [100, 200, 300] and list(mon.tau.data[0].y) == [0.2, 0.5, 0.7]
    assert len(mon.scatter.data[0].x) == 6 and "Kendall tau 1.000" in mon.scatter.layout.title.text
    mon.close()
