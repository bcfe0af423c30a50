"""The supernet's per-step training loss stays bounded on the demo's settings (issue: spikes past 30)."""

from __future__ import annotations

import json

import numpy as np

from nasrec_lab.data import SyntheticSpec, synthesize
from nasrec_lab.pipeline import supernet_trainer
from nasrec_lab.training import FunctionCallback
from tests.conftest import ROOT


def quickstart_parameters() -> dict:
    """The demo's defaults, read from the parameters cell of notebooks/01_quickstart.ipynb."""
    nb = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    params: dict = {}
    exec("".join(cell["source"]), {}, params)  # our own notebook's literals
    return params


def _first_losses(ds, space: str, steps: int, n: int, **config) -> list[float]:
    losses: list[float] = []
    trainer = supernet_trainer(ds, space, steps, seed=0, log_every=1,
                               callbacks=[FunctionCallback(on_step=lambda e: losses.append(e.loss))], **config)
    trainer.run(until=n)
    return losses


# Measured on these settings (10k rows, the demo's 200-step schedule, first 100 steps): the worst step was
# 24.4 (step 12) when a path whose block has w = e passed the raw FM term (values ~50 at initialisation) on to
# the head, as the release's standalone models do; its supernet projects it (Linear+LN) whatever the width,
# and so does ours now (``always_project``): worst 2.33 (step 63), first 30 steps 1.11. Earlier causes, fixed
# before: an lr warm-up shorter than the release's 1,500 steps (117 spiking steps of 300). What remains: on
# the demo's 100k rows the full 200 steps still have 11 steps above 2 nats (worst 8.5, step 145), all with
# the last block at w >= 512 (the head's wide columns, rarely trained); README "Known problem".
def test_supernet_loss_does_not_spike_on_the_demo_settings(tmp_path):
    p = quickstart_parameters()
    spec = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, p["max_table"], 26)))
    ds = synthesize(tmp_path / "demo", rows=min(p["rows"], 10_000), seed=p["seed"], spec=spec)
    losses = _first_losses(ds, p["space"], p["supernet_steps"], 100)  # the issue: past 30 in the first 100 steps
    # a fresh head on LayerNormed features starts near 1 nat; 3 is far below the spikes this guards against
    assert max(losses) < 3.0, [round(x, 2) for x in losses]
