"""A masked supernet computed the way the authors' release computes it (the benchmark's baseline).

Every active operator runs at its maximum width; LayerNorm is applied over the full width and
the output is then multiplied by a 0/1 mask; an unconnected input is a zero tensor
concatenated in its place, so every operator reads all earlier outputs at full width; the
dense-sparse interaction appends 8 zero fields when it is off. Written for throughput
comparisons only; it is not the project's model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasrec_lab.data import FeatureSchema
from nasrec_lab.space import Architecture, SearchSpace, get_space


def _mask(width: int, used: int, device) -> Tensor:
    m = torch.zeros(width, device=device)
    m[:used] = 1
    return m


class _Lin(nn.Module):
    """Linear (no bias when LN) + LN + activation + mask, at max width."""

    def __init__(self, fan_in: int, out: int, act: bool) -> None:
        super().__init__()
        self.lin = nn.Linear(fan_in, out, bias=False)
        self.ln = nn.LayerNorm(out)
        self.act = act

    def forward(self, x: Tensor, used: int) -> Tensor:
        y = self.ln(self.lin(x))
        if self.act:
            y = F.relu(y)
        return y * _mask(y.shape[-1], used, y.device)


class MaskedBlock(nn.Module):
    def __init__(self, dense_in: int, fields_in: int, space: SearchSpace, e: int) -> None:
        super().__init__()
        w, m, k = space.max_dense_width, space.max_sparse_width, space.interaction_fields
        self.w, self.m, self.e, self.k = w, m, e, k
        self.p = int(round(math.sqrt(2 * w)))
        ops = nn.ModuleDict()
        if "fc" in space.dense_ops:
            ops["fc"] = _Lin(dense_in, w, True)
        if "sum" in space.dense_ops:
            ops["sum"] = nn.ModuleDict({"proj": _Lin(dense_in, w, False)})
        if "sigmoid-gating" in space.dense_ops:
            ops["sigmoid_gating"] = nn.ModuleDict({"gate": nn.Linear(dense_in, dense_in), "proj": nn.Linear(dense_in, w),
                                                   "ln": nn.LayerNorm(w)})
        if "dot-product" in space.dense_ops:
            ops["dot_product"] = nn.ModuleDict({"dense": nn.Linear(dense_in, e, bias=False), "dense_ln": nn.LayerNorm(e),
                                                "field": nn.Linear(fields_in, self.p, bias=False),
                                                "field_ln": nn.LayerNorm(self.p),
                                                "out": nn.Linear(self.p * (self.p + 1) // 2, w, bias=False),
                                                "out_ln": nn.LayerNorm(w)})
        if "efc" in space.sparse_ops:
            ops["efc"] = _Lin(fields_in, m, True)
        if "attention" in space.sparse_ops:
            ops["attention"] = nn.ModuleDict({"field": _Lin(fields_in, m, False),
                                              "mha": nn.MultiheadAttention(e, 8, batch_first=True),
                                              "ln1": nn.LayerNorm(e), "fc1": nn.Linear(e, e), "fc2": nn.Linear(e, e),
                                              "ln2": nn.LayerNorm(e)})
        self.ops = ops
        self.dsi = _Lin(w, k * e, False)
        self.fm = _Lin(e, w, False)

    def forward(self, xd: Tensor, xs: Tensor, left: Tensor, right: Tensor, block) -> tuple[Tensor, Tensor]:
        w, m, e = block.dense_width, block.sparse_width, self.e
        outs = []
        for op in block.dense_ops:
            if op == "fc":
                outs.append(self.ops["fc"](xd, w))
            elif op == "sum":
                outs.append(self.ops["sum"]["proj"](left + right, w))
            elif op == "sigmoid-gating":
                g = self.ops["sigmoid_gating"]
                y = g["ln"](g["proj"](torch.sigmoid(g["gate"](left)) * right))
                outs.append(y * _mask(self.w, w, y.device))
            else:
                d = self.ops["dot_product"]
                x = d["dense_ln"](d["dense"](xd))
                s = d["field_ln"](d["field"](xs.transpose(1, 2))).transpose(1, 2)
                t = torch.cat([x.unsqueeze(1), s], 1)
                z = torch.bmm(t, t.transpose(1, 2))
                li, lj = torch.tril_indices(self.p + 1, self.p + 1, offset=-1, device=z.device)
                y = d["out_ln"](d["out"](z[:, li, lj]))
                outs.append(y * _mask(self.w, w, y.device))
        dense = torch.stack(outs, -1).sum(-1)
        souts = []
        for op in block.sparse_ops:
            if op == "efc":
                souts.append(self.ops["efc"](xs.transpose(1, 2), m).transpose(1, 2))
            else:
                a = self.ops["attention"]
                t = a["field"](xs.transpose(1, 2), m).transpose(1, 2)
                att, _ = a["mha"](t, t, t, need_weights=False)
                t = a["ln1"](att + t)
                t = a["ln2"](t + a["fc2"](F.relu(a["fc1"](t))))
                souts.append(t * _mask(self.m, m, t.device)[None, :, None])
        sparse = torch.stack(souts, -1).sum(-1)
        if block.dense_sparse_interact:
            extra = self.dsi(dense, self.k * e).view(-1, self.k, e)
        else:
            extra = torch.zeros(dense.shape[0], self.k, e, device=dense.device)
        if block.deep_fm:
            fm = sparse.sum(1).square() - sparse.square().sum(1)
            dense = dense + self.fm(fm, w)
        return dense, torch.cat([sparse, extra], 1)


class MaskedSuperNet(nn.Module):
    """The release's way: max widths, LN then mask, zero tensors for unconnected inputs."""

    def __init__(self, schema: FeatureSchema, space: SearchSpace | str = "full") -> None:
        super().__init__()
        self.space = get_space(space)
        e = schema.embedding_dim
        w, slot = self.space.max_dense_width, self.space.max_sparse_width + self.space.interaction_fields
        sizes = torch.tensor((0,) + schema.table_sizes[:-1])
        self.register_buffer("offsets", torch.cumsum(sizes, 0), persistent=False)
        self.embedding = nn.Embedding(sum(schema.table_sizes), e, sparse=True)
        self.blocks = nn.ModuleList(
            MaskedBlock(schema.n_dense + i * w, schema.n_sparse + i * slot, self.space, e)
            for i in range(self.space.num_blocks)
        )
        self.head = nn.Linear(w + slot * e, 1)

    def forward(self, batch, arch: Architecture) -> Tensor:
        outs_d = [batch.dense]
        outs_s = [self.embedding(batch.sparse + self.offsets)]
        for block, mod in zip(arch.blocks, self.blocks):
            n = len(outs_d)
            xd = torch.cat([outs_d[j] if j in block.dense_in else torch.zeros_like(outs_d[j]) for j in range(n)], 1)
            xs = torch.cat([outs_s[j] if j in block.sparse_in else torch.zeros_like(outs_s[j]) for j in range(n)], 1)
            left = torch.cat([outs_d[j] if j == block.left else torch.zeros_like(outs_d[j]) for j in range(n)], 1)
            right = torch.cat([outs_d[j] if j == block.right else torch.zeros_like(outs_d[j]) for j in range(n)], 1)
            d, s = mod(xd, xs, left, right, block)
            outs_d.append(d)
            outs_s.append(s)
        return self.head(torch.cat([outs_d[-1], outs_s[-1].flatten(1)], 1)).squeeze(1)
