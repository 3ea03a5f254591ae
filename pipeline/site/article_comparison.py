"""Each explainer against the article it explains: the article's number, ours, and why they differ.

Where the claims live. An explainer's page (``<slug>.md``) lists what its article says in its
front matter, under ``article_comparison``; our side is a metric name, read from the result the
site shows. The page is prose, so editing a claim never re-trains a model (the recipe is in the
cache key, its page is not). Each entry::

    article_comparison:
      - what: Test accuracy after 7 epochs
        article: "81 % (50 test images)"      # what the article says, in its words and units
        ours: test_accuracy                   # a metric of this explainer's manifest
        format: percent                       # percent, int, float (3 digits), float:N or text
        why: The article measured 50 images; we measure all 10,000 ...

``ours`` may be left out where the article's point has no number of ours (then ``why`` says what
the page shows instead). A claim that names a metric the shown build did not record says so in
the table rather than leaving a blank. Problems in the front matter are reported with the page
and the entry's position, and fail ``mkdocs build --strict``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pipeline.builder.records import Manifest
from pipeline.site.errors import ClaimError as ClaimError  # raised here
from pipeline.site.render import render

#: The front matter key of an explainer page.
META_KEY = "article_comparison"
FORMATS = ("percent", "int", "float", "text")
FIELDS = ("what", "article", "ours", "format", "why")


@dataclass(frozen=True)
class Claim:
    """One row: a quantity, the article's value (words), our metric and the reason they differ."""

    what: str
    article: str
    why: str
    ours: str | None = None
    format: str = "float"


def _check_format(fmt: str, where: str) -> str:
    base, _, digits = fmt.partition(":")
    if base not in FORMATS or (digits and (base not in ("float", "percent") or not digits.isdigit())):
        raise ClaimError(f"{where}: format {fmt!r} is not one of {', '.join(FORMATS)} "
                         "(float and percent take ':N' digits, e.g. float:4)")
    return fmt


def parse_claims(meta: Mapping[str, Any] | None, page: str) -> list[Claim]:
    """The page's claims from its front matter (``[]`` when it has none)."""
    raw = (meta or {}).get(META_KEY)
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ClaimError(f"{page}: front matter '{META_KEY}' must be a list of entries "
                         f"with {', '.join(FIELDS)}")
    claims = []
    for i, entry in enumerate(raw, start=1):
        where = f"{page}: front matter '{META_KEY}' entry {i}"
        if not isinstance(entry, Mapping):
            raise ClaimError(f"{where} must be a mapping with {', '.join(FIELDS)}")
        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            from pipeline.library.suggest import did_you_mean

            hints = "".join(did_you_mean(u, list(FIELDS)) for u in unknown)
            raise ClaimError(f"{where}: unknown field(s) {', '.join(unknown)}.{hints} "
                             f"Fields: {', '.join(FIELDS)}")
        for name in ("what", "article", "why"):
            if not isinstance(entry.get(name), str | int | float) or str(entry[name]).strip() == "":
                raise ClaimError(f"{where}: '{name}' is required (text)")
        ours = entry.get("ours")
        if ours is not None and (not isinstance(ours, str) or not ours.strip()):
            raise ClaimError(f"{where}: 'ours' must be the name of a metric of this explainer")
        fmt = _check_format(str(entry.get("format", "float")), where)
        claims.append(Claim(what=str(entry["what"]), article=str(entry["article"]),
                            why=str(entry["why"]), ours=ours.strip() if ours else None,
                            format=fmt))
    return claims


def format_value(value: Any, fmt: str) -> str:
    """A metric as the table shows it (``percent``: 0.8011 -> "80.1 %")."""
    if value is None:
        return "not finite in this build"
    base, _, digits = fmt.partition(":")
    if base == "text" or isinstance(value, str) or isinstance(value, bool):
        return str(value)
    if base == "percent":
        return f"{float(value) * 100:.{int(digits or 1)}f} %"
    if base == "int":
        return f"{int(round(float(value))):,}"
    return f"{float(value):.{int(digits or 3)}f}"


@dataclass(frozen=True)
class ComparisonRow:
    """A claim with our value filled in from the shown result."""

    what: str
    article: str
    ours: str
    why: str
    profile: str | None


def rows_for(claims: list[Claim], manifest: Manifest | None) -> list[ComparisonRow]:
    profile = manifest.profile if manifest is not None else None
    rows = []
    for claim in claims:
        if claim.ours is None:
            ours = "–"
        elif manifest is None:
            ours = "not built yet"
        elif claim.ours not in manifest.metrics:
            ours = f"not recorded by this build ({claim.ours})"
        else:
            ours = format_value(manifest.metrics[claim.ours], claim.format)
        rows.append(ComparisonRow(claim.what, claim.article, ours, claim.why, profile))
    return rows


def read_page_meta(page: Path) -> dict[str, Any]:
    """The YAML front matter of a Markdown page (``{}`` without one), as mkdocs reads it."""
    from mkdocs.utils.meta import get_data

    _, meta = get_data(page.read_text(encoding="utf-8"))
    return dict(meta)


def page_table(rows: list[ComparisonRow]) -> str:
    """The table an explainer page shows (its own rows)."""
    return render("article_comparison.md", rows=rows, explainers=None)


def site_table(per_explainer: list[tuple[str, str | None, list[ComparisonRow]]]) -> Markup:
    """All explainers' rows for the build report: ``(title, url, rows)`` each."""
    groups = [{"title": title, "url": url, "rows": rows} for title, url, rows in per_explainer
              if rows]
    if not groups:
        return Markup("")
    return Markup(render("article_comparison.md", rows=None, explainers=groups))
