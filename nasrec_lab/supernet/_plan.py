"""From an architecture to a static plan: which columns/fields each operator reads.

The supernet lays out, for block ``i``, a dense input axis with one slot per earlier output
(the stem's ``n_dense`` columns, then ``max_w`` per block) and a sparse field axis with one
slot per earlier output (the stem's ``n_sparse`` fields, then ``max_m`` operator fields and
``k`` interaction fields per block). A path reads a prefix of each slot it connects to.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..data import FeatureSchema
from ..space import Architecture, Block, SearchSpace
from ..space._operators import BINARY_DENSE_OPS, DENSE_SET_OPS
from ._ops import OPERATORS, OpCtx, Ranges


@dataclass(frozen=True)
class Geometry:
    """Sizes of the supernet for one schema and space."""

    n_dense: int
    n_sparse: int
    e: int
    max_w: int
    max_m: int
    k: int
    has_dsi: bool
    num_blocks: int

    @classmethod
    def of(cls, schema: FeatureSchema, space: SearchSpace) -> Geometry:
        if schema.embedding_dim != space.embedding_dim:
            raise ValueError(
                f"embedding dim differs: schema {schema.embedding_dim}, space {space.embedding_dim}"
            )
        return cls(schema.n_dense, schema.n_sparse, space.embedding_dim, space.max_dense_width,
                   space.max_sparse_width, space.interaction_fields,
                   "dense_sparse_interact" in space.interactions, space.num_blocks)

    def dense_slot(self, j: int) -> int:
        return self.n_dense if j == 0 else self.max_w

    def sparse_slot(self, j: int) -> int:
        return self.n_sparse if j == 0 else self.max_m + (self.k if self.has_dsi else 0)

    def dense_offset(self, j: int) -> int:
        return 0 if j == 0 else self.n_dense + (j - 1) * self.max_w

    def sparse_offset(self, j: int) -> int:
        return 0 if j == 0 else self.n_sparse + (j - 1) * self.sparse_slot(1)

    def head_ctx_full(self, layernorm: bool) -> OpCtx:
        full = Ranges(((0, self.max_w + self.sparse_slot(1) * self.e),))
        return OpCtx(self.e, self.max_w, self.max_m, full, full, 0, layernorm, self.k, head_in=full, allocate_all=True)

    def full_ctx(self, i: int, layernorm: bool) -> OpCtx:
        """The largest configuration of block ``i``'s operators (the supernet's allocation)."""
        dense = Ranges(((0, self.dense_offset(i + 1) if i > 0 else self.n_dense),))
        sparse = Ranges(((0, self.sparse_offset(i + 1) if i > 0 else self.n_sparse),))
        c = max(self.dense_slot(j) for j in range(i + 1))
        return OpCtx(self.e, self.max_w, self.max_m, dense, sparse, c, layernorm, self.k, allocate_all=True)


@dataclass(frozen=True)
class BlockPlan:
    """A block of the architecture with its operators' context and what of it is live."""

    block: Block
    ctx: OpCtx
    reads_dense_set: bool
    reads_left_right: bool
    # Liveness: what of this block reaches the head (the rest is never computed, as the
    # release's traced final models do not compute it either).
    dense_live: bool = True
    sparse_live: bool = True
    sparse_needed: bool = True

    def __getattr__(self, name: str):
        # dense_in, sparse_in, left, right, dense_ops, sparse_ops come from the block
        if name == "block" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.block, name)

    @property
    def interact_live(self) -> bool:
        return self.block.dense_sparse_interact and self.sparse_needed

    @property
    def fm_live(self) -> bool:
        return self.block.deep_fm and self.dense_live


@dataclass(frozen=True)
class PathPlan:
    blocks: tuple[BlockPlan, ...]
    head: OpCtx


def _merge(ranges: list[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for s, n in ranges:
        if n == 0:
            continue
        if out and out[-1][0] + out[-1][1] == s:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((s, n))
    return Ranges(tuple(out))


@lru_cache(maxsize=4096)
def make_plan(arch: Architecture, geo: Geometry, layernorm: bool, always_project: bool = False,
              centre_dense: bool = False) -> PathPlan:
    """The static plan of ``arch`` on the supernet geometry ``geo`` (cached).

    ``always_project``: every optional projection runs, also between equal sizes (the FM's
    Linear+LN at w = e, the interaction's at w = k*e, a Sum's or Gating's at c = w), as in the
    release's supernet, which runs every block at the largest widths; the release's standalone
    models (and so ours, by default) skip them. ``centre_dense``: FC and Dot-Product read their
    dense input centred on the batch mean (``SuperNet(centre_dense=True)``).
    """
    if len(arch.blocks) != geo.num_blocks:
        raise ValueError(f"architecture has {len(arch.blocks)} blocks, the supernet {geo.num_blocks}")
    dense_w = [geo.n_dense]  # actual widths of outputs 0..i
    sparse_fields = [[(0, geo.n_sparse)]]  # per output: its fields as offsets inside its slot
    live = arch.liveness()
    plans = []
    for i, b in enumerate(arch.blocks):
        for name, idx in (("dense_in", b.dense_in), ("sparse_in", b.sparse_in), ("left", (b.left,)),
                          ("right", (b.right,))):
            if any(not 0 <= j <= i for j in idx):
                raise ValueError(f"block {i}: {name} {list(idx)} out of range 0..{i}")
        if b.dense_width > geo.max_w or b.sparse_width > geo.max_m:
            raise ValueError(f"block {i}: widths {b.dense_width}/{b.sparse_width} exceed the supernet's "
                             f"{geo.max_w}/{geo.max_m}")
        missing = [op for op in b.dense_ops + b.sparse_ops if op not in OPERATORS]
        if missing:
            raise ValueError(f"block {i}: operator(s) {missing} have no torch implementation "
                             "(nasrec_lab.supernet.register_operator attaches one)")
        if b.dense_sparse_interact and not geo.has_dsi:
            raise ValueError(f"block {i}: dense_sparse_interact is on but the supernet has no such module")
        dense = _merge([(geo.dense_offset(j), dense_w[j]) for j in b.dense_in])
        sparse = _merge([(geo.sparse_offset(j) + s, n) for j in b.sparse_in for s, n in sparse_fields[j]])
        reads_lr = any(op in BINARY_DENSE_OPS for op in b.dense_ops)
        c = max(dense_w[b.left], dense_w[b.right]) if reads_lr else 0
        ctx = OpCtx(geo.e, b.dense_width, b.sparse_width, dense, sparse, c, layernorm, geo.k,
                    allocate_all=always_project, centre_dense=centre_dense)
        dense_live, sparse_live, sparse_needed = live[i]
        plans.append(BlockPlan(b, ctx, any(op in DENSE_SET_OPS for op in b.dense_ops), reads_lr,
                               dense_live, sparse_live, sparse_needed))
        dense_w.append(b.dense_width)
        fields = [(0, b.sparse_width)]
        if b.dense_sparse_interact:
            fields.append((geo.max_m, geo.k))
        sparse_fields.append(fields)
    last = arch.blocks[-1]
    head_ranges = [(0, last.dense_width)] + [(geo.max_w + s * geo.e, n * geo.e) for s, n in sparse_fields[-1]]
    head_in = _merge(head_ranges)
    head = OpCtx(geo.e, last.dense_width, last.sparse_width, head_in, head_in, 0, layernorm, geo.k, head_in=head_in)
    return PathPlan(tuple(plans), head)
