"""Explainers against their articles (front matter claims), and the profile said in words."""

from __future__ import annotations

import re

import pytest

from pipeline.builder.records import Manifest
from pipeline.site.article_comparison import (
    ClaimError,
    format_value,
    parse_claims,
    rows_for,
    site_table,
)
from pipeline.site.profile_notes import mixed_profiles_note, profile_sentence
from tests.conftest import tiny_recipe
from tests.sitebuild import build_site

CLAIMS = {"article_comparison": [
    {"what": "Test accuracy", "article": "81 %", "ours": "acc", "format": "percent",
     "why": "The article measured 50 images."},
    {"what": "Network", "article": "VGG16", "ours": "model", "format": "text", "why": "Offline."},
    {"what": "Steps", "article": "–", "why": "No number of ours."},
    {"what": "Missing", "article": "1", "ours": "nope", "format": "int", "why": "Not recorded."},
]}


def test_claims_fill_in_our_values_from_the_shown_result() -> None:
    claims = parse_claims(CLAIMS, "x.md")
    manifest = Manifest.from_dict({"profile": "full", "metrics": {"acc": 0.80114, "model": "MobileNet"}})
    rows = rows_for(claims, manifest)
    assert [r.ours for r in rows] == ["80.1 %", "MobileNet", "–",
                                      "not recorded by this build (nope)"]
    assert {r.profile for r in rows} == {"full"}
    assert [r.ours for r in rows_for(claims, None)][0] == "not built yet"


@pytest.mark.parametrize(("value", "fmt", "shown"), [
    (0.80114, "percent", "80.1 %"), (0.0093, "percent:2", "0.93 %"), (50000, "int", "50,000"),
    (0.04167, "float:3", "0.042"), (0.1, "float", "0.100"), (None, "float", "not finite in this build"),
    ("MobileNet", "float", "MobileNet"),
])
def test_formats(value, fmt, shown) -> None:
    assert format_value(value, fmt) == shown


@pytest.mark.parametrize(("meta", "message"), [
    ({"article_comparison": "81 %"}, "must be a list"),
    ({"article_comparison": [{"what": "a", "article": "b"}]}, "entry 1: 'why' is required"),
    ({"article_comparison": [{"what": "a", "article": "b", "why": "c", "our": "m"}]},
     "unknown field(s) our. Did you mean 'ours'?"),
    ({"article_comparison": [{"what": "a", "article": "b", "why": "c", "format": "pct"}]},
     "format 'pct' is not one of"),
])
def test_bad_claims_name_the_page_the_entry_and_the_fix(meta, message) -> None:
    with pytest.raises(ClaimError) as exc:
        parse_claims(meta, "content/x/page.md")
    assert "content/x/page.md" in str(exc.value) and message in str(exc.value)


def test_profile_in_words_and_mixed_profiles() -> None:
    assert "You are reading the <strong>full</strong> profile" in profile_sentence("full")
    assert "smaller than the article" in profile_sentence("quick")
    assert profile_sentence(None) == ""
    assert mixed_profiles_note(["full", "full", None]) == ""
    note = mixed_profiles_note(["full", "quick", "full"])
    assert note.startswith('!!! warning "This site mixes build profiles"')
    assert "2 from the full profile, 1 from the quick profile" in note


def test_site_table_groups_rows_by_explainer() -> None:
    rows = rows_for(parse_claims(CLAIMS, "x.md"), Manifest.from_dict({"profile": "quick",
                                                                      "metrics": {"acc": 0.3}}))
    table = str(site_table([("Alpha", "alpha.md", rows), ("Beta", None, [])]))
    assert table.count("[Alpha](alpha.md)") == 1 and "Beta" not in table
    assert "| quick |" in table
    assert str(site_table([("Beta", None, [])])) == ""


PAGE = """---
article_comparison:
  - what: The size
    article: "4 (the article)"
    ours: n
    format: int
    why: The quick profile draws 3 points.
---

# alpha

{{ figure("line.png") }}
"""


def test_pages_and_build_report_show_the_comparison_and_the_profile(mini) -> None:
    (mini.content / "index.md").write_text("# Home\n\n{{ gallery() }}\n")
    mini.add("alpha", tiny_recipe("Alpha"), page=PAGE)
    mini.add("beta", tiny_recipe("Beta"))
    assert mini.cli("build", "--only", "alpha") == 0
    assert mini.cli("build", "--only", "beta", "--profile", "full") == 0
    site = mini.root / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr
    page = (site / "demo" / "alpha" / "index.html").read_text()
    assert "You are reading the <strong>quick</strong> profile" in page
    text = re.sub(r"<[^>]+>", " ", page)
    assert re.search(r"The size\s+4 \(the article\)\s+3\s+The quick profile draws 3 points", text)
    beta = (site / "demo" / "beta" / "index.html").read_text()
    assert "<strong>full</strong> profile" in beta and "against its article" not in beta
    report = (site / "build-report" / "index.html").read_text()
    assert "This site mixes build profiles" in report
    assert 'href="../demo/alpha/"' in report and "4 (the article)" in report


def test_a_malformed_claim_fails_the_strict_build_naming_the_page(mini) -> None:
    mini.add("alpha", tiny_recipe("Alpha"), page=PAGE.replace("    why:", "    reason:"))
    assert mini.cli("build") == 0
    result = build_site(mini.content, mini.build_dir, mini.root / "site")
    assert result.returncode != 0
    assert "demo/alpha.md: front matter 'article_comparison' entry 1" in result.stderr
