"""`python -m pipeline new`: templates that build and pass `mkdocs build --strict` as they are;
no overwriting, validated slugs; unbuilt pages are placeholders unless NNX_REQUIRE_ALL=1."""

from __future__ import annotations

import pytest

from pipeline.builder.scaffolding import SCAFFOLD_DIR, check_slug, create, templates
from pipeline.library.errors import ConfigError


def test_every_template_is_listed() -> None:
    assert set(templates()) == {"blank", "replay", "cnn", "keras-fit"}


@pytest.mark.parametrize("bad", ["My Page", "a--b", "-a", "a_b", "", "A"])
def test_bad_slugs_are_refused_with_an_example(bad) -> None:
    with pytest.raises(ConfigError, match="lowercase"):
        check_slug(bad)


def test_new_writes_substituted_files_and_never_overwrites(mini) -> None:
    assert mini.cli("new", "my-net", "--section", "demo", "--title", "My net: a test") == 0
    recipe = (mini.content / "demo" / "my-net.recipe.py").read_text()
    page = (mini.content / "demo" / "my-net.md").read_text()
    assert "${" not in recipe and "${" not in page
    assert 'title: "My net: a test"' in recipe and page.startswith("# My net: a test")
    before = recipe
    assert mini.cli("new", "my-net", "--section", "demo") == 2
    assert mini.cli("new", "my-net", "--section", "other") == 2  # slug unique across sections
    assert (mini.content / "demo" / "my-net.recipe.py").read_text() == before
    assert not (mini.content / "other").exists()


def test_unknown_template_gets_did_you_mean(mini) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'blank'"):
        create(mini.content, "x", "demo", template="blanc")


@pytest.mark.parametrize("template", templates())
def test_titles_with_colons_and_quotes_keep_the_header_valid(mini, template) -> None:
    from pipeline.builder.recipes import load_recipe

    title, description = 'Wine: a "quoted" title', "Thirteen features: one network"
    made = create(mini.content, "x", "demo", template=template, title=title,
                  description=description)
    header = load_recipe(made.recipe, mini.content).header
    assert (header.title, header.description, header.section) == (title, description, "demo")
    assert made.page.read_text().count(title) >= 1


def test_multi_line_title_is_refused(mini) -> None:
    with pytest.raises(ConfigError, match="one line"):
        create(mini.content, "x", "demo", title="two\nlines")
    assert not (mini.content / "demo" / "x.recipe.py").exists()


@pytest.mark.skipif(not (SCAFFOLD_DIR / "replay.recipe.py").exists(),
                    reason="the replay template (developer h12a) has not landed yet")
def test_replay_template_writes_files(mini) -> None:
    assert mini.cli("new", "rep", "--section", "demo", "--template", "replay") == 0
    assert "${" not in (mini.content / "demo" / "rep.recipe.py").read_text()


def test_blank_scaffold_builds_and_passes_strict(mini, tmp_path) -> None:
    from tests.sitebuild import build_site

    assert mini.cli("new", "first-page", "--section", "demo") == 0
    assert mini.cli("build", "--only", "first-page") == 0
    entry, manifest = mini.current("first-page")
    assert {o["name"] for o in manifest["outputs"]} == {"figure.png"}
    assert manifest["metrics"]["slope"] == pytest.approx(0.8, abs=0.15)  # the generating slope
    result = build_site(mini.content, mini.build_dir, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-4000:]
    html = (tmp_path / "site" / "demo" / "first-page" / "index.html").read_text()
    assert "figure.png" in html and "Not built yet" not in html


def test_unbuilt_page_is_a_placeholder_unless_all_are_required(mini, tmp_path, monkeypatch) -> None:
    from tests.sitebuild import build_site

    create(mini.content, "built", "demo")
    create(mini.content, "unbuilt", "demo")
    (mini.content / "demo" / "unbuilt.md").write_text(
        (mini.content / "demo" / "unbuilt.md").read_text()
        + "\n[Download the data](../../assets/unbuilt/data.csv)\n")
    assert mini.cli("build", "--only", "built") == 0
    monkeypatch.delenv("NNX_REQUIRE_ALL", raising=False)
    result = build_site(mini.content, mini.build_dir, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-4000:]
    html = (tmp_path / "site" / "demo" / "unbuilt" / "index.html").read_text()
    assert "Not built yet" in html and "python -m pipeline build --only unbuilt" in html
    monkeypatch.setenv("NNX_REQUIRE_ALL", "1")
    strict = build_site(mini.content, mini.build_dir, tmp_path / "site2")
    assert strict.returncode != 0 and "'unbuilt' has not been built" in strict.stderr


def test_the_authors_guide_shows_the_keras_fit_template_as_a_diff_of_a_plain_script(tmp_path
                                                                                   ) -> None:
    """docs/authors-guide.md's diff, applied to docs/examples/train.py, is exactly what
    `pipeline new --template keras-fit` writes: the guide cannot drift from the template."""
    import difflib
    import re

    from tests.conftest import REPO_ROOT

    made = create(tmp_path, "my-model", "examples", template="keras-fit",
                  title="My model, replayed",
                  description="My Keras script, trained and replayed epoch by epoch.")
    plain = (REPO_ROOT / "docs" / "examples" / "train.py").read_text()
    want = "".join(difflib.unified_diff(plain.splitlines(True),
                                        made.recipe.read_text().splitlines(True), "train.py",
                                        "content/examples/my-model.recipe.py"))
    guide = (REPO_ROOT / "docs" / "authors-guide.md").read_text()
    shown = re.search(r"```diff\n(.*?)```", guide, re.S)
    assert shown is not None and shown.group(1) == want
    # the plain script is a plain script: no trace of the pipeline
    assert "pipeline" not in plain and "nnx" not in plain
