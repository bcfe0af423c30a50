"""Architectures: per block a macro choice (connections) and a micro choice (operators, widths).

Plain data, no torch. Index ``0`` is the stem (raw dense features and the embeddings);
index ``j >= 1`` is the output of block ``j`` (1-based), so block ``i`` (0-based) may read
``0..i``. A *subnet* has exactly one dense and one sparse operator per block; a supernet
*path* (any-path or full-path sampling) may have several, whose outputs are summed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from ._operators import BINARY_DENSE_OPS, DENSE_SET_OPS, INTERACTIONS, OPERATOR_INFO, SPARSE_READING_DENSE_OPS
from ._space import SearchSpace, get_space

ARCH_FORMAT = "nasrec-lab/architecture-v1"


def _numpy_kind(value: Any) -> str:
    """A numpy scalar's dtype kind (a data frame's or a sampler's values), else ``""``."""
    return value.dtype.kind if getattr(value, "ndim", None) == 0 and hasattr(value, "dtype") else ""


def _integer(value: Any, name: str) -> int:
    """An index or a width as JSON gives it: an integer (``int()`` would read 64.9 as 64 and "16" as 16)."""
    if isinstance(value, bool) or not (isinstance(value, int) or _numpy_kind(value) in ("i", "u")):
        raise ValueError(f"block field {name!r} must hold integers, got {value!r}")
    return int(value)


def _boolean(value: Any, name: str) -> bool:
    """A flag as JSON gives it: true/false or 0/1 (``bool()`` would read "no" as on)."""
    if not (isinstance(value, bool) or _numpy_kind(value) == "b" or (isinstance(value, int) and value in (0, 1))):
        raise ValueError(f"block field {name!r} must be true or false, got {value!r}")
    return bool(value)


@dataclass(frozen=True)
class Block:
    """One choice block."""

    dense_in: tuple[int, ...]
    sparse_in: tuple[int, ...]
    left: int
    right: int
    dense_ops: tuple[str, ...]
    sparse_ops: tuple[str, ...]
    dense_width: int
    sparse_width: int
    dense_sparse_interact: bool = False
    deep_fm: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "dense_in", tuple(sorted(set(_integer(i, "dense_in") for i in self.dense_in))))
        object.__setattr__(self, "sparse_in", tuple(sorted(set(_integer(i, "sparse_in") for i in self.sparse_in))))
        object.__setattr__(self, "dense_ops", tuple(self.dense_ops))
        object.__setattr__(self, "sparse_ops", tuple(self.sparse_ops))
        for name in ("left", "right", "dense_width", "sparse_width"):
            object.__setattr__(self, name, _integer(getattr(self, name), name))
        for name in ("dense_sparse_interact", "deep_fm"):
            object.__setattr__(self, name, _boolean(getattr(self, name), name))

    @property
    def reads_dense_set(self) -> bool:
        return any(op in DENSE_SET_OPS for op in self.dense_ops)

    @property
    def reads_left_right(self) -> bool:
        return any(op in BINARY_DENSE_OPS for op in self.dense_ops)

    def to_json(self) -> dict[str, Any]:
        return {
            "dense_in": list(self.dense_in),
            "sparse_in": list(self.sparse_in),
            "left": self.left,
            "right": self.right,
            "dense_ops": list(self.dense_ops),
            "sparse_ops": list(self.sparse_ops),
            "dense_width": self.dense_width,
            "sparse_width": self.sparse_width,
            "dense_sparse_interact": self.dense_sparse_interact,
            "deep_fm": self.deep_fm,
        }


class BlockLiveness(NamedTuple):
    """What of a block reaches the head; the rest is never computed (nor allocated in a standalone model)."""

    dense: bool  # its dense operators (and FM) run
    sparse: bool  # its sparse operators run
    sparse_read: bool  # its sparse output is read downstream (so its DSI runs, if on)


# Block fields by the part of the block that uses them (the hash drops the fields of dead parts).
_DENSE_FIELDS = ("dense_in", "left", "right", "dense_ops", "dense_width", "deep_fm")
_SPARSE_FIELDS = ("sparse_ops", "sparse_width")


@dataclass(frozen=True)
class Architecture:
    """A sequence of blocks; JSON round-trip, canonical form and a stable hash.

    >>> arch = Architecture.from_json(arch.to_json())   # doctest: +SKIP
    >>> arch.hash()                                      # doctest: +SKIP
    '5c2f0a...'
    """

    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))

    def __len__(self) -> int:
        return len(self.blocks)

    @property
    def is_subnet(self) -> bool:
        return all(len(b.dense_ops) == 1 and len(b.sparse_ops) == 1 for b in self.blocks)

    def canonical(self) -> Architecture:
        """The same function with every choice that cannot matter normalised.

        Index lists are sets (sorted); left/right are 0 when no operator reads them and sorted
        when every one that does is symmetric (Sum); the dense input set is ``(0,)`` when no operator
        reads it; operator lists are sorted.
        """
        out = []
        for b in self.blocks:
            left, right = b.left, b.right
            if not b.reads_left_right:
                left = right = 0
            elif all(OPERATOR_INFO[op].symmetric for op in b.dense_ops if op in BINARY_DENSE_OPS):
                left, right = min(left, right), max(left, right)
            out.append(
                replace(
                    b,
                    dense_in=b.dense_in if b.reads_dense_set else (0,),
                    left=left,
                    right=right,
                    dense_ops=tuple(sorted(b.dense_ops)),
                    sparse_ops=tuple(sorted(b.sparse_ops)),
                )
            )
        return Architecture(tuple(out))

    def liveness(self) -> tuple[BlockLiveness, ...]:
        """Per block, what of it reaches the head (the head reads the last block's two outputs)."""
        n = len(self.blocks)
        need_d = [False] * (n + 1)
        need_s = [False] * (n + 1)
        need_d[n] = need_s[n] = True
        out: list[BlockLiveness] = []
        for i in range(n - 1, -1, -1):
            b = self.blocks[i]
            dense = need_d[i + 1] or (need_s[i + 1] and b.dense_sparse_interact)
            sparse = need_s[i + 1] or (dense and b.deep_fm)
            if dense:
                for op in b.dense_ops:
                    for k in ((b.left, b.right) if op in BINARY_DENSE_OPS else b.dense_in):
                        need_d[k] = True
                    if op in SPARSE_READING_DENSE_OPS:
                        for k in b.sparse_in:
                            need_s[k] = True
            if sparse:
                for k in b.sparse_in:
                    need_s[k] = True
            out.append(BlockLiveness(dense, sparse, need_s[i + 1]))
        return tuple(reversed(out))

    def live_form(self) -> list[dict[str, Any] | None]:
        """The canonical blocks' JSON with what never reaches the head set to ``None`` (a dead block is ``None``).

        Two architectures with the same live form compute the same function with the same
        parameters; evolution proposing one after the other would spend a candidate on nothing.
        """
        out: list[dict[str, Any] | None] = []
        for block, live in zip(self.canonical().blocks, self.liveness()):
            d = block.to_json()
            if not (live.dense or live.sparse):
                out.append(None)
                continue
            if not live.dense:
                d.update(dict.fromkeys(_DENSE_FIELDS))
            if not live.sparse:
                d.update(dict.fromkeys(_SPARSE_FIELDS))
                if not (live.dense and any(op in SPARSE_READING_DENSE_OPS for op in block.dense_ops)):
                    d["sparse_in"] = None
            if not (live.dense and live.sparse_read):
                d["dense_sparse_interact"] = None
            out.append(d)
        return out

    def hash(self) -> str:
        """A stable 16-hex-digit hash of the live canonical form (equal for equivalent architectures).

        Choices that cannot change the function are left out: those :meth:`canonical` normalises
        and those of parts that never reach the head (:meth:`live_form`).
        """
        text = json.dumps(self.live_form(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {"format": ARCH_FORMAT, "blocks": [b.to_json() for b in self.blocks]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Architecture:
        if not isinstance(d, dict):
            raise ValueError(f"architecture JSON must be an object, got {type(d).__name__}")
        if "micro" in d and "macro" in d:
            return from_release_json(d)[0]
        if d.get("format", ARCH_FORMAT) != ARCH_FORMAT:
            raise ValueError(f"architecture JSON: unknown format {d.get('format')!r} (expected {ARCH_FORMAT!r})")
        if "blocks" not in d or not isinstance(d["blocks"], list):
            raise ValueError("architecture JSON: missing the 'blocks' list")
        blocks = []
        fields = set(Block.__dataclass_fields__)
        for i, b in enumerate(d["blocks"]):
            if not isinstance(b, dict):
                raise ValueError(f"architecture JSON: blocks[{i}] must be an object")
            missing = {"dense_in", "sparse_in", "left", "right", "dense_ops", "sparse_ops", "dense_width",
                       "sparse_width"} - set(b)
            unknown = set(b) - fields
            if missing or unknown:
                raise ValueError(
                    f"architecture JSON: blocks[{i}]: " + "; ".join(
                        ([f"missing {sorted(missing)}"] if missing else []) + ([f"unknown {sorted(unknown)}"] if unknown else [])
                    )
                )
            try:
                blocks.append(Block(**b))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"architecture JSON: blocks[{i}]: {exc}") from exc
        return cls(tuple(blocks))


def validate(arch: Architecture, space: SearchSpace | str, *, path: bool = False) -> None:
    """Raise ``ValueError`` naming every block and field that ``space`` does not allow.

    ``path=True`` checks a supernet path instead of a subnet: several operators per block and
    any number of inputs are allowed.
    """
    space = get_space(space)
    problems = []
    if len(arch.blocks) != space.num_blocks:
        problems.append(f"has {len(arch.blocks)} blocks, the space {space.name!r} has {space.num_blocks}")
    for i, b in enumerate(arch.blocks):
        where = f"block {i}"
        avail = space.inputs_available(i)
        for name in ("dense_in", "sparse_in"):
            idx = getattr(b, name)
            if not idx:
                problems.append(f"{where}: {name} is empty (at least one input is needed)")
            bad = [j for j in idx if not 0 <= j < avail]
            if bad:
                problems.append(f"{where}: {name} {bad} out of range (block {i} reads 0..{avail - 1})")
            if not path and len(idx) > space.max_inputs:
                problems.append(f"{where}: {name} has {len(idx)} inputs, the space allows at most {space.max_inputs}")
        for name in ("left", "right"):
            j = getattr(b, name)
            if not 0 <= j < avail:
                problems.append(f"{where}: {name} = {j} out of range (block {i} reads 0..{avail - 1})")
        for name, allowed in (("dense_ops", space.dense_ops), ("sparse_ops", space.sparse_ops)):
            ops = getattr(b, name)
            if not ops:
                problems.append(f"{where}: {name} is empty")
            elif not path and len(ops) != 1:
                problems.append(f"{where}: {name} {list(ops)}: a subnet has exactly one")
            if len(set(ops)) != len(ops):
                problems.append(f"{where}: {name} {list(ops)} has duplicates")
            for op in ops:
                if op not in allowed:
                    problems.append(f"{where}: {name}: {op!r} is not in the space (allowed: {list(allowed)})")
        if b.dense_width not in space.dense_widths:
            problems.append(f"{where}: dense_width {b.dense_width} not in {list(space.dense_widths)}")
        if b.sparse_width not in space.sparse_widths:
            problems.append(f"{where}: sparse_width {b.sparse_width} not in {list(space.sparse_widths)}")
        for flag in INTERACTIONS:
            if getattr(b, flag) and flag not in space.interactions:
                problems.append(f"{where}: {flag} is on but the space has no {flag} module")
    if problems:
        kind = "path" if path else "architecture"
        raise ValueError(f"invalid {kind} for space {space.name!r}: " + "; ".join(problems))


# -- the release's JSON format ----------------------------------------------------------


def from_release_json(d: dict[str, Any]) -> tuple[Architecture, SearchSpace, dict[str, Any]]:
    """Load an architecture in the authors' release format -> (architecture, space, extra fields)."""
    for key in ("micro", "macro"):
        if key not in d:
            raise ValueError(f"release JSON: missing {key!r}")
    config = d.get("config", "xlarge")
    space = get_space(config)
    if len(d["micro"]) != len(d["macro"]):
        raise ValueError(f"release JSON: {len(d['micro'])} micro entries but {len(d['macro'])} macro entries")
    if "num_blocks" in d and d["num_blocks"] != len(d["micro"]):
        raise ValueError(f"release JSON: num_blocks is {d['num_blocks']} but there are {len(d['micro'])} blocks")
    if len(d["micro"]) != space.num_blocks:
        space = space.replace(num_blocks=len(d["micro"]))
    nodes = space.node_names
    n_dense = len(space.dense_ops)
    blocks = []
    for i, (mi, ma) in enumerate(zip(d["micro"], d["macro"])):
        try:
            active = [int(a) for a in mi["active_nodes"]]
            bad = [a for a in active if not 0 <= a < len(nodes)]
            if bad:
                raise ValueError(f"active_nodes {bad} out of range for config {config!r} (0..{len(nodes) - 1})")
            blocks.append(
                Block(
                    dense_in=ma["dense_idx"],
                    sparse_in=ma["sparse_idx"],
                    left=_single(ma["dense_left_idx"], "dense_left_idx"),
                    right=_single(ma["dense_right_idx"], "dense_right_idx"),
                    dense_ops=tuple(nodes[a] for a in sorted(active) if a < n_dense),
                    sparse_ops=tuple(nodes[a] for a in sorted(active) if a >= n_dense),
                    dense_width=mi["dense_in_dims"],
                    sparse_width=mi["sparse_in_dims"],
                    dense_sparse_interact=mi.get("dense_sparse_interact", 0),
                    deep_fm=mi.get("deep_fm", 0),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"release JSON: block {i}: {exc}") from exc
    arch = Architecture(tuple(blocks))
    validate(arch, space, path=not arch.is_subnet)
    extra = {k: v for k, v in d.items() if k not in ("micro", "macro", "num_blocks", "config")}
    return arch, space, extra


def _single(v: Any, name: str) -> int:
    if isinstance(v, list):
        if len(v) != 1:
            raise ValueError(f"{name} must hold exactly one index, got {v}")
        return int(v[0])
    return int(v)


def to_release_json(arch: Architecture, space: SearchSpace | str, **extra: Any) -> dict[str, Any]:
    """Export in the release's format (``config`` names the space)."""
    from ._space import PRESETS

    space = get_space(space)
    release = next((p for p in PRESETS.values() if p.release_config and p.release_config == space.release_config),
                   None)
    # the release numbers operators by its config's node list: a space derived from a preset with other
    # operators (it keeps the preset's release_config) would be written with wrong indices
    if release is None or (space.node_names, space.interactions) != (release.node_names, release.interactions):
        raise ValueError(f"space {space.name!r} has no counterpart in the release (only 'full' and 'small' do, "
                         "with their own operators)")
    nodes = space.node_names
    micro, macro = [], []
    for b in arch.blocks:
        micro.append(
            {
                "active_nodes": [nodes.index(op) for op in b.dense_ops] + [nodes.index(op) for op in b.sparse_ops],
                "dense_in_dims": b.dense_width,
                "sparse_in_dims": b.sparse_width,
                "dense_sparse_interact": int(b.dense_sparse_interact),
                "deep_fm": int(b.deep_fm),
            }
        )
        macro.append(
            {
                "dense_idx": list(b.dense_in),
                "sparse_idx": list(b.sparse_in),
                "dense_left_idx": [b.left],
                "dense_right_idx": [b.right],
            }
        )
    out = {"micro": micro, "macro": macro, "num_blocks": len(arch.blocks), "use_layernorm": 1,
           "config": space.release_config}
    out.update(extra)
    return out


def load_architecture(path) -> tuple[Architecture, SearchSpace | None]:
    """Read an architecture file in either format, or a published one by name.

    The space is known for release files, published names and nasrec-lab files that carry ``"space"``.

    >>> arch, space = load_architecture("criteo_full")   # shipped with the package
    """
    from pathlib import Path

    from ._published import PUBLISHED, published_path

    p = Path(path)
    if str(path) in PUBLISHED and not p.exists():
        p = published_path(str(path))
    try:
        d = json.loads(p.read_text())
    except OSError as exc:
        raise FileNotFoundError(f"{p}: cannot read architecture file ({exc.strerror}); published names: "
                                f"{', '.join(PUBLISHED)}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc
    try:
        if isinstance(d, dict) and "micro" in d:
            arch, space, _ = from_release_json(d)
            return arch, space
        space = None
        if isinstance(d, dict) and isinstance(d.get("space"), str):
            space = get_space(d["space"])
        elif isinstance(d, dict) and isinstance(d.get("space"), dict):
            space = SearchSpace.from_json(d["space"])
        return Architecture.from_json(d), space
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from exc


def save_architecture(path, arch: Architecture, space: SearchSpace | str, **metadata: Any) -> None:
    """Write ``arch`` as nasrec-lab JSON that carries its space (a preset's name, else the whole space).

    ``load_architecture``, ``nasrec-lab train-subnet`` and ``arch show`` read it as is; ``metadata``
    (where it came from, its score) is kept beside the blocks. Written atomically.

    >>> save_architecture("best.json", arch, "full", search="evolution-seed0")   # doctest: +SKIP
    """
    from .._atomic import atomic_write_json

    space = get_space(space)
    validate(arch, space)
    atomic_write_json(path, architecture_document(arch, space, **metadata))


def architecture_document(arch: Architecture, space: SearchSpace | str, **metadata: Any) -> dict[str, Any]:
    """What :func:`save_architecture` writes: the blocks, the space (a preset's name, else the whole
    space, so that an edited space loads back), the hash and ``metadata``."""
    from ._space import PRESETS

    space = get_space(space)
    named = PRESETS.get(space.name) == space
    return {**metadata, **arch.to_json(), "space": space.name if named else space.to_json(), "hash": arch.hash()}
