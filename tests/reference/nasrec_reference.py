"""An independent NASRec model for tests: plain, slow and written from NASREC.md alone.

Nothing here comes from ``nasrec_lab.supernet``'s planning or operator code. One small class
per operator, with explicit concatenations, paddings, projections and loops; LayerNorm,
softmax and the attention heads are spelled out. The only thing read from the library is
the *storage* of a supernet's weights: each operator of each block holds its largest
matrices, and a subnet uses leading rows (elastic widths) and the columns or fields of the
earlier outputs it reads. That storage layout is computed here, independently:

* dense input axis of block ``i``: the stem's ``n_dense`` columns, then one slot of
  ``max_w`` columns per earlier block; an output of width ``w`` fills the first ``w``
  columns of its slot;
* field axis: the stem's ``n_sparse`` fields, then one slot of ``max_m + 8`` fields per
  earlier block: its operator fields first, the 8 dense->sparse fields at ``max_m``;
* head: ``max_w`` dense columns, then one ``e``-column group per field of that slot layout.

Where NASREC.md leaves a detail open, the release's standalone models decide (noted inline):
the Dot-Product projects the field axis to ``round(sqrt(2 w))`` rows (45 at ``w = 1024``);
same-size projections are left out; with LayerNorm on, projections have no bias (Sigmoid
Gating's two Linears always have one); the dense->sparse projection reads the block's dense
output before the FM term is added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

EPS = 1e-5
ATTENTION_HEADS = 8
INTERACTION_FIELDS = 8


# -- elementary pieces ------------------------------------------------------------------------


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    y = x @ weight.T
    return y if bias is None else y + bias


def layer_norm(x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """LayerNorm over the last axis, biased variance, eps 1e-5 (as torch.nn.LayerNorm)."""
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * gamma + beta


def relu(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.zeros_like(x))


def softmax(x: Tensor) -> Tensor:
    z = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return z / z.sum(dim=-1, keepdim=True)


def pad_to(x: Tensor, width: int) -> Tensor:
    if x.shape[1] == width:
        return x
    return torch.cat([x, torch.zeros(x.shape[0], width - x.shape[1], dtype=x.dtype)], dim=1)


@dataclass
class Projection:
    """Optional Linear then optional LayerNorm, over the last axis."""

    weight: Tensor | None = None
    bias: Tensor | None = None
    ln_gamma: Tensor | None = None
    ln_beta: Tensor | None = None

    def __call__(self, x: Tensor) -> Tensor:
        if self.weight is not None:
            x = linear(x, self.weight, self.bias)
        if self.ln_gamma is not None:
            x = layer_norm(x, self.ln_gamma, self.ln_beta)
        return x


def over_fields(proj: Projection, s: Tensor) -> Tensor:
    """Apply ``proj`` to the field axis of (B, F, e): transpose, project, transpose back."""
    return proj(s.transpose(1, 2)).transpose(1, 2)


# -- operators --------------------------------------------------------------------------------


@dataclass
class FC:
    proj: Projection

    def __call__(self, dense: Tensor, sparse: Tensor, left: Tensor, right: Tensor) -> Tensor:
        return relu(self.proj(dense))


@dataclass
class Sum:
    c: int
    proj: Projection

    def __call__(self, dense: Tensor, sparse: Tensor, left: Tensor, right: Tensor) -> Tensor:
        return self.proj(pad_to(left, self.c) + pad_to(right, self.c))


@dataclass
class SigmoidGating:
    c: int
    gate_weight: Tensor
    gate_bias: Tensor
    proj: Projection

    def __call__(self, dense: Tensor, sparse: Tensor, left: Tensor, right: Tensor) -> Tensor:
        gate = 1.0 / (1.0 + torch.exp(-linear(pad_to(left, self.c), self.gate_weight, self.gate_bias)))
        return self.proj(gate * pad_to(right, self.c))


@dataclass
class DotProduct:
    p: int
    dense_proj: Projection | None
    field_proj: Projection | None
    out_proj: Projection

    def __call__(self, dense: Tensor, sparse: Tensor, left: Tensor, right: Tensor) -> Tensor:
        d = dense if self.dense_proj is None else self.dense_proj(dense)  # (B, e)
        s = sparse if self.field_proj is None else over_fields(self.field_proj, sparse)  # (B, p, e)
        assert s.shape[1] == self.p and d.shape[1] == s.shape[2]
        rows = torch.cat([d.unsqueeze(1), s], dim=1)  # (B, p+1, e): the dense row first
        gram = rows @ rows.transpose(1, 2)
        # strict lower triangle, row by row: (1,0), (2,0), (2,1), (3,0), ...
        pairs = [(a, b) for a in range(self.p + 1) for b in range(a)]
        assert len(pairs) == self.p * (self.p + 1) // 2
        z = torch.stack([gram[:, a, b] for a, b in pairs], dim=1)
        return self.out_proj(z)


@dataclass
class EFC:
    field_proj: Projection

    def __call__(self, sparse: Tensor) -> Tensor:
        return relu(over_fields(self.field_proj, sparse))


@dataclass
class Attention:
    field_proj: Projection
    in_weight: Tensor
    in_bias: Tensor
    out_weight: Tensor
    out_bias: Tensor
    ln1: tuple[Tensor, Tensor]
    ffn1: tuple[Tensor, Tensor]
    ffn2: tuple[Tensor, Tensor]
    ln2: tuple[Tensor, Tensor]

    def __call__(self, sparse: Tensor) -> Tensor:
        t = over_fields(self.field_proj, sparse)  # (B, m, e) tokens
        e = t.shape[2]
        dh = e // ATTENTION_HEADS
        q = linear(t, self.in_weight[:e], self.in_bias[:e])
        k = linear(t, self.in_weight[e:2 * e], self.in_bias[e:2 * e])
        v = linear(t, self.in_weight[2 * e:], self.in_bias[2 * e:])
        heads = []
        for h in range(ATTENTION_HEADS):
            cols = slice(h * dh, (h + 1) * dh)
            scores = q[:, :, cols] @ k[:, :, cols].transpose(1, 2) / math.sqrt(dh)
            heads.append(softmax(scores) @ v[:, :, cols])
        attended = linear(torch.cat(heads, dim=2), self.out_weight, self.out_bias)
        t = layer_norm(t + attended, *self.ln1)
        f = linear(relu(linear(t, *self.ffn1)), *self.ffn2)
        return layer_norm(t + f, *self.ln2)


@dataclass
class FactorizationMachine:
    proj: Projection

    def __call__(self, sparse: Tensor) -> Tensor:
        total = sparse.sum(dim=1)
        fm = total * total - (sparse * sparse).sum(dim=1)  # (B, e)
        return self.proj(fm)


@dataclass
class DenseToSparse:
    proj: Projection
    e: int

    def __call__(self, dense: Tensor) -> Tensor:
        y = self.proj(dense)
        return y.reshape(y.shape[0], INTERACTION_FIELDS, self.e)


@dataclass
class RefBlock:
    dense_in: tuple[int, ...]
    sparse_in: tuple[int, ...]
    left: int
    right: int
    dense_ops: list
    sparse_ops: list
    fm: FactorizationMachine | None
    to_sparse: DenseToSparse | None


# -- the model ----------------------------------------------------------------------------------


class ReferenceModel:
    """The architecture ``arch`` with the weights a supernet path would use, computed plainly.

    ``supernet`` is a ``nasrec_lab.supernet.SuperNet``; only its stored tensors, its schema,
    its space and its LayerNorm flag are read. ``arch`` may be a subnet or a supernet path
    (several operators per block are summed).
    """

    def __init__(self, supernet, arch) -> None:
        schema, space = supernet.schema, supernet.space
        self.layernorm = bool(supernet.layernorm)
        self.e = space.embedding_dim
        self.n_dense, self.n_sparse = schema.n_dense, schema.n_sparse
        self.max_w, self.max_m = space.max_dense_width, space.max_sparse_width
        self.k = INTERACTION_FIELDS if "dense_sparse_interact" in space.interactions else 0
        assert self.k in (0, space.interaction_fields)
        self.table = supernet.stem.embedding.weight.detach().clone()
        starts, total = [], 0
        for size in schema.table_sizes:
            starts.append(total)
            total += size
        self.table_starts = torch.tensor(starts)
        # The supernet's tensors, read and never written.
        self._params = {name: p.detach() for name, p in supernet.named_parameters()}

        widths = [self.n_dense]  # dense width of every output so far
        fields = [list(range(self.n_sparse))]  # field positions (on the supernet's field axis) of every output
        slot_fields = [None]  # field positions inside a block's slot, for the head
        self.blocks: list[RefBlock] = []
        for i, b in enumerate(arch.blocks):
            dense_cols = [c for j in sorted(b.dense_in) for c in self._dense_columns(j, widths[j])]
            field_rows = [f for j in sorted(b.sparse_in) for f in fields[j]]
            w, m = b.dense_width, b.sparse_width
            dense_ops = [self._dense_op(i, op, w, dense_cols, field_rows, max(widths[b.left], widths[b.right]))
                         for op in b.dense_ops]
            sparse_ops = [self._sparse_op(i, op, m, field_rows) for op in b.sparse_ops]
            # The two interaction modules are the identity (no Linear, no LayerNorm) when the
            # sizes already match: FM at w = e, dense->sparse at w = 8e.
            fm = to_sparse = None
            if b.deep_fm:
                fm = FactorizationMachine(
                    Projection() if w == self.e else self._proj(i, "deep_fm", "", w, list(range(self.e))))
            if b.dense_sparse_interact:
                ke = self.k * self.e
                to_sparse = DenseToSparse(
                    Projection() if w == ke else self._proj(i, "dense_sparse_interact", "", ke, list(range(w))), self.e)
            self.blocks.append(RefBlock(tuple(sorted(b.dense_in)), tuple(sorted(b.sparse_in)), b.left, b.right,
                                        dense_ops, sparse_ops, fm, to_sparse))
            in_slot = list(range(m)) + ([self.max_m + t for t in range(self.k)] if b.dense_sparse_interact else [])
            base = self.n_sparse + i * (self.max_m + self.k)
            widths.append(w)
            fields.append([base + f for f in in_slot])
            slot_fields.append(in_slot)
        head_cols = list(range(widths[-1]))
        for f in slot_fields[-1]:
            head_cols += list(range(self.max_w + f * self.e, self.max_w + (f + 1) * self.e))
        self.head_weight = self._params["head.weight"][:, head_cols]
        self.head_bias = self._params["head.bias"]

    # -- weights --------------------------------------------------------------------------
    def _dense_columns(self, j: int, width: int) -> list[int]:
        start = 0 if j == 0 else self.n_dense + (j - 1) * self.max_w
        return list(range(start, start + width))

    def _get(self, i: int, op: str, name: str) -> Tensor | None:
        return self._params.get(f"blocks.{i}.{op.replace('-', '_')}.{name}")

    def _proj(self, i: int, op: str, prefix: str, rows: int, in_cols: list[int] | None, *, skip: bool = False,
              always_bias: bool = False) -> Projection:
        """Linear (rows ``:rows``, columns ``in_cols`` or leading ``len(in_cols)``) then LN over ``rows``.

        ``skip``: no Linear (the input already has the output's size); the LayerNorm stays.
        Without LayerNorm a projection has a bias; with it only where ``always_bias``.
        """
        proj = Projection()
        if not skip:
            weight = self._get(i, op, f"{prefix}weight")
            proj.weight = weight[:rows][:, in_cols]
            if always_bias or not self.layernorm:
                proj.bias = self._get(i, op, f"{prefix}bias")[:rows]
        if self.layernorm:
            proj.ln_gamma = self._get(i, op, f"{prefix}ln_weight")[:rows]
            proj.ln_beta = self._get(i, op, f"{prefix}ln_bias")[:rows]
        return proj

    def _dense_op(self, i: int, op: str, w: int, dense_cols: list[int], field_rows: list[int], c: int):
        lead = list(range(c))
        if op == "fc":
            return FC(self._proj(i, op, "", w, dense_cols))
        if op == "sum":
            return Sum(c, self._proj(i, op, "", w, lead, skip=(c == w)))
        if op == "sigmoid-gating":
            gate_w = self._get(i, op, "gate_weight")[:c, :c]
            gate_b = self._get(i, op, "gate_bias")[:c]
            return SigmoidGating(c, gate_w, gate_b, self._proj(i, op, "", w, lead, skip=(c == w), always_bias=True))
        if op == "dot-product":
            p = round(math.sqrt(2 * w))
            pairs = p * (p + 1) // 2
            dense_proj = None if len(dense_cols) == self.e else self._proj(i, op, "dense_", self.e, dense_cols)
            field_proj = None if len(field_rows) == p else self._proj(i, op, "field_", p, field_rows)
            out = self._proj(i, op, "", w, list(range(pairs)), skip=(pairs == w))
            return DotProduct(p, dense_proj, field_proj, out)
        raise ValueError(f"the reference has no dense operator {op!r}")

    def _sparse_op(self, i: int, op: str, m: int, field_rows: list[int]):
        if op == "efc":
            return EFC(self._proj(i, op, "", m, field_rows))
        if op == "attention":
            g = lambda name: self._get(i, op, name)  # noqa: E731
            return Attention(self._proj(i, op, "field_", m, field_rows), g("in_proj_weight"), g("in_proj_bias"),
                             g("out_proj_weight"), g("out_proj_bias"), (g("ln1_weight"), g("ln1_bias")),
                             (g("ffn1_weight"), g("ffn1_bias")), (g("ffn2_weight"), g("ffn2_bias")),
                             (g("ln2_weight"), g("ln2_bias")))
        raise ValueError(f"the reference has no sparse operator {op!r}")

    # -- forward --------------------------------------------------------------------------
    def __call__(self, dense: Tensor, sparse_ids: Tensor) -> Tensor:
        emb = torch.stack([self.table[self.table_starts[f] + sparse_ids[:, f]] for f in range(self.n_sparse)], dim=1)
        outs_dense, outs_sparse = [dense], [emb]
        for b in self.blocks:
            x_dense = torch.cat([outs_dense[j] for j in b.dense_in], dim=1)
            x_sparse = torch.cat([outs_sparse[j] for j in b.sparse_in], dim=1)
            left, right = outs_dense[b.left], outs_dense[b.right]
            d = sum(op(x_dense, x_sparse, left, right) for op in b.dense_ops)
            s = sum(op(x_sparse) for op in b.sparse_ops)
            appended = b.to_sparse(d) if b.to_sparse is not None else None
            if b.fm is not None:
                d = d + b.fm(s)
            if appended is not None:
                s = torch.cat([s, appended], dim=1)
            outs_dense.append(d)
            outs_sparse.append(s)
        last = torch.cat([outs_dense[-1], outs_sparse[-1].reshape(dense.shape[0], -1)], dim=1)
        return linear(last, self.head_weight, self.head_bias)[:, 0]
