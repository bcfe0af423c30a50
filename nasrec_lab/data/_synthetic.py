"""Synthetic CTR data with a known click model: the embedded default data set.

Marginals are Criteo-like (heavy-tailed dense counts with missing values, Zipf-distributed
ids, tables from a handful of rows to 10^6). The click logit is built from the kinds of
structure NASRec's operators capture:

* factorization-style interactions ``<U_f[id_f], V_g[id_g]>`` on a few field pairs (FM, DP),
* a nonlinear function of dense features (a small tanh network; FC),
* a gated dense-by-sparse interaction ``sigmoid(c . z) * g[id_h]`` (Sigmoid Gating),
* per-id first-order effects, and unobserved Gaussian logit noise.

The stored probability integrates the unobserved noise out (Gauss-Hermite quadrature), so
it is exactly ``P(click | features)``: its log loss on a split is the Bayes-optimal floor.

That click model is the ``default`` preset. The other :data:`SYNTHETIC_PRESETS` keep it at half
strength (``base_scale``) and add one structure the baselines' fixed shapes do not fit, scaled
to a logit standard deviation of ``preset_scale`` (its parameters come from their own random
stream, so the default preset's rows do not change):

* ``higher-order``: three-field (trilinear, CP rank 4) interactions and pairwise
  interactions gated by the dense features: beyond one layer of pairwise dot products;
* ``dense-width``: a wide random ReLU network (512 units) of the dense features: narrow
  FC layers underfit it;
* ``field-attention``: content-dependent field selection: a target field's query attends
  over the keys of seven other fields (softmax) and reads their values, as one attention
  head over field embeddings does;
* ``three-field``: three-field (trilinear, CP rank 4) interactions on small tables (16-1,000
  ids) whose factors have mean 0.7: unlike ``higher-order``'s zero-mean factors, each term has
  lower-order parts a gradient can follow, and a pure three-way part (a fifth of its variance)
  that pairwise dot products cannot fit.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._atomic import atomic_directory, atomic_file, atomic_write_json
from ._dataset import MANIFEST, CTRDataset, SplitWriter, not_a_dataset_reason
from ._preprocess import _manifest
from ._readers import transform_dense
from ._schema import FeatureSchema
from ._split import assign_splits

CHUNK_ROWS = 1 << 16
#: mean of the ``three-field`` preset's factors (variance 1)
THREE_FIELD_MEAN = 0.7
#: chunk indices of part ``k`` start at ``k * PART_STRIDE``: beyond any data set's chunks (50M rows
#: are 763 chunks), so different parts draw from random streams no other part uses
PART_STRIDE = 1 << 20


def _default_tables(n: int) -> tuple[int, ...]:
    return tuple(int(round(x)) for x in np.geomspace(4, 1_000_000, n))


@dataclass(frozen=True)
class SyntheticSpec:
    """Shape and difficulty of the synthetic click model."""

    n_dense: int = 13
    n_sparse: int = 26
    table_sizes: tuple[int, ...] = field(default_factory=lambda: _default_tables(26))
    positive_rate: float = 0.25
    zipf_exponent: float = 1.1
    dense_missing_rate: float = 0.15
    sparse_missing_rate: float = 0.03
    fm_pairs: int = 5
    fm_rank: int = 4
    noise_std: float = 0.5
    signal_scale: float = 1.0
    preset: str = "default"
    base_scale: float = 1.0
    preset_scale: float = 1.5

    def __post_init__(self) -> None:
        if self.preset not in PRESET_STRUCTURES:
            raise ValueError(f"SyntheticSpec: unknown preset {self.preset!r}; known: {list(PRESET_STRUCTURES)}")
        object.__setattr__(self, "table_sizes", tuple(int(t) for t in self.table_sizes))
        if len(self.table_sizes) != self.n_sparse:
            raise ValueError(f"SyntheticSpec: {self.n_sparse} sparse features but {len(self.table_sizes)} table sizes")
        if not 0.0 < self.positive_rate < 1.0:
            raise ValueError(f"SyntheticSpec: positive_rate must be in (0, 1), got {self.positive_rate}")
        if self.n_dense < 1 or self.n_sparse < 3:
            raise ValueError("SyntheticSpec: need at least 1 dense and 3 sparse features")
        if min(self.table_sizes) < 2:
            raise ValueError("SyntheticSpec: table sizes must be >= 2")
        pool = min(self.n_sparse, max(6, 2 * self.fm_pairs))  # the fields ClickModel draws its pairs from
        if not 1 <= self.fm_pairs <= pool * (pool - 1) // 2:
            raise ValueError(f"SyntheticSpec: fm_pairs must be between 1 and {pool * (pool - 1) // 2} (the distinct "
                             f"pairs of {pool} fields) with {self.n_sparse} sparse features, got {self.fm_pairs}")
        if self.fm_rank < 1:
            raise ValueError(f"SyntheticSpec: fm_rank must be at least 1, got {self.fm_rank}")

    def schema(self) -> FeatureSchema:
        return FeatureSchema(
            dense=tuple(f"I{i + 1}" for i in range(self.n_dense)),
            sparse=tuple(f"C{i + 1}" for i in range(self.n_sparse)),
            table_sizes=self.table_sizes,
            name="synthetic",
        )


#: the extra logit structure of each preset (None: the default click model alone)
PRESET_STRUCTURES: dict[str, str | None] = {
    "default": None,
    "higher-order": "three-field interactions and dense-gated pairwise interactions",
    "dense-width": "a 512-unit random ReLU network of the dense features",
    "field-attention": "a softmax attention read-out over eight fields' ids",
    "three-field": "three-field interactions with non-zero-mean factors on small tables",
}


class ClickModel:
    """The generator: draws feature rows and their exact click probabilities."""

    def __init__(self, spec: SyntheticSpec, seed: int) -> None:
        self.spec = spec
        self.seed = int(seed)
        rng = np.random.default_rng([self.seed, 0])
        s = spec
        self.dense_mu = rng.uniform(0.0, 4.0, s.n_dense)
        self.dense_sigma = rng.uniform(0.8, 2.0, s.n_dense)
        self._zipf_cdf = {}
        for j, t in enumerate(s.table_sizes):
            ranks = np.arange(1, t, dtype=np.float64)
            w = ranks ** (-s.zipf_exponent)
            self._zipf_cdf[j] = np.cumsum(w) / w.sum()
        # Pairs of fields that interact; favour mid-sized tables so the interactions are learnable.
        order = np.argsort(np.abs(np.log(np.array(s.table_sizes)) - np.log(2000)))
        pool = order[: max(6, 2 * s.fm_pairs)]
        pairs = set()
        while len(pairs) < s.fm_pairs:
            a, b = rng.choice(pool, 2, replace=False)
            pairs.add((int(min(a, b)), int(max(a, b))))
        self.fm_pairs = sorted(pairs)
        scale = 1.0 / np.sqrt(s.fm_rank)
        self.fm_u = {p: rng.normal(0, scale, (s.table_sizes[p[0]], s.fm_rank)) for p in self.fm_pairs}
        self.fm_v = {p: rng.normal(0, scale, (s.table_sizes[p[1]], s.fm_rank)) for p in self.fm_pairs}
        self.first_order_fields = [int(f) for f in rng.choice(s.n_sparse, min(6, s.n_sparse), replace=False)]
        self.first_order = {f: rng.normal(0, 0.4, s.table_sizes[f]) for f in self.first_order_fields}
        hidden = 8
        self.mlp_w1 = rng.normal(0, 0.6, (s.n_dense, hidden))
        self.mlp_b1 = rng.normal(0, 0.5, hidden)
        self.mlp_w2 = rng.normal(0, 0.8, hidden)
        self.gate_c = rng.normal(0, 0.7, s.n_dense)
        self.gate_field = int(order[0])
        self.gate_g = rng.normal(0, 1.0, s.table_sizes[self.gate_field])
        self.zmean = None
        self.zstd = None
        # Calibrate the dense standardisation and the bias on a pilot sample of the same generator.
        pilot = self._features(np.random.default_rng([self.seed, 1]), 20_000)
        self.zmean = pilot[0].mean(0)
        self.zstd = pilot[0].std(0) + 1e-6
        self.preset_std = 1.0
        if s.preset != "default":
            self._init_preset(np.random.default_rng([self.seed, 3]), order)
            self.preset_std = float(self._preset_logit((pilot[0] - self.zmean) / self.zstd, pilot[1]).std()) + 1e-12
        raw = self._logit(*pilot)
        self.bias = self._calibrate(raw, s.positive_rate)
        gh_x, gh_w = np.polynomial.hermite_e.hermegauss(24)
        self._gh_x, self._gh_w = gh_x, gh_w / gh_w.sum()

    def _features(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.spec
        counts = np.floor(np.exp(rng.normal(self.dense_mu, self.dense_sigma, (n, s.n_dense))))
        counts[rng.random((n, s.n_dense)) < s.dense_missing_rate] = np.nan
        z = transform_dense(counts)
        ids = np.empty((n, s.n_sparse), np.int32)
        for j in range(s.n_sparse):
            ids[:, j] = np.searchsorted(self._zipf_cdf[j], rng.random(n), side="right") + 1
            ids[:, j] = np.minimum(ids[:, j], s.table_sizes[j] - 1)
            ids[rng.random(n) < s.sparse_missing_rate, j] = 0
        return z, ids

    def _logit(self, z: np.ndarray, ids: np.ndarray) -> np.ndarray:
        zs = (z - self.zmean) / self.zstd
        out = np.tanh(zs @ self.mlp_w1 + self.mlp_b1) @ self.mlp_w2
        for (a, b) in self.fm_pairs:
            out += np.einsum("nk,nk->n", self.fm_u[(a, b)][ids[:, a]], self.fm_v[(a, b)][ids[:, b]])
        for f in self.first_order_fields:
            out += self.first_order[f][ids[:, f]]
        gate = 1.0 / (1.0 + np.exp(-(zs @ self.gate_c)))
        out += 1.5 * gate * self.gate_g[ids[:, self.gate_field]]
        if self.spec.preset != "default":
            out = self.spec.base_scale * out + self.spec.preset_scale * self._preset_logit(zs, ids) / self.preset_std
        return self.spec.signal_scale * out

    # -- the presets' extra structure (unscaled; _logit scales it to std preset_scale) -------------
    def _init_preset(self, rng: np.random.Generator, order: np.ndarray) -> None:
        s = self.spec
        pool = [int(f) for f in order[: min(12, s.n_sparse)]]  # mid-sized tables: learnable ids
        tables = s.table_sizes
        rank = 4
        if s.preset == "higher-order":
            self.triples = [tuple(int(f) for f in rng.choice(pool, 3, replace=False)) for _ in range(4)]
            self.tri = [[rng.normal(0, 1, (tables[f], rank)) for f in t] for t in self.triples]
            self.gated_pairs = [tuple(int(f) for f in rng.choice(pool, 2, replace=False)) for _ in range(2)]
            self.gated = [[rng.normal(0, 1, (tables[f], rank)) for f in p] for p in self.gated_pairs]
            self.gated_c = rng.normal(0, 1, (2, s.n_dense))
        elif s.preset == "dense-width":
            hidden = 512
            self.wide_w = rng.normal(0, 1.5 / np.sqrt(s.n_dense), (s.n_dense, hidden))
            self.wide_b = rng.normal(0, 1.0, hidden)
            self.wide_a = rng.normal(0, 1.0, hidden)
        elif s.preset == "three-field":
            small = [f for f in range(s.n_sparse) if 16 <= tables[f] <= 1000]
            small = small if len(small) >= 3 else pool
            self.triples = [tuple(int(f) for f in rng.choice(small, 3, replace=False)) for _ in range(4)]
            self.tri = [[rng.normal(THREE_FIELD_MEAN, 1, (tables[f], rank)) for f in t] for t in self.triples]
        elif s.preset == "field-attention":
            self.att_fields = [int(f) for f in rng.choice(pool, min(8, len(pool)), replace=False)]
            self.att_target = self.att_fields[0]
            self.att_q = rng.normal(0, 1, (tables[self.att_target], rank))
            self.att_r = rng.normal(0, 1, (tables[self.att_target], rank))
            self.att_k = {f: rng.normal(0, 1, (tables[f], rank)) for f in self.att_fields[1:]}
            self.att_v = {f: rng.normal(0, 1, (tables[f], rank)) for f in self.att_fields[1:]}

    def _preset_logit(self, zs: np.ndarray, ids: np.ndarray) -> np.ndarray:
        p = self.spec.preset
        if p in ("higher-order", "three-field"):
            out = np.zeros(len(zs))
            for t, (u, v, w) in zip(self.triples, self.tri):
                out += (u[ids[:, t[0]]] * v[ids[:, t[1]]] * w[ids[:, t[2]]]).sum(1)
            if p == "three-field":
                return out
            for k, (pair, (u, v)) in enumerate(zip(self.gated_pairs, self.gated)):
                gate = 1.0 / (1.0 + np.exp(-(zs @ self.gated_c[k])))
                out += gate * (u[ids[:, pair[0]]] * v[ids[:, pair[1]]]).sum(1)
            return out
        if p == "dense-width":
            return np.maximum(zs @ self.wide_w + self.wide_b, 0.0) @ self.wide_a
        # field-attention
        q = self.att_q[ids[:, self.att_target]]
        others = self.att_fields[1:]
        scores = np.stack([(q * self.att_k[f][ids[:, f]]).sum(1) for f in others], 1) / 2.0  # / sqrt(rank)
        att = np.exp(scores - scores.max(1, keepdims=True))
        att /= att.sum(1, keepdims=True)
        read = np.stack([(self.att_r[ids[:, self.att_target]] * self.att_v[f][ids[:, f]]).sum(1) for f in others], 1)
        return (att * read).sum(1)

    def _marginal_prob(self, logit: np.ndarray) -> np.ndarray:
        t = logit[:, None] + self.spec.noise_std * self._gh_x[None, :]
        return (1.0 / (1.0 + np.exp(-t))) @ self._gh_w

    def _calibrate(self, raw: np.ndarray, target: float) -> float:
        gh_x, gh_w = np.polynomial.hermite_e.hermegauss(24)
        self._gh_x, self._gh_w = gh_x, gh_w / gh_w.sum()
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self._marginal_prob(raw + mid).mean() < target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    def chunk(self, index: int, n: int) -> dict[str, np.ndarray]:
        """Rows of chunk ``index`` (deterministic in ``(seed, index)``, whatever else is drawn)."""
        rng = np.random.default_rng([self.seed, 2, index])
        z, ids = self._features(rng, n)
        prob = self._marginal_prob(self._logit(z, ids) + self.bias)
        label = (rng.random(n) < prob).astype(np.int8)
        return {"dense": z, "sparse": ids, "label": label, "prob": prob.astype(np.float32)}

    def iter_chunks(self, rows: int, part: int = 0):
        for i, start in enumerate(range(0, rows, CHUNK_ROWS)):
            yield self.chunk(part * PART_STRIDE + i, min(CHUNK_ROWS, rows - start))


#: named click models (see the module docstring and README's Data section for what each tests)
SYNTHETIC_PRESETS: dict[str, SyntheticSpec] = {
    "default": SyntheticSpec(),
    "higher-order": SyntheticSpec(preset="higher-order", base_scale=0.5),
    "dense-width": SyntheticSpec(preset="dense-width", base_scale=0.5),
    "field-attention": SyntheticSpec(preset="field-attention", base_scale=0.5),
    "three-field": SyntheticSpec(preset="three-field", base_scale=0.5),
}


def synthesize(
    out: str | os.PathLike,
    *,
    rows: int = 200_000,
    seed: int = 0,
    spec: SyntheticSpec | None = None,
    split: str = "autoctr",
    split_seed: int = 2018,
    overwrite: bool = False,
    part: int = 0,
) -> CTRDataset:
    """Generate a synthetic data set directory (streamed in chunks; memory does not grow with rows).

    ``part`` draws further rows of the same click model (same seed: same oracle, same ids): parts
    share no rows, so a model trained on part 1 meets part 0's validation rows for the first time
    (a supernet trained on fresh rows, scored on the references' data set).

    >>> ds = synthesize("data/synthetic", rows=100_000, seed=0)   # doctest: +SKIP
    >>> ds.oracle_logloss("test")                                 # doctest: +SKIP
    """
    if not 1_000 <= rows <= 50_000_000:
        raise ValueError(f"rows must be between 1,000 and 50,000,000, got {rows}")
    _check_part(part)
    spec = spec or SyntheticSpec()
    model = ClickModel(spec, seed)
    with atomic_directory(out, overwrite=overwrite, owned=not_a_dataset_reason) as tmp:
        # Pass 1: labels only, for the stratified split (1 byte a row).
        labels = np.concatenate([c["label"] for c in _labels_only(model, rows, part)])
        assignment = assign_splits(labels, split, split_seed)
        counts = {name: int((assignment == i).sum()) for i, name in enumerate(("train", "val", "test"))}
        writer = SplitWriter(tmp, counts, spec.n_dense, spec.n_sparse, with_prob=True)
        start = 0
        for chunk in model.iter_chunks(rows, part):
            stop = start + len(chunk["label"])
            writer.write(assignment[start:stop], chunk)
            start = stop
        splits = writer.close()
        manifest = _manifest(
            kind="synthetic",
            schema=spec.schema(),
            splits=splits,
            sources=[],
            preprocessing={"split": split, "split_seed": split_seed},
            extra={"synthetic": {**synthetic_record(spec, rows=rows, seed=seed, part=part), "bias": model.bias}},
        )
        atomic_write_json(tmp / MANIFEST, manifest)
    return CTRDataset(out)


def synthetic_record(spec: SyntheticSpec, *, rows: int, seed: int, part: int = 0) -> dict:
    """What the manifest of ``synthesize(rows=, seed=, spec=, part=)`` records as the data set's identity
    (its ``"synthetic"`` entry, less the fitted bias): compare a kept data set against it before reusing it.

    >>> synthetic_record(SYNTHETIC_PRESETS["default"], rows=1000, seed=0)["spec"]["preset"]
    'default'
    """
    return {"rows": rows, "seed": seed, "part": part, "spec": asdict(spec)}


def synthetic_differences(dataset: CTRDataset, spec: SyntheticSpec, *, rows: int, seed: int,
                          part: int = 0) -> list[str] | None:
    """What a kept data set's synthetic record differs in from the one asked for (``[]``: the same
    data set); ``None`` when it is not synthetic (a preprocessed real data set)."""
    kept = dataset.manifest.get("synthetic")
    if not kept:
        return None
    # compared as the manifest holds it: through JSON (tuples come back as lists)
    wanted = json.loads(json.dumps(synthetic_record(spec, rows=rows, seed=seed, part=part)))
    return [k for k, v in wanted.items() if kept.get(k) != v]


def open_or_synthesize(path: str | os.PathLike, *, rows: int, seed: int, spec: SyntheticSpec = SyntheticSpec(),
                       part: int = 0) -> CTRDataset:
    """The data set a notebook runs on: the one at ``path`` if it is this synthetic data set, or a
    real data set a user put there; generated otherwise. A synthetic data set of other settings is
    generated again in its place (its manifest regenerates it exactly, so nothing is lost), so the
    same seed and size give the same run whatever the folder held.

    >>> ds = open_or_synthesize("data", rows=100_000, seed=0)   # doctest: +SKIP
    """
    path = Path(path)
    if (path / MANIFEST).exists():
        ds = CTRDataset(path)
        differ = synthetic_differences(ds, spec, rows=rows, seed=seed, part=part)
        if not differ:
            return ds
        print(f"{path}: holds the synthetic data set of other settings ({', '.join(differ)}): generated again")
        return synthesize(path, rows=rows, seed=seed, spec=spec, part=part, overwrite=True)
    return synthesize(path, rows=rows, seed=seed, spec=spec, part=part)


def _check_part(part: int) -> None:
    if not 0 <= part < 1024:
        raise ValueError(f"part must be between 0 and 1023, got {part}")


def _labels_only(model: ClickModel, rows: int, part: int = 0):
    # The label of a row depends on its features, so the chunk is drawn in full and the
    # rest dropped; chunks are small and regenerated identically in pass 2.
    for chunk in model.iter_chunks(rows, part):
        yield {"label": chunk["label"]}


def write_raw_criteo(path: str | os.PathLike, *, rows: int, seed: int = 0, part: int = 0,
                     overwrite: bool = False) -> Path:
    """Write ``rows`` synthetic rows in Criteo DAC ``train.txt`` format (TAB, 40 fields, hex ids).

    Dense fields hold the raw counts (empty when missing); categorical ids become 8-hex-digit
    hashes as in the real files (``part`` as in :func:`synthesize`). Used by the smoke run and the
    preprocessing benchmark. An existing file is replaced only with ``overwrite``.
    """
    _check_part(part)
    path = Path(path)
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory; the raw Criteo rows need a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass --overwrite (overwrite=True) to replace it")
    import pyarrow as pa
    import pyarrow.csv as pacsv

    spec = SyntheticSpec(n_dense=13, n_sparse=26)
    model = ClickModel(spec, seed)
    mult = np.uint64(2654435761)
    options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    with atomic_file(path) as fh:
        for c in model.iter_chunks(rows, part):
            n = len(c["label"])
            cols = {"label": pa.array(c["label"].astype(np.int64))}
            counts = np.expm1(c["dense"].astype(np.float64)).round().astype(np.int64)
            # A zero count and a missing value both become 0; a third of the zeros are written
            # as missing (empty) like Criteo's.
            missing = (c["dense"] == 0) & (np.arange(n)[:, None] % 3 == 0)
            for j in range(13):
                cols[f"I{j + 1}"] = pa.array(counts[:, j], mask=missing[:, j])
            for j in range(26):
                h = ((c["sparse"][:, j].astype(np.uint64) + np.uint64(j << 24)) * mult) & np.uint64(0xFFFFFFFF)
                cols[f"C{j + 1}"] = pa.array(_hex8(h), mask=c["sparse"][:, j] == 0)
            pacsv.write_csv(pa.table(cols), fh, options)
    return path


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex8(values: np.ndarray) -> np.ndarray:
    """32-bit values as 8-character lowercase hex strings, vectorised."""
    shifts = np.arange(28, -4, -4, dtype=np.uint64)
    nibbles = (values[:, None] >> shifts) & np.uint64(0xF)
    return np.ascontiguousarray(_HEX[nibbles.astype(np.intp)]).view("S8").ravel()
