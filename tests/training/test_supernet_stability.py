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


# The demo's settings on 10k rows, its whole 200-step schedule. Causes found and fixed, in order: an lr warm-up
# shorter than the release's 1,500 steps (117 spiking steps of 300); a path whose block has w = e passed the raw FM
# term (values ~50 at initialisation) to the head (worst 24.4, step 12; the release's supernet projects it at every
# width, and so does ours: ``always_project``); Adagrad's first step of a weight, lr * sign(g) whatever the gradient,
# summed over the head's up to 2,176 LayerNormed inputs: the head columns of wide blocks, trained by few paths, took
# that step far into the run (on the demo's 100k rows 11 steps above 2 nats, worst 8.5 at step 145, every one with
# the last block at w >= 512). The supernet recipe's initial accumulator bounds that step.
def test_supernet_loss_does_not_spike_on_the_demo_settings(tmp_path):
    p = quickstart_parameters()
    spec = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, p["max_table"], 26)))
    ds = synthesize(tmp_path / "demo", rows=min(p["rows"], 10_000), seed=p["seed"], spec=spec)
    steps = p["supernet_steps"]
    losses = _first_losses(ds, p["space"], steps, steps)
    # a fresh head on LayerNormed features starts near 1 nat; the spikes this guards against reached 2.3-90
    assert max(losses) < 2.0, [round(x, 2) for x in losses]
