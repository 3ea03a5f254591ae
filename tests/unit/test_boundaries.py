"""The rules between the three rooms of ``pipeline/``, checked on the code itself.

Why: the build tool and the site run on the host, where importing TensorFlow costs seconds and
may fail (no GPU driver, wrong CUDA); the explainer library is what recipes import. The design
(``CONTRIBUTING.md``, "Layout") allows the build tool and the site to import only the library's
TensorFlow-free parts, forbids the library to import either of them, and forbids import circles.
A function-level import breaks these rules as surely as a top-level one, only later, so the
imports are read with :mod:`ast` from every function body too.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pipeline"
HEAVY = ("tensorflow", "keras", "jax", "torch")


def _module_files() -> dict[str, Path]:
    """Every importable module under ``pipeline/`` by dotted name (templates such as
    ``scaffold/blank.recipe.py`` are not modules and are left out)."""
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if not all(p.isidentifier() for p in parts):
            continue
        if not all((REPO / Path(*parts[:i]) / "__init__.py").is_file()
                   for i in range(1, len(parts))):
            continue
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST, *, typing_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement at any depth; ``if TYPE_CHECKING:`` bodies only if asked."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not typing_only:
            stack.extend(node.orelse)  # the body never runs
            continue
        stack.extend(ast.iter_child_nodes(node))


def _owner(name: str) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (None outside ``pipeline``)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def imported_modules(module: str, *, typing_only: bool = False) -> dict[str, int]:
    """The ``pipeline`` modules ``module`` imports, each with the line of its first import.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else
    ``pkg`` itself; relative imports are resolved against the module's package.
    """
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str | None, line: int) -> None:
        if target is not None and target != module:
            found[target] = min(line, found.get(target, line))

    for node in _import_nodes(tree, typing_only=typing_only):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(_owner(alias.name), node.lineno)
            continue
        if node.level:
            base_parts = package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            full = f"{base}.{alias.name}"
            add(full if full in MODULES else _owner(base), node.lineno)
    return found


def test_the_module_list_is_complete() -> None:
    """Guards the other tests: a broken walk would make them pass on nothing."""
    assert {"pipeline.builder.cli", "pipeline.site.plugin", "pipeline.library.runtime",
            "pipeline.library.replay.composer"} <= set(MODULES)
    assert len([m for m in MODULES if m.startswith("pipeline.builder.")]) >= 15


def test_build_tool_and_site_never_import_tensorflow() -> None:
    """Import every module of the build tool and the site in a fresh interpreter: none of them
    may bring in TensorFlow, Keras, JAX or PyTorch (the first module that does is named)."""
    host = sorted(m for m in MODULES if m.startswith(("pipeline.builder", "pipeline.site")))
    code = textwrap.dedent(
        f"""
        import importlib, sys
        heavy = {HEAVY!r}
        for name in {host!r}:
            importlib.import_module(name)
            pulled = [h for h in heavy if h in sys.modules]
            if pulled:
                sys.exit(f"importing {{name}} imported {{', '.join(pulled)}}")
        print(len({host!r}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr or done.stdout
    assert done.stdout.strip() == str(len(host))


def test_the_library_never_imports_the_build_tool_or_the_site() -> None:
    offences = [
        f"{MODULES[module].relative_to(REPO)}:{line} imports {target}"
        for module in sorted(MODULES)
        if module.startswith("pipeline.library")
        for target, line in imported_modules(module, typing_only=True).items()
        if target.startswith(("pipeline.builder", "pipeline.site"))
    ]
    assert not offences, "the explainer library must not import the build tool or the site:\n" + (
        "\n".join(offences)
    )


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``pipeline`` modules it imports at run time (any depth, not typing-only)."""
    return {module: set(imported_modules(module)) for module in MODULES}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles, each as ``[a, b, ..., a]``; one edge of each is cut to find the next."""
    graph = {node: set(edges) for node, edges in graph.items()}
    cycles: list[list[str]] = []
    while True:
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as exc:
            cycle = list(reversed(exc.args[1]))  # graphlib lists it against the edges
            cycles.append(cycle)
            graph[cycle[0]].discard(cycle[1])
        else:
            return cycles


def test_find_cycles_reports_a_circle_by_name() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    (cycle,) = find_cycles(graph)
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    for here, there in zip(cycle, cycle[1:], strict=False):
        assert there in graph[here]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_imports_are_read_from_function_bodies_and_relative_imports() -> None:
    # parallel_render's worker and the build's orchestrator import inside functions.
    graph = import_graph()
    assert "pipeline.library.errors" in graph["pipeline.library.replay.parallel_render"]
    assert "pipeline.library.replay.store" in graph["pipeline.library.replay"]


def test_no_import_circles_in_pipeline() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles in pipeline/ (each module imports the next):\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )
