"""``python -m pipeline init DIR``: a new site with one example per template, never overwriting."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from pipeline.builder import init_site as init_mod
from pipeline.builder.cli import main
from pipeline.builder.recipes import discover_all
from pipeline.builder.scaffolding import templates
from pipeline.builder.site_config import load
from pipeline.library.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """YAML with mkdocs' !ENV tag read as its default."""


_Loader.add_constructor("!ENV", lambda loader, node: loader.construct_sequence(node)[-1])


def test_init_writes_a_site_that_needs_nothing_from_other_hosts(tmp_path) -> None:
    root = tmp_path / "my-site"
    assert main(["init", str(root)]) == 0
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    for name in ("mkdocs.yml", "noxfile.py", "README.md", "requirements.txt", ".gitignore",
                 ".github/workflows/pages.yml", "content/index.md"):
        assert name in written
    config = yaml.load((root / "mkdocs.yml").read_text(), Loader=_Loader)
    assert config["site_name"] == "My site"
    assert config["theme"]["name"] == "material" and config["theme"]["font"] is False
    assert "repo_url" not in config and "custom_dir" not in config["theme"]
    assert any(isinstance(p, dict) and "nn-explainers" in p for p in config["plugins"])
    site = load(root / "mkdocs.yml")
    assert (site.docs_dir, site.build_dir) == (root / "content", root / "build")
    # one example per template, each a recipe the build discovers, with its page
    recipes, errors = discover_all(root / "content")
    assert not errors
    assert len(recipes) == len(templates()) == len(init_mod.EXAMPLES)
    assert all(r.page is not None for r in recipes)
    ast.parse((root / "noxfile.py").read_text())
    nox_text = (root / "noxfile.py").read_text()
    for session in ("def build(", "def serve(", "def tests("):
        assert session in nox_text
    readme = (root / "README.md").read_text()
    assert "nox -s build" in readme and "nox -s serve" in readme


def test_the_pages_workflow_pins_actions_and_limits_permissions(tmp_path) -> None:
    init_mod.init_site(tmp_path / "s")
    text = (tmp_path / "s" / ".github" / "workflows" / "pages.yml").read_text()
    flow = yaml.safe_load(text)
    uses = re.findall(r"uses: (\S+)@(\S+)(.*)", text)
    assert uses
    for action, ref, comment in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{action} is not pinned to a commit"
        assert re.search(r"# v\d+\.\d+\.\d+", comment), f"{action}: no tag in the comment"
    assert flow["permissions"] == {}
    assert flow["jobs"]["build"]["permissions"]["contents"] == "read"
    assert "pages" not in flow["jobs"]["build"]["permissions"] or \
        flow["jobs"]["build"]["permissions"]["pages"] == "read"
    assert flow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    checkout = next(s for s in flow["jobs"]["build"]["steps"]
                    if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False


def test_refuses_a_folder_that_is_not_empty_and_never_overwrites(tmp_path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "README.md").write_text("mine\n")
    with pytest.raises(ConfigError, match="not empty.*--force"):
        init_mod.init_site(root)
    assert sorted(p.name for p in root.iterdir()) == ["README.md"]
    made = init_mod.init_site(root, force=True)
    assert (root / "README.md").read_text() == "mine\n"  # kept
    assert root / "README.md" not in made.files and (root / "mkdocs.yml") in made.files
    page = root / "content" / "examples" / "a-first-page.md"
    page.write_text("edited\n")
    init_mod.init_site(root, force=True)  # again: everything exists, nothing changes
    assert page.read_text() == "edited\n"
    assert main(["init", str(root)]) == 2  # without --force: refused, with a message


def test_requirement_names_where_this_package_came_from(monkeypatch) -> None:
    class Dist:
        version = "1.2.3"

        def __init__(self, direct: dict | None) -> None:
            self.direct = direct

        def read_text(self, name: str) -> str | None:
            return json.dumps(self.direct) if self.direct is not None else None

    cases = [
        (None, "nn-explainers[cpu]==1.2.3"),
        ({"url": "file:///tmp/x.whl", "archive_info": {}}, "nn-explainers[cpu]==1.2.3"),
        ({"url": "https://github.com/o/r", "vcs_info": {"vcs": "git", "commit_id": "abc"}},
         "nn-explainers[cpu] @ git+https://github.com/o/r@abc"),
        ({"url": "https://example.org/nn.whl", "archive_info": {}},
         "nn-explainers[cpu] @ https://example.org/nn.whl"),
    ]
    for direct, want in cases:
        monkeypatch.setattr(init_mod.importlib.metadata, "distribution",
                            lambda name, d=direct: Dist(d))
        assert init_mod.requirement() == want


def test_template_files_are_package_data() -> None:
    """Every file init copies is matched by pyproject's package-data globs (else a wheel would
    leave it out: the wheel test builds one and checks the real thing)."""
    import tomllib

    globs = tomllib.loads((Path(init_mod.__file__).parents[2] / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["package-data"]["pipeline.builder"]
    base = Path(init_mod.__file__).parent
    for src, _ in init_mod._template_files():
        rel = src.relative_to(base).as_posix()
        assert any(Path(rel).match(g) and rel.count("/") == g.count("/") for g in globs), rel
