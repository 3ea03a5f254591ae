"""pipeline.builder.interrupts: Ctrl-C and SIGTERM cancel the running coroutine, clean-up first."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from pipeline.builder.interrupts import run_cancellable


def _signal_soon(signum: int, after: float = 0.2) -> None:
    loop = asyncio.get_running_loop()
    loop.call_later(after, os.kill, os.getpid(), signum)


@pytest.fixture
def default_signals():
    """Python's usual SIGINT and a SIGTERM handler as the CLI installs one; restored after."""

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = (signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.signal(signal.SIGTERM, terminate))
    try:
        yield terminate
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_cancels_runs_the_cleanup_then_interrupts(default_signals, signum) -> None:
    steps: list[str] = []

    async def recipe() -> str:
        _signal_soon(signum)
        try:
            await asyncio.sleep(30)
            return "finished"
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise
        finally:
            await asyncio.sleep(0.05)  # an awaited shutdown, like the kernel's
            steps.append("cleaned up")

    with pytest.raises(KeyboardInterrupt):
        run_cancellable(recipe())
    assert steps == ["cancelled", "cleaned up"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is default_signals


def test_an_interrupt_turned_into_another_error_still_interrupts(default_signals) -> None:
    """nbclient reports a cancelled cell as DeadKernelError; the caller must see the Ctrl-C."""

    async def recipe() -> None:
        _signal_soon(signal.SIGINT)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise RuntimeError("Kernel died") from None

    with pytest.raises(KeyboardInterrupt):
        run_cancellable(recipe())


def test_a_second_ctrl_c_does_not_cut_the_cleanup_short(default_signals) -> None:
    steps: list[str] = []

    async def recipe() -> None:
        _signal_soon(signal.SIGINT, 0.1)
        try:
            await asyncio.sleep(30)
        finally:
            _signal_soon(signal.SIGINT, 0.05)  # pressed again while the kernel shuts down
            await asyncio.sleep(0.3)
            steps.append("cleaned up")

    with pytest.raises(KeyboardInterrupt):
        run_cancellable(recipe())
    assert steps == ["cleaned up"]


def test_an_ignored_sigint_stays_ignored(default_signals) -> None:
    """A background job of a shell without job control ignores Ctrl-C; so does the build."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def recipe() -> str:
        _signal_soon(signal.SIGINT, 0.05)
        await asyncio.sleep(0.3)
        return "finished"

    assert run_cancellable(recipe()) == "finished"
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_results_errors_and_other_threads() -> None:
    async def value() -> int:
        await asyncio.sleep(0)
        return 7

    async def fails() -> None:
        raise ValueError("the cell's error")

    assert run_cancellable(value()) == 7
    with pytest.raises(ValueError, match="the cell's error"):
        run_cancellable(fails())
    box: list[int] = []
    worker = threading.Thread(target=lambda: box.append(run_cancellable(value())))
    worker.start()
    worker.join(10)
    assert box == [7], "a dask worker runs recipes outside the main thread"


def test_inside_a_running_loop_it_runs_on_a_helper_thread() -> None:
    """A host application's (or Playwright's) loop already runs in this thread."""

    async def value() -> str:
        return threading.current_thread().name

    async def host() -> str:
        return run_cancellable(value())

    assert asyncio.run(host()) == "nnx-async"
