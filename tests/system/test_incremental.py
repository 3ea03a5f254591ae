"""Editing a library module re-executes only the recipes that imported it; editing the build
tool re-executes nothing; a changed data file or a new import re-executes its recipe
(``build --dry-run`` says why).

The test copies the real ``pipeline/`` package into a temporary checkout (so it can edit library
and build-tool modules freely) with two tiny recipes that import different library modules, and
drives ``python -m pipeline build [--dry-run]`` there in a subprocess (slow: it runs kernels).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, TINY_PAGE, tiny_recipe

ALPHA_BODY = """
# %%
from pipeline.library import demo_alpha
ex.metric("alpha", demo_alpha.VALUE)
"""
BETA_BODY = """
# %%
import os
from pathlib import Path
from pipeline.library import demo_beta
reading = Path(data_dir, "table.csv").read_text()
ex.metric("beta", demo_beta.VALUE + len(reading))
"""


class Checkout:
    """A copy of the package with two tiny recipes, built by ``python -m pipeline`` in a subprocess."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(REPO_ROOT / "pipeline", root / "pipeline",
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.library = root / "pipeline" / "library"
        (self.library / "demo_alpha.py").write_text('"""Used by alpha only."""\nVALUE = 1\n')
        (self.library / "demo_beta.py").write_text('"""Used by beta only."""\nVALUE = 2\n')
        self.content = root / "content"
        self.data = root / "data"
        self.data.mkdir()
        (self.data / "table.csv").write_text("a,b\n1,2\n")
        for slug, body in (("alpha", ALPHA_BODY), ("beta", BETA_BODY)):
            folder = self.content / "demo"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{slug}.recipe.py").write_text(tiny_recipe(slug.title(), body=body))
            (folder / f"{slug}.md").write_text(TINY_PAGE.format(title=slug))

    def recipe(self, slug: str) -> Path:
        return self.content / "demo" / f"{slug}.recipe.py"

    def build(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(self.root), "NNX_KERNEL_THREADS": "1",
               "COLUMNS": "200"}
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", "--content-dir", str(self.content),
             "--build-dir", str(self.root / "build"), "build", "--data-dir", str(self.data),
             "--jobs", "2", *args],
            cwd=self.root, env=env, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def ran(self) -> set[str]:
        report = json.loads((self.root / "build" / "reports" / "last-build.json").read_text())
        return {o["slug"] for o in report["outcomes"] if o["status"] == "ran"}

    def dry_run(self) -> dict[str, str]:
        """``{slug: "cached" | reasons}`` from ``build --dry-run``."""
        store = sorted((self.root / "build").rglob("*")) if (self.root / "build").exists() else []
        out = self.build("--dry-run").stdout
        after = sorted((self.root / "build").rglob("*")) if (self.root / "build").exists() else []
        assert after == store, "--dry-run wrote into the build folder"
        lines = {}
        for line in out.splitlines():
            if line.startswith("cached "):
                lines[line.split()[1]] = "cached"
            elif line.startswith("would run "):
                slug, _, reasons = line[len("would run "):].strip().partition(" ")
                lines[slug] = reasons.strip()
        return lines


def site_and_builder_error_texts() -> list[tuple[str, str]]:
    """``(repo-relative file, first docstring line)`` of the errors only the site or the build
    tool raise, imported from the modules that raise them (so wherever they are defined)."""
    from pipeline.builder.executor import RecipeFailed
    from pipeline.builder.locking import BuildLocked
    from pipeline.builder.store import CorruptEntry
    from pipeline.builder.store_pack import PackError
    from pipeline.site.hosting_limits import HostingLimitError
    from pipeline.site.pages import ShortcodeError, ShortcodeUsageError, UnsafeInclude

    found = []
    for cls in (ShortcodeError, ShortcodeUsageError, UnsafeInclude, HostingLimitError,
                BuildLocked, CorruptEntry, PackError, RecipeFailed):
        source = Path(inspect.getsourcefile(cls)).resolve()
        found.append((source.relative_to(REPO_ROOT).as_posix(),
                      inspect.getdoc(cls).splitlines()[0]))
    return found


@pytest.mark.slow
def test_edits_rerun_exactly_the_recipes_that_used_them(tmp_path) -> None:
    co = Checkout(tmp_path / "repo")
    assert co.dry_run() == {"alpha": "never built", "beta": "never built"}
    co.build()
    assert co.ran() == {"alpha", "beta"}
    manifest = json.loads(next((tmp_path / "repo" / "build" / "store" / "beta").glob(
        "*/manifest.json")).read_text())
    assert "pipeline/library/demo_beta.py" in manifest["deps"]["modules"]
    assert "pipeline/library/demo_alpha.py" not in manifest["deps"]["modules"]
    assert manifest["deps"]["data"] == {"data:table.csv": manifest["deps"]["data"]["data:table.csv"]}
    assert "numpy" in manifest["deps"]["packages"]
    assert co.dry_run() == {"alpha": "cached", "beta": "cached"}

    # A library module one recipe imported: only that recipe, and the reason names the file.
    module = co.library / "demo_alpha.py"
    module.write_text(module.read_text() + "# a comment\n")
    assert co.dry_run() == {"alpha": "cached", "beta": "cached"} | {
        "alpha": "pipeline/library/demo_alpha.py changed"}
    co.build()
    assert co.ran() == {"alpha"}

    # The build tool and the site: nothing runs.
    for tool in (tmp_path / "repo" / "pipeline" / "builder" / "progress.py",
                 tmp_path / "repo" / "pipeline" / "site" / "pages.py"):
        tool.write_text(tool.read_text() + "\n# refactored\n")
    assert co.dry_run() == {"alpha": "cached", "beta": "cached"}
    co.build()
    assert co.ran() == set()

    # The text of an error only the site or the build tool raises, wherever it is defined:
    # nothing runs (every recipe imports the library's error module, so there it would re-run
    # every recipe).
    for rel, line in site_and_builder_error_texts():
        target = co.root / rel
        text = target.read_text()
        assert line in text, (rel, line)
        target.write_text(text.replace(line, line + " Reworded.", 1))
    assert co.dry_run() == {"alpha": "cached", "beta": "cached"}

    # A data file one recipe read (not declared anywhere): that recipe.
    (co.data / "table.csv").write_text("a,b\n1,3\n")
    assert co.dry_run()["beta"] == "data file data:table.csv changed"
    assert co.dry_run()["alpha"] == "cached"
    co.build()
    assert co.ran() == {"beta"}

    # A recipe edited to import another module: it runs (its text changed), and from then on
    # the other module's edits re-run it too.
    co.recipe("alpha").write_text(tiny_recipe("Alpha", body=ALPHA_BODY + textwrap.dedent("""
        # %%
        from pipeline.library import demo_beta
        ex.metric("both", demo_beta.VALUE)
        """)))
    assert co.dry_run() == {"alpha": "recipe text changed", "beta": "cached"}
    co.build()
    assert co.ran() == {"alpha"}
    beta_module = co.library / "demo_beta.py"
    beta_module.write_text(beta_module.read_text() + "# edited\n")
    assert co.dry_run() == {"alpha": "pipeline/library/demo_beta.py changed",
                            "beta": "pipeline/library/demo_beta.py changed"}


MARKED_EXPORTER = '''

def _marked(exporter_class):
    """nbconvert's exporter, changed: every page it makes ends with a marker (test edit)."""

    class Marked(exporter_class):
        def from_notebook_node(self, nb, resources=None, **kw):
            body, resources = super().from_notebook_node(nb, resources=resources, **kw)
            return body + "\\n\\nExported by the changed exporter.\\n", resources

    return Marked
'''


@pytest.mark.slow
def test_a_changed_notebook_exporter_changes_the_page_and_retrains_nothing(tmp_path) -> None:
    """The notebook page's format is not waiting in the store for a retrain (issue 25, item 3):
    editing the code that exports a notebook (wherever it lives) changes the page at the next
    site build, and ``build --dry-run`` still says every recipe is cached."""
    from tests.sitebuild import write_config

    co = Checkout(tmp_path / "repo")
    co.build("--only", "alpha")
    assert co.ran() == {"alpha"}

    def notebook_page() -> str:
        site = co.root / "site"
        cfg = write_config(co.content, site, co.root / "mkdocs.test.yml")
        env = {**os.environ, "PYTHONPATH": str(co.root), "NNX_BUILD_DIR": str(co.root / "build"),
               "NO_MKDOCS_2_WARNING": "1"}
        done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-f", str(cfg)],
                              cwd=co.root, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return (site / "notebooks" / "alpha" / "index.html").read_text()

    before = notebook_page()
    assert "save_figure" in before and "Exported by the changed exporter" not in before
    exporters = [p for p in sorted((co.root / "pipeline").rglob("*.py"))
                 if "MarkdownExporter()" in p.read_text()]
    assert len(exporters) == 1, exporters
    source = exporters[0]
    source.write_text(source.read_text().replace("MarkdownExporter()",
                                                 "_marked(MarkdownExporter)()") + MARKED_EXPORTER)
    assert co.dry_run()["alpha"] == "cached"
    after = notebook_page()
    assert "Exported by the changed exporter" in after
    co.build("--only", "alpha")
    assert co.ran() == set()
