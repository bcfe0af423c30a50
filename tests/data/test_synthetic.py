import json

import numpy as np
import pytest

from nasrec_lab.data import ClickModel, CTRDataset, SyntheticSpec, binary_logloss, synthesize, write_raw_criteo


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    a = synthesize(tmp_path / "a", rows=5_000, seed=1)
    b = synthesize(tmp_path / "b", rows=5_000, seed=1)
    c = synthesize(tmp_path / "c", rows=5_000, seed=2)
    for key in ("dense", "sparse", "label", "prob"):
        assert np.array_equal(a.split("train").column(key), b.split("train").column(key))
    assert not np.array_equal(a.split("train").column("sparse"), c.split("train").column("sparse"))
    assert a.manifest["splits"] == b.manifest["splits"]


def test_manifest_oracle_is_the_log_loss_of_the_true_probability(small_synth):
    for split in ("train", "val", "test"):
        s = small_synth.split(split)
        expected = binary_logloss(s.column("label"), s.column("prob"))
        assert small_synth.oracle_logloss(split) == pytest.approx(expected, rel=1e-6)
        # The floor is well below the entropy of a constant predictor at the base rate.
        p = s.column("label").mean()
        assert expected < -(p * np.log(p) + (1 - p) * np.log(1 - p)) - 0.05


def test_stored_probability_is_calibrated():
    # Independent truth: labels drawn with the stored probability must match it in every bucket.
    model = ClickModel(SyntheticSpec(), seed=5)
    chunks = [model.chunk(i, 50_000) for i in range(4)]
    prob = np.concatenate([c["prob"] for c in chunks])
    label = np.concatenate([c["label"] for c in chunks])
    edges = np.quantile(prob, np.linspace(0, 1, 11))
    bucket = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, 9)
    for b in range(10):
        m = bucket == b
        se = np.sqrt(prob[m].mean() * (1 - prob[m].mean()) / m.sum())
        assert abs(label[m].mean() - prob[m].mean()) < 4 * se + 1e-3


def test_marginal_probability_integrates_the_noise_out():
    model = ClickModel(SyntheticSpec(noise_std=1.0), seed=0)
    logits = np.array([-2.0, 0.0, 1.5])
    eps = np.random.default_rng(0).normal(size=(400_000, 1))
    monte_carlo = (1 / (1 + np.exp(-(logits + eps)))).mean(0)
    np.testing.assert_allclose(model._marginal_prob(logits), monte_carlo, atol=2e-3)


def test_positive_rate_and_marginals(tmp_path):
    ds = synthesize(tmp_path / "d", rows=30_000, seed=0, spec=SyntheticSpec(positive_rate=0.1))
    tr = ds.split("train")
    assert abs(tr.column("label").mean() - 0.1) < 0.01
    sparse = tr.column("sparse")
    sizes = np.array(ds.schema.table_sizes)
    assert (sparse < sizes).all() and (sparse >= 0).all()
    assert sizes.min() <= 10 and sizes.max() >= 10**6
    # Zipf: the most frequent id of the largest table is far more common than the median id.
    big = sparse[:, np.argmax(sizes)]
    counts = np.bincount(big[big > 0])
    assert counts.max() > 50 * np.median(counts[counts > 0])
    assert (sparse == 0).mean() > 0.01  # missing ids exist
    dense = tr.column("dense")
    assert (dense == 0).mean() > 0.1 and dense.max() > 5  # missing -> 0, heavy tails


def test_invalid_spec_and_rows(tmp_path):
    with pytest.raises(ValueError, match="positive_rate"):
        SyntheticSpec(positive_rate=1.5)
    with pytest.raises(ValueError, match="rows must be between"):
        synthesize(tmp_path / "x", rows=10)


def test_manifest_contents(small_synth):
    m = json.loads((small_synth.path / "manifest.json").read_text())
    assert m["kind"] == "synthetic"
    assert set(m["splits"]) == {"train", "val", "test"}
    assert all("oracle_logloss" in s and "positive_rate" in s and "rows" in s for s in m["splits"].values())
    assert m["synthetic"]["seed"] == 3
    assert CTRDataset(small_synth.path).schema == small_synth.schema


def test_a_further_part_draws_new_rows_of_the_same_click_model(tmp_path):
    spec = SyntheticSpec(preset="dense-width", base_scale=0.5)
    base = synthesize(tmp_path / "p0", rows=20_000, seed=4, spec=spec)
    more = synthesize(tmp_path / "p1", rows=20_000, seed=4, spec=spec, part=1)

    def rows(ds):
        return {r.tobytes() for s in ("train", "val", "test") for r in ds.split(s).column("dense")}

    assert not rows(base) & rows(more)  # no row of part 1 is in part 0 (continuous features: no chance ties)
    # Same law: part 1's stored probabilities are those the seed's click model gives its features, and
    # another seed's model does not.
    same, other = ClickModel(spec, seed=4), ClickModel(spec, seed=5)
    tr = more.split("train")
    z, ids = tr.column("dense"), tr.column("sparse")
    np.testing.assert_allclose(same._marginal_prob(same._logit(z, ids) + same.bias), tr.column("prob"), rtol=1e-5)
    assert not np.allclose(other._marginal_prob(other._logit(z, ids) + other.bias), tr.column("prob"), rtol=1e-3)
    assert more.manifest["synthetic"]["part"] == 1
    with pytest.raises(ValueError, match="part must be between"):
        synthesize(tmp_path / "bad", rows=5_000, seed=4, part=-1)
    raw0, raw1 = (write_raw_criteo(tmp_path / f"raw{k}.txt", rows=2_000, seed=4, part=k) for k in (0, 1))
    assert not set(raw0.read_text().splitlines()) & set(raw1.read_text().splitlines())
