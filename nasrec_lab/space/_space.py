"""The search space: operators per kind, width choices, blocks, interactions, connection cap.

Plain data, no torch: a space is a small frozen dataclass that round-trips to JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# The operators' metadata lives in ``_operators`` (registered once); these names stay importable here.
from ._operators import (  # noqa: F401
    ATTENTION_HEADS,
    BINARY_DENSE_OPS,
    DENSE_SET_OPS,
    INTERACTIONS,
    OPERATOR_INFO,
    OPERATOR_KINDS,
    RELEASE_NAMES,
    operators,
)


@dataclass(frozen=True)
class SearchSpace:
    """Which architectures exist.

    >>> FULL.dense_ops, FULL.sparse_ops
    (('fc', 'dot-product', 'sigmoid-gating', 'sum'), ('attention', 'efc'))
    >>> SearchSpace.from_json(SMALL.to_json()) == SMALL
    True
    """

    name: str
    dense_ops: tuple[str, ...]
    sparse_ops: tuple[str, ...]
    dense_widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 768, 1024)
    sparse_widths: tuple[int, ...] = (16, 32, 48, 64)
    num_blocks: int = 7
    interactions: tuple[str, ...] = INTERACTIONS
    max_inputs: int = 4
    embedding_dim: int = 16
    interaction_fields: int = 8
    release_config: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("dense_ops", "sparse_ops", "dense_widths", "sparse_widths", "interactions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if not self.dense_ops:
            problems.append("dense_ops is empty: at least one dense operator is needed")
        if not self.sparse_ops:
            problems.append("sparse_ops is empty: at least one sparse operator is needed")
        for op in self.dense_ops:
            if OPERATOR_KINDS.get(op) not in ("dense", "dense-sparse"):
                problems.append(f"dense_ops: {op!r} is not a dense operator (known: {_known('dense', 'dense-sparse')})")
        for op in self.sparse_ops:
            if OPERATOR_KINDS.get(op) != "sparse":
                problems.append(f"sparse_ops: {op!r} is not a sparse operator (known: {_known('sparse')})")
        for name in ("dense_ops", "sparse_ops", "dense_widths", "sparse_widths", "interactions"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                problems.append(f"{name} has duplicates: {list(values)}")
        for name in ("dense_widths", "sparse_widths"):
            values = getattr(self, name)
            if not values:
                problems.append(f"{name} is empty")
            elif any(not isinstance(v, int) or v < 1 for v in values):
                problems.append(f"{name} must be positive integers, got {list(values)}")
            elif list(values) != sorted(values):
                problems.append(f"{name} must be in increasing order, got {list(values)}")
        if not isinstance(self.num_blocks, int) or self.num_blocks < 1:
            problems.append(f"num_blocks must be an integer >= 1, got {self.num_blocks!r}")
        if not isinstance(self.max_inputs, int) or self.max_inputs < 1:
            problems.append(f"max_inputs must be an integer >= 1, got {self.max_inputs!r}")
        for i in self.interactions:
            if i not in INTERACTIONS:
                problems.append(f"interactions: unknown module {i!r} (known: {list(INTERACTIONS)})")
        if self.embedding_dim < 1 or self.interaction_fields < 1:
            problems.append("embedding_dim and interaction_fields must be >= 1")
        elif "attention" in self.sparse_ops and self.embedding_dim % ATTENTION_HEADS:
            problems.append(f"embedding_dim {self.embedding_dim} is not a multiple of Attention's {ATTENTION_HEADS} "
                            "heads")
        if problems:
            raise ValueError(f"invalid search space {self.name!r}: " + "; ".join(problems))

    # -- derived -----------------------------------------------------------------------
    @property
    def max_dense_width(self) -> int:
        return max(self.dense_widths)

    @property
    def max_sparse_width(self) -> int:
        return max(self.sparse_widths)

    @property
    def node_names(self) -> tuple[str, ...]:
        """Operators in the release's node order (dense first, then sparse)."""
        return self.dense_ops + self.sparse_ops

    def inputs_available(self, block: int) -> int:
        """Block ``block`` (0-based) reads outputs 0..block: the stem and every earlier block."""
        return block + 1

    def input_set_count(self, block: int) -> int:
        n = self.inputs_available(block)
        return sum(math.comb(n, k) for k in range(1, min(n, self.max_inputs) + 1))

    def size(self) -> int:
        """The exact number of distinct architectures (as canonical forms, see ``Architecture.canonical``).

        Per block: the dense operator with what it reads (its input set for FC / Dot-Product, its
        left and right inputs for Sum / Sigmoid Gating), the sparse operator and its input set, the
        two widths and the interaction flags. Blocks multiply.
        """
        total = 1
        for i in range(self.num_blocks):
            n = self.inputs_available(i)
            subsets = self.input_set_count(i)
            # An operator reading left/right: ordered pairs, or unordered ones when it is symmetric (Sum).
            pairs = {True: n * (n + 1) // 2, False: n * n}
            dense_choices = sum(pairs[OPERATOR_INFO[op].symmetric] if OPERATOR_INFO[op].reads_left_right
                                else subsets for op in self.dense_ops)
            sparse_choices = len(self.sparse_ops) * subsets
            micro = len(self.dense_widths) * len(self.sparse_widths) * 2 ** len(self.interactions)
            total *= dense_choices * sparse_choices * micro
        return total

    # -- JSON --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SearchSpace:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"SearchSpace: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def replace(self, **changes: Any) -> SearchSpace:
        d = {**self.to_json(), **changes}
        d.setdefault("name", self.name)
        return SearchSpace.from_json(d)


def _known(*kinds: str) -> list[str]:
    return list(operators(*kinds))


FULL = SearchSpace(
    name="full",
    dense_ops=("fc", "dot-product", "sigmoid-gating", "sum"),
    sparse_ops=("attention", "efc"),
    release_config="xlarge",
)
SMALL = SearchSpace(
    name="small",
    dense_ops=("fc", "dot-product"),
    sparse_ops=("efc",),
    release_config="autoctr",
)
PRESETS: dict[str, SearchSpace] = {"full": FULL, "small": SMALL}


def get_space(name_or_space: str | SearchSpace) -> SearchSpace:
    if isinstance(name_or_space, SearchSpace):
        return name_or_space
    aliases = {"xlarge": "full", "autoctr": "small", "nasrec-full": "full", "nasrec-small": "small"}
    key = aliases.get(name_or_space, name_or_space)
    if key not in PRESETS:
        raise ValueError(f"unknown search space {name_or_space!r}; presets: {sorted(PRESETS)}")
    return PRESETS[key]
