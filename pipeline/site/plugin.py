"""The ``nn-explainers`` mkdocs plugin: serve the build's results without copying them.

Registered by entry point (``pyproject.toml``, ``[project.entry-points."mkdocs.plugins"]``) and
named in ``mkdocs.yml`` under ``plugins:``, with its options (:class:`ExplainersConfig`). On
every (re)build it reads the build store's state to find each recipe's last good entry,
registers that entry's assets as ``assets/<slug>/...`` and its executed notebook as
``notebooks/<slug>.md``, expands the pages' shortcodes, prepends a stale banner when the latest
build failed, and appends the provenance box. Problems are logged as warnings, so
``mkdocs build --strict`` fails on a missing asset.

Everything one build knows lives on the plugin instance and is replaced in ``on_config``, so
the rebuilds of ``mkdocs serve`` never see the previous build's recipes or results.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import ConfigurationError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from pipeline.builder.recipes import RECIPE_SUFFIX, Recipe, RecipeHeader, discover_all
from pipeline.builder.records import Manifest, RecipeState
from pipeline.builder.store import BuildDir, CorruptEntry
from pipeline.library.errors import HeaderError
from pipeline.library.palette import variant_name
from pipeline.site import extras as site_extras
from pipeline.site import page_assets
from pipeline.site.article_comparison import (
    Claim,
    ClaimError,
    page_table,
    parse_claims,
    read_page_meta,
    rows_for,
)
from pipeline.site.config import ExplainersConfig, moved_extra_options
from pipeline.site.errors import SvgRejected
from pipeline.site.hosting_limits import MB, file_problem, hosting_banner, oversized
from pipeline.site.notebook_page import NotebookPage, export_page, read_notebook
from pipeline.site.pages import (
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
from pipeline.site.profile_notes import profile_sentence
from pipeline.site.render import render
from pipeline.site.sanitize import describe
from pipeline.site.sanitize_svg import sanitize_svg
from pipeline.site.thumbnails import make_thumbnail, thumbnail_path

log = logging.getLogger("mkdocs.plugins.nnx")


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


class ExplainersPlugin(BasePlugin[ExplainersConfig]):
    """The site's mkdocs events; its options are :class:`pipeline.site.config.ExplainersConfig`."""

    def __init__(self) -> None:
        self._reset(Path("content"), None)
        #: exported notebook pages by (stored notebook, size, mtime, withheld cells)
        self._notebook_pages: dict[tuple[str, int, int, int | None], NotebookPage] = {}
        #: ``mkdocs serve``: hosting limits warn (log and page) instead of ending the preview.
        self.serving = False

    def on_startup(self, *, command: str, dirty: bool) -> None:
        """Note whether this is a preview (``serve``) or a build (``build``, ``gh-deploy``)."""
        self.serving = command == "serve"

    def _reset(self, docs: Path, bdir: BuildDir | None) -> None:
        """Forget the previous build: one (re)build's recipes and results only."""
        #: slug -> {"recipe", "state", "entry", "manifest", "problem"[, "header_error"]}
        self.results: dict[str, dict[str, Any]] = {}
        self.docs = docs
        self.bdir = bdir

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        """Collect recipes and their current results once per (re)build."""
        moved = moved_extra_options(config.get("extra"))
        if moved:
            raise ConfigurationError("\n".join(moved))
        docs = Path(config["docs_dir"]).resolve()
        bdir = BuildDir(Path(self.config.build_dir).resolve())
        self._reset(docs, bdir)
        recipes, errors = discover_all(docs)
        for err in errors:
            log.warning("%s", err)
        results = {}
        for r in recipes:
            results[r.slug] = {"recipe": r, **_current_result(bdir, r.slug),
                               "claims": _article_claims(r, docs)}
        for err in errors:
            # A recipe whose header no longer parses keeps its page and last good result
            # online, marked as such, until the header is fixed (it is the author's typo, not
            # the reader's).
            stand_in = _recipe_from_last_result(bdir, docs, err)
            if stand_in is not None and stand_in.slug not in results:
                res = _current_result(bdir, stand_in.slug)
                res["header_error"] = err.detail
                results[stand_in.slug] = {"recipe": stand_in, **res}
        self.results = results
        if config.get("watch") is not None and bdir.root.exists():
            # `mkdocs serve` reloads when a build publishes new results.
            state_dir = str(bdir.state_dir)
            if bdir.state_dir.exists() and state_dir not in config["watch"]:
                config["watch"].append(state_dir)
        site_extras.configure_nav(config, results, docs, self.config.learning_path)
        page_assets.inject(config)
        return config

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        """Register each recipe's assets and notebook page from its (verified) store entry.

        Only files listed in the entry's manifest are registered, so nothing placed in the
        store by hand reaches the site. Only the notebook's ``<slug>.md`` becomes a page; every
        other file (a recipe's ``.md`` or ``.html`` asset included) is an :class:`AssetFile`,
        copied as it is.
        """
        for slug, res in self.results.items():
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
                if rel.startswith("assets/"):
                    name = rel[len("assets/"):]
                    if name.lower().endswith(".svg"):
                        self._add_svg_asset(files, config, f"assets/{slug}/{name}", entry / rel)
                    elif name != "outputs.json":
                        files.append(AssetFile.generated(config, f"assets/{slug}/{name}",
                                                         abs_src_path=str(entry / rel)))
            self._add_notebook_page(files, config, slug, res, entry)
        site_extras.add_build_report(files, config)
        page_assets.add_files(files, config, AssetFile)
        return files

    def _add_svg_asset(self, files: Files, config: MkDocsConfig, uri: str, path: Path) -> None:
        """Publish a recipe's SVG cleaned (:mod:`pipeline.site.sanitize_svg`): opened directly
        it is a document of the site's origin. What was removed is a warning naming the file;
        a file that cannot be cleaned is not published (a page that shows it then warns too)."""
        try:
            clean = sanitize_svg(path.read_bytes())
        except SvgRejected as exc:
            log.warning("%s: not published: %s", uri, exc)
            return
        if clean.changed:
            log.warning("%s: removed %s", uri, describe(clean.removed))
        files.append(AssetFile.generated(config, uri, content=clean.data))

    def _add_notebook_page(self, files: Files, config: MkDocsConfig, slug: str,
                           res: dict[str, Any], entry: Path) -> None:
        """Register ``notebooks/<slug>.md``, its images and its download, exported now from the
        entry's stored notebook (:mod:`pipeline.site.notebook_page`); what the export removed
        is a warning naming the cell."""
        manifest: Manifest = res["manifest"]
        stored = f"notebook/{slug}.ipynb"
        if not manifest.has_file(stored):
            return
        page = self._exported(entry / stored, slug, manifest)
        for message in page.removed:
            log.warning("notebooks/%s.md: %s", slug, message)
        for message in page.notes:
            log.info("notebooks/%s.md: %s", slug, message)
        if page.withheld:
            log.info("notebooks/%s.md: %d picture(s) withheld: drawn after training diverged",
                     slug, page.withheld)
        page_dir = f"notebooks/{slug}/" if config["use_directory_urls"] else "notebooks/"
        files.append(File.generated(config, f"notebooks/{slug}.md",
                                    content=_notebook_page(slug, res, page, page_dir)))
        for rel, data in sorted(page.files.items()):
            files.append(AssetFile.generated(config, f"notebooks/{rel}", content=data))
        files.append(AssetFile.generated(config, f"notebooks/{slug}.ipynb", content=page.download))

    def _exported(self, path: Path, slug: str, manifest: Manifest) -> NotebookPage:
        """:func:`export_page` of a stored notebook, kept while the file is unchanged (the
        rebuilds of ``mkdocs serve`` export only what a build replaced)."""
        st = path.stat()
        untrusted = manifest.status.untrusted_from_cell
        key = (str(path), st.st_size, st.st_mtime_ns, untrusted)
        page = self._notebook_pages.get(key)
        if page is None:
            folder = path.parent

            def stored(rel: str) -> bytes | None:
                target = folder / rel
                ok = manifest.has_file(f"notebook/{rel}") and target.is_file()
                return target.read_bytes() if ok else None

            page = export_page(read_notebook(path.read_bytes()), slug,
                               untrusted_from_cell=untrusted, stored=stored)
            self._notebook_pages[key] = page
        return page

    def _page_slug(self, page: Page) -> str | None:
        meta_slug = page.meta.get("recipe") if getattr(page, "meta", None) else None
        if meta_slug:
            return str(meta_slug)
        src = page.file.src_uri
        if src.endswith(".md"):
            stem = src.rsplit("/", 1)[-1][:-3]
            if stem in self.results:
                return stem
        return None

    def _gallery_entries(self) -> list[dict[str, Any]]:
        entries = []
        for slug, res in self.results.items():
            recipe = res["recipe"]
            m = res["manifest"] or Manifest()
            timings = m.timings
            data = "; ".join(d.get("dataset", "") + (" (subset)" if d.get("subset") else "")
                             for d in m.data)
            thumb = recipe.header.thumbnail
            thumb_out = m.output(thumb) if thumb else None
            thumb_alt = thumb_out.get("alt") if thumb_out is not None else None
            entries.append({
                "slug": slug, "title": recipe.header.title,
                "description": recipe.header.description,
                "seed_article": recipe.header.seed_article, "profile": m.profile,
                "train_seconds": timings.get("train"), "build_seconds": timings.get("execute"),
                "data": data, "order": recipe.header.order, "thumb_alt": thumb_alt,
                "stale": res["state"].stale,
                "diverged": is_diverged(m),
            })
        return sorted(entries, key=lambda e: (e["order"], e["slug"]))

    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig,
                         files: Files) -> str:
        """Expand shortcodes; add the stale banner and the provenance box to explainer pages."""
        if site_extras.is_build_report(page):
            return site_extras.build_report_markdown(self.results, self.docs, page, files)
        slug = self._page_slug(page)
        res = self.results.get(slug) if slug else None

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
        for s, r in self.results.items():
            if r["recipe"].page is not None:
                rel = r["recipe"].page.relative_to(self.docs).as_posix()
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
            gallery=self._gallery_entries(),
            gallery_urls=gallery_urls,
            thumb_urls=thumbs,
            unbuilt_ok=res is not None and _unbuilt(res) and not self.config.require_all,
            thumb_dark_urls=thumbs_dark,
        )
        if res is None and "{{" not in markdown:
            return markdown
        if slug is not None and page.file.src_uri == f"notebooks/{slug}.md":
            # A notebook page is code and outputs, not prose: a "{{ ... }}" a cell prints is
            # text, never a shortcode; it keeps its recipe's provenance box.
            if ctx.manifest is None:
                return markdown
            return markdown.rstrip() + "\n\n" + provenance_box(ctx.manifest)
        out = expand_shortcodes(markdown, ctx)
        if ctx.unbuilt_ok and slug:  # unbuilt_ok implies a result, found by slug
            out = unlink_unbuilt_assets(out, slug)
        for warning in ctx.warnings:
            log.warning("%s: %s", page.file.src_uri, warning)
        if res is None or slug is None:  # (a result implies a slug)
            return out
        if _unbuilt(res) and not ctx.unbuilt_ok:
            log.warning("%s: recipe %r has not been built; run "
                        "`python -m pipeline build --only %s`", page.file.src_uri, slug, slug)
        banners = [self._hosting_banner(slug, res),
                   profile_sentence(ctx.manifest.profile if ctx.manifest else None),
                   stale_banner(ctx.state, ctx.manifest), divergence_notice(ctx.manifest)]
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
        if res.get("claims"):
            out = (out.rstrip() + "\n\n## This explainer against its article\n\n"
                   + page_table(rows_for(res["claims"], ctx.manifest)))
        if ctx.manifest is not None and "provenance(" not in markdown:
            out = out.rstrip() + "\n\n" + provenance_box(ctx.manifest)
        return out

    def _hosting_banner(self, slug: str, res: dict[str, Any]) -> str:
        """The page's warning about its own files over GitHub Pages' per-file limit."""
        manifest: Manifest | None = res.get("manifest")
        if manifest is None:
            return ""
        max_file = int(self.config.hosting.max_file_mb * MB)
        sizes = [(f"assets/{slug}/{rel[len('assets/'):]}", int(facts.get("bytes") or 0))
                 for rel, facts in manifest.files.items()
                 if rel.startswith("assets/") and isinstance(facts, dict)]
        return hosting_banner([file_problem(rel, n, max_file)
                               for rel, n in oversized(sizes, max_file)])

    def on_post_build(self, config: MkDocsConfig) -> None:
        """Fail when the site breaks GitHub Pages' limits (warn when serving); warn about pages
        over the budget."""
        site_extras.check_hosting_limits(Path(config["site_dir"]), self.config.hosting, log,
                                         serving=self.serving)


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


def _article_claims(recipe: Recipe, docs: Path) -> list[Claim]:
    """The claims in the recipe page's front matter; a malformed entry is a warning (strict
    builds fail) and the page shows no comparison rather than a wrong one."""
    if recipe.page is None:
        return []
    rel = recipe.page.relative_to(docs).as_posix() if recipe.page.is_relative_to(docs) \
        else str(recipe.page)
    try:
        return parse_claims(read_page_meta(recipe.page), rel)
    except (ClaimError, OSError) as exc:
        log.warning("%s", exc)
        return []


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


def _notebook_page(slug: str, res: dict[str, Any], page: NotebookPage, page_dir: str) -> str:
    """The page of the executed notebook: a heading, a download link, then the notebook.

    ``page_dir`` is the folder of the page's URL (``notebooks/<slug>/`` with directory URLs):
    a palette-aware image is raw HTML, which mkdocs does not rewrite.
    """
    manifest: Manifest = res["manifest"]
    return render("notebook_page.md", title=manifest.title or slug,
                  recipe_path=res["recipe"].rel_path, profile=manifest.profile,
                  slug=slug,
                  notebook=notebook_image_alts(page.markdown, manifest.outputs,
                                               size_of=_image_size_in(page.files),
                                               dark_of=_dark_twin_in(slug, manifest, page.files,
                                                                     page_dir)))


def _dark_twin_in(slug: str, manifest: Manifest, files: dict[str, bytes], page_dir: str
                  ) -> Callable[[str, str | None], tuple[str, str] | None]:
    """``(src, saved name) -> (light URL, dark URL)`` of a notebook image with a dark twin.

    A figure saved with ``save_figure`` pairs with the recipe's ``<name>.dark.png`` asset (when
    the store entry lists it); any other image with the ``.dark.png`` the kernel drew for it
    (``notebook_page.dark_twins``). URLs are relative to the page's URL folder.
    """
    dark_assets = {o.get("name"): (o.get("extra") or {}).get("dark") for o in manifest.outputs}

    def dark_of(src: str, saved: str | None) -> tuple[str, str] | None:
        light_path = posixpath.normpath(posixpath.join("notebooks", src))
        if not light_path.startswith("notebooks/") or src not in files:
            return None
        light = posixpath.relpath(light_path, page_dir)
        dark_asset = dark_assets.get(saved) if saved else None
        if dark_asset and manifest.has_file(f"assets/{dark_asset}"):
            return light, posixpath.relpath(f"assets/{slug}/{dark_asset}", page_dir)
        twin = variant_name(src, "dark")
        if twin in files:
            return light, posixpath.relpath(posixpath.join("notebooks", twin), page_dir)
        return None

    return dark_of


def _image_size_in(files: dict[str, bytes]) -> Callable[[str], tuple[int, int] | None]:
    """``src -> (width, height)`` of an exported image (None if unknown)."""

    def size_of(src: str) -> tuple[int, int] | None:
        data = files.get(src)
        if data is None:
            return None
        try:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                return im.size
        except Exception:  # noqa: BLE001 - SVG or unreadable: the browser sizes it on load
            return None

    return size_of


def _unbuilt(res: dict[str, Any]) -> bool:
    """True for a recipe that was never built (not failed, not damaged: simply no result)."""
    return res["manifest"] is None and not res.get("problem") and not res["state"].stale


def _after_title(markdown: str, block: str) -> str:
    """Insert ``block`` after the page's first ``# Title`` line (or at the top)."""
    lines = markdown.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("# "):
            return "".join(lines[: i + 1]) + "\n" + block + "\n" + "".join(lines[i + 1 :])
    return block + "\n" + markdown
