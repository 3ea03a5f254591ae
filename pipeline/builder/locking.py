"""One build at a time per build folder: a second build waits (with a message) or refuses."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from filelock import FileLock, Timeout

from pipeline.builder.errors import BuildLocked
from pipeline.builder.store import BuildDir

log = logging.getLogger(__name__)


@contextlib.contextmanager
def build_lock(bdir: BuildDir, timeout: float) -> Iterator[None]:
    """Hold the build folder's lock; wait up to ``timeout`` seconds for another build."""
    bdir.root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(bdir.lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if timeout <= 0:
            raise BuildLocked(
                f"another build is running on {bdir.root} (lock {bdir.lock_path}); "
                "wait for it to finish or pass --lock-timeout SECONDS to wait"
            ) from None
        log.warning("another build is running on %s; waiting up to %.0f s for it", bdir.root, timeout)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise BuildLocked(
                f"another build still holds {bdir.lock_path} after {timeout:.0f} s; "
                "try again when it has finished"
            ) from None
    try:
        log.debug("build lock held by pid %d", os.getpid())
        yield
    finally:
        lock.release()
