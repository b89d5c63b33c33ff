"""Atomic file writes and file locks: readers see the old file or the new one, never half, and
two writers of one file take turns."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..errors import SpeechlabError

LOCK_TIMEOUT_S = 60.0


def _mode_for(path: Path) -> int:
    """The permissions the new file gets: those of the file it replaces, else a new file's
    (0o666 less the umask). mkstemp's temp files are private (0o600), and the rename would
    otherwise carry that over to a baseline, the registry or a report."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def open_atomic(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file that replaces ``path`` when the block ends without error.

    It is written beside the target and renamed over it, so readers see the old file or the
    new one, never half; on any error (an interrupt included) the temp file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically."""
    with open_atomic(path) as f:
        f.write(text)


def dumps(data: Any) -> str:
    """Sorted, indented JSON; NaN and infinity are refused (they are not JSON, and a reader of a
    results file or baseline would choke on them)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


@contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """An exclusive lock on ``path`` (a ``.lock`` file beside it), held until the block ends;
    another writer holding it longer than ``timeout`` is a one-line error."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock", timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise SpeechlabError(
            f"{path}: another writer has held {lock.lock_file} for over {timeout:g} s; try again"
        ) from None
    try:
        yield
    finally:
        lock.release()


def append_line(path: Path, line: str) -> None:
    """Append one line to ``path``, flushed to disk: the file is only ever added to."""
    with path.open("a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


def shown(path: Path) -> str:
    """``path`` as a person reads it: relative to the current folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
