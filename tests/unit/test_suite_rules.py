"""Rules for the test suite itself: tests measure, benchmarks time, and CI cannot pass by skipping.

- A correctness test asserts nothing about wall-clock time (on a shared 2-core machine such a
  bound fails at random or says nothing): timings belong in ``benchmarks/`` as ratios.
- No fixed ``time.sleep`` waits for another thread or process to get somewhere: a test waits
  for an event or a marker (a file, a counter), in a loop with a deadline.
- A required package (TensorFlow, Keras ...), the offline data or Chromium is asked for through
  ``tests/conftest.py`` (``need_module``, ``need_data``, ``@pytest.mark.needs_data``,
  ``missing``), which fails instead of skipping when ``NNX_REQUIRE_TEST_DEPS`` is set, as
  ``nox -s tests`` (CI) sets it. Only the optional Keras backends may be skipped directly.

The rules read the tests' source with :mod:`ast`, so a new test that breaks one is named here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import conftest

TESTS = Path(__file__).resolve().parents[1]
#: Keras backends a machine need not have: their tests may skip.
OPTIONAL_MODULES = {"jax", "torch"}
_CLOCKS = ("monotonic", "perf_counter", "time.time", "process_time")


def _test_modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(TESTS.rglob("*.py")):
        if "fixtures" in path.parts:
            continue
        yield (path.relative_to(TESTS.parent).as_posix(),
               ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _is_call(node: ast.AST, dotted: str) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func) == dotted


def _in_loop(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    up = parents.get(node)
    while up is not None and not isinstance(up, ast.While | ast.For | ast.FunctionDef):
        up = parents.get(up)
    return isinstance(up, ast.While | ast.For)


def test_no_correctness_test_asserts_on_wall_clock_time() -> None:
    """(An assert inside a wait loop is its deadline, a guard against hanging: allowed.)"""
    offences = []
    for rel, tree in _test_modules():
        parents = _parents(tree)
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            timed = {t.id for n in ast.walk(func) if isinstance(n, ast.Assign)
                     and any(c in ast.unparse(n.value) for c in _CLOCKS)
                     for t in n.targets if isinstance(t, ast.Name)}
            for node in ast.walk(func):
                if (not isinstance(node, ast.Assert) or not isinstance(node.test, ast.Compare)
                        or _in_loop(node, parents)):
                    continue
                if not any(isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE)
                           for op in node.test.ops):
                    continue
                text = ast.unparse(node.test)
                names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
                if any(c in text for c in _CLOCKS) or names & timed or "timings[" in text:
                    offences.append(f"{rel}:{node.lineno}: assert {text}")
    assert offences == [], ("wall-clock bounds belong in benchmarks/ (python -m benchmarks):\n"
                            + "\n".join(offences))


def test_no_fixed_sleep_stands_in_for_waiting_on_an_event() -> None:
    offences = []
    for rel, tree in _test_modules():
        parents = _parents(tree)
        for node in ast.walk(tree):
            if _is_call(node, "time.sleep") and not _in_loop(node, parents):
                offences.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert offences == [], ("wait for a marker or an event in a loop with a deadline, not a "
                            "fixed sleep:\n" + "\n".join(offences))


def test_required_packages_and_data_are_asked_for_through_conftest() -> None:
    offences = []
    for rel, tree in _test_modules():
        if rel == "tests/conftest.py":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            args = " ".join(ast.unparse(a) for a in [*node.args, *(k.value for k in node.keywords)])
            if name == "pytest.importorskip" and not (
                    node.args and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value in OPTIONAL_MODULES):
                offences.append(f"{rel}:{node.lineno}: {ast.unparse(node)}: use need_module")
            elif name in ("pytest.skip", "pytest.mark.skipif") and any(
                    word in args.lower() for word in ("data", "chromium", "keras", "tensorflow")):
                offences.append(f"{rel}:{node.lineno}: {ast.unparse(node)[:90]}: use need_data,"
                                " @pytest.mark.needs_data or missing")
    assert offences == [], "\n".join(offences)


def test_a_missing_requirement_skips_or_fails_as_the_environment_says(monkeypatch,
                                                                      tmp_path) -> None:
    monkeypatch.delenv(conftest.REQUIRE_DEPS_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no_such_package_nnx"):
        conftest.need_module("no_such_package_nnx")
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    with pytest.raises(pytest.skip.Exception, match="NNX_DATA_DIR"):
        conftest.need_data("mnist")
    monkeypatch.setenv(conftest.REQUIRE_DEPS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="NNX_REQUIRE_TEST_DEPS is set"):
        conftest.need_module("no_such_package_nnx")
    with pytest.raises(pytest.fail.Exception, match="offline data"):
        conftest.need_data("mnist")
    (tmp_path / "mnist").mkdir()
    assert conftest.need_data("mnist") == tmp_path / "mnist"
    assert conftest.need_module("json").__name__ == "json"


def test_nox_tests_sets_the_flag() -> None:
    noxfile = (TESTS.parent / "noxfile.py").read_text()
    assert f'"{conftest.REQUIRE_DEPS_ENV}": "1"' in noxfile
    tree = ast.parse(noxfile)
    session = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                   and n.name == "tests")
    assert "REQUIRE_TEST_DEPS" in ast.unparse(session)
