import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss, roc_auc_score

from nasrec_lab.data import SyntheticSpec, synthesize
from nasrec_lab.space import SMALL, PathSampler, sample_architecture
from nasrec_lab.supernet import SuperNet, build
from nasrec_lab.training import (
    History,
    StepEvent,
    TrainConfig,
    Trainer,
    binary_auc,
    finetune,
    metrics_from_logits,
    read_checkpoint,
    supernet_from_checkpoint,
)

ROOT = Path(__file__).resolve().parents[2]
TINY_SPEC = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, 3000, 26)))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("tiny") / "ds", rows=6000, seed=1, spec=TINY_SPEC)


def test_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.3).astype(float)
    z = rng.normal(size=5000) + y
    z[:500] = np.round(z[:500])  # ties
    m = metrics_from_logits(y, z)
    p = 1 / (1 + np.exp(-z))
    assert m.logloss == pytest.approx(log_loss(y, p), rel=1e-9)
    assert m.auc == pytest.approx(roc_auc_score(y, z), rel=1e-12)
    assert binary_auc(y, z) == pytest.approx(roc_auc_score(y, z), rel=1e-12)
    base = -(y.mean() * np.log(y.mean()) + (1 - y.mean()) * np.log(1 - y.mean()))
    assert m.normalized_entropy == pytest.approx(log_loss(y, p) / base)
    assert m.calibration == pytest.approx(p.mean() / y.mean())
    assert np.isnan(metrics_from_logits(np.zeros(4), np.zeros(4)).auc)
    with warnings.catch_warnings():  # a diverged model's nan logits: a nan loss, no numpy warning beside it
        warnings.simplefilter("error")
        assert np.isnan(metrics_from_logits(y, np.full_like(z, np.nan)).logloss)


def test_subnet_training_learns_and_emits_immutable_events(tiny):
    arch = sample_architecture(SMALL, np.random.default_rng(0))
    model = build(arch, tiny.schema, SMALL, seed=0)
    history = History()
    cfg = TrainConfig(steps=40, batch_size=128, lr=0.05, progress=False, log_every=5, eval_every=20)
    trainer = Trainer(model, tiny, cfg, callbacks=[history])
    before = trainer.evaluate().logloss
    trainer.run()
    after = trainer.evaluate().logloss
    assert after < before
    assert [e.step for e in history.steps] == list(range(5, 41, 5))
    n_train = len(tiny.split("train"))  # 4800 rows: 38 batches (the last one partial), then 2 more
    assert -(-n_train // 128) == 38 and history.steps[-1].samples == n_train + 2 * 128
    assert history.steps[0].arch_hash == arch.hash()
    assert [e.step for e in history.evals] == [20, 40] and history.evals[-1].metrics.rows == len(tiny.split("val"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        history.steps[0].loss = 0.0
    assert isinstance(history.steps[0], StepEvent) and json.dumps(history.evals[0].to_json())


def test_background_training_stops_between_steps(tiny):
    net = SuperNet(tiny.schema, SMALL, sparse_grad=True)
    trainer = Trainer(net, tiny, TrainConfig(steps=10_000, batch_size=64, progress=False),
                      sampler=PathSampler(SMALL, seed=0))
    trainer.start()
    deadline = time.time() + 30
    while trainer.step < 3 and time.time() < deadline:
        time.sleep(0.05)
    trainer.stop()
    assert not trainer.running and trainer.error is None
    assert 3 <= trainer.step < 10_000


def test_finetune_changes_only_the_head_and_leaves_the_supernet_alone(tiny):
    net = SuperNet(tiny.schema, SMALL, sparse_grad=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    arch = sample_architecture(SMALL, np.random.default_rng(5))
    sub, metrics = finetune(net, arch, tiny, TrainConfig(steps=10, batch_size=64, lr=0.04, progress=False))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    inherited = net.path_parameters(arch)
    for name, p in sub.named_parameters():
        same = torch.equal(p.detach(), inherited[name].detach())
        assert same != name.startswith("head."), name
    assert 0 < metrics.logloss < 2


def test_bf16_needs_cuda_and_mismatched_checkpoints_are_refused(tiny, tmp_path):
    arch = sample_architecture(SMALL, np.random.default_rng(0))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="bf16 autocast needs a CUDA device"):
            Trainer(build(arch, tiny.schema, SMALL), tiny, TrainConfig(steps=1, bf16=True, device="cpu"))
    net = SuperNet(tiny.schema, SMALL)
    t = Trainer(net, tiny, TrainConfig(steps=2, batch_size=64, progress=False), sampler=PathSampler(SMALL))
    t.run()
    path = t.save_checkpoint(tmp_path / "c.pt")
    full = SuperNet(tiny.schema, "full")
    other = Trainer(full, tiny, TrainConfig(steps=2, batch_size=64, progress=False), sampler=PathSampler("full"))
    with pytest.raises(ValueError, match="checkpoint space differs.*'small' vs 'full'"):
        other.load_checkpoint(path)
    longer = Trainer(SuperNet(tiny.schema, SMALL), tiny, TrainConfig(steps=5, batch_size=64, progress=False),
                     sampler=PathSampler(SMALL))
    with pytest.raises(ValueError, match="written for a run of 2 steps"):
        longer.load_checkpoint(path)
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "trunc.pt")


def test_a_checkpoint_written_before_a_model_setting_existed_reads_as_what_it_meant(tiny, tmp_path):
    # such files were written without always_project / field_start / centre_dense: the release's supernet form
    t = Trainer(SuperNet(tiny.schema, SMALL, seed=3), tiny, TrainConfig(steps=2, batch_size=64, progress=False),
                sampler=PathSampler(SMALL))
    t.run()
    state = t.state_dict()
    for key in ("always_project", "field_start", "centre_dense"):
        del state["model_config"][key]
    torch.save(state, tmp_path / "old.pt")
    cfg = read_checkpoint(tmp_path / "old.pt")["model_config"]
    assert (cfg["always_project"], cfg["field_start"], cfg["centre_dense"]) == (False, "xavier", False)
    net = supernet_from_checkpoint(tmp_path / "old.pt")
    assert (net.always_project, net.centre_dense) == (False, False)
    for a, b in zip(net.state_dict().values(), t.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    Trainer(SuperNet(tiny.schema, SMALL), tiny, TrainConfig(steps=2, batch_size=64, progress=False),
            sampler=PathSampler(SMALL)).load_checkpoint(tmp_path / "old.pt")
    centred = Trainer(SuperNet(tiny.schema, SMALL, centre_dense=True), tiny,
                      TrainConfig(steps=2, batch_size=64, progress=False), sampler=PathSampler(SMALL))
    with pytest.raises(ValueError, match="checkpoint centre_dense differs"):
        centred.load_checkpoint(tmp_path / "old.pt")
    del state["model_config"]
    torch.save(state, tmp_path / "no-config.pt")
    with pytest.raises(ValueError, match="no-config.pt: checkpoint has no model_config"):
        read_checkpoint(tmp_path / "no-config.pt")


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "nasrec_lab.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, **kw)


def test_killed_run_resumed_ends_bit_identical(tiny, tmp_path):
    common = ["--data", str(tiny.path), "--space", "small", "--steps", "40", "--seed", "3", "--batch-size", "64",
              "--checkpoint-every", "6", "--warmup-steps", "8", "--no-progress", "--threads", "1"]
    ref = _cli("train-supernet", *common, "--out", str(tmp_path / "ref"))
    assert ref.wait(timeout=300) == 0, ref.stderr.read()
    victim = _cli("train-supernet", *common, "--out", str(tmp_path / "run"))
    ckpt = tmp_path / "run" / "checkpoint.pt"
    deadline = time.time() + 240
    while time.time() < deadline:
        if ckpt.exists() and read_checkpoint(ckpt)["step"] >= 12:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = read_checkpoint(ckpt)["step"]
    assert 12 <= killed_at < 40, "the run should have been killed part-way"
    resumed = _cli("train-supernet", *common, "--out", str(tmp_path / "run"), "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resumed from {ckpt} at step {killed_at}" in out
    a = read_checkpoint(tmp_path / "ref" / "checkpoint.pt")
    b = read_checkpoint(ckpt)
    assert a["step"] == b["step"] == 40
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["sampler"]["rng"] == b["sampler"]["rng"] and a["loader"] == b["loader"]
    again = _cli("train-supernet", *common, "--out", str(tmp_path / "run"))
    assert again.wait(timeout=120) == 2 and "pass --resume" in again.stderr.read()


def test_a_fresh_run_over_a_killed_runs_folder_starts_its_log_over(tiny, tmp_path):
    """Killed before its first checkpoint, a run leaves a log and no checkpoint; the same command run
    again (not a resume: there is nothing to resume) trains those steps again and logs them once."""
    from nasrec_lab.cli import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "log.jsonl").write_text(json.dumps({"event": "StepEvent", "step": 10, "stale": True}) + "\n")
    assert main(["train-supernet", "--data", str(tiny.path), "--space", "small", "--steps", "20", "--batch-size", "64",
                 "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20] and not any(r.get("stale") for r in records)


def test_two_process_ddp_equals_one_process_with_the_global_batch(tiny, tmp_path):
    common = ["--data", str(tiny.path), "--space", "small", "--steps", "6", "--seed", "2", "--warmup-steps", "0",
              "--no-progress", "--threads", "1", "--checkpoint-every", "100", "--device", "cpu"]
    single = _cli("train-supernet", *common, "--batch-size", "64", "--out", str(tmp_path / "single"))
    assert single.wait(timeout=300) == 0, single.stderr.read()
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", str(29500 + os.getpid() % 1000), "-m", "nasrec_lab.cli", "train-supernet",
                          *common, "--batch-size", "32", "--out", str(tmp_path / "ddp")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a = read_checkpoint(tmp_path / "single" / "checkpoint.pt")["model"]
    b = read_checkpoint(tmp_path / "ddp" / "checkpoint.pt")["model"]
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= 1e-5
    moved = max((a[k] - SuperNet(tiny.schema, SMALL, seed=2).state_dict()[k]).abs().max().item() for k in a)
    assert moved > 1e-4  # the runs trained (an untrained copy moves 0)
    # the loss logged is the global batch's: the mean over the ranks' halves, not rank 0's half
    logged = [[json.loads(line)["loss"] for line in (tmp_path / run / "log.jsonl").read_text().splitlines()
               if json.loads(line).get("event") == "StepEvent"] for run in ("single", "ddp")]
    assert len(logged[0]) == len(logged[1]) >= 1
    assert logged[1] == pytest.approx(logged[0], rel=1e-5)


def test_a_diverging_ddp_run_stops_every_rank_at_once_and_keeps_no_nonfinite_checkpoint(tiny, tmp_path):
    out = tmp_path / "div"
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", str(30500 + os.getpid() % 1000), "-m", "nasrec_lab.cli", "train-supernet",
                          "--data", str(tiny.path), "--space", "small", "--steps", "20", "--batch-size", "32",
                          "--lr", "1e30", "--checkpoint-every", "1", "--no-progress", "--threads", "1",
                          "--device", "cpu", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert ddp.returncode != 0
    assert "training diverged" in ddp.stderr
    if (out / "checkpoint.pt").exists():  # one written before the divergence
        weights = read_checkpoint(out / "checkpoint.pt")["model"]
        assert all(torch.isfinite(v).all() for v in weights.values())


def test_train_subnet_and_finetune_cli_json_contract(tiny, tmp_path):
    arch = sample_architecture(SMALL, np.random.default_rng(2))
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({**arch.to_json(), "space": "small"}))
    p = _cli("train-subnet", str(path), "--data", str(tiny.path), "--steps", "20", "--batch-size", "128", "--json", "--lr", "0.01",
             "--no-progress")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert 0 < result["test_logloss"] < 1.5 and 0 <= result["test_auc"] <= 1
    net_dir = tmp_path / "net"
    t = _cli("train-supernet", "--data", str(tiny.path), "--space", "small", "--steps", "4", "--batch-size", "64",
             "--out", str(net_dir), "--no-progress")
    assert t.wait(timeout=300) == 0, t.stderr.read()
    f = _cli("finetune", "--supernet", str(net_dir / "checkpoint.pt"), "--arch", str(path), "--data", str(tiny.path),
             "--steps", "5", "--batch-size", "64", "--json", "--no-progress")
    out, err = f.communicate(timeout=300)
    assert f.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["val_logloss"] > 0
