"""Files Veracity writes: replaced atomically (a reader sees the old file or the whole new one),
directories flushed after a rename, and CSV cells a spreadsheet will not run as formulas."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")

# a spreadsheet runs a cell starting with one of these as a formula (CSV injection)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory's entries to disk, so a rename, new file or unlink in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[IO[str]], T],
    *,
    newline: str | None = None,
    mode: int = 0o666,
    exclusive: bool = False,
) -> T:
    """Write a UTF-8 text file through `write(fh)` into a temporary file beside `path`, fsync it and
    move it into place; returns what `write` returned. `mode` is the new file's permissions (less the
    umask). exclusive: never replace, raise FileExistsError when `path` exists (left as it was)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            result = write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # fails when path exists, unlike a rename
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def csv_cell(value: Any) -> Any:
    """A CSV cell value: text a spreadsheet would run as a formula gets a leading quote; None is ''."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return "" if value is None else value
