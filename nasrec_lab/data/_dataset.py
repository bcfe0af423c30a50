"""The on-disk data set: memory-mappable arrays per split plus ``manifest.json``.

Layout::

    DIR/manifest.json
    DIR/{train,val,test}/dense.npy    float32 (rows, n_dense)
    DIR/{train,val,test}/sparse.npy   int32   (rows, n_sparse), 0 = missing
    DIR/{train,val,test}/label.npy    int8    (rows,)
    DIR/{train,val,test}/prob.npy     float32 (rows,)  synthetic data only: true P(click)
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._schema import FeatureSchema
from ._split import SPLIT_NAMES

MANIFEST_VERSION = 1
MANIFEST = "manifest.json"


def binary_logloss(labels: np.ndarray, prob: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities ``prob`` against 0/1 ``labels`` (float64)."""
    p = np.clip(np.asarray(prob, np.float64), 1e-12, 1 - 1e-12)
    y = np.asarray(labels, np.float64)
    if len(y) == 0:
        return float("nan")
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


@dataclass
class SplitArrays:
    """One split (or several concatenated, e.g. train+val) as memory-mapped arrays."""

    name: str
    parts: list[dict[str, np.ndarray]]

    def __post_init__(self) -> None:
        self._sizes = np.array([len(p["label"]) for p in self.parts], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._sizes)])

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def has_prob(self) -> bool:
        return all("prob" in p for p in self.parts)

    def column(self, key: str) -> np.ndarray:
        """A whole column (concatenated if there are several parts; a copy then)."""
        if len(self.parts) == 1:
            return self.parts[0][key]
        return np.concatenate([p[key] for p in self.parts])

    def take(self, idx: np.ndarray, keys: tuple[str, ...] = ("dense", "sparse", "label")) -> dict[str, np.ndarray]:
        """Rows ``idx`` (global indices) of each array in ``keys``, gathered without per-row Python."""
        if len(self.parts) == 1:
            return {k: self.parts[0][k][idx] for k in keys}
        out = {}
        part = np.searchsorted(self._starts, idx, side="right") - 1
        for k in keys:
            ref = self.parts[0][k]
            buf = np.empty((len(idx), *ref.shape[1:]), ref.dtype)
            for j, p in enumerate(self.parts):
                m = part == j
                if m.any():
                    buf[m] = p[k][idx[m] - self._starts[j]]
            out[k] = buf
        return out

    def slice(self, start: int, stop: int, keys: tuple[str, ...] = ("dense", "sparse", "label")) -> dict[str, np.ndarray]:
        if len(self.parts) == 1:
            return {k: np.array(self.parts[0][k][start:stop]) for k in keys}
        return self.take(np.arange(start, stop), keys)


class CTRDataset:
    """A preprocessed data set directory.

    >>> ds = CTRDataset("data/synthetic")          # doctest: +SKIP
    >>> loader = ds.loader("train", batch_size=512, seed=0)  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise FileNotFoundError(
                f"{self.path}: not a nasrec-lab data set (no {MANIFEST}); create one with "
                "`nasrec-lab synth` or `nasrec-lab preprocess`"
            )
        try:
            self.manifest: dict[str, Any] = json.loads(mpath.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{mpath}: not valid JSON ({exc})") from exc
        version = self.manifest.get("format_version")
        if version != MANIFEST_VERSION:
            raise ValueError(f"{mpath}: format_version {version!r} is not supported (expected {MANIFEST_VERSION})")
        self.schema = FeatureSchema.from_json(self.manifest["schema"])
        self._splits: dict[str, dict[str, np.ndarray]] = {}

    def __repr__(self) -> str:
        rows = {k: v["rows"] for k, v in self.manifest["splits"].items()}
        return f"CTRDataset({str(self.path)!r}, kind={self.manifest.get('kind')!r}, rows={rows})"

    def _load(self, name: str) -> dict[str, np.ndarray]:
        if name not in SPLIT_NAMES:
            raise KeyError(f"unknown split {name!r}; expected one of {SPLIT_NAMES} or 'train+val'")
        if name not in self._splits:
            d = self.path / name
            arrays = {}
            for key in ("dense", "sparse", "label", "prob"):
                f = d / f"{key}.npy"
                if f.exists():
                    arrays[key] = np.load(f, mmap_mode="r")
            expected = self.manifest["splits"][name]["rows"]
            for key, arr in arrays.items():
                if len(arr) != expected:
                    raise ValueError(f"{d / (key + '.npy')}: {len(arr)} rows, manifest says {expected}")
            self._splits[name] = arrays
        return self._splits[name]

    def split(self, name: str) -> SplitArrays:
        """``"train"``, ``"val"``, ``"test"`` or ``"train+val"`` (final models train on both)."""
        names = name.split("+")
        arrays = SplitArrays(name, [self._load(n) for n in names])
        if len(arrays) == 0:
            rows = ", ".join(f"{k} {self.manifest['splits'][k]['rows']:,}" for k in SPLIT_NAMES)
            raise ValueError(f"{self.path}: split {name!r} has no rows (the data set has {rows}); make it from more "
                             "rows (the AutoCTR split gives a tenth of them to validation and to test)")
        return arrays

    def loader(self, split: str, batch_size: int = 512, **kwargs: Any):
        from ._loader import BatchLoader

        return BatchLoader(self.split(split), batch_size, **kwargs)

    def fingerprint(self) -> str:
        """SHA-256 of the manifest without its creation time: the same data gives the same value,
        so a checkpoint or a search can tell whether it is resumed on the data it started with."""
        import hashlib

        content = {k: v for k, v in self.manifest.items() if k != "created"}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()

    def identity(self) -> dict[str, str | None]:
        """This copy of the data set, for cache keys of results computed on it: its content
        (:meth:`fingerprint`) and creation time. Not its path: the same copy opened by a relative or
        an absolute path, or moved, keeps its cached results; a data set generated again is another copy."""
        return {"data": self.fingerprint(), "created": self.manifest.get("created")}

    def oracle_logloss(self, split: str) -> float | None:
        return self.manifest["splits"].get(split, {}).get("oracle_logloss")

    def summary(self) -> str:
        m = self.manifest
        lines = [
            f"data set {self.path} ({m.get('kind')}): {self.schema.n_dense} dense, "
            f"{self.schema.n_sparse} sparse features",
            f"  tables: min {min(self.schema.table_sizes)}, max {max(self.schema.table_sizes)}, "
            f"total {sum(self.schema.table_sizes):,} rows",
        ]
        for name in SPLIT_NAMES:
            s = m["splits"][name]
            extra = f", oracle log loss {s['oracle_logloss']:.5f}" if "oracle_logloss" in s else ""
            lines.append(f"  {name:5s}: {s['rows']:>10,} rows, positive rate {s['positive_rate']:.4f}{extra}")
        if m.get("bad_rows"):
            lines.append(f"  bad rows skipped: {m['bad_rows']}")
        return "\n".join(lines)


_SPLIT_FILES = {"dense.npy", "sparse.npy", "label.npy", "prob.npy"}


def not_a_dataset_reason(path: str | os.PathLike) -> str | None:
    """``None`` when ``path`` is a data set folder this project wrote (and holds nothing else),
    else why not: ``--overwrite`` deletes only such folders."""
    path = Path(path)
    mpath = path / MANIFEST
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError):
        return f"it holds no readable {MANIFEST} of a nasrec-lab data set"
    if not isinstance(manifest, dict) or "nasrec_lab_version" not in manifest or "format_version" not in manifest:
        return f"its {MANIFEST} was not written by nasrec-lab"
    for entry in sorted(path.iterdir()):
        if entry.name == MANIFEST:
            continue
        if entry.name not in SPLIT_NAMES or entry.is_symlink() or not entry.is_dir():
            return f"it holds {entry.name!r}, which nasrec-lab did not write (move it away first)"
        for f in sorted(entry.iterdir()):
            if f.name not in _SPLIT_FILES or f.is_symlink() or not f.is_file():
                return f"it holds {entry.name}/{f.name}, which nasrec-lab did not write (move it away first)"
    return None


class SplitWriter:
    """Write the per-split ``.npy`` files chunk by chunk, keeping file order inside each split.

    Plain sequential writes (not memory maps), so resident memory does not grow with the
    data set; per-split statistics are accumulated on the way.
    """

    def __init__(self, out: Path, counts: dict[str, int], n_dense: int, n_sparse: int, with_prob: bool) -> None:
        self.counts = counts
        self.files: dict[str, dict[str, Any]] = {}
        self.written = dict.fromkeys(SPLIT_NAMES, 0)
        self.positives = dict.fromkeys(SPLIT_NAMES, 0)
        self.logloss_sum = dict.fromkeys(SPLIT_NAMES, 0.0)
        self.prob_sum = dict.fromkeys(SPLIT_NAMES, 0.0)
        self.with_prob = with_prob
        self._writeback: Future | None = None
        for name in SPLIT_NAMES:
            d = out / name
            d.mkdir(parents=True, exist_ok=True)
            n = counts[name]
            spec = {"dense": (np.float32, (n, n_dense)), "sparse": (np.int32, (n, n_sparse)), "label": (np.int8, (n,))}
            if with_prob:
                spec["prob"] = (np.float32, (n,))
            self.files[name] = {}
            for key, (dt, shape) in spec.items():
                fh = open(d / f"{key}.npy", "wb")
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dt)), "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(fh, header)
                self.files[name][key] = (fh, np.dtype(dt))

    def write(self, assignment: np.ndarray, chunk: dict[str, np.ndarray]) -> None:
        # One stable sort groups the rows by split (file order kept inside each split); each
        # array is gathered once and written split by split.
        codes = np.asarray(assignment)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(SPLIT_NAMES) + 1) - 0.5)
        gathered = {key: np.take(chunk[key], order, axis=0) for key in self.files[SPLIT_NAMES[0]]}
        for code, name in enumerate(SPLIT_NAMES):
            lo, hi = int(bounds[code]), int(bounds[code + 1])
            k = hi - lo
            if not k:
                continue
            for key, (fh, dt) in self.files[name].items():
                part = np.ascontiguousarray(gathered[key][lo:hi], dtype=dt)
                if part.size:  # written from the array's memory (no bytes copy)
                    fh.write(memoryview(part).cast("B"))
            lab = gathered["label"][lo:hi]
            self.positives[name] += int(lab.sum())
            if self.with_prob:
                prob = gathered["prob"][lo:hi]
                self.logloss_sum[name] += binary_logloss(lab, prob) * k
                self.prob_sum[name] += float(np.sum(prob, dtype=np.float64))
            self.written[name] += k
        self._start_writeback()

    def _start_writeback(self) -> None:
        # The finished folder is fsynced (atomic_directory); having the disk write what is
        # written so far, in the background, overlaps that wait with the next chunks' work.
        if self._writeback is not None and not self._writeback.done():
            return
        fds = []
        for files in self.files.values():
            for fh, _ in files.values():
                fh.flush()
                fds.append(fh.fileno())
        self._writeback = _writeback_pool().submit(_datasync, fds)

    def close(self) -> dict[str, dict[str, Any]]:
        """Close the files and return per-split statistics for the manifest."""
        stats = {}
        if self._writeback is not None:
            self._writeback.result()  # before its file descriptors are closed
            self._writeback = None
        for name, files in self.files.items():
            for fh, _ in files.values():
                fh.close()
            n = self.written[name]
            if n != self.counts[name]:
                raise RuntimeError(f"split {name}: wrote {n} rows, expected {self.counts[name]}")
            s: dict[str, Any] = {"rows": n, "positive_rate": self.positives[name] / n if n else 0.0}
            if self.with_prob:
                s["oracle_logloss"] = self.logloss_sum[name] / n if n else float("nan")
                s["mean_true_prob"] = self.prob_sum[name] / n if n else 0.0
            stats[name] = s
        self.files.clear()
        return stats


_WRITEBACK_POOL: ThreadPoolExecutor | None = None


def _writeback_pool() -> ThreadPoolExecutor:
    global _WRITEBACK_POOL
    if _WRITEBACK_POOL is None:
        _WRITEBACK_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nasrec-writeback")
    return _WRITEBACK_POOL


def _datasync(fds: list[int]) -> None:
    # Only an early start: an error here is reported by the final fsync, which still runs.
    sync = getattr(os, "fdatasync", os.fsync)
    for fd in fds:
        try:
            sync(fd)
        except OSError:
            pass
