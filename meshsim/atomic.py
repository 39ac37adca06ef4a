"""Atomic result files: write to a temporary file in the same directory, fsync, rename into place.

A reader (or a user after a SIGKILL) sees either the previous file or the complete new one, never a
truncated one: ``rename(2)`` within one file system replaces the name atomically (POSIX), and the
``fsync`` before it makes the data durable before the name points at it. The directory is fsynced
after the rename so the new name itself survives a crash. A killed writer can leave a hidden
``.NAME.tmp-*`` file behind, never a partial ``NAME``.

Every result file meshsim writes goes through this module; ``summary.json`` is written last by its
writers, so its presence means the run finished.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_text", "write_bytes", "save_figure", "to_csv"]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. a platform without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so writers that infer the format from
    it still work); on success it is fsynced and renamed to ``path``, on an exception removed.

    Example::

        with atomic_path(out / "results.parquet") as tmp:
            frame.to_parquet(tmp)
    """
    final = Path(path)
    tmp = final.with_name(f".{final.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{final.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(final.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``; returns the path."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Atomically replace ``path`` with ``text`` (UTF-8 by default); returns the path."""
    return write_bytes(path, text.encode(encoding))


def save_figure(fig: Any, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """``fig.savefig(path, **kwargs)`` atomically (the format is taken from ``path``'s suffix)."""
    final = Path(path)
    kwargs.setdefault("format", final.suffix.lstrip(".") or None)
    with atomic_path(final) as tmp:
        fig.savefig(tmp, **kwargs)
    return final


def to_csv(frame: Any, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """``frame.to_csv(path, **kwargs)`` (a pandas DataFrame) atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)
