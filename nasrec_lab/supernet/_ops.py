"""The operator registry: each operator is one class, registered by name.

Its metadata (kind, inputs read, symmetry, drawn name and size, FLOP formula) is the torch-free
table in ``nasrec_lab/space/_operators.py``; :func:`register_operator` attaches the class to it.

An operator declares its parameters for a concrete configuration (``params(ctx)``), how to
compute (``forward``) and its cost (``macs``, multiply-adds per example, fvcore's convention).
The supernet allocates every parameter once at its largest configuration; a path slices the
leading rows/columns (elastic widths) and gathers the columns of the inputs it reads
(:class:`Ranges`). A materialized subnet stores those slices and calls the same ``forward``,
so both compute the same function.

Notation: ``B`` batch, ``F`` input fields, ``e`` embedding dim, ``w`` dense width, ``m``
sparse width (fields), ``p`` Dot-Product rows, ``c`` the wider of the left/right inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..space import _operators
from ..space._operators import ATTENTION_HEADS, OperatorInfo

ATTENTION_LN_INIT = 0.17  # the release initialises the Attention operator's LayerNorm weights to 0.17
#: batch rows per block of :func:`attention`'s CPU kernel: 32 rows x 8 heads of (m x m) scores,
#: at most 4 MiB at 64 fields, stay in cache
ATTENTION_BLOCK_ROWS = 32


@dataclass(frozen=True)
class Ranges:
    """An axis assembled from ``(start, length)`` ranges of the full (supernet) axis."""

    ranges: tuple[tuple[int, int], ...]

    @property
    def size(self) -> int:
        return sum(n for _, n in self.ranges)


Axis = int | Ranges  # int: the leading ``n`` entries of the full axis


class ParamSpec(NamedTuple):
    axes: tuple[Axis, ...]
    init: str  # "xavier" | "field" (a projection over the field axis) | "zeros" | "ones" | "ln_attention"


def axis_size(a: Axis) -> int:
    return a.size if isinstance(a, Ranges) else a


@dataclass(frozen=True)
class OpCtx:
    """Everything an operator needs to know about one use of it (all static Python data)."""

    e: int
    w: int  # dense width of the block
    m: int  # sparse width of the block
    dense_in: Ranges  # columns of the concatenated dense input
    sparse_in: Ranges  # fields of the concatenated sparse input
    c: int  # the wider of the left/right inputs
    layernorm: bool
    k: int  # fields appended by the dense-sparse interaction
    head_in: Ranges | None = None
    # The supernet's allocation: every optional projection present (a path may need any).
    allocate_all: bool = False
    # FC and Dot-Product read their dense input centred on the batch mean (SuperNet(centre_dense=True)).
    centre_dense: bool = False

    def needs(self, size_in: int, size_out: int) -> bool:
        """Whether a projection from ``size_in`` to ``size_out`` exists (the release skips same-size ones)."""
        return self.allocate_all or size_in != size_out

    @property
    def p(self) -> int:
        """Rows of the Dot-Product's projected sparse input: ``round(sqrt(2 w))`` (45 at w = 1024)."""
        return int(round(math.sqrt(2 * self.w)))


class OpInputs(NamedTuple):
    dense: Tensor | None = None  # (B, dense_in)
    sparse: Tensor | None = None  # (B, F, e)
    left: Tensor | None = None  # (B, a)
    right: Tensor | None = None  # (B, b)


class Operator:
    """Base class. Subclasses implement the three static methods; ``register_operator`` sets
    ``name``, ``kind`` and ``info`` (the torch-free metadata, ``nasrec_lab.space.OperatorInfo``)."""

    name: str = ""
    kind: str = ""  # dense | dense-sparse | sparse | interaction | head
    info: OperatorInfo | None = None

    @staticmethod
    def params(ctx: OpCtx) -> dict[str, ParamSpec]:
        raise NotImplementedError

    @staticmethod
    def forward(p: dict[str, Tensor], x: OpInputs, ctx: OpCtx) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def macs(ctx: OpCtx) -> int:
        raise NotImplementedError


OPERATORS: dict[str, type[Operator]] = {}
_LEGACY_READS = {"dense_set": None, "left_right": ("left", "right")}


def register_operator(name: str, kind: str | None = None, *, reads: str | tuple[str, ...] | None = None,
                      symmetric: bool = False, label: str | None = None, output: str | None = None,
                      flops: str = "", note: str = ""):
    """Class decorator attaching a torch implementation to an operator's metadata.

    The paper's operators have their metadata in ``nasrec_lab/space/_operators.py`` (torch-free,
    so the search space knows them without torch): ``@register_operator("fc")``. A new operator
    is one file: ``@register_operator("name", "dense", reads="dense_set", label="Name", flops="w·|dense_in|")``
    defines its metadata (kind ``dense``, ``dense-sparse`` or ``sparse``; ``reads`` ``"dense_set"``
    or ``"left_right"`` for dense operators, or a tuple of ``"dense"``, ``"sparse"``, ``"left"``, ``"right"``;
    ``symmetric`` when left and right are interchangeable) and attaches the class; the search
    space, the supernet, the cost model and the graph then know it.
    """

    def wrap(cls: type[Operator]) -> type[Operator]:
        if name in OPERATORS:
            raise ValueError(f"operator {name!r} is already registered")
        info = _operators.OPERATOR_INFO.get(name)
        if info is None:
            if kind not in _operators.SPACE_KINDS:
                raise ValueError(f"operator {name!r}: a new operator's kind is one of {list(_operators.SPACE_KINDS)} "
                                 f"(interaction modules and the head are block fields), got {kind!r}")
            r = _LEGACY_READS.get(reads, reads) if isinstance(reads, str) else reads
            info = _operators.define_operator(name, kind, reads=r, symmetric=symmetric, label=label, output=output,
                                              flops=flops, note=note)
        elif kind is not None and kind != info.kind:
            raise ValueError(f"operator {name!r} is registered as {info.kind!r}, not {kind!r}")
        cls.name, cls.kind, cls.info = name, info.kind, info
        info.implementation = cls
        OPERATORS[name] = cls
        return cls

    return wrap


def unregister_operator(name: str) -> None:
    """Remove an operator's implementation and metadata (tests clean up a toy operator with this)."""
    OPERATORS.pop(name, None)
    _operators.remove_operator(name)
    from ._plan import make_plan

    make_plan.cache_clear()  # plans of architectures using it


# -- shared pieces ------------------------------------------------------------------------


def _proj(prefix: str, out: Axis, inp: Axis, ctx: OpCtx, *, bias: bool | None = None,
          ln: bool = True, linear: bool = True, init: str = "xavier") -> dict[str, ParamSpec]:
    """A Linear(``inp`` -> ``out``) with LayerNorm(``out``) when LN is on, else a bias (the release's rule).

    ``linear=False`` keeps only the LayerNorm (the release skips projections to the same width);
    ``init="field"`` marks a projection over the field axis (see :func:`init_tensor`).
    """
    specs = {}
    if linear:
        specs[f"{prefix}weight"] = ParamSpec((out, inp), init)
    if linear and ((not ctx.layernorm) if bias is None else bias):
        specs[f"{prefix}bias"] = ParamSpec((out,), "zeros")
    if ln and ctx.layernorm:
        specs[f"{prefix}ln_weight"] = ParamSpec((out,), "ones")
        specs[f"{prefix}ln_bias"] = ParamSpec((out,), "zeros")
    return specs


def _apply(p: dict[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    w = p.get(f"{prefix}weight")
    y = x if w is None else F.linear(x, w, p.get(f"{prefix}bias"))
    lw = p.get(f"{prefix}ln_weight")
    if lw is not None:
        y = F.layer_norm(y, (y.shape[-1],), lw, p[f"{prefix}ln_bias"])
    return y


def _centred(x: Tensor, ctx: OpCtx) -> Tensor:
    """``x`` minus its batch mean when ``ctx.centre_dense`` (see ``SuperNet``), else ``x``.

    Shared weights learn to add a large constant along the input's mean direction, which the
    LayerNorm after them turns into a near-constant output: every path's dense chain collapses.
    Reading the input centred takes that direction away from the Linear (README, Benchmarks).
    """
    if not ctx.centre_dense:
        return x
    if x.shape[0] < 2:
        raise ValueError(f"a path of a dense-centring supernet needs batches of at least 2 rows "
                         f"(it centres on the batch mean), got {x.shape[0]}")
    return x - x.mean(0, keepdim=True)


def _field_proj(p: dict[str, Tensor], prefix: str, s: Tensor) -> Tensor:
    """Linear over the field axis, then LN over the new fields: (B, F, e) -> (B, n, e).

    One batched GEMM of the broadcast weight, ``bmm(W, s)``, computes the release's
    ``Linear(s.transpose(1, 2)).transpose(1, 2)`` without transposed copies; spelled out as
    ``bmm`` because ``matmul`` picks a copying path for some weight layouts.
    """
    w = p[f"{prefix}weight"]
    y = torch.bmm(w.unsqueeze(0).expand(s.shape[0], -1, -1), s)
    b = p.get(f"{prefix}bias")
    if b is not None:
        y = y + b.unsqueeze(1)
    lw = p.get(f"{prefix}ln_weight")
    if lw is not None:
        y = F.layer_norm(y.transpose(1, 2), (y.shape[1],), lw, p[f"{prefix}ln_bias"]).transpose(1, 2)
    return y


def _pad(x: Tensor, width: int) -> Tensor:
    return x if x.shape[1] == width else F.pad(x, (0, width - x.shape[1]))


# -- dense operators ----------------------------------------------------------------------


@register_operator("fc")
class FC(Operator):
    """``relu(LN(Linear(x_dense)))`` to width w."""

    @staticmethod
    def params(ctx):
        return _proj("", ctx.w, ctx.dense_in, ctx)

    @staticmethod
    def forward(p, x, ctx):
        return F.relu(_apply(p, "", _centred(x.dense, ctx)))

    @staticmethod
    def macs(ctx):
        return ctx.w * ctx.dense_in.size


@register_operator("sum")
class Sum(Operator):
    """Pad the narrower of left/right with zeros, add, ``LN(Linear(.))`` to w.

    As in the release, the Linear is left out when the padded width already is w.
    """

    @staticmethod
    def params(ctx):
        return _proj("", ctx.w, ctx.c, ctx, linear=ctx.needs(ctx.c, ctx.w))

    @staticmethod
    def forward(p, x, ctx):
        return _apply(p, "", _pad(x.left, ctx.c) + _pad(x.right, ctx.c))

    @staticmethod
    def macs(ctx):
        return ctx.w * ctx.c if ctx.c != ctx.w else 0


@register_operator("sigmoid-gating")
class SigmoidGating(Operator):
    """Pad; ``LN(Linear(sigmoid(Linear_sq(left)) * right))`` to w; both Linears have biases.

    As in the release, the outer Linear is left out when the padded width already is w.
    """

    @staticmethod
    def params(ctx):
        specs = _proj("gate_", ctx.c, ctx.c, ctx, bias=True, ln=False)
        specs.update(_proj("", ctx.w, ctx.c, ctx, bias=True, linear=ctx.needs(ctx.c, ctx.w)))
        return specs

    @staticmethod
    def forward(p, x, ctx):
        gate = torch.sigmoid(_apply(p, "gate_", _pad(x.left, ctx.c)))
        return _apply(p, "", gate * _pad(x.right, ctx.c))

    @staticmethod
    def macs(ctx):
        return ctx.c * ctx.c + (ctx.w * ctx.c if ctx.c != ctx.w else 0)


@register_operator("dot-product")
class DotProduct(Operator):
    """Pairwise dot products of [dense row; p projected sparse rows], strict lower triangle, ``LN(Linear)`` to w.

    The dense input is projected to e (Linear+LN) unless it already has e columns; the field
    axis is projected to ``p = round(sqrt(2 w))`` rows (Linear+LN on the transposed tensor).
    """

    @staticmethod
    def params(ctx):
        specs = {}
        if ctx.needs(ctx.dense_in.size, ctx.e):
            specs.update(_proj("dense_", ctx.e, ctx.dense_in, ctx))
        if ctx.needs(ctx.sparse_in.size, ctx.p):
            specs.update(_proj("field_", ctx.p, ctx.sparse_in, ctx, init="field"))
        pairs = ctx.p * (ctx.p + 1) // 2
        specs.update(_proj("", ctx.w, pairs, ctx, linear=ctx.needs(pairs, ctx.w)))
        return specs

    @staticmethod
    def forward(p, x, ctx):
        d = _apply(p, "dense_", _centred(x.dense, ctx)) if "dense_weight" in p else x.dense  # (B, e)
        s = x.sparse
        if "field_weight" in p:
            s = _field_proj(p, "field_", s)  # (B, p, e)
        t = torch.cat([d.unsqueeze(1), s], dim=1)  # (B, p+1, e)
        z = torch.bmm(t, t.transpose(1, 2))  # (B, p+1, p+1)
        rows, cols = torch.tril_indices(ctx.p + 1, ctx.p + 1, offset=-1, device=z.device)
        return _apply(p, "", z[:, rows, cols])

    @staticmethod
    def macs(ctx):
        proj = ctx.e * ctx.dense_in.size if ctx.dense_in.size != ctx.e else 0
        field = ctx.e * ctx.sparse_in.size * ctx.p if ctx.sparse_in.size != ctx.p else 0
        pairs = ctx.p * (ctx.p + 1) // 2
        return proj + field + (ctx.p + 1) ** 2 * ctx.e + (ctx.w * pairs if pairs != ctx.w else 0)


# -- sparse operators ---------------------------------------------------------------------


@register_operator("efc")
class EFC(Operator):
    """Linear over the field axis to m fields, LN, relu: (B, F, e) -> (B, m, e)."""

    @staticmethod
    def params(ctx):
        return _proj("", ctx.m, ctx.sparse_in, ctx, init="field")

    @staticmethod
    def forward(p, x, ctx):
        return F.relu(_field_proj(p, "", x.sparse))

    @staticmethod
    def macs(ctx):
        return ctx.e * ctx.sparse_in.size * ctx.m


def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``softmax(q k^T / sqrt(d)) v`` of (B, H, m, d) tensors: scaled dot-product attention.

    On the CPU, blocks of :data:`ATTENTION_BLOCK_ROWS` rows go through batched matmuls and a
    softmax in place, with every product whose output is d wide computed as its transpose (``p v``
    as ``(v^T p^T)^T``): torch's fused CPU kernel multiplies each (row, head) pair's tiles by
    separate GEMM calls, and a GEMM whose N is NASRec's head width of 2 runs at a sixth of the
    speed of its transpose; at that width both cost more than the arithmetic. 512 rows, 8 heads,
    2 threads: the forward 1.4x / 2.2x / 2.5x / 2.2x faster than the fused kernel at 16 / 32 / 48 /
    64 fields. The backward recomputes the probabilities block by block instead of keeping them
    (B x 8 x m x m floats). On a GPU torch's fused kernel runs. Both agree to float rounding
    (``tests/supernet/test_attention.py``).
    """
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v)
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return _BlockedAttention.apply(q, k, v)
    return _attention_blocks(q, k, v)[0]


def _pairs(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(B*H, m, d) scaled queries, (B*H, d, m) keys and values: the layouts the blocks multiply."""
    b, h, m, d = q.shape
    return ((q * d ** -0.5).reshape(b * h, m, d), k.transpose(-1, -2).reshape(b * h, d, m),
            v.transpose(-1, -2).reshape(b * h, d, m))


def _blocks(q: Tensor, m: int, buffers: int = 1):
    """(start, rows, *(m x m) buffers) per block of (row, head) pairs; the buffers are reused by every block."""
    pairs = q.shape[0] * q.shape[1]
    step = ATTENTION_BLOCK_ROWS * q.shape[1]
    full = [torch.empty(min(step, pairs), m, m, dtype=q.dtype) for _ in range(buffers)]
    for s in range(0, pairs, step):
        n = min(step, pairs - s)
        yield s, n, *(b[:n] for b in full)


def _attention_blocks(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """The forward: (B, H, m, d) output and its (B*H, d, m) transposed storage."""
    b, h, m, d = q.shape
    qs, kt, vt = _pairs(q, k, v)
    out_t = torch.empty(b * h, d, m, dtype=q.dtype)
    for s, n, p in _blocks(q, m):
        torch.bmm(qs[s:s + n], kt[s:s + n], out=p)
        torch.softmax(p, -1, out=p)
        torch.bmm(vt[s:s + n], p.transpose(1, 2), out=out_t[s:s + n])
    return out_t.view(b, h, d, m).transpose(-1, -2), out_t


class _BlockedAttention(torch.autograd.Function):
    """:func:`attention`'s blocks with their gradient (S = q k^T / sqrt(d), P = softmax(S), O = P v):
    dV = P^T dO, dS = P * (dO v^T - rowsum(dO * O)), dQ = dS k / sqrt(d), dK = dS^T q / sqrt(d),
    each product of width d again computed as its transpose."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        out, out_t = _attention_blocks(q, k, v)
        ctx.save_for_backward(q, k, v, out_t)
        return out

    @staticmethod
    @once_differentiable  # the blocks write into buffers: no graph of the backward itself
    def backward(ctx, grad_out: Tensor):
        q, k, v, out_t = ctx.saved_tensors
        b, h, m, d = q.shape
        qs, kt, vt = _pairs(q, k, v)
        # contiguous: a gradient may arrive expanded (stride 0), which batched GEMM cannot read
        go = grad_out.reshape(b * h, m, d).contiguous()
        go_t = grad_out.transpose(-1, -2).reshape(b * h, d, m).contiguous()
        # rowsum(dO * O) per query: the softmax's correction term, from the kept output
        correction = (go_t * out_t).sum(1).unsqueeze(-1)
        dq_t, dk_t, dv_t = (torch.empty(b * h, d, m, dtype=q.dtype) for _ in range(3))
        for s, n, p, ds in _blocks(q, m, buffers=2):
            torch.bmm(qs[s:s + n], kt[s:s + n], out=p)
            torch.softmax(p, -1, out=p)
            torch.bmm(go_t[s:s + n], p, out=dv_t[s:s + n])
            torch.bmm(go[s:s + n], vt[s:s + n], out=ds)
            ds.sub_(correction[s:s + n]).mul_(p)
            torch.bmm(kt[s:s + n], ds.transpose(1, 2), out=dq_t[s:s + n])
            torch.bmm(qs[s:s + n].transpose(1, 2), ds, out=dk_t[s:s + n])
        dq_t.mul_(d ** -0.5)
        return tuple(g.view(b, h, d, m).transpose(-1, -2) for g in (dq_t, dk_t, dv_t))


@register_operator("attention")
class Attention(Operator):
    """Field projection to m (Linear+LN), then one transformer layer on the m x e tokens:
    8-head self-attention + residual + LN, a 2-layer FC (e -> e, relu) + residual + LN."""

    @staticmethod
    def params(ctx):
        e = ctx.e
        specs = _proj("field_", ctx.m, ctx.sparse_in, ctx, init="field")
        specs.update({
            "in_proj_weight": ParamSpec((3 * e, e), "xavier"),
            "in_proj_bias": ParamSpec((3 * e,), "zeros"),
            "out_proj_weight": ParamSpec((e, e), "xavier"),
            "out_proj_bias": ParamSpec((e,), "zeros"),
            "ln1_weight": ParamSpec((e,), "ln_attention"),
            "ln1_bias": ParamSpec((e,), "zeros"),
            "ffn1_weight": ParamSpec((e, e), "xavier"),
            "ffn1_bias": ParamSpec((e,), "zeros"),
            "ffn2_weight": ParamSpec((e, e), "xavier"),
            "ffn2_bias": ParamSpec((e,), "zeros"),
            "ln2_weight": ParamSpec((e,), "ln_attention"),
            "ln2_bias": ParamSpec((e,), "zeros"),
        })
        return specs

    @staticmethod
    def forward(p, x, ctx):
        e, h = ctx.e, ATTENTION_HEADS
        t = _field_proj(p, "field_", x.sparse)  # (B, m, e)
        b, m, _ = t.shape
        qkv = F.linear(t, p["in_proj_weight"], p["in_proj_bias"]).view(b, m, 3, h, e // h)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, m, e/H)
        a = attention(q, k, v).transpose(1, 2).reshape(b, m, e)
        t = F.layer_norm(t + F.linear(a, p["out_proj_weight"], p["out_proj_bias"]), (e,), p["ln1_weight"],
                         p["ln1_bias"])
        f = F.linear(F.relu(F.linear(t, p["ffn1_weight"], p["ffn1_bias"])), p["ffn2_weight"], p["ffn2_bias"])
        return F.layer_norm(t + f, (e,), p["ln2_weight"], p["ln2_bias"])

    @staticmethod
    def macs(ctx):
        e, m = ctx.e, ctx.m
        # QK^T and AV: 2 * H * m * m * (e / H) = 2 m^2 e (NASREC.md: fvcore skips SDPA; counted here).
        return e * ctx.sparse_in.size * m + 3 * m * e * e + 2 * m * m * e + m * e * e + 2 * m * e * e


# -- interaction modules and the head -----------------------------------------------------


@register_operator("deep_fm")
class FactorizationMachine(Operator):
    """FM on the block's sparse output, ``(sum_f v_f)^2 - sum_f v_f^2`` (B, e), ``LN(Linear)`` to w.

    As in the release, nothing follows the FM (no Linear, no LN) when w equals e.
    """

    @staticmethod
    def params(ctx):
        return _proj("", ctx.w, ctx.e, ctx) if ctx.needs(ctx.e, ctx.w) else {}

    @staticmethod
    def forward(p, x, ctx):
        s = x.sparse
        fm = s.sum(dim=1).square() - s.square().sum(dim=1)
        return _apply(p, "", fm) if "weight" in p else fm

    @staticmethod
    def macs(ctx):
        return ctx.w * ctx.e if ctx.w != ctx.e else 0


@register_operator("dense_sparse_interact")
class DenseSparseInteraction(Operator):
    """The dense output projected to k*e (Linear+LN), reshaped to k fields of e (appended to sparse).

    As in the release, the projection (and its LN) is left out when w already is k*e.
    """

    @staticmethod
    def params(ctx):
        return _proj("", ctx.k * ctx.e, ctx.w, ctx) if ctx.needs(ctx.w, ctx.k * ctx.e) else {}

    @staticmethod
    def forward(p, x, ctx):
        d = _apply(p, "", x.dense) if "weight" in p else x.dense
        return d.reshape(-1, ctx.k, ctx.e)

    @staticmethod
    def macs(ctx):
        return ctx.k * ctx.e * ctx.w if ctx.w != ctx.k * ctx.e else 0


@register_operator("head")
class Head(Operator):
    """concat(last dense output, flattened last sparse output) -> Linear -> 1 logit."""

    @staticmethod
    def params(ctx):
        return {"weight": ParamSpec((1, ctx.head_in), "xavier"), "bias": ParamSpec((1,), "zeros")}

    @staticmethod
    def forward(p, x, ctx):
        return F.linear(torch.cat([x.dense, x.sparse.flatten(1)], dim=1), p["weight"], p["bias"]).squeeze(1)

    @staticmethod
    def macs(ctx):
        return ctx.head_in.size


# -- parameter allocation and slicing ---------------------------------------------------------


#: how a fresh model's field projections start (:func:`init_tensor`)
FIELD_STARTS = ("xavier", "identity")
#: scale of the xavier draw under the identity when field projections start at the identity
FIELD_IDENTITY_NOISE = 0.1


def init_tensor(spec: ParamSpec, generator: torch.Generator | None = None, *,
                field_start: str = "xavier") -> Tensor:
    """A fresh parameter. ``field_start`` sets how projections over the field axis (``init="field"``)
    start: ``"xavier"`` as every other weight (the release), or ``"identity"``: output field ``i`` starts
    as input field ``i`` (for the first ``min(out, in)``) plus a xavier draw scaled by
    :data:`FIELD_IDENTITY_NOISE`. A xavier start mixes all fields into every projected field, so a
    Dot-Product starts with no pairwise interaction of two particular fields and must first unmix them
    (README, "Field projections", for what each start measured).
    """
    if field_start not in FIELD_STARTS:
        raise ValueError(f"field_start must be one of {FIELD_STARTS}, got {field_start!r}")
    shape = tuple(axis_size(a) for a in spec.axes)
    t = torch.empty(shape)
    if spec.init in ("xavier", "field"):
        fan_out, fan_in = shape[0], shape[1]
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        t.uniform_(-bound, bound, generator=generator)
        if spec.init == "field" and field_start == "identity":
            n = min(shape)
            t.mul_(FIELD_IDENTITY_NOISE)
            t[:n, :n] += torch.eye(n)
    elif spec.init == "zeros":
        t.zero_()
    elif spec.init == "ones":
        t.fill_(1.0)
    elif spec.init == "ln_attention":
        t.fill_(ATTENTION_LN_INIT)
    else:  # pragma: no cover - a registration error
        raise ValueError(f"unknown init {spec.init!r}")
    return t


def slice_param(full: Tensor, spec: ParamSpec) -> Tensor:
    """The part of a full (supernet) parameter that ``spec`` (a concrete configuration) uses."""
    t = full
    for dim, a in enumerate(spec.axes):
        if isinstance(a, Ranges):
            if len(a.ranges) == 1:
                start, n = a.ranges[0]
                t = t.narrow(dim, start, n)
            else:
                t = torch.cat([t.narrow(dim, s, n) for s, n in a.ranges], dim=dim)
        elif a != t.shape[dim]:
            t = t.narrow(dim, 0, a)
    return t
