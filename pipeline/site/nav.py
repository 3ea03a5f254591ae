"""The site's navigation: the learning path, not the alphabet.

mkdocs without a ``nav:`` lists folders alphabetically (Basics, Cifar, Inside, Notebooks,
Replay) and every generated notebook page with them. Readers are meant to go basics -> replay
-> inside -> CIFAR-10, and reach a notebook from its explainer. So the navigation is built here
from the recipes' sections and ``order`` headers, with the section order and titles from
the plugin's ``learning_path`` option in ``mkdocs.yml``; a new explainer appears in its
section without editing the navigation by hand. Pure functions: tested without mkdocs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The page the build report is generated as (``pipeline/site/build_report.py``).
BUILD_REPORT_PAGE = "build-report.md"
BUILD_REPORT_TITLE = "How this site was built"


@dataclass(frozen=True)
class NavPage:
    """One explainer page: its section folder, order, title and path under ``docs_dir``."""

    section: str
    order: int
    title: str
    path: str


def parse_learning_path(raw: Any) -> list[tuple[str, str]]:
    """The ``learning_path`` option as ``[(section, title), ...]``; a clear error names the entry.

    Accepted: a list of ``{section: basics, title: "Basics"}`` mappings.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("learning_path must be a list of "
                         "{section: <folder>, title: <nav title>} entries")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or "section" not in item or "title" not in item:
            raise ValueError(f"learning_path[{i}] = {item!r}: each entry needs "
                             "'section' (a folder of content/) and 'title'")
        out.append((str(item["section"]), str(item["title"])))
    return out


def learning_path_nav(
    pages: Iterable[NavPage],
    path: Sequence[tuple[str, str]],
    *,
    home: str | None = "index.md",
    extra_pages: Iterable[str] = (),
    build_report: bool = True,
) -> list[Any]:
    """A mkdocs ``nav`` list: home, one section per learning-path step, the build report.

    Sections in ``path`` come first in that order with their titles; sections not listed follow
    alphabetically with their folder name capitalised. Inside a section pages sort by
    (order, title). ``extra_pages`` (other Markdown pages under ``docs_dir``, not notebooks)
    join the section of their folder, or the top level.
    """
    titles = dict(path)
    by_section: dict[str, list[NavPage]] = {}
    for p in pages:
        by_section.setdefault(p.section, []).append(p)
    loose: list[str] = []
    for extra in extra_pages:
        folder = extra.rsplit("/", 1)[0] if "/" in extra else ""
        if folder and "/" not in folder:
            stem = extra.rsplit("/", 1)[-1][:-3]
            by_section.setdefault(folder, []).append(NavPage(folder, 10_000, stem, extra))
        else:
            loose.append(extra)
    known = [s for s, _ in path if s in by_section]
    rest = sorted(s for s in by_section if s not in titles)
    nav: list[Any] = []
    if home:
        nav.append({"Explainers": home})
    for section in [*known, *rest]:
        entries = sorted(by_section[section], key=lambda p: (p.order, p.title))
        title = titles.get(section) or section.replace("-", " ").capitalize()
        nav.append({title: [{p.title: p.path} for p in entries]})
    nav.extend(sorted(loose))
    if build_report:
        nav.append({BUILD_REPORT_TITLE: BUILD_REPORT_PAGE})
    return nav
