"""The "How this site was built" page: what every explainer cost, in one sortable table.

sphinx-gallery's execution-times page is the model: one row per example, the slowest first,
totals on the same page. Here each row is a recipe's current build (its manifest and state):
profile, device, training / rendering / whole-run seconds, peak memory, whether the last build
executed or came from the cache, the data it used and the build date. The table is plain HTML
sorted in the browser by ``pipeline/site/assets/nnx-sort.js`` (no library from a CDN); without
JavaScript it reads as a table sorted by total time. Pure functions over manifests and states;
the markup is ``templates/build_report_table.html`` and ``templates/build_report.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from pipeline.builder.records import Manifest, RecipeState, read_state
from pipeline.site.render import render

CACHE_WORDS = {
    "ran": "executed",
    "cached": "from cache",
    "failed": "latest build failed; last good result shown",
}


@dataclass(frozen=True)
class ReportRow:
    """One recipe's build facts (None where the manifest does not say)."""

    slug: str
    title: str
    url: str | None
    profile: str | None
    device: str
    train_s: float | None
    render_s: float | None
    total_s: float | None
    peak_mb: float | None
    cache: str
    data: str
    built_at: str | None


def _seconds(timings: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = timings.get(name)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _device(hardware: Mapping[str, Any]) -> str:
    gpus = [str(g) for g in hardware.get("gpus") or []]
    if gpus:
        return "GPU " + ", ".join(gpus)
    cpu = hardware.get("cpu")
    cores = hardware.get("cpu_count")
    return f"CPU {cpu} ({cores} cores)" if cpu else "CPU"


def _peak_mb(manifest: Manifest) -> float | None:
    res = manifest.resources
    values = [res.get(k) for k in ("peak_rss_mb", "gpu_peak_mb")]
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return max(numbers) if numbers else None


def row_for(slug: str, title: str, url: str | None,
            manifest: Manifest | Mapping[str, Any] | None,
            state: RecipeState | Mapping[str, Any]) -> ReportRow:
    """The row of one recipe from its manifest (None: never built) and its state file."""
    built = Manifest.read(manifest)
    m = built if built is not None else Manifest()
    timings = m.timings
    attempt = read_state(state).last_attempt
    status = attempt.status if attempt is not None else None
    cache = CACHE_WORDS.get(str(status), "not built") if built is not None or status else "not built"
    data = "; ".join(
        str(d.get("dataset") or d.get("description") or "?")
        + (" (subset)" if d.get("subset") else "") + (" (stand-in)" if d.get("stand_in") else "")
        for d in m.data) or "none"
    return ReportRow(
        slug=slug, title=title, url=url, profile=m.profile,
        device=_device(m.hardware) if built is not None else "",
        train_s=_seconds(timings, "train"), render_s=_seconds(timings, "render"),
        total_s=_seconds(timings, "execute", "total"), peak_mb=_peak_mb(m),
        cache=cache, data=data if built is not None else "", built_at=m.built_at,
    )


def _num(value: float | None, digits: int = 1) -> tuple[str, str]:
    """(sort key, shown text) for a number; an unknown value sorts first and shows a dash."""
    if value is None:
        return "-1", "–"
    return f"{value:.3f}", f"{value:,.{digits}f}"


def totals(rows: list[ReportRow]) -> dict[str, Any]:
    """Summed seconds, the largest peak memory, and how many rows ran or came from the cache."""
    def total(attr: str) -> float:
        return sum(getattr(r, attr) or 0.0 for r in rows)

    peaks = [r.peak_mb for r in rows if r.peak_mb is not None]
    return {
        "recipes": len(rows),
        "train_s": total("train_s"), "render_s": total("render_s"), "total_s": total("total_s"),
        "peak_mb": max(peaks) if peaks else None,
        "executed": sum(r.cache == CACHE_WORDS["ran"] for r in rows),
        "cached": sum(r.cache == CACHE_WORDS["cached"] for r in rows),
    }


COLUMNS = ("Explainer", "Profile", "Device", "Train (s)", "Render (s)", "Whole run (s)",
           "Peak memory (MB)", "Cache", "Data used", "Built")
NUMERIC = {3, 4, 5, 6}
SORTED_BY = 5  # the table comes sorted by the whole run, slowest first


def report_html(rows: list[ReportRow]) -> str:
    """The sortable table (slowest first) with a totals row in ``<tfoot>``."""
    rows = sorted(rows, key=lambda r: -(r.total_s or 0.0))
    columns = [{"name": c, "numeric": i in NUMERIC, "sorted": i == SORTED_BY}
               for i, c in enumerate(COLUMNS)]
    shown = []
    for r in rows:
        cells = [(r.profile or "", r.profile or "–"), (r.device, r.device or "–")]
        cells += [_num(value) for value in (r.train_s, r.render_s, r.total_s)]
        cells.append(_num(r.peak_mb, 0))
        cells.append((r.cache, r.cache))
        cells.append((r.data, r.data or "–"))
        cells.append((r.built_at or "", r.built_at or "–"))
        shown.append({"slug": r.slug, "title": r.title, "url": r.url, "cells": cells})
    return render("build_report_table.html", columns=columns, rows=shown, totals=totals(rows))


def report_page(rows: list[ReportRow], site_built_at: str, mixed_note: str = "",
                comparison: str = "") -> str:
    """The Markdown page: a sentence of totals, the table, then each explainer against its
    article (``comparison``, :mod:`pipeline.site.article_comparison`); ``mixed_note`` warns
    when the rows come from more than one profile."""
    return render("build_report.md", totals=totals(rows), site_built_at=site_built_at,
                  table=Markup(report_html(rows)), mixed_note=Markup(mixed_note),
                  comparison=Markup(comparison))
