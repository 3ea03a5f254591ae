"""The plugin's site-wide extras: learning-path navigation, the build report page, hosting limits.

Kept out of ``pipeline/site/plugin.py`` so the plugin stays a thin list of mkdocs events; each
function here takes what mkdocs hands the plugin and calls the pure modules
(:mod:`pipeline.site.nav`, :mod:`pipeline.site.build_report`, :mod:`pipeline.site.hosting_limits`).
Settings are the plugin's options (:mod:`pipeline.site.config`): ``learning_path`` (section
order and titles) and ``hosting`` (``page_budget_mb``, ``max_file_mb``, ``max_site_mb``).
"""

from __future__ import annotations

import logging
import posixpath
import time
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pipeline.builder.records import Manifest
from pipeline.site.article_comparison import rows_for, site_table
from pipeline.site.build_report import ReportSection, report_page, row_for
from pipeline.site.config import HostingConfig
from pipeline.site.errors import HostingLimitError
from pipeline.site.hosting_limits import (
    MAX_SITE_BYTES,
    MB,
    check_hard_limits,
    pages_over_budget,
)
from pipeline.site.nav import BUILD_REPORT_PAGE, BUILD_REPORT_TITLE, NavPage, learning_path_nav
from pipeline.site.profile_notes import mixed_profiles_note
from pipeline.site.render import render
from pipeline.site.thumbnails import THUMBNAIL_DIR, make_thumbnail

log = logging.getLogger("mkdocs.plugins.nnx")


def configure_nav(config: Any, results: dict[str, Any], docs: Path,
                  path: list[tuple[str, str]]) -> None:
    """Set ``nav`` to the learning ``path`` unless ``mkdocs.yml`` gives one by hand."""
    if config.get("nav"):
        return
    if not path:
        return  # no learning path configured: mkdocs' own (alphabetical) navigation
    pages: list[NavPage] = []
    recipe_pages: set[str] = set()
    for res in results.values():
        recipe = res["recipe"]
        if recipe.page is None:
            continue
        rel = recipe.page.relative_to(docs).as_posix()
        recipe_pages.add(rel)
        section = rel.split("/", 1)[0] if "/" in rel else recipe.header.section
        pages.append(NavPage(section, recipe.header.order, recipe.header.title, rel))
    others = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md")
                    if p.relative_to(docs).as_posix() not in recipe_pages
                    and p.relative_to(docs).as_posix() not in ("index.md", BUILD_REPORT_PAGE)
                    and not p.relative_to(docs).as_posix().startswith("notebooks/"))
    config["nav"] = learning_path_nav(pages, path,
                                      home="index.md" if (docs / "index.md").is_file() else None,
                                      extra_pages=others)


def add_build_report(files: Any, config: Any) -> None:
    """Register the (generated) build report page; its text is written at page time."""
    from mkdocs.structure.files import File

    if files.get_file_from_path(BUILD_REPORT_PAGE) is None:
        # Front matter here, in the page's source, where mkdocs reads it: the text the plugin
        # puts in the page at page time (report_page) is Markdown only.
        files.append(File.generated(config, BUILD_REPORT_PAGE, content=(
            f"---\ntitle: {BUILD_REPORT_TITLE}\n---\n\n# {BUILD_REPORT_TITLE}\n")))


def is_build_report(page: Any) -> bool:
    return page.file.src_uri == BUILD_REPORT_PAGE and page.file.generated_by is not None


def _page_url(recipe: Any, docs: Path, page: Any, files: Any) -> str | None:
    """The URL of ``recipe``'s page relative to ``page`` (for raw HTML), or None."""
    if recipe.page is None:
        return None
    target = files.get_file_from_path(recipe.page.relative_to(docs).as_posix())
    return str(target.url_relative_to(page.file)) if target else None


def build_report_sections(results: dict[str, Any], docs: Path, page: Any, files: Any
                          ) -> list[ReportSection]:
    """The report page's sections after the cost table, in order: each explainer against its
    article (:mod:`pipeline.site.article_comparison`). Another section is one more item here."""
    comparisons = []
    for res in results.values():
        recipe = res["recipe"]
        # a Markdown link to the page's source, which mkdocs checks and rewrites (the HTML URL
        # goes into raw HTML, which it does not)
        source = (posixpath.relpath(recipe.page.relative_to(docs).as_posix(),
                                    posixpath.dirname(page.file.src_uri) or ".")
                  if _page_url(recipe, docs, page, files) is not None else None)
        comparisons.append((recipe.header.title, source,
                            rows_for(res.get("claims") or [], res.get("manifest"))))
    comparison = site_table(comparisons)
    sections = []
    if comparison:
        sections.append(ReportSection("Each explainer against its article", render(
            "build_report_articles.md", comparison=Markup(comparison))))
    return sections


def build_report_markdown(results: dict[str, Any], docs: Path, page: Any, files: Any) -> str:
    """The report page's Markdown, with links relative to the page."""
    rows = [row_for(slug, res["recipe"].header.title, _page_url(res["recipe"], docs, page, files),
                    res.get("manifest"), res.get("state") or {})
            for slug, res in results.items()]
    return report_page(rows, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       build_report_sections(results, docs, page, files),
                       mixed_note=mixed_profiles_note(r.profile for r in rows))


def check_hosting_limits(site: Path, hosting: HostingConfig, log: logging.Logger,
                         serving: bool = False) -> None:
    """Abort the build over GitHub Pages' hard limits; warn about pages over the budget.

    ``serving`` (``mkdocs serve``): over a hard limit, warn and keep serving instead; the page
    that owns the file says so too (:func:`pipeline.site.hosting_limits.hosting_banner`).
    """
    from mkdocs.exceptions import Abort

    try:
        size = check_hard_limits(site, max_file=int(hosting.max_file_mb * MB),
                                 max_site=int(hosting.max_site_mb * MB))
    except HostingLimitError as exc:
        if not serving:
            raise Abort(f"Hosting limits: {exc}") from None
        log.warning("Hosting limits: %s\n(the preview keeps serving; `mkdocs build` and the "
                    "deploy fail until this is fixed)", exc)
        return
    budget = hosting.page_budget_mb
    pages = [p for p in site.rglob("*.html") if not p.relative_to(site).as_posix().startswith("assets/")]
    for rel, n in pages_over_budget(site, budget, pages):
        log.warning("%s: first load is %.2f MB, over the page budget of %.2f MB "
                    "(the nn-explainers plugin's hosting.page_budget_mb in mkdocs.yml); defer "
                    "images with loading=lazy or make them smaller", rel, n / MB, budget)
    log.info("site size %.1f MB (GitHub Pages allows %.0f MB)", size.total / MB,
             MAX_SITE_BYTES / MB)


def dark_thumbnail_path(slug: str) -> str:
    """Where the dark-palette gallery thumbnail of ``slug`` is served."""
    return f"{THUMBNAIL_DIR}/{slug}.dark.webp"


def add_dark_thumbnail(files: Any, config: Any, res: dict[str, Any], entry: Path, thumb: str,
                       slug: str, file_cls: Any) -> None:
    """The gallery card's thumbnail in the dark palette, when the recipe drew its asset twice.

    ``file_cls`` is the plugin's ``AssetFile`` (copied as it is, never rendered as a page).
    """
    manifest = Manifest.read(res.get("manifest"))
    out = manifest.output(thumb) if manifest is not None else None
    dark = (out.get("extra") or {}).get("dark") if out is not None else None
    if manifest is None or not isinstance(dark, str) or not manifest.has_file(f"assets/{dark}"):
        return
    try:
        data = make_thumbnail(entry / "assets" / dark)
    except Exception as exc:  # noqa: BLE001 - not an image Pillow reads: the light one stays
        log.warning("%s: no dark gallery thumbnail from %s (%s)", slug, dark, exc)
        return
    files.append(file_cls.generated(config, dark_thumbnail_path(slug), content=data))
