"""Logistic regression, DLRM, DeepFM, DCN-v2 and AutoInt for (dense, sparse) CTR batches."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._atomic import atomic_write_bytes
from ..data import FeatureSchema
from ..space import Architecture, Block, SearchSpace, get_space
from ..supernet import init_field_tables_

BASELINES: dict[str, Callable[..., Baseline]] = {}


def register_baseline(name: str):
    def wrap(cls):
        BASELINES[name] = cls
        cls.baseline_name = name
        return cls

    return wrap


def build_baseline(name: str, schema: FeatureSchema, *, seed: int = 0, **kwargs: Any) -> Baseline:
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {sorted(BASELINES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BASELINES[name](schema, **kwargs)


def _mlp(sizes: Sequence[int], *, last_act: bool = True, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_act:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Baseline(nn.Module):
    """Common part: one embedding table for all sparse features, ``config()`` and ``save()``."""

    baseline_name = "baseline"

    def __init__(self, schema: FeatureSchema, embedding_dim: int = 16) -> None:
        super().__init__()
        self.schema = schema
        self.embedding_dim = embedding_dim
        sizes = torch.tensor((0,) + schema.table_sizes[:-1])
        self.register_buffer("offsets", torch.cumsum(sizes, 0), persistent=False)
        # sparse gradients: Adagrad updates only the rows a batch touched
        self.embedding = nn.Embedding(sum(schema.table_sizes), embedding_dim, sparse=True)
        init_field_tables_(self.embedding.weight, schema.table_sizes)

    def embed(self, sparse: Tensor) -> Tensor:
        return self.embedding(sparse + self.offsets)  # (B, F, e)

    def config(self) -> dict[str, Any]:
        return {"baseline": self.baseline_name, "schema": self.schema.to_json()}

    def save(self, path: str | os.PathLike) -> None:
        import io

        buf = io.BytesIO()
        torch.save({"format": "nasrec-lab/baseline-v1", "config": self.config(), "state_dict": self.state_dict()}, buf)
        atomic_write_bytes(path, buf.getvalue())


@register_baseline("logistic-regression")
class LogisticRegression(Baseline):
    """``w . dense + sum_f w_f[id_f] + b``: one weight per id (a 1-d embedding)."""

    def __init__(self, schema: FeatureSchema) -> None:
        super().__init__(schema, embedding_dim=1)
        nn.init.zeros_(self.embedding.weight)
        self.dense = nn.Linear(schema.n_dense, 1)

    def forward(self, batch) -> Tensor:
        return self.dense(batch.dense).squeeze(1) + self.embed(batch.sparse).sum(dim=(1, 2))


def _pairwise_dots(t: Tensor) -> Tensor:
    """Strict lower triangle of ``t t^T`` for t (B, n, e) -> (B, n(n-1)/2)."""
    z = torch.bmm(t, t.transpose(1, 2))
    li, lj = torch.tril_indices(t.shape[1], t.shape[1], offset=-1, device=t.device)
    return z[:, li, lj]


@register_baseline("dlrm")
class DLRM(Baseline):
    """DLRM (Naumov et al., 2019), its Criteo Kaggle configuration: bottom MLP 512-256-64-16 on
    the dense features, pairwise dot products of [bottom output; embeddings], top MLP 512-256-1."""

    def __init__(self, schema: FeatureSchema, bottom: Sequence[int] = (512, 256, 64),
                 top: Sequence[int] = (512, 256)) -> None:
        super().__init__(schema)
        e = self.embedding_dim
        self.bottom = _mlp([schema.n_dense, *bottom, e])
        n = schema.n_sparse + 1
        self.top = _mlp([e + n * (n - 1) // 2, *top, 1], last_act=False)

    def forward(self, batch) -> Tensor:
        d = self.bottom(batch.dense)
        t = torch.cat([d.unsqueeze(1), self.embed(batch.sparse)], 1)
        return self.top(torch.cat([d, _pairwise_dots(t)], 1)).squeeze(1)


@register_baseline("deepfm")
class DeepFM(Baseline):
    """DeepFM (Guo et al., 2017): first-order + second-order FM on the embeddings, plus a DNN
    400-400-400 (ReLU, dropout 0.5) on [dense; flattened embeddings]; the three are summed."""

    def __init__(self, schema: FeatureSchema, hidden: Sequence[int] = (400, 400, 400), dropout: float = 0.5) -> None:
        super().__init__(schema)
        self.first_order = nn.Embedding(sum(schema.table_sizes), 1, sparse=True)
        nn.init.zeros_(self.first_order.weight)
        self.dense_linear = nn.Linear(schema.n_dense, 1)
        self.dnn = _mlp([schema.n_dense + schema.n_sparse * self.embedding_dim, *hidden, 1], last_act=False,
                        dropout=dropout)

    def forward(self, batch) -> Tensor:
        v = self.embed(batch.sparse)
        fm = 0.5 * (v.sum(1).square() - v.square().sum(1)).sum(1)
        first = self.first_order(batch.sparse + self.offsets).sum(dim=(1, 2)) + self.dense_linear(batch.dense).squeeze(1)
        deep = self.dnn(torch.cat([batch.dense, v.flatten(1)], 1)).squeeze(1)
        return first + fm + deep


@register_baseline("dcn-v2")
class DCNv2(Baseline):
    """DCN-v2 (Wang et al., 2021), stacked: 3 full-rank cross layers
    ``x_{l+1} = x_0 * (W x_l + b) + x_l`` on [dense; embeddings], then a 2-layer 768 MLP."""

    def __init__(self, schema: FeatureSchema, cross_layers: int = 3, hidden: Sequence[int] = (768, 768)) -> None:
        super().__init__(schema)
        d = schema.n_dense + schema.n_sparse * self.embedding_dim
        self.cross = nn.ModuleList(nn.Linear(d, d) for _ in range(cross_layers))
        self.deep = _mlp([d, *hidden])
        self.out = nn.Linear(hidden[-1], 1)

    def forward(self, batch) -> Tensor:
        x0 = torch.cat([batch.dense, self.embed(batch.sparse).flatten(1)], 1)
        x = x0
        for layer in self.cross:
            x = x0 * layer(x) + x
        return self.out(self.deep(x)).squeeze(1)


@register_baseline("autoint")
class AutoInt(Baseline):
    """AutoInt (Song et al., 2019): dense features embedded as ``x_m v_m``, 3 interacting layers of
    2-head self-attention (attention size 32) with residual connections, a linear output."""

    def __init__(self, schema: FeatureSchema, layers: int = 3, heads: int = 2, attention_dim: int = 32) -> None:
        super().__init__(schema)
        e = self.embedding_dim
        self.dense_vectors = nn.Parameter(torch.empty(schema.n_dense, e))
        nn.init.xavier_normal_(self.dense_vectors)
        self.heads, self.att = heads, attention_dim
        dims = [e] + [heads * attention_dim] * layers
        self.qkv = nn.ModuleList(nn.Linear(a, 3 * heads * attention_dim, bias=False) for a in dims[:-1])
        self.res = nn.ModuleList(nn.Linear(a, heads * attention_dim, bias=False) for a in dims[:-1])
        self.out = nn.Linear((schema.n_dense + schema.n_sparse) * dims[-1], 1)

    def forward(self, batch) -> Tensor:
        x = torch.cat([batch.dense.unsqueeze(2) * self.dense_vectors, self.embed(batch.sparse)], 1)  # (B, F, e)
        b, f, _ = x.shape
        for qkv, res in zip(self.qkv, self.res):
            q, k, v = qkv(x).view(b, f, 3, self.heads, self.att).permute(2, 0, 3, 1, 4).unbind(0)
            a = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v  # (B, H, F, att)
            x = torch.relu(a.transpose(1, 2).reshape(b, f, -1) + res(x))
        return self.out(x.flatten(1)).squeeze(1)


def dlrm_like_architecture(space: SearchSpace | str = "full") -> Architecture:
    """DLRM written in the NASRec search space, as closely as the space allows.

    Blocks 1-4: FC 512, 256, 64, 16 on the dense features (DLRM's bottom MLP; width 16 = e, so
    the Dot-Product takes it without projection). Block 5: Dot-Product of [bottom output;
    embeddings] to 512 (DLRM's interaction and first top layer). Blocks 6-7: FC 256, FC 16
    (top MLP); the head gives the logit. Where it differs from DLRM: the Dot-Product first
    projects the 26 embedding fields to ``round(sqrt(2 * 512)) = 32`` rows; it has no ReLU after
    its output Linear; every block must also hold a sparse operator (EFC with 16 fields on the
    embeddings), and the head reads the last block's 16 EFC fields as well.
    """
    space = get_space(space)
    if "fc" not in space.dense_ops or "dot-product" not in space.dense_ops or "efc" not in space.sparse_ops:
        raise ValueError(f"space {space.name!r} lacks FC, Dot-Product or EFC")
    widths = [512, 256, 64, 16, 512, 256, 16]
    if space.num_blocks != 7 or any(w not in space.dense_widths for w in widths) or 16 not in space.sparse_widths:
        raise ValueError(f"space {space.name!r} cannot express the DLRM layout (7 blocks, widths {widths})")
    blocks = []
    for i, w in enumerate(widths):
        op = "dot-product" if i == 4 else "fc"
        blocks.append(Block(dense_in=(i,), sparse_in=(0,), left=0, right=0, dense_ops=(op,), sparse_ops=("efc",),
                            dense_width=w, sparse_width=16))
    return Architecture(tuple(blocks))
