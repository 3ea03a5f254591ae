"""Jupyter kernels on IPC sockets inside a run's own folder (used by the executor and by warm
kernels alike, so both start kernels the same way).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Unix socket paths are limited to 108 bytes (104 on macOS); the kernel appends "-<n>" to its
#: base name and a deep build folder easily exceeds that, so long bases move to a short folder.
MAX_SOCKET_BASE = 90


@contextlib.contextmanager
def socket_base(workdir: Path) -> Iterator[str]:
    """The base address of the kernel's IPC sockets.

    In ``workdir`` when the path is short enough (the sockets then go with the staging folder).
    Otherwise, on Linux, a random name in the abstract socket namespace: no file at all, so
    nothing is left behind even when the build is killed. Elsewhere, a private folder under /tmp
    that is removed afterwards.
    """
    base = workdir / "kernel"
    if len(os.fsencode(str(base))) <= MAX_SOCKET_BASE:
        yield str(base)
        return
    if sys.platform.startswith("linux"):
        import secrets

        yield f"@nnx-{os.getpid()}-{secrets.token_hex(8)}"
        return
    short_root = "/tmp" if os.path.isdir("/tmp") else None
    folder = Path(tempfile.mkdtemp(prefix="nnx-", dir=short_root))
    try:
        yield str(folder / "k")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ipc_kernel_manager(socket_base: str, workdir: Path) -> type:
    """A kernel manager on IPC sockets at ``socket_base`` (normally in the run's work folder).

    IPC avoids ipykernel's "TCP without encryption" warning and keeps the sockets private to the
    run; they and the connection file live in the run's folders, so even a build killed with
    SIGKILL leaves nothing behind in /tmp (the next build's recovery removes the staging folder).
    """
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(transport="ipc", **kwargs)
            self.ip = socket_base
            self.connection_file = str(workdir / "kernel-connection.json")

    return IpcKernelManager
