"""A forked call answers, or says why it did not, and never runs the parent's code after it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.library.forked import can_fork, fork_call

pytestmark = pytest.mark.skipif(not can_fork(), reason="this platform cannot fork")


def test_the_answer_comes_back_as_json() -> None:
    parent = os.getpid()
    answer, failure = fork_call(lambda: {"pid": os.getpid(), "seconds": 1.5}).wait()
    assert failure is None and answer["seconds"] == 1.5 and answer["pid"] != parent


def test_an_exception_in_the_child_comes_back_as_text() -> None:
    def fail() -> None:
        raise ValueError("no room for the frames")

    answer, failure = fork_call(fail).wait()
    assert answer is None and failure == "error: ValueError: no room for the frames"


def test_a_child_that_dies_without_a_word_gives_its_exit_status() -> None:
    answer, failure = fork_call(lambda: os._exit(3)).wait()
    assert answer is None and failure == "exit status 3"


def test_an_answer_json_cannot_hold_is_a_failure() -> None:
    answer, failure = fork_call(lambda: object()).wait()
    assert answer is None and failure is not None and failure.startswith("error: TypeError")


def test_the_child_leaves_without_running_the_parents_code(tmp_path: Path) -> None:
    marker = tmp_path / "after"
    child = fork_call(lambda: 1)
    # only the parent reaches this line: the child left with os._exit inside fork_call
    with marker.open("a") as out:
        out.write(f"{os.getpid()}\n")
    assert child.wait() == (1, None)
    assert marker.read_text() == f"{os.getpid()}\n"
