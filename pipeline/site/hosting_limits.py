"""GitHub Pages' limits, checked on the built site before anyone tries to publish it.

GitHub Pages refuses files over 100 MB and sites over 1 GB; a deploy that breaks them fails on
GitHub's side, minutes later and with a vaguer message. So ``mkdocs build`` (the plugin's
``on_post_build``) measures ``site/`` and fails with the file or the total named and what to do.
``mkdocs serve`` (and ``python -m pipeline serve``) only warns, in the log and on the page that
owns the file (:func:`hosting_banner`): ending an author's preview because one recipe wrote a
file too big would hide the very page that says so; ``mkdocs build``, ``--strict`` or not, and
the deploy still fail.
A page whose first load (its HTML plus the local CSS, scripts and images it references without
``loading="lazy"``, and the replay data its scripts fetch at once) passes a budget (2 MB by default, the plugin's
``hosting.page_budget_mb`` in ``mkdocs.yml``) gets a warning: readers on slow connections pay for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipeline.site.errors import HostingLimitError

MB = 1_000_000
#: https://docs.github.com/en/pages/getting-started-with-github-pages/github-pages-limits
MAX_FILE_BYTES = 100 * MB
MAX_SITE_BYTES = 1_000 * MB
DEFAULT_PAGE_BUDGET_MB = 2.0


@dataclass(frozen=True)
class SiteSize:
    total: int
    largest: list[tuple[str, int]]  # (path relative to site/, bytes), largest first


def measure(site: Path, top: int = 5) -> SiteSize:
    """Total bytes of ``site`` and its ``top`` largest files."""
    sizes = [(p.relative_to(site).as_posix(), p.stat().st_size)
             for p in site.rglob("*") if p.is_file() and not p.is_symlink()]
    sizes.sort(key=lambda kv: -kv[1])
    return SiteSize(sum(n for _, n in sizes), sizes[:top])


def file_problem(rel: str, size: int, max_file: int = MAX_FILE_BYTES) -> str:
    """The sentence for one file over the per-file limit (the build error and the page say it)."""
    return (f"{rel} is {size / MB:,.1f} MB; GitHub Pages refuses files over {max_file / MB:,.0f} "
            "MB. Make the recipe write it smaller (fewer frames, lower resolution, a thinned "
            "replay file).")


def oversized(files: Iterable[tuple[str, int]], max_file: int = MAX_FILE_BYTES
              ) -> list[tuple[str, int]]:
    """``(name, bytes)`` of the files over ``max_file``, largest first."""
    return sorted(((rel, n) for rel, n in files if n > max_file), key=lambda kv: -kv[1])


def hosting_banner(problems: list[str]) -> str:
    """A warning for the top of a page whose files break GitHub Pages' limits (empty if none).

    Shown by the preview (``mkdocs serve``), which keeps serving; the site build stops on the
    same problems, so the page says that publishing will fail until they are fixed.
    """
    if not problems:
        return ""
    items = "\n".join(f"    - {p}" for p in problems)
    return ('!!! danger "Over GitHub Pages\' limits: this site cannot be published yet"\n'
            "    The preview shows this page anyway; `mkdocs build` (with or without "
            "`--strict`) and the deploy (`nox -s deploy`) fail until every file fits.\n\n"
            f"{items}\n")


def check_hard_limits(site: Path, max_file: int = MAX_FILE_BYTES,
                      max_site: int = MAX_SITE_BYTES) -> SiteSize:
    """Raise :class:`HostingLimitError` naming every offending file, or the site total."""
    size = measure(site, top=10)
    too_big = [(p, n) for p in site.rglob("*") if p.is_file() and not p.is_symlink()
               for n in [p.stat().st_size] if n > max_file]
    problems = []
    for path, n in sorted(too_big, key=lambda kv: -kv[1]):
        problems.append(file_problem(path.relative_to(site).as_posix(), n, max_file))
    if size.total > max_site:
        biggest = ", ".join(f"{p} ({n / MB:,.1f} MB)" for p, n in size.largest[:5])
        problems.append(f"the site is {size.total / MB:,.1f} MB; GitHub Pages publishes at most "
                        f"{max_site / MB:,.0f} MB. Largest files: {biggest}.")
    if problems:
        raise HostingLimitError(f"{site} does not fit GitHub Pages:\n  - " + "\n  - ".join(problems))
    return size


_REF_RE = re.compile(
    r"<(link|script|img|video|source|iframe|div|figure)\b([^>]*)>", re.IGNORECASE | re.DOTALL)
_ATTR_RE = re.compile(r"""(?<![\w-])(href|src|poster|rel|loading|preload|data-nnx-replay|"""
                      r"""data-nnx-frames)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


def first_load_refs(html_text: str) -> list[str]:
    """Local URLs a browser fetches when it opens the page (without scrolling or playing).

    Stylesheets, scripts, eager images and video posters count, and so do the data files the
    page scripts fetch at once: a live replay's index (``data-nnx-replay``, whose binary file
    :func:`page_first_load_bytes` adds) and a scrubber's frame index (``data-nnx-frames``).
    Lazy images, deferred embeds (``data-nnx-src``), images whose ``src`` the palette script
    sets (``data-nnx-light``) and video sources with ``preload="none"``/``"metadata"`` (the
    metadata is small) do not.
    """
    refs = []
    for tag, attrs_text in _REF_RE.findall(html_text):
        attrs = {k.lower(): v for k, v in _ATTR_RE.findall(attrs_text)}
        tag = tag.lower()
        if tag == "link" and "stylesheet" in attrs.get("rel", "") and attrs.get("href"):
            refs.append(attrs["href"])
        elif tag == "script" and attrs.get("src"):
            refs.append(attrs["src"])
        elif tag == "img" and attrs.get("src") and attrs.get("loading", "").lower() != "lazy":
            refs.append(attrs["src"])
        elif tag == "video" and attrs.get("poster"):
            refs.append(attrs["poster"])
        elif tag == "div" and attrs.get("data-nnx-replay"):
            refs.append(attrs["data-nnx-replay"])
        elif tag == "figure" and attrs.get("data-nnx-frames"):
            refs.append(attrs["data-nnx-frames"])
    return [r for r in refs if r and not urlsplit(r).scheme and not r.startswith(("//", "data:"))]


def page_first_load_bytes(site: Path, page: Path) -> int:
    """The page's HTML plus the local files :func:`first_load_refs` finds (each once), and the
    binary file each live replay's index names (``"bin"``, fetched with it)."""
    text = page.read_text(encoding="utf-8", errors="replace")
    total = page.stat().st_size
    root = site.resolve()
    seen: set[Path] = set()

    def add(target: Path) -> bool:
        nonlocal total
        target = target.resolve()
        if target in seen or not target.is_file() or not target.is_relative_to(root):
            return False
        seen.add(target)
        total += target.stat().st_size
        return True

    for ref in first_load_refs(text):
        path = unquote(urlsplit(ref).path)
        target = (site / path.lstrip("/")) if path.startswith("/") else (page.parent / path)
        if add(target) and target.suffix == ".json":
            binary = _replay_binary(target)
            if binary is not None:
                add(target.parent / binary)
    return total


def _replay_binary(index: Path) -> str | None:
    """The relative name of the binary file a replay index fetches, if ``index`` is one."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("bin") if isinstance(data, dict) else None
    if not isinstance(name, str) or urlsplit(name).scheme or name.startswith(("/", "//")):
        return None
    return unquote(urlsplit(name).path)


def pages_over_budget(site: Path, budget_mb: float = DEFAULT_PAGE_BUDGET_MB,
                      pages: Iterable[Path] | None = None) -> list[tuple[str, int]]:
    """``(page, first-load bytes)`` for every HTML page over ``budget_mb``, heaviest first."""
    limit = budget_mb * MB
    found = []
    for page in pages if pages is not None else site.rglob("*.html"):
        n = page_first_load_bytes(site, page)
        if n > limit:
            found.append((page.relative_to(site).as_posix(), n))
    return sorted(found, key=lambda kv: -kv[1])
