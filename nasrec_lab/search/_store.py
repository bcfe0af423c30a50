"""The search store: every scored candidate in SQLite (WAL), as soon as it is scored.

One file can hold several searches. The schema carries a version (``PRAGMA user_version``);
opening an older file migrates it in place, in one transaction. Only parameterised SQL.

>>> store = SearchStore("runs/search.sqlite")                 # doctest: +SKIP
>>> store.candidates_frame()                                    # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
# (lock file, search id) of the searches this process runs (POSIX locks do not exclude their owner),
# and the one open descriptor per lock file with its number of users
_HELD: set[tuple[str, int]] = set()
_LOCK_FILES: dict[str, tuple[int, int]] = {}
_LOCKS_GUARD = threading.Lock()
# Settings added after stores were written: a stored search without them is not refused for it.
_LATER_SETTINGS = ("supernet_sha256", "data_identity")
# Paths as the user spelled them, each beside the setting that identifies its content: where both
# searches record the content and it agrees, another spelling (relative / absolute, a moved file)
# is the same setting.
_PATH_SETTINGS = {"data": "data_identity", "supernet": "supernet_sha256"}


def _changes(key: str, then: Any, now: Any) -> list[str]:
    """``key: THEN then, NOW now`` for a changed setting; for a group of settings, each one changed."""
    if isinstance(then, dict) and isinstance(now, dict):
        return [c for k in sorted(set(then) | set(now)) if then.get(k) != now.get(k)
                for c in _changes(f"{key}.{k}", then.get(k), now.get(k))]
    text = [json.dumps(v, sort_keys=True) for v in (then, now)]
    text = [t if len(t) <= 120 else t[:117] + "..." for t in text]
    return [f"{key}: {text[0]} then, {text[1]} now"]


def _differs(key: str, stored: dict, config: dict) -> bool:
    """Whether a resumed search's setting ``key`` is another than the stored one's."""
    if stored.get(key) == config.get(key) or (key in _LATER_SETTINGS and key not in stored):
        return False
    content = _PATH_SETTINGS.get(key)  # a path: the same content by another spelling is the same setting
    return content is None or stored.get(content) is None or stored.get(content) != config.get(content)


_SCHEMA_V1 = """
CREATE TABLE searches (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    space_json TEXT NOT NULL,
    config_json TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE candidates (
    id INTEGER PRIMARY KEY,
    search_id INTEGER NOT NULL REFERENCES searches(id),
    seq INTEGER NOT NULL,
    arch_hash TEXT NOT NULL,
    arch_json TEXT NOT NULL,
    generation INTEGER NOT NULL,
    val_logloss REAL,
    val_auc REAL,
    flops INTEGER,
    params INTEGER,
    wall_s REAL,
    supernet TEXT,
    seed INTEGER,
    created REAL NOT NULL,
    UNIQUE (search_id, seq)
);
CREATE INDEX candidates_hash ON candidates(arch_hash);
CREATE TABLE searcher_state (
    search_id INTEGER PRIMARY KEY REFERENCES searches(id),
    state_json TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE ground_truth (
    arch_hash TEXT NOT NULL,
    setting TEXT NOT NULL,
    val_logloss REAL,
    val_auc REAL,
    test_logloss REAL,
    test_auc REAL,
    wall_s REAL,
    created REAL NOT NULL,
    PRIMARY KEY (arch_hash, setting)
);
"""

# v2: parent hash, space name, latency, feasibility and free-form extras per candidate.
_MIGRATIONS = {
    2: """
ALTER TABLE candidates ADD COLUMN parent_hash TEXT;
ALTER TABLE candidates ADD COLUMN space TEXT;
ALTER TABLE candidates ADD COLUMN latency_ms REAL;
ALTER TABLE candidates ADD COLUMN feasible INTEGER NOT NULL DEFAULT 1;
ALTER TABLE candidates ADD COLUMN extra_json TEXT NOT NULL DEFAULT '{}';
""",
}

CANDIDATE_COLUMNS = ("seq", "arch_hash", "arch_json", "space", "generation", "parent_hash", "val_logloss", "val_auc",
                     "flops", "params", "latency_ms", "wall_s", "feasible", "supernet", "seed", "extra_json")


@dataclass(frozen=True)
class CandidateRecord:
    """One scored candidate, as stored."""

    seq: int
    arch_hash: str
    arch_json: str
    space: str
    generation: int
    parent_hash: str | None
    val_logloss: float
    val_auc: float
    flops: int
    params: int
    latency_ms: float | None
    wall_s: float
    feasible: bool
    supernet: str | None
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def score(self) -> dict[str, Any]:
        """The scorer's measurements as :meth:`Objective.value` reads them."""
        return {"val_logloss": self.val_logloss, "val_auc": self.val_auc, "flops": self.flops,
                "params": self.params, "latency_ms": self.latency_ms}

    def to_row(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra_json"] = json.dumps(d.pop("extra"), sort_keys=True)
        d["feasible"] = int(self.feasible)
        return d


class SearchStore:
    """A SQLite file of searches, their candidates, searcher states and ground-truth scores."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not self.path.is_file():
            raise ValueError(f"{self.path}: is not a file; --store names an SQLite file")
        if self.path.is_file() and self.path.stat().st_size == 0:
            # SQLite would take an empty file for a new store and start over in it silently;
            # a store that was ever written is never empty, so this one lost its contents.
            raise ValueError(f"{self.path}: the file is empty (0 bytes), not a search store: its contents were "
                             "lost; restore it, or delete it to start a new store")
        try:
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                raise ValueError(f"{self.path}: the search store is damaged (SQLite quick_check: "
                                 f"{'; '.join(problems)}); restore it from a copy")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path}: not a usable search store ({exc})") from exc

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def search_lock(self, search_id: int, name: str) -> Iterator[None]:
        """Run one search of this store in one runner at a time: a second ``--resume`` of the same
        search (another process, or this one) is refused instead of racing on its candidates.

        A POSIX lock on byte ``search_id`` of a sidecar file; the system drops it when the
        process dies, so a killed run never leaves a stale lock.
        """
        import fcntl

        lock_path = str(self.path.resolve()) + ".lock"
        with _LOCKS_GUARD:
            if (lock_path, search_id) in _HELD:
                raise ValueError(f"{self.path}: search {name!r} is already running in this process")
            # One descriptor per file and process: closing any descriptor of a file drops every
            # POSIX lock the process holds on it, so each search unlocks only its own byte.
            fd, users = _LOCK_FILES.get(lock_path, (None, 0))
            if fd is None:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, search_id)
            except OSError:
                if not users:
                    os.close(fd)
                raise ValueError(f"{self.path}: search {name!r} is being run by another process; wait for it "
                                 "to finish (or stop it) before resuming") from None
            _LOCK_FILES[lock_path] = (fd, users + 1)
            _HELD.add((lock_path, search_id))
        try:
            yield
        finally:
            with _LOCKS_GUARD:
                _HELD.discard((lock_path, search_id))
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, search_id)
                fd, users = _LOCK_FILES.pop(lock_path)
                if users > 1:
                    _LOCK_FILES[lock_path] = (fd, users - 1)
                else:
                    os.close(fd)

    def __enter__(self) -> SearchStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @property
    def version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        v = self.version
        if v > SCHEMA_VERSION:
            raise ValueError(f"{self.path}: store schema version {v} is newer than this nasrec-lab ({SCHEMA_VERSION})")
        if v == SCHEMA_VERSION:
            return
        with self._tx() as c:
            if v == 0:
                tables = c.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
                if tables:
                    raise ValueError(f"{self.path}: an SQLite file that is not a nasrec-lab search store")
                for stmt in _SCHEMA_V1.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                v = 1
            for target in range(v + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[target].split(";"):
                    if stmt.strip():
                        c.execute(stmt)
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    # -- searches ----------------------------------------------------------------------------
    def create_search(self, name: str, space_json: dict, config: dict, *, load_if_exists: bool = False) -> int:
        row = self._conn.execute("SELECT id, config_json FROM searches WHERE name = ?", (name,)).fetchone()
        if row is not None:
            if not load_if_exists:
                raise ValueError(f"{self.path}: a search named {name!r} exists (resume it, or pick another name)")
            stored = json.loads(row[1])
            config = json.loads(json.dumps(config))
            diff = sorted(k for k in set(stored) | set(config) if _differs(k, stored, config))
            if "supernet_sha256" in diff:
                raise ValueError(f"{self.path}: search {name!r} was scored with another supernet: "
                                 f"{config.get('supernet')} changed since the search started (SHA-256 "
                                 f"{str(stored.get('supernet_sha256'))[:12]}..., now "
                                 f"{str(config.get('supernet_sha256'))[:12]}...); its scores would mix two "
                                 "supernets: start a new search (--name)")
            if "data_identity" in diff:
                raise ValueError(f"{self.path}: search {name!r} was started on other data: {config.get('data')} is not "
                                 f"the data set {stored.get('data')} it started with (another content or another "
                                 "copy, generated again); its scores would mix two data sets: start a new search (--name)")
            if diff:
                changes = "; ".join(c for k in diff for c in _changes(k, stored.get(k), config.get(k)))
                raise ValueError(f"{self.path}: search {name!r} was started with other settings ({changes}): "
                                 "resume it with its settings, or start a new search (--name)")
            return int(row[0])
        try:
            with self._tx() as c:
                cur = c.execute("INSERT INTO searches(name, space_json, config_json, created) VALUES (?, ?, ?, ?)",
                                (name, json.dumps(space_json, sort_keys=True), json.dumps(config, sort_keys=True),
                                 time.time()))
                return int(cur.lastrowid)
        except sqlite3.IntegrityError:
            # another process created it between our look and our insert
            return self.create_search(name, space_json, config, load_if_exists=load_if_exists)

    def searches(self) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT id, name, space_json, config_json, created FROM searches ORDER BY id")
        return [{"id": r[0], "name": r[1], "space": json.loads(r[2]), "config": json.loads(r[3]), "created": r[4]}
                for r in rows]

    # -- candidates ----------------------------------------------------------------------------
    def add_candidate(self, search_id: int, record: CandidateRecord) -> None:
        row = record.to_row()
        cols = ", ".join(CANDIDATE_COLUMNS)
        marks = ", ".join("?" for _ in CANDIDATE_COLUMNS)
        with self._tx() as c:
            c.execute(f"INSERT INTO candidates(search_id, created, {cols}) VALUES (?, ?, {marks})",
                      (search_id, time.time(), *(row[k] for k in CANDIDATE_COLUMNS)))

    def candidates(self, search_id: int) -> dict[int, CandidateRecord]:
        cols = ", ".join(CANDIDATE_COLUMNS)
        rows = self._conn.execute(f"SELECT {cols} FROM candidates WHERE search_id = ? ORDER BY seq", (search_id,))
        out = {}
        for r in rows:
            d = dict(zip(CANDIDATE_COLUMNS, r))
            d["extra"] = json.loads(d.pop("extra_json"))
            d["feasible"] = bool(d["feasible"])
            out[d["seq"]] = CandidateRecord(**d)
        return out

    def candidates_frame(self, search: str | int | None = None):
        """All candidates (of one search, or of every search) as a pandas DataFrame."""
        import pandas as pd

        sql = ("SELECT s.name AS search, c.* FROM candidates c JOIN searches s ON s.id = c.search_id")
        params: tuple = ()
        if search is not None:
            sql += " WHERE " + ("s.id = ?" if isinstance(search, int) else "s.name = ?")
            params = (search,)
        return pd.read_sql_query(sql + " ORDER BY c.search_id, c.seq", self._conn, params=params)

    # -- searcher state ------------------------------------------------------------------------
    def save_state(self, search_id: int, state: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO searcher_state(search_id, state_json, updated) VALUES (?, ?, ?) "
                      "ON CONFLICT(search_id) DO UPDATE SET state_json = excluded.state_json, updated = excluded.updated",
                      (search_id, json.dumps(state), time.time()))

    def load_state(self, search_id: int) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT state_json FROM searcher_state WHERE search_id = ?", (search_id,)).fetchone()
        if row is None:
            return None
        try:
            state = json.loads(row[0])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.path}: the saved searcher state of search id {search_id} is not JSON ({exc}); "
                             "the store is damaged") from None
        if not isinstance(state, dict):
            raise ValueError(f"{self.path}: the saved searcher state of search id {search_id} is a "
                             f"{type(state).__name__}, not an object; the store is damaged")
        return state

    # -- ground truth (standalone training), cached across studies ----------------------------
    def ground_truth(self, arch_hash: str, setting: str) -> dict[str, float] | None:
        row = self._conn.execute(
            "SELECT val_logloss, val_auc, test_logloss, test_auc, wall_s FROM ground_truth "
            "WHERE arch_hash = ? AND setting = ?", (arch_hash, setting)).fetchone()
        if row is None:
            return None
        return dict(zip(("val_logloss", "val_auc", "test_logloss", "test_auc", "wall_s"), row))

    def put_ground_truth(self, arch_hash: str, setting: str, scores: dict[str, float]) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO ground_truth(arch_hash, setting, val_logloss, val_auc, test_logloss, "
                      "test_auc, wall_s, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (arch_hash, setting, scores.get("val_logloss"), scores.get("val_auc"),
                       scores.get("test_logloss"), scores.get("test_auc"), scores.get("wall_s"), time.time()))
