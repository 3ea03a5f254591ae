"""Atomic file writes: a reader (or a killed build) never sees a half-written file.

Everything is written to a temporary sibling and moved into place with ``os.replace``, which is
atomic on POSIX file systems when source and target share a directory.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it into place only if the block succeeds.

    The temporary name keeps the target's suffix (so writers that pick a format from the file
    extension, like imageio and matplotlib, still work).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; published assets must be world-readable
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory next to ``target``; swap it in only if the block succeeds.

    For a folder of files that belong together (the scrubber's frames and their
    ``index.json``): a reader sees the complete old set or the complete new set, never a mix of
    two renders. POSIX cannot rename a directory onto a non-empty one, so an existing
    ``target`` is first moved aside (one rename), the new one renamed in, and the old one
    deleted. On an exception the temporary directory is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700; published assets must be world-readable
        old: Path | None = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old",
                                        dir=target.parent))
            os.replace(target, old / "previous")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically, flushed to disk before the rename."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def copy_stream(source: BinaryIO, target: str | os.PathLike[str],
                verify: Callable[[Path], None] | None = None) -> None:
    """Copy an open binary stream (a file, an HTTP response) to ``target`` atomically.

    ``verify`` sees the complete temporary copy before it is moved into place; if it raises,
    nothing is kept and ``target`` is untouched (a download whose hash differs never lands).
    """
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        if verify is not None:
            verify(tmp)


def copy_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy the file ``source`` to ``target`` atomically (readers never see half a file)."""
    with open(source, "rb") as inp:
        copy_stream(inp, target)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(target, text.encode("utf-8"))


def json_safe(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by ``None`` (JSON ``null``).

    Why: Python's ``json`` writes bare ``NaN``/``Infinity`` by default, which is not JSON; a
    browser's ``JSON.parse`` and strict readers reject the whole file. A non-finite number
    carries no value a reader could use, so it becomes null; the page says *why* (the build is
    marked diverged, see :meth:`pipeline.library.runtime.Explainer.metric`). NumPy scalars are turned
    into plain numbers first; tuples become lists (as ``json`` would write them anyway).
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(v) for v in data]
    if hasattr(data, "item") and hasattr(data, "dtype") and getattr(data, "ndim", 1) == 0:
        return json_safe(data.item())  # numpy scalar
    return data


def dumps_strict(data: Any, **kwargs: Any) -> str:
    """``json.dumps`` that always produces valid, strict JSON (see :func:`json_safe`)."""
    kwargs.setdefault("default", str)
    return json.dumps(json_safe(data), allow_nan=False, **kwargs)


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Write strict JSON atomically (sorted keys, so identical data gives identical bytes).

    Non-finite numbers are written as ``null`` (:func:`json_safe`): every JSON file the
    pipeline writes parses with a strict reader.
    """
    write_text(target, dumps_strict(data, indent=2, sort_keys=True) + "\n")
