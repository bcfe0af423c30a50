"""Atomic file and directory writes: nothing a user made is ever left half-written, or deleted.

Temporary names carry the writing process's id (``.NAME.PID.XXXX.tmp`` for files,
``.NAME.tmp-PID-XXXX`` for folders), so a later run can tell the leftovers of a killed writer
(its process is gone) from a writer still at work, and removes only the former.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries a killed writer of ``path`` left next to it; returns what was removed.

    Only names of our pattern whose process id is no longer running are touched.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    name = re.escape(path.name)
    # mkstemp / mkdtemp add 8 characters of [a-z0-9_]; .old- folders 8 hex digits
    patterns = (re.compile(rf"^\.{name}\.(\d+)\.[a-z0-9_]{{8}}\.tmp$"),
                re.compile(rf"^\.{name}\.(?:tmp|old)-(\d+)-[a-z0-9_]{{8}}$"))
    removed = []
    for entry in path.parent.iterdir():
        for pat in patterns:
            m = pat.match(entry.name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        entry.unlink()
                removed.append(entry)
                break
    return removed


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write ``path`` through a binary handle on a temp file in the same folder: fsync and rename on
    success, the temp file removed on any error (``path`` is then as it was).

    >>> with atomic_file("rows.txt") as fh:   # doctest: +SKIP
    ...     fh.write(b"1\\t2\\n")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file should look like any other
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync, rename."""
    with atomic_file(path) as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def trim_jsonl(path: str | os.PathLike, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite a JSON-lines log keeping only the records ``keep`` accepts (and dropping a torn
    last line a killed writer left); returns how many lines were dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if isinstance(record, dict) and keep(record):
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        atomic_write_bytes(path, "".join(f"{line}\n" for line in kept).encode())
    return dropped


class NotOursError(FileExistsError):
    """``--overwrite`` was asked to replace something this project did not make."""


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    owned: Callable[[Path], str | None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary sibling directory that is renamed to ``path`` on success.

    An interrupted run leaves only a hidden ``.name.tmp-PID-*`` folder, never a directory at
    ``path`` that looks complete; the next run for the same ``path`` removes such leftovers.
    With ``overwrite``, an existing ``path`` is replaced only when ``owned(path)`` returns
    ``None`` (it returns the reason otherwise): a folder we did not make is never deleted.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{path}: already exists (pass overwrite=True / --overwrite to replace it)")
        if path.is_symlink() or not path.is_dir():
            raise NotOursError(f"{path}: --overwrite replaces only a folder nasrec-lab made; this is not a folder")
        reason = owned(path) if owned is not None else "nothing says nasrec-lab made it"
        if reason is not None:
            raise NotOursError(f"{path}: refusing to overwrite: {reason}")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    # mkdtemp makes 0700; the finished folder should be as readable as any other the user makes
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        for root, _dirs, files in os.walk(tmp):
            for name in files:
                with open(os.path.join(root, name), "rb") as fh:
                    os.fsync(fh.fileno())
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
