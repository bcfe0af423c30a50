"""Issue 15, case 4: a Ray cluster that ``search --backend ray`` starts itself listens on loopback only."""

from __future__ import annotations

import pytest

from nasrec_lab.search import ScoringConfig
from nasrec_lab.search._backends import RayBackend, ScorerSpec

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def test_a_local_ray_listens_on_loopback_only(tiny):
    pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")

    spec = ScorerSpec(str(tiny.data), str(tiny.checkpoint), ScoringConfig(finetune_steps=1, eval_batches=1,
                                                                          eval_batch_size=64))
    backend = RayBackend(spec, workers=1)
    try:
        # GCS, raylet, object manager and agents are started by (children of) this process
        procs = psutil.Process().children(recursive=True)
        pids = {p.pid for p in procs}
        listening = [(c.laddr.ip, c.laddr.port, c.pid) for c in psutil.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.pid in pids]
        names = {p.pid: p.name() for p in procs}
    finally:
        backend.close()
    assert listening, "found no Ray server sockets"
    exposed = [(ip, port, names.get(pid)) for ip, port, pid in listening if ip not in LOOPBACK]
    assert not exposed, f"Ray listens beyond loopback: {exposed}"
