"""Each synthetic preset's stored probability is the exact click probability of its written-out formula."""

import dataclasses
import math

import numpy as np
import pytest
from scipy import integrate

from nasrec_lab.data import SYNTHETIC_PRESETS, ClickModel, binary_logloss, synthesize

TINY = tuple(int(x) for x in np.geomspace(4, 3000, 26))


def _spec(name):
    return dataclasses.replace(SYNTHETIC_PRESETS[name], table_sizes=TINY)


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _row_logit(m: ClickModel, z, ids) -> float:
    """The click logit of one row, written out term by term from the model's parameters."""
    s = m.spec
    zs = [(z[d] - m.zmean[d]) / m.zstd[d] for d in range(s.n_dense)]
    base = sum(m.mlp_w2[h] * math.tanh(sum(zs[d] * m.mlp_w1[d, h] for d in range(s.n_dense)) + m.mlp_b1[h])
               for h in range(len(m.mlp_b1)))
    for a, b in m.fm_pairs:
        base += sum(m.fm_u[(a, b)][ids[a], k] * m.fm_v[(a, b)][ids[b], k] for k in range(s.fm_rank))
    base += sum(m.first_order[f][ids[f]] for f in m.first_order_fields)
    base += 1.5 * _sig(sum(zs[d] * m.gate_c[d] for d in range(s.n_dense))) * m.gate_g[ids[m.gate_field]]
    if s.preset == "default":
        return s.signal_scale * base + m.bias
    extra = 0.0
    if s.preset in ("higher-order", "three-field"):
        for (a, b, c), (u, v, w) in zip(m.triples, m.tri):
            extra += sum(u[ids[a], k] * v[ids[b], k] * w[ids[c], k] for k in range(u.shape[1]))
    if s.preset == "higher-order":
        for j, ((a, b), (u, v)) in enumerate(zip(m.gated_pairs, m.gated)):
            g = _sig(sum(zs[d] * m.gated_c[j, d] for d in range(s.n_dense)))
            extra += g * sum(u[ids[a], k] * v[ids[b], k] for k in range(u.shape[1]))
    elif s.preset == "dense-width":
        for h in range(len(m.wide_b)):
            pre = sum(zs[d] * m.wide_w[d, h] for d in range(s.n_dense)) + m.wide_b[h]
            extra += m.wide_a[h] * max(pre, 0.0)
    elif s.preset == "field-attention":  # softmax over the other fields of <q_target, k_f> / sqrt(4), reading <r_target, v_f>
        t = m.att_target
        others = m.att_fields[1:]
        scores = [float(np.dot(m.att_q[ids[t]], m.att_k[f][ids[f]])) / 2.0 for f in others]
        weights = [math.exp(x - max(scores)) for x in scores]
        extra = sum(w * float(np.dot(m.att_r[ids[t]], m.att_v[f][ids[f]])) for w, f in zip(weights, others))
        extra /= sum(weights)
    return s.signal_scale * (s.base_scale * base + s.preset_scale * extra / m.preset_std) + m.bias


@pytest.mark.parametrize("name", list(SYNTHETIC_PRESETS))
def test_stored_probability_is_the_written_out_click_model(name):
    m = ClickModel(_spec(name), seed=4)
    c = m.chunk(0, 6)
    sigma = m.spec.noise_std
    for i in range(6):
        logit = _row_logit(m, c["dense"][i], c["sparse"][i])
        # the unobserved logit noise integrated out numerically (the generator uses Gauss-Hermite)
        p, _ = integrate.quad(lambda x, lg=logit: _sig(lg + sigma * x) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi),
                              -12, 12)
        assert c["prob"][i] == pytest.approx(p, abs=2e-6)


@pytest.mark.parametrize("name", list(SYNTHETIC_PRESETS))
def test_oracle_and_calibration(name, tmp_path):
    spec = _spec(name)
    ds = synthesize(tmp_path / name, rows=4_000, seed=2, spec=spec)
    assert ds.manifest["synthetic"]["spec"]["preset"] == name
    for split in ("train", "test"):
        sp = ds.split(split)
        assert ds.oracle_logloss(split) == pytest.approx(binary_logloss(sp.column("label"), sp.column("prob")),
                                                         rel=1e-6)
    m = ClickModel(spec, seed=5)
    chunks = [m.chunk(i, 30_000) for i in range(2)]
    prob = np.concatenate([c["prob"] for c in chunks]).astype(np.float64)
    label = np.concatenate([c["label"] for c in chunks])
    assert abs(label.mean() - spec.positive_rate) < 0.01
    edges = np.quantile(prob, np.linspace(0, 1, 11))
    bucket = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, 9)
    for b in range(10):  # labels follow the stored probability in every decile
        sel = bucket == b
        se = np.sqrt(prob[sel].mean() * (1 - prob[sel].mean()) / sel.sum())
        assert abs(label[sel].mean() - prob[sel].mean()) < 4 * se + 1e-3
    if name != "default":  # the preset's structure carries signal of its own (logit std preset_scale)
        z, ids = chunks[0]["dense"], chunks[0]["sparse"]
        extra = m._preset_logit((z - m.zmean) / m.zstd, ids) / m.preset_std
        assert 0.8 < extra.std() < 1.2


def test_three_field_factors_sit_on_small_tables_with_a_non_zero_mean():
    """What makes its three-way terms learnable: ids seen often enough, and lower-order parts that a
    gradient can follow from the start (zero-mean factors, as in ``higher-order``, give none)."""
    m = ClickModel(SYNTHETIC_PRESETS["three-field"], seed=1)
    sizes = m.spec.table_sizes
    assert len(m.triples) == 4
    for fields, factors in zip(m.triples, m.tri):
        assert len(set(fields)) == 3 and all(16 <= sizes[f] <= 1000 for f in fields)
        for f, u in zip(fields, factors):
            assert u.shape == (sizes[f], 4)
            se = 1.0 / math.sqrt(u.size)
            assert abs(u.mean() - 0.7) < 5 * se and abs(u.std() - 1.0) < 5 * se / math.sqrt(2)
    # What pairwise interactions cannot fit: the pure three-way part of each term (its factors centred on
    # their mean over rows; fields are independent, so this is the term's ANOVA component). For factors of
    # mean 0.7 and variance 1 it carries 1 / ((0.7^2 + 1)^3 - 0.7^6) = 21% of a term's variance: std 0.46
    # of the preset's unit-std logit (Zipf-weighted ids move the rows' factor moments a little)
    c = m.chunk(0, 50_000)
    ids = c["sparse"]
    pure = sum(np.prod([f[ids[:, t]] - f[ids[:, t]].mean(0) for f, t in zip(factors, fields)], 0).sum(1)
               for fields, factors in zip(m.triples, m.tri))
    assert 0.3 < pure.std() / m.preset_std < 0.65


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown preset"):
        dataclasses.replace(SYNTHETIC_PRESETS["default"], preset="nope")
