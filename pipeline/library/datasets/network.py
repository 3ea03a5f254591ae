"""The real Keras download, for users with internet: a quick network probe first, so an
offline machine fails in seconds, and every failure becomes one line of the loader's trail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pipeline.library.datasets.files import one_line
from pipeline.library.datasets.places import DOWNLOAD_TIMEOUT_ENV, OFFLINE_ENV
from pipeline.library.datasets.sources import Trail

log = logging.getLogger(__name__)

T = TypeVar("T")


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def network_reachable(url: str, timeout: float) -> tuple[bool, str]:
    """Can we open a TCP connection to ``url``'s host within ``timeout`` seconds?

    Runs in a daemon thread so that a hanging DNS lookup (not covered by socket timeouts) cannot
    stall the build: offline machines fail here in seconds instead of inside Keras's urlretrieve.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result: dict[str, str] = {}

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = ""
        except OSError as exc:
            result["error"] = one_line(exc)

    thread = threading.Thread(target=attempt, name="nnx-network-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if "ok" in result:
        return True, ""
    return False, result.get("error", f"no answer from {host} within {timeout:g} s")


@contextlib.contextmanager
def socket_timeout(seconds: float) -> Iterator[None]:
    """Keras's urlretrieve has no timeout; a stalled transfer would hang the recipe forever."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def keras_download(trail: Trail, url: str, call: Callable[[Any], T]) -> T | None:
    """Run a real Keras download (``call(keras)``), turning every failure into a trail entry."""
    where = f"Keras download from {url}"
    if offline():
        trail.add(where, f"skipped because {OFFLINE_ENV}=1")
        return None
    try:
        timeout = float(os.environ.get(DOWNLOAD_TIMEOUT_ENV, "5"))
    except ValueError:
        timeout = 5.0
    ok, why = network_reachable(url, timeout)
    if not ok:
        trail.add(where, f"no network ({why})")
        return None
    try:
        import keras  # heavy: imported only when a download is really needed
    except Exception as exc:  # ImportError, or TensorFlow failing to initialise
        trail.add(where, f"Keras cannot be imported ({one_line(exc)})")
        return None
    log.info("downloading %s with Keras", url)
    try:
        with socket_timeout(60.0):
            return call(keras)
    except Exception as exc:  # urllib, HTTP, hash mismatch, extraction: all become one line
        log.debug("Keras download from %s failed", url, exc_info=True)
        trail.add(where, f"failed ({one_line(exc)})")
        return None
