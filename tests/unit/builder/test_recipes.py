"""Header parsing and validation: every error names the file and the field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.builder.recipes import discover_all, load_recipe, parse_header
from pipeline.library.errors import HeaderError

GOOD = """# ---
# explainer:
#   title: T
#   description: D
#   datasets: []
#   profiles:
#     quick: {epochs: 1}
#     full: {epochs: 10}
# ---
x = 1
"""


def test_good_header_parses() -> None:
    h = parse_header(GOOD, "a.recipe.py", default_section="basics")
    assert h.title == "T" and h.section == "basics" and h.sizes("full") == {"epochs": 10}
    assert h.timeout == 1800 and h.seed == 0


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s.replace("#   title: T\n", ""), "missing required field 'explainer.title'"),
        (lambda s: s.replace("#   title: T", "#   titel: T"), "Did you mean 'title'?"),
        (lambda s: s.replace("#     quick:", "#     quik:"), "Did you mean 'quick'?"),
        (lambda s: s.replace("#     full: {epochs: 10}\n", ""), "missing profile 'explainer.profiles.full'"),
        (lambda s: s.replace("datasets: []", "datasets: [bostn_housing]"), "Did you mean 'boston_housing'?"),
        (lambda s: s.replace("datasets: []", "datasets: 3"), "'explainer.datasets' must be a list"),
        (lambda s: s.replace("#   title: T", "#   title: T\n#   timeout: soon"), "'explainer.timeout' must be an integer"),
        (lambda s: s.replace("# explainer:", "# explainr:"), "Did you mean 'explainer'?"),
        (lambda s: s.replace("#   title: T", "#   title: [unclosed"), "not valid YAML"),
        (lambda s: s.split("\n", 1)[1], "no header found"),
        (lambda s: s.replace("# ---\nx = 1", "x = 1"), "not a comment"),
    ],
)
def test_header_errors_name_file_and_field(mutate, expected: str) -> None:
    with pytest.raises(HeaderError) as info:
        parse_header(mutate(GOOD), "content/x/a.recipe.py")
    assert "content/x/a.recipe.py" in str(info.value)
    assert expected in str(info.value)


def test_recipe_outside_content_is_rejected(tmp_path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    outside = tmp_path / "evil.recipe.py"
    outside.write_text(GOOD)
    with pytest.raises(HeaderError, match="inside the content folder"):
        load_recipe(outside, content)


def test_discover_collects_errors_and_duplicate_slugs(tmp_path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.recipe.py").write_text(GOOD)
    (tmp_path / "a" / "bad.recipe.py").write_text("print('no header')\n")
    recipes, errors = discover_all(tmp_path)
    assert [r.slug for r in recipes] == ["same"]
    messages = " ".join(str(e) for e in errors)
    assert "no header found" in messages and "already used" in messages


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_only_raises_header_errors(text: str) -> None:
    """Whatever the bytes, the parser either returns a header or raises HeaderError."""
    for candidate in (text, "# ---\n" + text + "\n# ---\n", GOOD.replace("T\n", text[:20] + "\n", 1)):
        try:
            parse_header(candidate, "fuzz.recipe.py")
        except HeaderError:
            pass


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda s: s.isidentifier()),
                       st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
                       max_size=4))
def test_profile_sizes_round_trip(sizes: dict) -> None:
    import yaml

    block = yaml.safe_dump({"explainer": {"title": "T", "description": "D", "datasets": [],
                                          "profiles": {"quick": sizes, "full": sizes}}})
    source = "# ---\n" + "".join(f"# {line}\n" for line in block.splitlines()) + "# ---\n"
    assert parse_header(source, "p.recipe.py").sizes("quick") == sizes


@settings(max_examples=150, deadline=None)
@given(title=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
       .filter(str.strip),
       timeout=st.integers(1, 10**6), order=st.integers(0, 10**4), seed=st.integers(0, 2**31),
       datasets=st.lists(st.sampled_from(["boston_housing", "mnist", "moons"]), unique=True))
def test_valid_headers_round_trip(title: str, timeout: int, order: int, seed: int,
                                  datasets: list) -> None:
    """Any header that yaml can write, the parser reads back to the same values."""
    import yaml

    fields = {"title": title, "description": "D", "datasets": datasets, "timeout": timeout,
              "order": order, "seed": seed, "profiles": {"quick": {}, "full": {"epochs": 2}}}
    block = yaml.safe_dump({"explainer": fields}, allow_unicode=True)
    source = "# ---\n" + "".join(f"# {line}\n" for line in block.splitlines()) + "# ---\n"
    h = parse_header(source, "p.recipe.py")
    assert (h.title, h.timeout, h.order, h.seed, list(h.datasets)) == (
        title.strip(), timeout, order, seed, datasets)


@settings(max_examples=100, deadline=None)
@given(field=st.sampled_from(["timeout", "order", "seed"]),
       value=st.one_of(st.integers(max_value=-1), st.text(max_size=5), st.booleans(),
                       st.floats(allow_nan=False), st.lists(st.integers(), max_size=2)))
def test_invalid_numbers_name_the_field(field: str, value) -> None:
    import yaml

    fields = {"title": "T", "description": "D", "datasets": [], field: value,
              "profiles": {"quick": {}, "full": {}}}
    source = "# ---\n" + "".join(f"# {line}\n" for line in yaml.safe_dump(
        {"explainer": fields}).splitlines()) + "# ---\n"
    with pytest.raises(HeaderError, match=f"'explainer.{field}' must be an integer"):
        parse_header(source, "p.recipe.py")
