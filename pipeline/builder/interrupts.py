"""Run the executor's coroutines on one event loop, with Ctrl-C turned into a clean cancellation.

Why not ``asyncio.run``: it raises ``KeyboardInterrupt`` only for SIGINT, refuses to run where a
loop already runs in this thread (a host application's, or Playwright's in a test session), and
a SIGTERM handler that raises ``KeyboardInterrupt`` (the CLI's, a pool worker's) would interrupt
the loop at an arbitrary point instead of cancelling the recipe. Here every stop request takes
one path: the running task is cancelled, its ``finally`` blocks shut the kernel down and
release its sockets, and only then ``KeyboardInterrupt`` is raised, so the caller removes the
staging folder knowing no kernel is left.

Which signals are taken over while a coroutine runs (main thread only, previous handlers put
back afterwards):

* SIGINT, when it has Python's default handler. An *ignored* SIGINT stays ignored: that is how
  a shell without job control shields its background commands from the terminal's Ctrl-C.
* SIGTERM, when a Python handler is installed for it (the CLI and the pool workers install one
  that means "stop like Ctrl-C"); a default SIGTERM keeps killing the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a cancelled coroutine gets to finish its clean-up after a stop request arrived in a
#: way that could not cancel it first (a host's own signal handler raising in the loop).
STOP_WAIT_S = 10.0


def run_cancellable(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop; an interrupt cancels it cleanly first.

    Raises ``KeyboardInterrupt`` after the coroutine finished its clean-up when Ctrl-C or
    SIGTERM arrived meanwhile, whatever the coroutine returned or raised (nbclient turns a
    cancelled cell into ``DeadKernelError``; the interrupt is what the caller must see).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro)
    return _run_in_helper_thread(coro)


def _run_here(coro: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(coro)
        with _signals_cancel(task) as received:
            try:
                result = loop.run_until_complete(task)
            except BaseException:
                if not task.done():  # a handler we did not replace raised inside the loop
                    _finish_cancelled(loop, task)
                    raise
                if received:  # what the cancelled cell raised is of no interest now
                    raise KeyboardInterrupt from None
                raise
        if received:
            raise KeyboardInterrupt
        return result
    finally:
        _close_loop(loop)


@contextlib.contextmanager
def _signals_cancel(task: asyncio.Task[Any]) -> Iterator[list[int]]:
    """While inside: SIGINT/SIGTERM cancel ``task`` once (see the module docstring).

    Yields the list of signals received. A second signal during the clean-up is recorded and
    otherwise ignored, so a user pressing Ctrl-C twice still gets a clean stop.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    loop = task.get_loop()

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            log.debug("signal %d: cancelling the running recipe", signum)
            task.cancel()
            loop.call_soon_threadsafe(lambda: None)  # wake the selector

    previous: dict[int, Any] = {}
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, on_signal)
        if callable(signal.getsignal(signal.SIGTERM)):
            previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, on_signal)
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _finish_cancelled(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and let it run its clean-up (bounded; further interrupts wait)."""
    task.cancel()
    while True:
        try:
            loop.run_until_complete(asyncio.wait([task], timeout=STOP_WAIT_S))
            return
        except KeyboardInterrupt:  # another Ctrl-C while cleaning up: keep cleaning
            continue
        except Exception:
            log.debug("clean-up after an interrupt failed", exc_info=True)
            return


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on ``loop`` and close it.

    nbclient leaves its kernel-alive poller pending after a cell ends in an error, a timeout or
    a cancellation; an abandoned loop would later log "Task was destroyed but it is pending!".
    """
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=5))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except BaseException:  # never let tidying up hide the run's own result
        log.debug("could not tidy up the event loop", exc_info=True)
    finally:
        loop.close()


def _run_in_helper_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Where a loop already runs in this thread: run ``coro`` on a helper thread's own loop.

    An interrupt raised in this thread while waiting cancels the coroutine there and waits for
    its clean-up before it propagates.
    """
    ready = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        loop = asyncio.new_event_loop()
        task = loop.create_task(coro)
        box["loop"], box["task"] = loop, task
        ready.set()
        try:
            box["result"] = loop.run_until_complete(task)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            _close_loop(loop)

    thread = threading.Thread(target=target, name="nnx-async", daemon=True)
    thread.start()
    ready.wait()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except BaseException:
        box["loop"].call_soon_threadsafe(box["task"].cancel)
        thread.join(STOP_WAIT_S)
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]
