"""One call run in a forked child process, its answer read back through a pipe.

Used where a recipe's drawing can overlap the rest of its work on a second core: the dark
palette of a composition (:func:`pipeline.library.palette.render_palettes`) and a replay's
video (:func:`pipeline.library.replay.parallel_render.render_in_background`).

Why a fork and not a process pool: the child inherits the figure with everything its panels
computed, so nothing is pickled or computed twice; it writes its files itself and sends back
only a small JSON answer. It touches nothing but matplotlib, Pillow and ffmpeg, and leaves with
``os._exit``, so none of the parent's exit handlers (kernel sockets, temporary folders) run
twice. A forked matplotlib can still trip over state it shares with its parent; the callers
treat a failed child as "do it again here", which :meth:`ForkedCall.wait` makes easy by
returning why instead of raising.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ForkedCall", "can_fork", "fork_call", "fresh_fonts_after_fork"]

#: The longest error text a child sends back.
_MAX_ERROR_BYTES = 4000


def can_fork() -> bool:
    """Whether this platform can fork a process (POSIX does; Windows does not)."""
    return "fork" in mp.get_all_start_methods()


@dataclass
class ForkedCall:
    """A child started by :func:`fork_call`; :meth:`wait` once for its answer."""

    pid: int
    read_fd: int

    def wait(self) -> tuple[Any, str | None]:
        """``(answer, None)`` when the child answered, ``(None, why)`` when it failed or died.

        ``why`` is the child's ``"error: Type: message"`` or, when it died without a word,
        ``"exit status N"``.
        """
        _, status = os.waitpid(self.pid, 0)
        with os.fdopen(self.read_fd, "rb") as pipe:
            message = pipe.read().decode(errors="replace")
        code = os.waitstatus_to_exitcode(status)
        if code == 0 and message and not message.startswith("error"):
            try:
                return json.loads(message), None
            except ValueError:
                return None, f"an unreadable answer {message[:200]!r}"
        return None, message or f"exit status {code}"


def fork_call(call: Callable[[], Any]) -> ForkedCall:
    """Run ``call()`` in a forked child; its return value must be JSON-serialisable.

    The child drops matplotlib's cached fonts first (:func:`fresh_fonts_after_fork`), then
    reports the answer, or the exception's type and message, through a pipe and exits with
    ``os._exit``. The parent goes on at once; :meth:`ForkedCall.wait` collects the answer.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, leave without the parent's exit code
        code = 1
        try:
            os.close(read)
            fresh_fonts_after_fork()
            os.write(write, json.dumps(call()).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent through the pipe
            with contextlib.suppress(OSError):
                os.write(write, f"error: {type(exc).__name__}: {exc}".encode()[:_MAX_ERROR_BYTES])
        finally:
            os._exit(code)
    os.close(write)
    return ForkedCall(pid, read)


def fresh_fonts_after_fork() -> None:
    """Drop every cached FreeType font in a forked child, so it opens its own font files.

    A font object read by both processes shares one file offset, and their glyph reads
    interleave ("FT_Load_Glyph failed: invalid outline"). matplotlib clears its ``get_font``
    cache at fork itself; mathtext's parser and the text-metrics cache keep fonts too.
    """
    import matplotlib.font_manager
    import matplotlib.mathtext
    import matplotlib.text

    matplotlib.font_manager._get_font.cache_clear()  # type: ignore[attr-defined]  # private
    for cache in (getattr(matplotlib.mathtext.MathTextParser, "_parse_cached", None),
                  getattr(matplotlib.text, "_get_text_metrics_with_cache_impl", None)):
        with contextlib.suppress(AttributeError):
            cache.cache_clear()  # type: ignore[union-attr]
