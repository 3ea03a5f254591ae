"""Errors in the author's terms: header errors under --only, the real failing line, shortcode
typos with "did you mean" and no internal names, a thumbnail the recipe never wrote."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.builder.executor import cell_start_lines
from pipeline.library.errors import HeaderError
from pipeline.site.pages import PageContext, expand_shortcodes, is_diverged
from tests.conftest import recipe_header, tiny_recipe


def test_only_on_a_broken_header_reports_the_header_error(mini, capsys) -> None:
    mini.add("good", tiny_recipe("Good"))
    mini.add("broken", tiny_recipe("Broken").replace("#   title: Broken", "#   titel: Broken"))
    assert mini.cli("build", "--only", "broken") == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "titel" in err and "Did you mean 'title'?" in err and "no such recipe" not in err


def test_select_raises_the_header_error_itself() -> None:
    from pipeline.builder.cli import _select

    error = HeaderError("demo/broken.recipe.py", "unknown field 'explainer.titel'")
    with pytest.raises(HeaderError, match="titel"):
        _select([], ["broken"], [error])


def test_only_ignores_other_recipes_broken_headers(mini) -> None:
    mini.add("good", tiny_recipe("Good"))
    mini.add("broken", tiny_recipe("Broken").replace("#   title: Broken", "#   titel: Broken"))
    assert mini.cli("build", "--only", "good") == 0


FAILING = textwrap.dedent('''
    # %% tags=["parameters"]
    profile = "quick"
    seed = 0
    asset_dir = "_assets"
    data_dir = None
    sizes = {"n": 3}

    # %%
    values = [1, 2, 3]
    total = sum(values)

    # %% [markdown]
    # The same first line again below: a search for it would stop here.

    # %%
    values = [1, 2, 3]
    total = sum(values)
    ratio = total / (len(values) - 3)
''')


def test_failure_report_gives_the_real_failing_line(mini) -> None:
    header = recipe_header("Fails", "It divides by zero.", "[]", 3, 3)
    path = mini.add("fails", header + FAILING)
    assert mini.cli("build") == 1
    failure = mini.state("fails")["last_attempt"]["failure"]
    lines = path.read_text().splitlines()
    assert failure["ename"] == "ZeroDivisionError"
    assert lines[failure["line"] - 1] == "ratio = total / (len(values) - 3)"
    assert f"(line {failure['line']})" in failure["summary"]


def test_cell_start_lines_follow_the_markers() -> None:
    text = "# ---\n# x: 1\n# ---\n\n# %%\na = 1\n\n# %% [markdown]\n# hi\n\n# %%\n\nb = 2\nc = 3\n"
    assert cell_start_lines(text, ["a = 1", "hi", "b = 2\nc = 3"]) == [6, 9, 13]


def _ctx() -> PageContext:
    return PageContext(slug="s", manifest={"outputs": [], "metrics": {}}, state={},
                       url_for=lambda name: f"assets/{name}")


def test_unknown_shortcode_gets_did_you_mean() -> None:
    ctx = _ctx()
    expand_shortcodes('{{ figgure("a.png") }}', ctx)
    assert "Did you mean 'figure'?" in ctx.warnings[0]


@pytest.mark.parametrize("call, expected", [
    ('figure("a.png", captoin="x")', "Did you mean 'caption'?"),
    ('video("a.mp4", scrubb="frames")', "Did you mean 'scrub'?"),
    ("figure()", "missing a required argument: 'name'"),
])
def test_wrong_keyword_gets_did_you_mean_and_no_internal_name(call, expected) -> None:
    ctx = _ctx()
    expand_shortcodes("{{ " + call + " }}", ctx)
    assert len(ctx.warnings) == 1 and expected in ctx.warnings[0]
    assert "sc_" not in ctx.warnings[0] and "Usage: " in ctx.warnings[0]


def test_usage_errors_are_reported_even_on_a_diverged_page() -> None:
    ctx = PageContext(slug="s", state={}, url_for=lambda name: f"assets/{name}",
                      manifest={"outputs": [], "metrics": {}, "status": {"state": "diverged"}})
    assert is_diverged(ctx.manifest)
    expand_shortcodes('{{ figure("a.png", captoin="x") }}', ctx)
    assert ctx.warnings and "captoin" in ctx.warnings[0]


def test_thumbnail_the_recipe_never_wrote_fails_naming_the_file(mini) -> None:
    recipe = tiny_recipe("Thumb").replace("#   thumbnail: line.png", "#   thumbnail: lines.png")
    mini.add("thumb", recipe)
    assert mini.cli("build") == 1
    failure = mini.state("thumb")["last_attempt"]["failure"]
    assert "'lines.png'" in failure["evalue"] and "line.png" in failure["evalue"]
    assert "explainer.thumbnail" in failure["evalue"]
