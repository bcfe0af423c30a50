"""Sampling architectures and supernet paths, and mutating them (no torch).

Strategies (NASREC.md, "Weight sharing and sampling"), with the release's counting rules:

* ``single-path``: one input per connection, one dense and one sparse operator;
* ``any-path`` (the release's ``anypath_choice="uniform"``): the number of dense inputs, of
  sparse inputs, of dense operators and of sparse operators is each uniform in
  ``1..min(n, 4)`` (``n`` the number to choose from), drawn without replacement;
* ``any-path-binomial`` (the release's ``"binomial-0.5"``): the same four counts are
  ``1 + Binomial(min(n-1, 3), 0.5)``;
* ``default`` (single-operator any-connection): macro as any-path-binomial, micro single-path;
* ``full-path``: every earlier output feeds every input, all operators, maximum widths,
  both interaction modules.

Widths and interaction flags are uniform in every strategy but full-path; left and right
are one uniform index each.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ._arch import Architecture, Block, validate
from ._operators import BINARY_DENSE_OPS, INTERACTIONS
from ._space import SearchSpace, get_space

STRATEGIES = ("single-path", "any-path", "any-path-binomial", "default", "full-path")
# How each strategy counts (macro: inputs per connection set; micro: operators per kind).
COUNT_RULES: dict[str, tuple[str, str]] = {
    "single-path": ("single", "single"),
    "any-path": ("uniform", "uniform"),
    "any-path-binomial": ("binomial", "binomial"),
    "default": ("binomial", "single"),
}
# The release caps the operator count with the same helper (max_items=4) as the input count.
MAX_OPERATORS = 4


def _input_set(rng: np.random.Generator, n: int, count: int) -> tuple[int, ...]:
    return tuple(int(j) for j in rng.choice(n, size=count, replace=False))


def _count(rng: np.random.Generator, n: int, cap: int, how: str) -> int:
    if how == "single":
        return 1
    if how == "uniform":
        return int(rng.integers(1, min(n, cap) + 1))
    return 1 + int(rng.binomial(min(n - 1, cap - 1), 0.5))


def _ops(rng: np.random.Generator, ops: tuple[str, ...], how: str) -> tuple[str, ...]:
    if how == "single":
        return (ops[int(rng.integers(len(ops)))],)
    chosen = rng.choice(len(ops), size=_count(rng, len(ops), MAX_OPERATORS, how), replace=False)
    return tuple(ops[j] for j in sorted(int(j) for j in chosen))


def sample_block(space: SearchSpace, i: int, rng: np.random.Generator, strategy: str,
                 *, full_macro: bool = False, full_micro: bool = False) -> Block:
    n = space.inputs_available(i)
    if full_macro:
        dense_in = sparse_in = tuple(range(n))
        left, right = int(rng.integers(n)), int(rng.integers(n))
    else:
        how = COUNT_RULES[strategy][0]
        dense_in = _input_set(rng, n, _count(rng, n, space.max_inputs, how))
        sparse_in = _input_set(rng, n, _count(rng, n, space.max_inputs, how))
        left, right = int(rng.integers(n)), int(rng.integers(n))
    if full_micro:
        return Block(dense_in, sparse_in, left, right, space.dense_ops, space.sparse_ops, space.max_dense_width,
                     space.max_sparse_width, "dense_sparse_interact" in space.interactions,
                     "deep_fm" in space.interactions)
    micro = COUNT_RULES[strategy][1]
    flags = {f: (f in space.interactions and bool(rng.integers(2))) for f in INTERACTIONS}
    return Block(
        dense_in=dense_in,
        sparse_in=sparse_in,
        left=left,
        right=right,
        dense_ops=_ops(rng, space.dense_ops, micro),
        sparse_ops=_ops(rng, space.sparse_ops, micro),
        dense_width=int(space.dense_widths[int(rng.integers(len(space.dense_widths)))]),
        sparse_width=int(space.sparse_widths[int(rng.integers(len(space.sparse_widths)))]),
        **flags,
    )


def sample_architecture(space: SearchSpace | str, rng: np.random.Generator, strategy: str = "default") -> Architecture:
    """One architecture (``single-path``/``default`` give subnets; ``any-path``/``full-path`` paths)."""
    space = get_space(space)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown sampling strategy {strategy!r}; expected one of {STRATEGIES}")
    full = strategy == "full-path"
    return Architecture(tuple(sample_block(space, i, rng, strategy, full_macro=full, full_micro=full)
                              for i in range(space.num_blocks)))


def full_path(space: SearchSpace | str) -> Architecture:
    """Everything on: all inputs, all operators, maximum widths, both interactions.

    Left/right of block ``i`` are ``i`` (the latest output) and ``0`` (the stem).
    """
    space = get_space(space)
    blocks = []
    for i in range(space.num_blocks):
        n = space.inputs_available(i)
        blocks.append(Block(tuple(range(n)), tuple(range(n)), i, 0, space.dense_ops, space.sparse_ops,
                            space.max_dense_width, space.max_sparse_width,
                            "dense_sparse_interact" in space.interactions, "deep_fm" in space.interactions))
    return Architecture(tuple(blocks))


class WarmupSchedule:
    """Probability of a full-path step: ``1 - t/T`` for ``0 <= t < T`` optimizer steps, then 0."""

    def __init__(self, steps: int) -> None:
        if steps < 0:
            raise ValueError(f"warm-up steps must be >= 0, got {steps}")
        self.steps = int(steps)

    def __call__(self, step: int) -> float:
        if self.steps == 0 or step >= self.steps:
            return 0.0
        return 1.0 - step / self.steps


class PathSampler:
    """Seeded sampler of supernet paths with the full-path warm-up; ``state_dict()`` for resume.

    With probability ``p = warmup(step)`` a step uses the full macro path, and each block
    independently takes its full micro path with the same ``p``.

    >>> sampler = PathSampler("full", seed=0, warmup_steps=100)
    >>> arch = sampler.sample(step=0)     # full path at step 0
    """

    def __init__(self, space: SearchSpace | str, strategy: str = "default", *, seed: int = 0,
                 warmup_steps: int = 0) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown sampling strategy {strategy!r}; expected one of {STRATEGIES}")
        self.space = get_space(space)
        self.strategy = strategy
        self.seed = int(seed)
        self.warmup = WarmupSchedule(warmup_steps)
        self.rng = np.random.default_rng(self.seed)

    def sample(self, step: int = 0) -> Architecture:
        p = self.warmup(step)
        if self.strategy == "full-path":
            return sample_architecture(self.space, self.rng, "full-path")
        full_macro = p > 0 and self.rng.random() < p
        blocks = []
        for i in range(self.space.num_blocks):
            full_micro = p > 0 and self.rng.random() < p
            blocks.append(sample_block(self.space, i, self.rng, self.strategy, full_macro=full_macro,
                                       full_micro=full_micro))
        return Architecture(tuple(blocks))

    def state_dict(self) -> dict[str, Any]:
        return {"space": self.space.to_json(), "strategy": self.strategy, "seed": self.seed,
                "warmup_steps": self.warmup.steps, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["strategy"] != self.strategy or SearchSpace.from_json(state["space"]) != self.space:
            raise ValueError(
                f"sampler state is for space {state['space'].get('name')!r} / strategy {state['strategy']!r}, "
                f"this sampler is {self.space.name!r} / {self.strategy!r}"
            )
        self.seed = state["seed"]
        self.warmup = WarmupSchedule(state["warmup_steps"])
        self.rng.bit_generator.state = state["rng"]


MUTATIONS = ("dense_op", "sparse_op", "dense_width", "sparse_width", "dense_in", "sparse_in", "left", "right",
             "dense_sparse_interact", "deep_fm")


def _toggle(rng: np.random.Generator, current: tuple[int, ...], n: int, cap: int) -> tuple[int, ...]:
    s = set(current)
    j = int(rng.integers(n))
    if j in s and len(s) > 1:
        s.remove(j)
    elif j not in s and len(s) < cap:
        s.add(j)
    elif j in s:  # the only input: replace it
        others = [k for k in range(n) if k != j]
        if not others:
            return current
        s = {others[int(rng.integers(len(others)))]}
    else:  # full: swap one out
        s.remove(sorted(s)[int(rng.integers(len(s)))])
        s.add(j)
    return tuple(sorted(s))


def mutate(arch: Architecture, space: SearchSpace | str, rng: np.random.Generator) -> Architecture:
    """One random change that gives a different (canonical) valid subnet.

    Picks a block and one of its choices (an operator, a width, a connection set, left/right
    of a binary operator, an interaction flag) and changes it.
    """
    space = get_space(space)
    base = arch.hash()
    for _ in range(1000):
        i = int(rng.integers(len(arch.blocks)))
        b = arch.blocks[i]
        n = space.inputs_available(i)
        kind = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
        if kind == "dense_op":
            new = replace(b, dense_ops=(space.dense_ops[int(rng.integers(len(space.dense_ops)))],))
        elif kind == "sparse_op":
            new = replace(b, sparse_ops=(space.sparse_ops[int(rng.integers(len(space.sparse_ops)))],))
        elif kind == "dense_width":
            new = replace(b, dense_width=int(space.dense_widths[int(rng.integers(len(space.dense_widths)))]))
        elif kind == "sparse_width":
            new = replace(b, sparse_width=int(space.sparse_widths[int(rng.integers(len(space.sparse_widths)))]))
        elif kind == "dense_in":
            if not b.reads_dense_set:
                continue
            new = replace(b, dense_in=_toggle(rng, b.dense_in, n, space.max_inputs))
        elif kind == "sparse_in":
            new = replace(b, sparse_in=_toggle(rng, b.sparse_in, n, space.max_inputs))
        elif kind in ("left", "right"):
            if not set(b.dense_ops) & BINARY_DENSE_OPS:
                continue
            new = replace(b, **{kind: int(rng.integers(n))})
        else:
            if kind not in space.interactions:
                continue
            new = replace(b, **{kind: not getattr(b, kind)})
        blocks = list(arch.blocks)
        blocks[i] = new
        child = Architecture(tuple(blocks))
        if child.hash() != base:
            validate(child, space)
            return child
    raise ValueError(f"no mutation changes this architecture in space {space.name!r} (is the space trivial?)")
