"""mkdocs hook: serve the build's results without copying them into ``content/``.

Registered in ``mkdocs.yml`` (``hooks: [pipeline/site/plugin.py]``). On every (re)build it reads
``build/state`` to find each recipe's last good store entry, registers that entry's assets as
``assets/<slug>/...`` and its executed notebook as ``notebooks/<slug>.md``, expands the pages'
shortcodes, prepends a stale banner when the latest build failed, and appends the provenance box.
Problems are logged as warnings, so ``mkdocs build --strict`` fails on a missing asset.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # mkdocs loads hooks by path; make the package importable
    sys.path.insert(0, str(REPO_ROOT))

from mkdocs.structure.files import File, Files  # noqa: E402

from pipeline.site import extras as site_extras  # noqa: E402
from pipeline.library.errors import HeaderError  # noqa: E402
from pipeline.build.recipes import RECIPE_SUFFIX, Recipe, RecipeHeader, discover_all  # noqa: E402
from pipeline.site.pages import (  # noqa: E402
    REQUIRE_ALL_ENV,
    PageContext,
    divergence_notice,
    expand_shortcodes,
    header_error_banner,
    is_diverged,
    notebook_image_alts,
    provenance_box,
    stale_banner,
    unbuilt_placeholder,
    unlink_unbuilt_assets,
    unusable_result_banner,
)
from pipeline.build.records import Manifest, RecipeState  # noqa: E402
from pipeline.build.store import BuildDir, CorruptEntry  # noqa: E402
from pipeline.site.thumbnails import make_thumbnail, thumbnail_path  # noqa: E402

log = logging.getLogger("mkdocs.plugins.nnx")

_state: dict[str, Any] = {}


class AssetFile(File):
    """A file a build produced, served as it is and never rendered as a documentation page.

    mkdocs decides what a page is from the file name alone (``File.is_documentation_page`` is
    true for every Markdown extension), so a recipe's ``summary.md`` registered as a plain
    ``File`` would be rendered to ``summary/index.html``, listed in the navigation and indexed by
    search. Here that answer is always false: the file is copied byte for byte under its own
    name (``dest_uri == src_uri``), as every other asset is.
    """

    def is_documentation_page(self) -> bool:
        return False


def _build_root() -> Path:
    return Path(os.environ.get("NNX_BUILD_DIR", REPO_ROOT / "build")).resolve()


def on_config(config: Any) -> Any:
    """Collect recipes and their current results once per (re)build."""
    docs = Path(config["docs_dir"]).resolve()
    bdir = BuildDir(_build_root())
    recipes, errors = discover_all(docs)
    for err in errors:
        log.warning("%s", err)
    results = {}
    for r in recipes:
        results[r.slug] = {"recipe": r, **_current_result(bdir, r.slug)}
    for err in errors:
        # A recipe whose header no longer parses keeps its page and last good result online,
        # marked as such, until the header is fixed (it is the author's typo, not the reader's).
        stand_in = _recipe_from_last_result(bdir, docs, err)
        if stand_in is not None and stand_in.slug not in results:
            res = _current_result(bdir, stand_in.slug)
            res["header_error"] = err.detail
            results[stand_in.slug] = {"recipe": stand_in, **res}
    _state.clear()
    _state.update(results=results, docs=docs, bdir=bdir)
    if config.get("watch") is not None and bdir.root.exists():
        # `mkdocs serve` reloads when a build publishes new results.
        state_dir = str(bdir.state_dir)
        if bdir.state_dir.exists() and state_dir not in config["watch"]:
            config["watch"].append(state_dir)
    site_extras.configure_nav(config, results, docs)
    return config


def _current_result(bdir: BuildDir, slug: str) -> dict[str, Any]:
    """The state and verified current entry of ``slug`` (``problem`` says why none is served)."""
    state = bdir.read_state(slug)
    entry = manifest = problem = None
    key = state.current
    if key:
        # Verified on every (re)build: a truncated, edited or incomplete entry is never served.
        try:
            manifest = Manifest.from_dict(bdir.verify_entry(bdir.entry_dir(slug, key), key))
            entry = bdir.entry_dir(slug, key)
        except CorruptEntry as exc:
            problem = str(exc)
            log.warning("not serving the stored result of %r: %s; rebuild it with "
                        "`python -m pipeline build --only %s`", slug, exc, slug)
    return {"state": state, "entry": entry, "manifest": manifest, "problem": problem}


def _recipe_from_last_result(bdir: BuildDir, docs: Path, err: HeaderError) -> Recipe | None:
    """A stand-in for a recipe with a broken header, from its last good manifest (if any)."""
    path = docs / err.path
    if not path.name.endswith(RECIPE_SUFFIX):
        return None
    slug = path.name[: -len(RECIPE_SUFFIX)]
    key = bdir.read_state(slug).current
    if not key:
        return None
    try:
        manifest = Manifest.from_dict(bdir.verify_entry(bdir.entry_dir(slug, key), key))
    except CorruptEntry:
        return None
    header = RecipeHeader.from_manifest(manifest, slug, path.parent.name)
    page = path.with_name(slug + ".md")
    return Recipe(slug=slug, path=path, page=page if page.is_file() else None, header=header,
                  content_root=docs)


def on_files(files: Files, config: Any) -> Files:
    """Register each recipe's assets and notebook page from its (verified) store entry.

    Only files listed in the entry's manifest are registered, so nothing placed in the store by
    hand reaches the site. Only the notebook's ``<slug>.md`` becomes a page; every other file
    (a recipe's ``.md`` or ``.html`` asset included) is an :class:`AssetFile`, copied as it is.
    """
    for slug, res in _state.get("results", {}).items():
        entry: Path | None = res["entry"]
        if entry is None:
            continue
        thumb = res["recipe"].header.thumbnail
        if thumb and res["manifest"].has_file(f"assets/{thumb}"):
            try:
                data = make_thumbnail(entry / "assets" / thumb)
            except Exception as exc:  # not an image Pillow reads: the card shows the asset
                log.warning("%s: no gallery thumbnail from %s (%s)", slug, thumb, exc)
            else:
                files.append(AssetFile.generated(config, thumbnail_path(slug), content=data))
                site_extras.add_dark_thumbnail(files, config, res, entry, thumb, slug,
                                               AssetFile)
        for rel in sorted(res["manifest"].files):
            path = entry / rel
            if rel.startswith("assets/"):
                name = rel[len("assets/"):]
                if name != "outputs.json":
                    files.append(AssetFile.generated(config, f"assets/{slug}/{name}",
                                                     abs_src_path=str(path)))
                continue
            if not rel.startswith("notebook/"):
                continue
            name = rel[len("notebook/"):]
            if name == f"{slug}.md":
                title = res["manifest"].title or slug
                text = (f"---\ntitle: 'Notebook: {title}'\nsearch:\n  exclude: false\n---\n\n"
                        f"# Notebook: {title}\n\nThe recipe `{res['recipe'].rel_path}` as executed "
                        f"by the `{res['manifest'].profile}` build, with its outputs. "
                        f"[Download the executed notebook]({slug}.ipynb).\n\n"
                        + notebook_image_alts(path.read_text(encoding="utf-8"),
                                              res["manifest"].outputs,
                                              size_of=_image_size_in(path.parent)))
                files.append(File.generated(config, f"notebooks/{name}", content=text))
            else:
                files.append(AssetFile.generated(config, f"notebooks/{name}",
                                                 abs_src_path=str(path)))
    site_extras.add_build_report(files, config)
    return files


def _image_size_in(folder: Path) -> Any:
    """``src -> (width, height)`` of an image under ``folder`` (None if unknown or outside)."""

    def size_of(src: str) -> tuple[int, int] | None:
        path = (folder / src).resolve()
        if not path.is_relative_to(folder.resolve()) or not path.is_file():
            return None
        try:
            from PIL import Image

            with Image.open(path) as im:
                return im.size
        except Exception:  # noqa: BLE001 - SVG or unreadable: the browser sizes it on load
            return None

    return size_of


def _page_slug(page: Any) -> str | None:
    meta_slug = page.meta.get("recipe") if getattr(page, "meta", None) else None
    if meta_slug:
        return str(meta_slug)
    src = page.file.src_uri
    if src.endswith(".md"):
        stem = src.rsplit("/", 1)[-1][:-3]
        if stem in _state.get("results", {}):
            return stem
    return None


def _gallery_entries() -> list[dict[str, Any]]:
    entries = []
    for slug, res in _state.get("results", {}).items():
        recipe = res["recipe"]
        m = res["manifest"] or Manifest()
        timings = m.timings
        data = "; ".join(d.get("dataset", "") + (" (subset)" if d.get("subset") else "")
                         for d in m.data)
        thumb = recipe.header.thumbnail
        thumb_out = m.output(thumb) if thumb else None
        thumb_alt = thumb_out.get("alt") if thumb_out is not None else None
        entries.append({
            "slug": slug, "title": recipe.header.title, "description": recipe.header.description,
            "seed_article": recipe.header.seed_article, "profile": m.profile,
            "train_seconds": timings.get("train"), "build_seconds": timings.get("execute"),
            "data": data, "order": recipe.header.order, "thumb_alt": thumb_alt,
            "stale": res["state"].stale,
            "diverged": is_diverged(m),
        })
    return sorted(entries, key=lambda e: (e["order"], e["slug"]))


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Expand shortcodes; add the stale banner and the provenance box to explainer pages."""
    if site_extras.is_build_report(page):
        return site_extras.build_report_markdown(_state.get("results", {}), _state["docs"], page,
                                                 files)
    slug = _page_slug(page)
    res = _state.get("results", {}).get(slug) if slug else None

    def url_for(name: str) -> str | None:
        f = files.get_file_from_path(f"assets/{slug}/{name}")
        return f.url_relative_to(page.file) if f else None

    def path_for(name: str) -> str | None:
        f = files.get_file_from_path(f"assets/{slug}/{name}")
        return f.abs_src_path if f else None

    notebook_file = files.get_file_from_path(f"notebooks/{slug}.md") if slug else None
    gallery_urls: dict[str, str] = {}
    thumbs: dict[str, str | None] = {}
    thumbs_dark: dict[str, str] = {}
    for s, r in _state.get("results", {}).items():
        if r["recipe"].page is not None:
            rel = r["recipe"].page.relative_to(_state["docs"]).as_posix()
            target = files.get_file_from_path(rel)
            if target:
                gallery_urls[s] = target.url_relative_to(page.file)
        thumb = r["recipe"].header.thumbnail
        tf = files.get_file_from_path(thumbnail_path(s)) or (
            files.get_file_from_path(f"assets/{s}/{thumb}") if thumb else None)
        thumbs[s] = tf.url_relative_to(page.file) if tf else None
        dark_tf = files.get_file_from_path(site_extras.dark_thumbnail_path(s))
        if dark_tf and tf:
            thumbs_dark[s] = dark_tf.url_relative_to(page.file)
    ctx = PageContext(
        slug=slug,
        manifest=res["manifest"] if res else None,
        state=res["state"] if res else RecipeState(),
        url_for=url_for,
        path_for=path_for,
        notebook_url=notebook_file.url_relative_to(page.file) if notebook_file else None,
        page=page.file.src_uri,
        gallery=_gallery_entries(),
        gallery_urls=gallery_urls,
        thumb_urls=thumbs,
        unbuilt_ok=res is not None and _unbuilt(res) and not _require_all(config),
        thumb_dark_urls=thumbs_dark,
    )
    if res is None and "{{" not in markdown:
        return markdown
    out = expand_shortcodes(markdown, ctx)
    if ctx.unbuilt_ok:
        out = unlink_unbuilt_assets(out, slug)
    for warning in ctx.warnings:
        log.warning("%s: %s", page.file.src_uri, warning)
    if res is None:
        return out
    if _unbuilt(res) and not ctx.unbuilt_ok:
        log.warning("%s: recipe %r has not been built; run `python -m pipeline build --only %s`",
                    page.file.src_uri, slug, slug)
    banners = [stale_banner(ctx.state, ctx.manifest), divergence_notice(ctx.manifest)]
    if ctx.unbuilt_ok:
        banners.append(unbuilt_placeholder(slug))
    if res.get("header_error"):
        banners.insert(0, header_error_banner(res["recipe"].rel_path, res["header_error"]))
    if res.get("problem"):
        banners.insert(0, unusable_result_banner(slug, res["problem"]))
    banner = "\n".join(b for b in banners if b)
    if banner:
        out = _after_title(out, banner)
    if ctx.notebook_url and "notebook_link(" not in markdown:
        out = out.rstrip() + "\n\n" + expand_shortcodes("{{ notebook_link() }}", ctx) + "\n"
    if ctx.manifest and "provenance(" not in markdown:
        out = out.rstrip() + "\n\n" + provenance_box(ctx.manifest)
    return out


def _unbuilt(res: dict[str, Any]) -> bool:
    """True for a recipe that was never built (not failed, not damaged: simply no result)."""
    return res["manifest"] is None and not res.get("problem") and not res["state"].stale


def _require_all(config: Any) -> bool:
    """Full builds demand every recipe: ``NNX_REQUIRE_ALL=1`` or ``extra.nnx_require_all``."""
    from pipeline.build.cache import env_flag

    extra = config.get("extra") or {}
    return env_flag(REQUIRE_ALL_ENV) or bool(extra.get("nnx_require_all"))


def _after_title(markdown: str, block: str) -> str:
    """Insert ``block`` after the page's first ``# Title`` line (or at the top)."""
    lines = markdown.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("# "):
            return "".join(lines[: i + 1]) + "\n" + block + "\n" + "".join(lines[i + 1 :])
    return block + "\n" + markdown


def on_post_build(config: Any) -> None:
    """Fail when the site breaks GitHub Pages' limits; warn about pages over the budget."""
    site_extras.check_hosting_limits(config, log)
