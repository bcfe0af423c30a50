"""The operator registry's torch-free half: every operator's metadata, registered once, here.

An operator is known by its :class:`OperatorInfo`: its kind, which of a block's inputs it reads,
whether its two inputs are interchangeable, and what drawings and documentation show of it
(its name, its output's size, its multiply-adds). The search space (which operators a space may
choose, how many architectures it holds, canonical forms), the supernet's plans, the cost model,
the architecture graph and the space editor all read this table; the supernet's registry
(``nasrec_lab.supernet.register_operator``) attaches the torch implementation to an entry.

A new operator is one file: ``@register_operator("name", "dense", reads="dense_set", label=...)``
on its torch class defines the metadata here and attaches the class in the same call.

Kinds: ``dense`` (dense input -> (B, w)), ``dense-sparse`` (dense and sparse inputs -> (B, w), a
dense choice), ``sparse`` (sparse input -> (B, m, e)), ``interaction`` (the block-level modules
FM and the dense-sparse interaction, one flag each on a block) and ``head``.

Reads (the fields of the supernet's ``OpInputs``): ``dense`` (the concatenated dense input set),
``sparse`` (the concatenated sparse input set), ``left`` / ``right`` (two single dense inputs).
For interaction modules ``dense`` / ``sparse`` is the block's own output, for the head the
last block's outputs. Notation (as in ``nasrec_lab.supernet._ops``): ``w`` dense width, ``m``
sparse width, ``e`` embedding dim, ``k`` interaction fields, ``c`` the wider of left/right,
``p = round(sqrt(2 w))``, ``|x|`` the size of an input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

KINDS = ("dense", "dense-sparse", "sparse", "interaction", "head")
SPACE_KINDS = ("dense", "dense-sparse", "sparse")  # what a search space chooses from
DENSE_KINDS = ("dense", "dense-sparse")
INPUTS = ("dense", "sparse", "left", "right")
_DEFAULT_READS = {"dense": ("dense",), "dense-sparse": ("dense", "sparse"), "sparse": ("sparse",)}
_DEFAULT_OUTPUT = {"dense": "w={w}", "dense-sparse": "w={w}", "sparse": "{m}×{e}"}


@dataclass(eq=False)
class OperatorInfo:
    """One operator's metadata; ``implementation`` is the torch class, once the supernet attached one."""

    name: str
    kind: str
    reads: tuple[str, ...]
    symmetric: bool = False  # left and right are interchangeable (one canonical order)
    label: str = ""  # the name drawings show
    output: str = ""  # the output's size as drawn: a format string over w, m, e, k
    flops: str = ""  # multiply-adds per example, in the notation above
    note: str = ""  # a caption line for drawings that show it (a format string over k)
    release_name: str | None = None  # the authors' release's name, where it has one
    implementation: Any = field(default=None, repr=False)

    @property
    def reads_dense_set(self) -> bool:
        return "dense" in self.reads

    @property
    def reads_left_right(self) -> bool:
        return "left" in self.reads

    @property
    def reads_sparse(self) -> bool:
        return "sparse" in self.reads

    def output_text(self, *, w: int, m: int = 0, e: int = 0, k: int = 0) -> str:
        return self.output.format(w=w, m=m, e=e, k=k)


OPERATOR_INFO: dict[str, OperatorInfo] = {}


def define_operator(name: str, kind: str, *, reads: tuple[str, ...] | None = None, symmetric: bool = False,
                    label: str | None = None, output: str | None = None, flops: str = "", note: str = "",
                    release_name: str | None = None) -> OperatorInfo:
    """Register one operator's metadata (once per name); returns it.

    ``reads`` defaults by kind: ``("dense",)`` dense, ``("dense", "sparse")`` dense-sparse,
    ``("sparse",)`` sparse. A dense operator reads either its dense input set or ``("left", "right")``.
    """
    if name in OPERATOR_INFO:
        raise ValueError(f"operator {name!r} is already registered")
    if not name or not isinstance(name, str):
        raise ValueError(f"operator name must be a non-empty string, got {name!r}")
    if kind not in KINDS:
        raise ValueError(f"operator {name!r}: unknown kind {kind!r} (known: {list(KINDS)})")
    reads = tuple(reads) if reads is not None else _DEFAULT_READS.get(kind, ())
    problems = [f"unknown input {r!r} (known: {list(INPUTS)})" for r in reads if r not in INPUTS]
    if kind in DENSE_KINDS:
        if ("left" in reads) != ("right" in reads):
            problems.append("reads left and right together or neither")
        if ("left" in reads) == ("dense" in reads):
            problems.append("a dense operator reads its dense input set or left/right, one of the two")
        if ("sparse" in reads) != (kind == "dense-sparse"):
            problems.append("reads the sparse input exactly when its kind is dense-sparse")
    elif kind == "sparse" and reads != ("sparse",):
        problems.append("a sparse operator reads the sparse input set only")
    if symmetric and "left" not in reads:
        problems.append("only an operator reading left/right can be symmetric")
    if problems:
        raise ValueError(f"operator {name!r}: " + "; ".join(problems))
    info = OperatorInfo(name, kind, reads, symmetric, label or name,
                        output if output is not None else _DEFAULT_OUTPUT.get(kind, ""), flops, note, release_name)
    OPERATOR_INFO[name] = info
    return info


def remove_operator(name: str) -> None:
    """Forget an operator (tests clean up a toy registration with this)."""
    OPERATOR_INFO.pop(name, None)


def operator_info(name: str) -> OperatorInfo:
    try:
        return OPERATOR_INFO[name]
    except KeyError:
        raise KeyError(f"unknown operator {name!r} (known: {list(OPERATOR_INFO)})") from None


def operators(*kinds: str) -> tuple[str, ...]:
    """Names of the registered operators of these kinds (all kinds when none given), in registration order."""
    return tuple(n for n, i in OPERATOR_INFO.items() if not kinds or i.kind in kinds)


# -- live views (the names other modules imported before the registry existed) ---------------


class _KindView(Mapping[str, str]):
    """name -> kind of the operators a search space chooses from."""

    def __getitem__(self, name: str) -> str:
        info = OPERATOR_INFO[name]
        if info.kind not in SPACE_KINDS:
            raise KeyError(name)
        return info.kind

    def __iter__(self) -> Iterator[str]:
        return iter(operators(*SPACE_KINDS))

    def __len__(self) -> int:
        return len(operators(*SPACE_KINDS))

    def __repr__(self) -> str:
        return repr(dict(self))


class _NameView(Mapping[str, str]):
    """name -> one attribute (``label`` or ``release_name``) of the space's operators that have it."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def _items(self) -> dict[str, str]:
        return {n: getattr(OPERATOR_INFO[n], self.attr) for n in operators(*SPACE_KINDS)
                if getattr(OPERATOR_INFO[n], self.attr)}

    def __getitem__(self, name: str) -> str:
        return self._items()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return repr(self._items())


class _DenseReaders(Set[str]):
    """Dense operators reading their dense input set (``"dense"``), left/right (``"left"``) or the sparse input."""

    def __init__(self, reads: str) -> None:
        self.reads = reads

    @classmethod
    def _from_iterable(cls, it):
        return set(it)

    def _names(self) -> list[str]:
        return [n for n in operators(*DENSE_KINDS) if self.reads in OPERATOR_INFO[n].reads]

    def __contains__(self, name: object) -> bool:
        info = OPERATOR_INFO.get(name)  # type: ignore[arg-type]
        return info is not None and info.kind in DENSE_KINDS and self.reads in info.reads

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(set(self._names()))


OPERATOR_KINDS: Mapping[str, str] = _KindView()
DENSE_SET_OPS: Set[str] = _DenseReaders("dense")
BINARY_DENSE_OPS: Set[str] = _DenseReaders("left")
SPARSE_READING_DENSE_OPS: Set[str] = _DenseReaders("sparse")
OPERATOR_LABELS: Mapping[str, str] = _NameView("label")
RELEASE_NAMES: Mapping[str, str] = _NameView("release_name")

# -- the paper's operators, interaction modules and head --------------------------------------

define_operator("fc", "dense", label="FC", flops="w·|dense_in|", release_name="linear-2d")
define_operator("dot-product", "dense-sparse", label="Dot-Product", release_name="dot-product",
                flops="e·|dense_in| + e·|sparse_in|·p + (p+1)²·e + w·p(p+1)/2 (same-size projections skipped)")
define_operator("sigmoid-gating", "dense", reads=("left", "right"), label="Sigmoid Gating",
                flops="c² + w·c (the second term 0 when c = w)", release_name="sigmoid-gating")
define_operator("sum", "dense", reads=("left", "right"), symmetric=True, label="Sum", flops="w·c (0 when c = w)",
                release_name="sum")
#: heads of the Attention operator (the release's): the embedding size must be a multiple of it
ATTENTION_HEADS = 8
define_operator("attention", "sparse", label="Attention", flops="e·|sparse_in|·m + 6·m·e² + 2·m²·e",
                release_name="transformer")
define_operator("efc", "sparse", label="EFC", flops="e·|sparse_in|·m", release_name="linear-3d")
define_operator("deep_fm", "interaction", reads=("sparse",), label="FM", output="+w={w}",
                flops="w·e (0 when w = e)",
                note="FM, beside a dense operator: a factorization machine on the block's sparse output, "
                     "projected to w and added to that operator's output.")
define_operator("dense_sparse_interact", "interaction", reads=("dense",), label="DSI", output="+{k}×{e}",
                flops="k·e·w (0 when w = k·e)",
                note="DSI, beside a sparse operator: the block's dense output projected to "
                     "{k} fields and appended to that operator's output.")
define_operator("head", "head", reads=("dense", "sparse"), label="Head", output="1 logit", flops="|head_in|")

# The block-level flags, in the order blocks sample them (each a Block field, so not extensible here).
INTERACTIONS = ("dense_sparse_interact", "deep_fm")
assert set(INTERACTIONS) == set(operators("interaction"))
