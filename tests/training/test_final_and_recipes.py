"""One recipe module, early-stopped final training, train-baseline / search --export contracts, degenerate data."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from nasrec_lab.training import (
    FINAL,
    FINETUNE,
    GROUND_TRUTH,
    SUPERNET,
    Metrics,
    final_recipe,
    space_recipe_kind,
    train_final,
)
from tests.conftest import ROOT


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nasrec_lab.cli", *args], capture_output=True, text=True, cwd=ROOT)


def test_recipes_match_nasrec_md():
    # one epoch (the release's --num_epochs 1; its 15000 is the full-path warm-up's length, not the run's)
    assert (SUPERNET.lr, SUPERNET.batch_size, SUPERNET.steps, SUPERNET.epochs, SUPERNET.layernorm) == (
        0.12, 512, None, 1.0, True)
    assert (FINETUNE.lr, FINETUNE.batch_size, FINETUNE.steps, FINETUNE.eval_batches) == (0.04, 512, 500, 150)
    assert (FINAL["full"].lr, FINAL["small"].lr, FINAL["full"].batch_size) == (0.16, 0.1, 256)
    for r in (SUPERNET, FINETUNE, *FINAL.values(), GROUND_TRUTH):
        assert (r.eps, r.warmup_fraction, r.clip_norm, r.weight_decay) == (1e-2, 0.1, 5.0, 0.0)
    assert not FINAL["full"].layernorm
    assert final_recipe("small", epochs=1).protocol == "fixed-epochs"
    assert final_recipe("small", epochs=1).train_config().train_split == "train+val"
    assert final_recipe("full").train_config().train_split == "train"
    # a custom space's models train by NASRec-Full's final recipe
    assert [space_recipe_kind(n) for n in ("full", "small", "my-space")] == ["full", "small", "full"]


def test_the_supernet_trains_one_epoch_unless_told_otherwise(small_synth, tmp_path):
    """The release's supernet run is one pass over the training rows: every row once, the last batch short
    (the release stops at rows // batch, without it), the full-path warm-up over the first 10% here."""
    from nasrec_lab.pipeline import PipelineConfig, supernet_trainer
    from nasrec_lab.training import read_checkpoint

    rows = len(small_synth.split("train"))
    batches = -(-rows // 512)
    trainer = supernet_trainer(small_synth, "small")
    assert trainer.total_steps == batches and trainer.sampler.warmup.steps == int(batches * 0.1)
    assert supernet_trainer(small_synth, "small", batch_size=256).total_steps == -(-rows // 256)
    assert supernet_trainer(small_synth, "small", 7).total_steps == 7
    # torchrun: --batch-size is per rank, an epoch is counted in global batches (whole ones only, as the
    # ranks' shards must be equal)
    assert supernet_trainer(small_synth, "small", rank=1, world_size=2).total_steps == rows // 1024
    assert PipelineConfig().supernet_steps is None
    assert PipelineConfig.from_json(json.loads(json.dumps(PipelineConfig().to_json()))).supernet_steps is None
    with pytest.raises(ValueError, match="supernet_steps"):
        PipelineConfig(supernet_steps=0)
    # the CLI without --steps: the same epoch, recorded in the checkpoint
    r = _cli("train-supernet", "--data", str(small_synth.path), "--space", "small", "--out", str(tmp_path / "run"),
             "--batch-size", "2048", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert read_checkpoint(tmp_path / "run" / "checkpoint.pt")["total_steps"] == -(-rows // 2048)


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")])
def test_a_recipe_refuses_an_lr_that_is_not_positive_and_finite(lr):
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        final_recipe("small", lr=lr)


def test_final_models_start_their_field_projections_as_the_recipe_says(small_synth, monkeypatch, capsys):
    """Final models start their field projections as identities, every other recipe as the release
    (xavier); ``field_start`` changes it, and the pipeline and ``train-subnet`` build what the recipe
    (or ``--field-start``) says."""
    import nasrec_lab.supernet as supernet
    from nasrec_lab.baselines import dlrm_like_architecture
    from nasrec_lab.cli._train import cmd_train_subnet
    from nasrec_lab.pipeline import train_architecture

    assert all(r.field_start == "xavier" for r in (SUPERNET, FINETUNE, GROUND_TRUTH))
    assert FINAL["full"].field_start == FINAL["small"].field_start == "identity"  # baselines have no such projections
    with pytest.raises(ValueError, match="recipe 'final-small': field_start must be one of"):
        final_recipe("small", field_start="eye")
    built = []
    real = supernet.build
    monkeypatch.setattr(supernet, "build", lambda *a, **kw: built.append(kw["field_start"]) or real(*a, **kw))
    train_architecture(dlrm_like_architecture(), small_synth, "full", steps=2)
    train_architecture(dlrm_like_architecture(), small_synth, "full", steps=2, field_start="xavier")
    assert built == ["identity", "xavier"]
    ran = []
    monkeypatch.setattr("nasrec_lab.cli._train._run_final", lambda args, model, ds, kind, extra: ran.append(extra))
    for flag in (None, "xavier"):
        cmd_train_subnet(argparse.Namespace(arch="criteo_small", space=None, data=str(small_synth.path),
                                            layernorm=False, seed=0, threads=None, field_start=flag))
    assert built[-2:] == ["identity", "xavier"] and [e["field_start"] for e in ran] == ["identity", "xavier"]
    assert "--field-start {xavier,identity}" in _cli("train-subnet", "--help").stdout


def test_nasrec_full_learns_from_a_short_run_on_criteo_layout_rows(tmp_path):
    """The published NASRec-Full, one epoch of 20k Criteo-layout rows (about 70 steps) by its final recipe,
    predicts better than the constant base rate. By the release's Adagrad (accumulator 0, lr 0.16, a 7-step
    warm-up) it was a constant predictor: test AUC 0.44, log loss 0.558."""
    from nasrec_lab.data import binary_logloss, preprocess, write_raw_criteo
    from nasrec_lab.pipeline import train_architecture
    from nasrec_lab.space import load_architecture

    raw = write_raw_criteo(tmp_path / "train.txt", rows=20_000, seed=0)
    ds = preprocess([raw], tmp_path / "data", fmt="criteo")
    arch, space = load_architecture("criteo_full")
    result = train_architecture(arch, ds, space, seed=0, epochs=1.0, device="cpu").result
    base_rate = float(np.mean(ds.split("train+val").column("label")))
    test = ds.split("test").column("label")
    constant = binary_logloss(test, np.full(len(test), base_rate))
    assert result.test_auc > 0.7
    assert result.test_logloss < constant - 0.03


# A learning rate or a recipe length written as a number outside the recipe module is a second copy.
_SECOND_COPY = re.compile(
    r"(\blr\s*=\s*\d|\"lr\"\s*:\s*\d|_lr\s*=\s*\d|--lr\"[^)]*default\s*=\s*\d|FINAL_LR"
    r"|batch_size\s*=\s*(256|512)\b|warmup_steps\s*=\s*\w+\s*//\s*10)")


def _sources():
    for folder in ("nasrec_lab/cli", "nasrec_lab/bench", "widgets", "benchmarks", "nasrec_lab/search", "nasrec_lab/pipeline.py",
                   "nasrec_lab/demo.py"):
        path = ROOT / folder
        for f in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if f.name not in ("data.py", "_data.py") or f.parent.name not in ("benchmarks", "bench"):  # loader batch
                yield f, f.read_text()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        yield nb, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_training_settings_are_written_once():
    found = [f"{f.relative_to(ROOT)}: {m.group(0)}" for f, text in _sources() for m in _SECOND_COPY.finditer(text)]
    assert not found, "training settings written outside nasrec_lab/training/_recipes.py:\n" + "\n".join(found)


def test_the_second_copy_check_catches_a_planted_copy():
    assert _SECOND_COPY.search('TrainConfig(epochs=1.0, batch_size=256, lr=0.05, seed=seed)')
    assert _SECOND_COPY.search('sampler=PathSampler(space, seed=s, warmup_steps=steps // 10)')
    assert not _SECOND_COPY.search('final_recipe(space.name).train_config(seed=seed)')


class _ScriptedVal:
    """Validation log loss after each epoch follows a script: the best epoch is known in advance."""

    def __init__(self, curve):
        self.curve, self.calls, self.snapshots = list(curve), 0, []

    def __call__(self, trainer, split=None, **kwargs):
        if split == "val":
            self.snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
            loss = self.curve[self.calls]
            self.calls += 1
            return Metrics(loss, 0.7, 1.0, 1.0, 100, 0.25, 0.25)
        return _ORIGINAL_EVALUATE(trainer, split, **kwargs)


from nasrec_lab.training import Trainer  # noqa: E402

_ORIGINAL_EVALUATE = Trainer.evaluate


@pytest.mark.parametrize("curve, patience, best, epochs_run", [
    ([0.50, 0.40, 0.45, 0.30, 0.20], 1, 2, 3),   # stops at the first worse epoch
    ([0.50, 0.40, 0.45, 0.30, 0.20], 2, 5, 5),   # patience 2 rides over it, runs to max_epochs
    ([0.50, 0.60, 0.70, 0.80, 0.90], 2, 1, 3),   # the first epoch was the best
])
def test_early_stopping_restores_the_best_epoch(small_synth, monkeypatch, curve, patience, best, epochs_run):
    from nasrec_lab.baselines import build_baseline

    scripted = _ScriptedVal(curve)
    monkeypatch.setattr(Trainer, "evaluate", lambda self, split=None, **kw: scripted(self, split, **kw))
    model = build_baseline("logistic-regression", small_synth.schema, seed=0)
    recipe = final_recipe("baseline", max_epochs=5, patience=patience, batch_size=2048)
    res = train_final(model, small_synth, recipe)
    assert res.best_epoch == best and res.protocol == "early-stopping"
    assert res.val_logloss_per_epoch == curve[:epochs_run] and res.epochs == epochs_run
    restored = model.state_dict()
    for k, v in scripted.snapshots[best - 1].items():
        assert torch.equal(restored[k], v), k  # the weights of the best epoch, not the last
    if best != epochs_run:
        assert any(not torch.equal(restored[k], v) for k, v in scripted.snapshots[-1].items())


def test_an_early_stopped_final_model_is_kept_from_a_decayed_lr(small_synth, monkeypatch):
    """CTR models peak by their second epoch on large data: every final recipe's cosine has run out by
    then, so the epoch kept was not trained at the peak lr (a schedule over 10 epochs left it at 97%)."""
    from nasrec_lab.baselines import build_baseline
    from nasrec_lab.pipeline import PipelineConfig

    lr_at_val = []
    scripted = _ScriptedVal([0.5, 0.4, 0.3, 0.2] * 3)  # always improving: runs as long as the recipe lets it

    def evaluate(self, split=None, **kw):
        if split == "val":
            lr_at_val.append(self.optimizer.param_groups[0]["lr"])
        return scripted(self, split, **kw)

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    for kind in ("full", "small", "baseline"):
        lr_at_val.clear()
        recipe = final_recipe(kind, batch_size=2048)
        res = train_final(build_baseline("logistic-regression", small_synth.schema, seed=0), small_synth, recipe)
        assert res.epochs == len(lr_at_val) <= 2 and lr_at_val[0] > 0.5 * recipe.lr, kind
        assert lr_at_val[-1] < 1e-6 * recipe.lr, kind
    assert PipelineConfig().max_epochs == final_recipe("small").max_epochs == final_recipe("baseline").max_epochs


def test_fixed_epochs_is_the_papers_protocol(small_synth):
    from nasrec_lab.baselines import build_baseline

    res = train_final(build_baseline("logistic-regression", small_synth.schema), small_synth,
                      final_recipe("baseline", epochs=1, batch_size=1024))
    n = len(small_synth.split("train+val"))
    assert res.protocol == "fixed-epochs" and res.best_epoch is None and res.steps == -(-n // 1024)


def test_a_seed_is_one_result_with_dropout_and_leaves_the_callers_generator_alone(small_synth):
    """DeepFM's dropout draws from torch's global generator: the final training seeds it from its seed."""
    from nasrec_lab.baselines import build_baseline

    def run(seed):
        return train_final(build_baseline("deepfm", small_synth.schema, seed=0), small_synth,
                           final_recipe("baseline", batch_size=256), seed=seed, steps=8).test_logloss

    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = run(0)
    assert torch.equal(torch.get_rng_state(), before)  # forked: the caller's stream is untouched
    torch.manual_seed(999)  # whatever the caller's generator holds
    assert run(0) == first and run(1) != first


def test_steps_cap_a_final_training_and_never_lengthen_it(small_synth):
    from nasrec_lab.baselines import build_baseline

    per_epoch = -(-len(small_synth.split("train+val")) // 1024)
    capped = train_final(build_baseline("logistic-regression", small_synth.schema), small_synth,
                         final_recipe("baseline", epochs=1, batch_size=1024), steps=3)
    assert capped.steps == 3 < per_epoch and capped.protocol == "fixed-epochs, capped at 3 steps"
    long = train_final(build_baseline("logistic-regression", small_synth.schema), small_synth,
                       final_recipe("baseline", epochs=1, batch_size=1024), steps=10 * per_epoch)
    assert long.steps == per_epoch and long.epochs == 1.0  # the recipe's one epoch, not ten


def _tiny_search(tmp_path, small_synth):
    from nasrec_lab.pipeline import supernet_trainer

    trainer = supernet_trainer(small_synth, "small", 6, seed=0, checkpoint_dir=tmp_path / "sn", batch_size=256)
    trainer.run()
    return trainer.save_checkpoint()


def test_train_baseline_and_search_export_contracts(tmp_path, small_synth):
    ckpt = _tiny_search(tmp_path, small_synth)
    best = tmp_path / "best.json"
    p = _cli("search", "--data", str(small_synth.path), "--supernet", str(ckpt), "--store", str(tmp_path / "s.sqlite"),
             "--searcher", "random", "--budget", "2", "--finetune-steps", "2", "--eval-batches", "1",
             "--eval-batch-size", "512", "--export", str(best), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    exported = json.loads(best.read_text())
    assert exported["space"] == "small" and exported["hash"] == out["best_hash"] == out["best_hash"]
    common = ["--data", str(small_synth.path), "--steps", "3", "--max-epochs", "1", "--json", "--no-progress"]
    sub = _cli("train-subnet", str(best), *common)   # the exported file as is, no --space
    base = _cli("train-baseline", "dlrm", *common)
    assert sub.returncode == 0 and base.returncode == 0, sub.stderr + base.stderr
    a, b = (json.loads(x.stdout.strip().splitlines()[-1]) for x in (sub, base))
    keys = {"test_logloss", "test_auc", "epochs", "protocol", "best_epoch", "oracle_test_logloss"}
    assert keys <= set(a) and keys <= set(b)
    assert a["arch_hash"] == out["best_hash"] and a["space"] == "small" and b["baseline"] == "dlrm"
    assert a["lr"] == FINAL["small"].lr and b["lr"] == FINAL["baseline"].lr
    assert _cli("train-baseline", "no-such-model", "--data", str(small_synth.path)).returncode == 2


def _one_class_copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    for split in ("train", "val", "test"):
        label = dst / split / "label.npy"
        arr = np.load(label)
        np.save(label, np.zeros_like(arr))
    return dst


def test_a_split_with_one_class_is_refused_not_written_as_nan(tmp_path, small_synth):
    ds = _one_class_copy(small_synth.path, tmp_path / "noclicks")
    p = _cli("train-baseline", "logistic-regression", "--data", str(ds), "--steps", "2", "--json", "--no-progress")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "no clicks" in p.stderr and "'train'" in p.stderr and "NaN" not in p.stdout
