"""The supernet's per-step training loss stays bounded on the demo's settings (issue: spikes past 30)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

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


# Measured (300 steps on the demo's data, paper's 10% warm-up, spikes = steps above 1.5x the base-rate loss):
# 117 spikes as is; 81 with a 1,500-step lr warm-up; 114 with the embeddings frozen; 86 / 92 with the head's lr
# divided by sqrt(fan-in) / fan-in; 59 / 27 with every dense weight's lr so divided (the rest of the loss no better);
# 135 (max 231) with Adagrad's accumulator started at 1. Two causes found: (1) at initialisation, paths whose last
# block has w = e with DeepFM on give logits of +-34 (the fixed model's raw FM term when w = e: no Linear, no LN;
# the release's own supernet always projects it, as it works at the largest width): projecting it in the supernet
# takes this test's worst loss from 24.4 to 1.11 (still above 1.5x base: wide paths start near 1.0 with xavier),
# but breaks "a path equals the standalone model" (tests/reference), so it did not land; (2) single-path training
# itself: on the demo's 100k rows and 200 steps the full path alone under the recipe ends at 1.04 (last 100 steps;
# base 0.56) while Adam at lr 1e-3 takes it to 0.37; with paths sampled, Adam ends at 0.81 (0.97 with the widths
# fixed at the largest and the topology sampled, 0.65 with the topology fixed and the widths sampled); Adagrad with
# eps 1e-8 at lr 0.01 / 0.003: 0.79 / 0.81. The paper's recipe does learn, slowly: 2,000 steps on the same data end
# at 0.483, below the base rate after ~1,000 steps, still with 239 spiking steps (max 34.9). The demo's 200 steps
# are all inside that unstable start.
@pytest.mark.xfail(strict=True, reason="open (issue 11): the supernet's per-step loss still spikes past 10 on the "
                                        "demo's settings; strict, so this fails once the spikes are gone")
def test_supernet_loss_does_not_spike_on_the_demo_settings(tmp_path):
    p = quickstart_parameters()
    spec = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, p["max_table"], 26)))
    ds = synthesize(tmp_path / "demo", rows=min(p["rows"], 10_000), seed=p["seed"], spec=spec)
    rate = ds.manifest["splits"]["train"]["positive_rate"]
    base = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))  # predicting the base rate
    losses = _first_losses(ds, p["space"], p["supernet_steps"], 30)  # the spikes come in the first tens of steps
    assert max(losses) < 1.5 * base, [round(x, 2) for x in losses]
