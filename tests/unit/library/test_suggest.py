"""The one "did you mean" (pipeline.library.suggest) and the messages that use it."""

from __future__ import annotations

import pytest

from pipeline.library.suggest import close_matches, did_you_mean


def test_one_close_name_is_suggested_after_a_full_stop() -> None:
    assert did_you_mean("titel", ["title", "description"]) == " Did you mean 'title'?"
    assert "unknown field." + did_you_mean("titel", ["title"]) == (
        "unknown field. Did you mean 'title'?")


def test_nothing_close_gives_an_empty_hint() -> None:
    assert did_you_mean("zzzz", ["title", "description"]) == ""
    assert did_you_mean("title", []) == ""


def test_several_names_with_their_separator_best_first() -> None:
    choices = ["dense_10", "conv", "dense_1"]
    assert did_you_mean("dense", choices, n=3, sep=", ") == " Did you mean 'dense_1', 'dense_10'?"
    assert did_you_mean("dense", choices, n=3) == " Did you mean 'dense_1' or 'dense_10'?"
    assert did_you_mean("dense", choices) == " Did you mean 'dense_1'?"


def test_cutoff_and_non_string_inputs() -> None:
    # "abcd" is 0.5 from "abxy" (difflib's ratio): below the default cutoff, not below 0.5
    assert did_you_mean("abcd", ["abxy"]) == ""
    assert did_you_mean("abcd", ["abxy"], cutoff=0.5) == " Did you mean 'abxy'?"
    assert close_matches(12, [11, 120, "x"], n=2) == ["120"]
    assert close_matches(12, [11, 120, "x"], n=2, cutoff=0.5) == ["120", "11"]
    assert did_you_mean("quik", {"quick": 1, "full": 2}) == " Did you mean 'quick'?"  # mapping keys


@pytest.mark.parametrize(("call", "expected"), [
    ("recipes", "unknown field 'explainer.titel'. Did you mean 'title'?"),
    ("scaffold", "unknown template 'blnk'. Did you mean 'blank'?"),
])
def test_call_sites_keep_their_messages(call, expected, tmp_path) -> None:
    from pipeline.library.errors import ConfigError, HeaderError

    if call == "recipes":
        from pipeline.builder.recipes import parse_header

        text = ('# ---\n# explainer:\n#   titel: T\n#   description: D\n#   section: s\n'
                '#   profiles: {quick: {}, full: {}}\n# ---\n')
        with pytest.raises(HeaderError) as info:
            parse_header(text, "x.recipe.py")
    else:
        from pipeline.builder.scaffolding import create

        with pytest.raises(ConfigError) as info:
            create(tmp_path, "demo", "basics", template="blnk")
    assert expected in str(info.value)
