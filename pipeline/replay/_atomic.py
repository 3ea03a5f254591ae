"""Atomic file and directory writes for replay files and rendered assets.

Why: a build that is killed (timeout, Ctrl-C, out of memory) in the middle of writing an MP4 or a
replay file must never leave a half-written file under its final name, because the next build
would publish it (the cache thinks the asset exists) and a reader would get a broken video.
Everything is written to a hidden temporary name in the *same* directory (so ``os.replace`` is
an atomic rename on the same file system) and renamed only once complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["atomic_path", "atomic_directory"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publishable(path: Path, directory: bool = False) -> None:
    """Give a temp file/dir the permissions a normal write would (mkstemp makes them private);
    a static site must be readable by the web server."""
    with contextlib.suppress(OSError):
        os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _fsync_file(path: Path) -> None:
    """Flush a finished file to disk so the rename never exposes an empty file after a crash."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - the writer removed it; os.replace will say so
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync; the rename still holds
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary name starts with a dot (so static-site tools skip it) and keeps the final
    suffix (so writers that pick a format from the extension, such as ffmpeg, Pillow and
    matplotlib, still work). On any exception the temporary file is removed and the exception
    propagates; an existing file at ``path`` is left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: the writer produced no file for {final}")
        _fsync_file(tmp)
        _publishable(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` (a directory) when the block succeeds.

    POSIX cannot atomically rename a directory onto a non-empty one, so the old directory is
    first moved aside and removed after the swap: readers see either the complete old set or
    the complete new set, never a mix of frames from two renders. On an exception the
    temporary directory is removed and the old one stays.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        _publishable(tmp, directory=True)
        old: Path | None = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old / "previous")
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
