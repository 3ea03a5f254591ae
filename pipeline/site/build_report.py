"""The "How this site was built" page: what every explainer cost, in one sortable table.

sphinx-gallery's execution-times page is the model: one row per example, the slowest first,
totals on the same page. Here each row is a recipe's current build (its manifest and state):
profile, device, training / rendering / whole-run seconds, peak memory, whether the last build
executed or came from the cache, the data it used and the build date. The table is plain HTML
sorted in the browser by ``pipeline/site/assets/nnx-sort.js`` (no library from a CDN); without
JavaScript it reads as a table sorted by total time. A device shared by every row is said once,
above the table, instead of in a column; the table fits a 1280 px page, and below 45em each row
becomes a block of labelled cells (``nnx.css``), so it fits a 390 px phone too.

The page is a list of :class:`ReportSection` (the cost table is the first), so another section
is one more item. Pure functions over manifests and states; the markup is
``templates/build_report.md``, ``build_report_cost.md`` and ``build_report_table.html``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


@dataclass(frozen=True)
class Column:
    """One column of the cost table: its heading, its cells' label on narrow screens, how it
    sorts, and the row's ``(sort key, shown text)`` for it."""

    name: str
    cell: Callable[[ReportRow], tuple[str, str]]
    numeric: bool = False


def _built(value: str | None) -> tuple[str, str]:
    """An ISO build time shown as ``2026-12-06 21:46`` (the full stamp sorts)."""
    if not value:
        return "", "–"
    return value, value[:16].replace("T", " ")


COLUMNS = (
    Column("Profile", lambda r: (r.profile or "", r.profile or "–")),
    Column("Device", lambda r: (r.device, r.device or "–")),
    Column("Train (s)", lambda r: _num(r.train_s), numeric=True),
    Column("Render (s)", lambda r: _num(r.render_s), numeric=True),
    Column("Whole run (s)", lambda r: _num(r.total_s), numeric=True),
    Column("Peak memory (MB)", lambda r: _num(r.peak_mb, 0), numeric=True),
    Column("Cache", lambda r: (r.cache, r.cache)),
    Column("Data used", lambda r: (r.data, r.data or "–")),
    Column("Built", lambda r: _built(r.built_at)),
)
SORTED_BY = "Whole run (s)"  # the table comes sorted by the whole run, slowest first


def shared_device(rows: list[ReportRow]) -> str | None:
    """The device every built recipe ran on, when it is one (then said once, above the table)."""
    devices = {r.device for r in rows if r.device}
    return devices.pop() if len(devices) == 1 else None


def report_html(rows: list[ReportRow]) -> str:
    """The sortable table (slowest first) with a totals row in ``<tfoot>``.

    The Device column is left out when every row would repeat the same device
    (:func:`shared_device`; the page says it once, above the table).
    """
    rows = sorted(rows, key=lambda r: -(r.total_s or 0.0))
    shown_columns = [c for c in COLUMNS if c.name != "Device" or shared_device(rows) is None]
    columns = [{"name": "Explainer", "numeric": False, "sorted": False}] + [
        {"name": c.name, "numeric": c.numeric, "sorted": c.name == SORTED_BY}
        for c in shown_columns]
    shown = [{"slug": r.slug, "title": r.title, "url": r.url,
              "cells": [(c.name, *c.cell(r)) for c in shown_columns]} for r in rows]
    t = totals(rows)
    foot = {"Train (s)": f"{t['train_s']:,.1f}", "Render (s)": f"{t['render_s']:,.1f}",
            "Whole run (s)": f"{t['total_s']:,.1f}",
            "Peak memory (MB)": "–" if t["peak_mb"] is None else f"{t['peak_mb']:,.0f} (largest)",
            "Cache": f"{t['executed']} executed, {t['cached']} from cache"}
    return render("build_report_table.html", columns=columns, rows=shown, totals=t,
                  foot=[(c.name, foot.get(c.name, "")) for c in shown_columns])


@dataclass(frozen=True)
class ReportSection:
    """One ``##`` section of the page: a title and its Markdown (raw HTML allowed)."""

    title: str
    body: str


def cost_section(rows: list[ReportRow]) -> ReportSection:
    """What every explainer cost: the device (once, when shared), then the sortable table."""
    return ReportSection("What each explainer cost", render(
        "build_report_cost.md", device=shared_device(rows), table=Markup(report_html(rows))))


def report_page(rows: list[ReportRow], site_built_at: str,
                sections: Sequence[ReportSection] = (), mixed_note: str = "") -> str:
    """The page's Markdown: a sentence of totals, then its sections, the cost table first.

    ``sections`` are further sections, in order (the page is a list of sections so that others
    can be added without touching the table: each explainer against its article is one,
    ``extras.build_report_sections``); ``mixed_note`` warns when the rows come from more than
    one profile. The title is the page's one ``#`` heading; the page's front matter is mkdocs'
    (``extras.add_build_report``), never part of this text.
    """
    return render("build_report.md", totals=totals(rows), site_built_at=site_built_at,
                  sections=[cost_section(rows), *sections], mixed_note=Markup(mixed_note))
