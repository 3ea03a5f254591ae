"""What the site shows from build results: shortcodes, provenance box, stale banner, gallery.

Pure functions over manifests and states (:mod:`pipeline.builder.records`; a plain dict as read
from JSON is accepted and converted), so they are tested without mkdocs. The mkdocs plugin
(``pipeline/site/plugin.py``) only wires them into mkdocs' events. What they decide is here;
the markup they produce is in ``templates/`` (:mod:`pipeline.site.render`).
"""

from __future__ import annotations

import ast
import contextlib
import logging
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pipeline.builder.records import Failure, FailureKind, Manifest, RecipeState, read_state
from pipeline.library.suggest import did_you_mean
from pipeline.site.errors import ShortcodeError, ShortcodeUsageError, UnsafeInclude
from pipeline.site.render import render
from pipeline.site.render import seconds as _fmt_seconds
from pipeline.site.sanitize import describe, one_block, sanitize

log = logging.getLogger("mkdocs.plugins.nnx")

SHORTCODE_RE = re.compile(r"\{\{\s*([a-z_]+)\((.*?)\)\s*\}\}", re.DOTALL)


@dataclass
class PageContext:
    """What a page's shortcodes can see: its recipe's manifest and a URL resolver.

    ``manifest`` and ``state`` may be given as the dicts read from JSON; they are converted to
    their typed records once, here.
    """

    slug: str | None
    manifest: Manifest | None
    state: RecipeState
    url_for: Callable[[str], str | None]  # asset name -> URL relative to the page, None if absent
    notebook_url: str | None = None
    # asset name -> file on disk (lets figures carry width/height: no layout shift while loading)
    path_for: Callable[[str], str | None] | None = None
    page: str | None = None  # the page's source path, for messages
    gallery: list[dict[str, Any]] = field(default_factory=list)
    gallery_urls: dict[str, str] = field(default_factory=dict)
    thumb_urls: dict[str, str | None] = field(default_factory=dict)
    thumb_dark_urls: dict[str, str] = field(default_factory=dict)  # dark-palette thumbnails
    warnings: list[str] = field(default_factory=list)
    #: an unbuilt recipe may show placeholders instead of warning (not with require_all)
    unbuilt_ok: bool = False

    def __post_init__(self) -> None:
        self.manifest = Manifest.read(self.manifest)
        self.state = read_state(self.state)


def parse_call(args_text: str) -> tuple[list[Any], dict[str, Any]]:
    """Parse ``"a.png", height=600`` as Python literals (no evaluation of code)."""
    try:
        call = ast.parse(f"f({args_text})", mode="eval").body
        assert isinstance(call, ast.Call)
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except (SyntaxError, ValueError, AssertionError) as exc:
        raise ShortcodeError(f"cannot parse shortcode arguments ({args_text!r}): {exc}") from None
    return args, kwargs


def _output(ctx: PageContext, name: str) -> dict[str, Any]:
    out = ctx.manifest.output(name) if ctx.manifest is not None else None
    return out if out is not None else {"name": name, "alt": ""}


def _require_url(ctx: PageContext, name: str) -> str:
    url = ctx.url_for(name)
    if url is None:
        raise ShortcodeError(
            f"asset {name!r} is not among the outputs of recipe {ctx.slug!r}; check the name or "
            f"rebuild with `python -m pipeline build --only {ctx.slug}`"
        )
    return url


def _image_size(ctx: PageContext, name: str | None) -> tuple[int, int] | None:
    """``(width, height)`` of a raster asset, so the page reserves its space before it loads."""
    if not name or ctx.path_for is None:
        return None
    path = ctx.path_for(name)
    if not path:
        return None
    try:
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - SVG or unreadable: the browser sizes it on load
        return None
    return int(w), int(h)


def _dark_url(ctx: PageContext, name: str | None) -> str | None:
    """URL of the dark-palette version of output ``name`` (None: it has only one version)."""
    if not name:
        return None
    dark = (_output(ctx, name).get("extra") or {}).get("dark")
    return ctx.url_for(dark) if isinstance(dark, str) else None


def sc_figure(ctx: PageContext, name: str, caption: str | None = None, width: str | None = None) -> str:
    out = _output(ctx, name)
    url = _require_url(ctx, name)
    poster = out.get("poster")
    still = ((_require_url(ctx, poster), _dark_url(ctx, poster))
             if out.get("kind") == "gif" and poster else None)
    return render("figure.html", url=url, dark_url=_dark_url(ctx, name),
                  alt=out.get("alt") or caption or name, size=_image_size(ctx, name),
                  width=width, caption=caption, still=still)


def sc_video(ctx: PageContext, name: str, caption: str | None = None, scrub: str | None = None) -> str:
    """A deferred video: poster shown, nothing but metadata loaded until the reader plays it."""
    out = _output(ctx, name)
    url = _require_url(ctx, name)
    poster = out.get("poster")
    poster_url = _require_url(ctx, poster) if poster else None
    frames_url = _require_url(ctx, f"{scrub}/index.json") if scrub else None
    return render("video.html", url=url, dark_url=_dark_url(ctx, name),
                  alt=out.get("alt") or name, caption=caption,
                  poster_url=poster_url, poster_dark_url=_dark_url(ctx, poster),
                  size=_image_size(ctx, poster), frames_url=frames_url,
                  frames_dark_url=_dark_url(ctx, f"{scrub}/index.json") if scrub else None)


def _frames_index(ctx: PageContext, name: str) -> dict[str, Any]:
    """A frames folder's ``index.json`` as written by ``Composition.frames``."""
    path = ctx.path_for(f"{name}/index.json") if ctx.path_for else None
    if not path:
        raise ShortcodeError(f"frames {name!r} have no index.json in recipe {ctx.slug!r}")
    try:
        import json

        index: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        files = index["files"]
        if not files or len(files) != len(index["epochs"]):
            raise ValueError("'epochs' and 'files' must be equal-length, non-empty lists")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ShortcodeError(f"{name}/index.json of recipe {ctx.slug!r} is unusable: {exc}") from None
    return index


def sc_compare(ctx: PageContext, runs: list[str], labels: list[str] | None = None,
               caption: str | None = None) -> str:
    """Two or more runs' scrubber frames side by side, moved by the page's one epoch scrubber.

    ``runs`` are frames folders of this recipe (``Composition.frames``, drawn on shared axes
    limits by ``pipeline.library.replay.compare.share_limits``), ``labels`` name the runs (default: the
    folder names). Each run shows its last frame until the reader moves the scrubber; each has
    its own dark version when the recipe wrote one. The runs sit next to each other on wide
    screens and stack on narrow ones.
    """
    if not isinstance(runs, (list, tuple)) or len(runs) < 2:
        raise ShortcodeError("compare() needs a list of two or more frames folders, e.g. "
                             'compare(["frames", "frames-seed42"], labels=["seed 0", "seed 42"])')
    labels = list(labels) if labels is not None else list(runs)
    if len(labels) != len(runs):
        raise ShortcodeError(f"compare(): {len(runs)} runs but {len(labels)} labels; give one "
                             "label per run")
    cells = [_frames_cell(ctx, run, str(label), f"{label}: ", "nnx-compare-run")
             for run, label in zip(runs, labels, strict=True)]
    name = caption or "Runs side by side: " + ", ".join(map(str, labels))
    return render("compare.html", cells=cells, caption=caption, name=name)


def sc_frames(ctx: PageContext, name: str, caption: str | None = None) -> str:
    """One frames folder as a scrubbable figure (its last frame until the scrubber moves it).

    For pictures that exist only at a few epochs (no video), e.g. attributions recomputed from
    the recorded weights of several epochs; the page's epoch scrubber moves it with the rest.
    """
    return render("frames.html", cell=_frames_cell(ctx, name, caption or "", "",
                                                   "nnx-frames-figure"))


def _frames_cell(ctx: PageContext, run: str, label: str, alt_prefix: str, css: str
                 ) -> dict[str, Any]:
    """What a figure the scrubber drives shows: the last frame (palette-aware), the index."""
    index_name = f"{run}/index.json"
    index_url = _require_url(ctx, index_name)
    index = _frames_index(ctx, run)
    last = posixpath.join(run, index["files"][-1])
    dark_index = (_output(ctx, index_name).get("extra") or {}).get("dark")
    dark_last = (posixpath.join(posixpath.dirname(dark_index), index["files"][-1])
                 if isinstance(dark_index, str) else None)
    dark_url = ctx.url_for(dark_last) if dark_last else None
    what = _output(ctx, index_name).get("alt") or "Training frames"
    return {
        "css": css, "label": label, "alt_prefix": alt_prefix,
        "alt": f"{alt_prefix}{what} (epoch {index['epochs'][-1]})",
        "index_url": index_url,
        "dark_index_url": (_require_url(ctx, dark_index)
                           if dark_url and isinstance(dark_index, str) else None),
        "last_url": _require_url(ctx, last), "dark_last_url": dark_url,
        "size": ((int(index["width"]), int(index["height"]))
                 if index.get("width") and index.get("height") else None),
    }


_SCRIPT_SRC_RE = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']([^"'#?]+)""", re.IGNORECASE)


def _embed_bytes(ctx: PageContext, name: str) -> int | None:
    """Bytes an embedded page downloads: the page and the local scripts it loads (if known)."""
    if ctx.path_for is None:
        return None
    path = ctx.path_for(name)
    if not path:
        return None
    try:
        page = Path(path)
        total = page.stat().st_size
        text = page.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    folder = posixpath.dirname(name)
    for src in set(_SCRIPT_SRC_RE.findall(text)):
        if "://" in src or src.startswith(("/", "data:")):
            continue
        script = ctx.path_for(posixpath.normpath(posixpath.join(folder, src)))
        if script:
            with contextlib.suppress(OSError):
                total += Path(script).stat().st_size
    return total


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} kB"


def sc_iframe(ctx: PageContext, name: str, height: int = 600, title: str | None = None) -> str:
    """An embedded page, loaded only when the reader scrolls to it or asks for it.

    Embedded pages can be large (a HiPlot plot and its script are about 1.6 MB), and Chrome's
    own loading="lazy" loads anything within ~1250 px of the viewport, i.e. at first load on a
    large screen. assets/nnx-embeds.js sets ``src`` from ``data-nnx-src`` when the reader
    scrolls the frame into view or presses the (initially hidden) button, which says how much
    it downloads; without JavaScript the <noscript> copy is the plain lazy iframe (material's
    ``no-js`` class hides the empty one).
    """
    out = _output(ctx, name)
    size = _embed_bytes(ctx, name)
    return render("iframe.html", url=_require_url(ctx, name), height=int(height),
                  label=title or out.get("alt") or name, weight=_fmt_bytes(size) if size else None)

#: What ``include(...)`` inlines: HTML fragments only (a table, a list), never a whole page.
INCLUDE_SUFFIXES = (".html", ".htm")
INCLUDE_MAX_BYTES = 512 * 1024
_DOCUMENT_RE = re.compile(r"<!doctype\b|<\s*(?:html|head|body)\b", re.IGNORECASE)


def sc_include(ctx: PageContext, name: str) -> str:
    """Inline an HTML fragment asset (e.g. a table from ``pipeline.library.tables.html_table``).

    Refused, with the page and the asset named: anything but ``.html``/``.htm``, a whole
    document (``<html>``, ``<body>``: use ``iframe(...)``) and a fragment over
    :data:`INCLUDE_MAX_BYTES`. Everything else is inlined after :mod:`pipeline.site.sanitize`
    removed whatever could run, navigate or restyle the page; a warning names the asset and
    what was removed (so ``mkdocs build --strict`` fails), a note what was merely unlisted.
    """
    where = f"page {ctx.page!r}" if ctx.page else "this page"
    what = f"asset {name!r} of recipe {ctx.slug!r}"
    if not isinstance(name, str) or not name.lower().endswith(INCLUDE_SUFFIXES):
        raise UnsafeInclude(
            f"{where} includes {what}, which is not an HTML fragment: include() inlines only "
            f"{' or '.join(INCLUDE_SUFFIXES)} files. Use figure() for images, iframe() for whole "
            "pages, or write the table with pipeline.library.tables.html_table()."
        )
    _require_url(ctx, name)
    path = ctx.path_for(name) if ctx.path_for else None
    if not path:
        raise ShortcodeError(f"{where}: {what} has no file to read")
    try:
        data = Path(path).read_bytes()
        if len(data) > INCLUDE_MAX_BYTES:
            raise UnsafeInclude(
                f"{where} includes {what}, which is {len(data):,} bytes; include() inlines at "
                f"most {INCLUDE_MAX_BYTES:,} bytes into the page. Show it with iframe() instead."
            )
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShortcodeError(f"{where}: cannot read {what}: {exc}") from None
    if _DOCUMENT_RE.search(text):
        raise UnsafeInclude(
            f"{where} includes {what}, which is a whole HTML document, not a fragment; write "
            "only the element (e.g. the <table>) or show the page with iframe()."
        )
    clean = sanitize(text)
    if clean.unsafe:
        ctx.warnings.append(
            f"{{{{ include(...) }}}}: {where} includes {what}, which held what could run, "
            f"navigate or restyle the page; removed: {describe(clean.removed)}. The rest is "
            "shown. Write tables with pipeline.library.tables.html_table(), which escapes "
            "every cell.")
    if clean.inert:
        log.info("%s: %s: dropped markup the page does not use: %s", ctx.page, what,
                 describe(clean.inert))
    # One raw-HTML block for Markdown: the wrapper starts the line, no blank line inside.
    # Sanitised above, so inlined as it is (not escaped).
    return render("include.html", name=name, fragment=Markup(one_block(clean.html)))


def sc_metric(ctx: PageContext, name: str, fmt: str = "") -> str:
    metrics = ctx.manifest.metrics if ctx.manifest is not None else {}
    if name not in metrics:
        raise ShortcodeError(f"metric {name!r} is not recorded by recipe {ctx.slug!r}; "
                             f"known: {', '.join(sorted(metrics)) or 'none'}")
    value = metrics[name]
    if value is None:  # stored as null because it was NaN or infinite (the run diverged)
        raise ShortcodeError(f"metric {name!r} of recipe {ctx.slug!r} is not a finite number")
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def sc_notebook_link(ctx: PageContext) -> str:
    if not ctx.notebook_url:
        return ""
    return render("notebook_link.html", url=ctx.notebook_url)


def sc_provenance(ctx: PageContext) -> str:
    return provenance_box(ctx.manifest) if ctx.manifest is not None else ""


def sc_gallery(ctx: PageContext) -> str:
    return gallery_html(ctx.gallery, ctx.gallery_urls, ctx.thumb_urls, ctx.thumb_dark_urls)


SHORTCODES: dict[str, Callable[..., str]] = {
    "figure": sc_figure, "video": sc_video, "iframe": sc_iframe, "metric": sc_metric,
    "notebook_link": sc_notebook_link, "provenance": sc_provenance, "gallery": sc_gallery,
    "include": sc_include, "compare": sc_compare, "frames": sc_frames,
}


def shortcode_options(name: str) -> list[str]:
    """The argument names a page may pass to shortcode ``name`` (in order; ``ctx`` excluded)."""
    import inspect

    return list(inspect.signature(SHORTCODES[name]).parameters)[1:]


def check_shortcode_arguments(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Raise :class:`ShortcodeError` in the page's terms (never the Python function's name).

    A misspelt option gets a "did you mean"; a missing or extra argument lists the options.
    """
    import inspect

    options = shortcode_options(name)
    usage = f"{name}({', '.join(options)})"
    for key in kwargs:
        if key not in options:
            raise ShortcodeUsageError(f"unknown option {key!r} for {name}().{did_you_mean(key, options)}"
                                 f" Usage: {usage}")
    try:
        inspect.signature(SHORTCODES[name]).bind(None, *args, **kwargs)
    except TypeError as exc:
        raise ShortcodeUsageError(f"{exc}. Usage: {usage}") from None


def expand_shortcodes(markdown: str, ctx: PageContext) -> str:
    """Replace ``{{ name(args) }}`` shortcodes; problems are collected in ``ctx.warnings``."""

    def replace(match: re.Match[str]) -> str:
        name, args_text = match.group(1), match.group(2)
        func = SHORTCODES.get(name)
        if func is None:
            ctx.warnings.append(f"unknown shortcode {name!r}.{did_you_mean(name, list(SHORTCODES))}"
                                f" Known: {', '.join(SHORTCODES)}")
            return match.group(0)
        try:
            args, kwargs = parse_call(args_text)
            check_shortcode_arguments(name, args, kwargs)
            if ctx.manifest is None and name not in ("gallery",) and ctx.unbuilt_ok:
                return unbuilt_shortcode(name)
            if ctx.manifest is None and name not in ("gallery",):
                raise ShortcodeError(
                    f"recipe {ctx.slug!r} has no build result yet; run "
                    f"`python -m pipeline build --only {ctx.slug}`"
                )
            return func(ctx, *args, **kwargs)
        except (ShortcodeError, TypeError) as exc:
            if (isinstance(exc, ShortcodeError)
                    and not isinstance(exc, UnsafeInclude | ShortcodeUsageError)
                    and name in DIVERGED_OPTIONAL and is_diverged(ctx.manifest)):
                # Expected: the recipe stopped before drawing it; the admonition says why.
                return render("not_drawn.html", inline=name == "metric")
            ctx.warnings.append(f"{{{{ {name}(...) }}}}: {exc}")
            return render("missing.html", message=str(exc))

    return SHORTCODE_RE.sub(replace, markdown)


ORIGIN_WORDS = {
    "verified-copy": "from a verified local copy",
    "keras-cache": "from the Keras dataset cache",
    "keras-download": "downloaded by Keras",
    "package-copy": "from the copy shipped in a Python package",
    "generated": "generated by code",
}
TIMING_WORDS = {"train": "training", "render": "rendering", "execute": "whole notebook run",
                "export": "notebook export"}


def _data_facts(d: dict[str, Any]) -> dict[str, Any]:
    """One data source's facts for the provenance box: what, how much, from where, full or not."""
    description = str(d.get("description") or d.get("dataset") or "?")
    counts = [f"{d[k]} {w}" for k, w in (("n_train", "train"), ("n_test", "test"))
              if d.get(k) is not None]
    if all(str(d[k]) in description for k in ("n_train", "n_test") if d.get(k) is not None):
        counts = []  # the description already says how many
    origin = d.get("origin")
    stand_in = d.get("stand_in")
    return {
        "description": description, "counts": counts,
        "origin": ORIGIN_WORDS.get(origin, f"origin {origin}") if origin else None,
        "subset": bool(d.get("subset")),
        "stand_in": str(stand_in) if isinstance(stand_in, str) else bool(stand_in),
        "note": str(d["note"]) if d.get("note") else None,
    }


def provenance_box(manifest: Manifest | dict[str, Any]) -> str:
    """A collapsible admonition with what the build used and measured.

    Data actually used (with subset / stand-in flags), profile and seed, hardware (GPU and CPU
    names), training and rendering times, final metrics, package versions and the build date.
    """
    m = manifest if isinstance(manifest, Manifest) else Manifest.from_dict(manifest)
    hw = m.hardware
    gpus = [str(g) for g in hw.get("gpus") or []]
    threads = hw.get("intra_op_threads")  # set by a build with NNX_KERNEL_THREADS
    return render(
        "provenance.md",
        profile=m.profile, seed=m.seed,
        sizes=list(m.sizes.items()),
        data=[_data_facts(d) for d in m.data],
        accelerator=f"GPU {', '.join(gpus)}" if gpus else str(hw.get("accelerator", "?")),
        cpu=hw.get("cpu", "?"), cpu_count=hw.get("cpu_count", "?"),
        threads=None if threads in (None, "", "default") else threads,
        # which framework trained the model (pipeline.library.backends)
        keras_backend=hw.get("keras_backend"),
        timings=[(TIMING_WORDS.get(k, k), v) for k, v in m.timings.items() if k != "total"],
        metrics=[(k, _fmt_metric(v)) for k, v in m.metrics.items()],
        versions=list(m.versions.items()),
        built_at=m.built_at or "?", key=m.key[:12],
        notes=m.notes,
    )


def _fmt_metric(v: Any) -> str:
    if v is None:
        return "n/a (not a finite number)"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


#: Shortcodes that may refer to outputs a diverged run never produced.
DIVERGED_OPTIONAL = frozenset({"figure", "video", "iframe", "metric", "include", "compare",
                               "frames"})


def is_diverged(manifest: Manifest | dict[str, Any] | None) -> bool:
    """True when the recipe recorded that its training diverged (``Explainer.diverged``)."""
    m = Manifest.read(manifest)
    return m is not None and m.diverged


def _fmt_lr(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return "unknown"


def divergence_notice(manifest: Manifest | dict[str, Any] | None) -> str:
    """An admonition saying at which epoch and learning rate training diverged ("" if it did not)."""
    m = Manifest.read(manifest)
    if m is None or not m.diverged:
        return ""
    status = m.status
    return render("divergence_notice.md", detected=status.detected,
                  epoch=status.epoch, learning_rate=_fmt_lr(status.learning_rate),
                  loss=status.loss, message=status.message)


#: How the stale banner words each kind of failure; the generic ``error`` is plainly "failed".
FAILURE_WORDS: dict[FailureKind, str] = {
    FailureKind.TIMEOUT: "ran past its time limit and was stopped",
    FailureKind.KERNEL_DIED: "crashed (its kernel died: out of memory or killed)",
    FailureKind.DIVERGED: "stopped because training diverged",
    FailureKind.SETUP: "could not start",
    FailureKind.INTERNAL: "hit an internal error of the build tool",
}


def stale_banner(state: RecipeState | dict[str, Any],
                 manifest: Manifest | dict[str, Any] | None) -> str:
    """A warning when the latest build of this recipe failed (older results are shown)."""
    attempt = read_state(state).last_attempt
    if attempt is None or not attempt.failed:
        return ""
    failure = attempt.failure or Failure()
    summary = (failure.summary or "the recipe failed").splitlines()[0]
    detail = f"{failure.ename}: {failure.evalue}".strip(": ")
    m = Manifest.read(manifest)
    return render("stale_banner.md", has_results=m is not None,
                  built_at=(m.built_at if m is not None else None) or "?",
                  attempted_at=attempt.at or "?",
                  what=FAILURE_WORDS.get(failure.kind, "failed"), summary=summary,
                  detail=detail)


def unbuilt_placeholder(slug: str) -> str:
    """The notice on the page of a recipe that has no result yet (an author's working copy)."""
    return render("not_built_notice.md", slug=slug)


def unlink_unbuilt_assets(markdown: str, slug: str) -> str:
    """Markdown links to ``assets/<slug>/...`` as plain text: the files do not exist yet."""
    pattern = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]*assets/" + re.escape(slug) + r"/[^)]*)\)")
    return pattern.sub(lambda m: f"{m.group(2)} (not built yet)", markdown)


def unbuilt_shortcode(name: str) -> str:
    """What a shortcode shows on an unbuilt page: a marked gap, no warning, no broken link."""
    if name in ("provenance", "notebook_link"):
        return ""
    return render("not_built.html", inline=name == "metric")


def header_error_banner(recipe_path: str, detail: str) -> str:
    """A warning when the recipe's header no longer parses (its last good result is shown)."""
    return render("header_error_banner.md", recipe_path=recipe_path, detail=detail)


def unusable_result_banner(slug: str, reason: str) -> str:
    """A warning when the stored result exists but failed verification (never served)."""
    return render("damaged_result_banner.md", slug=slug, reason=reason)


def gallery_html(entries: list[dict[str, Any]], urls: dict[str, str],
                 thumbs: dict[str, str | None], dark_thumbs: dict[str, str] | None = None) -> str:
    """Cards: thumbnail, title, description, seed article, build facts.

    The title is the card's link (stretched over the whole card by CSS), so a screen reader hears
    the title once; the thumbnail keeps the recipe's own alt text.
    """
    cards = []
    for e in entries:
        slug = e["slug"]
        href = urls.get(slug)
        if not href:
            continue
        facts: list[tuple[str, bool]] = []  # (text, shown strong)
        if e.get("profile"):
            facts.append((f"profile {e['profile']}", False))
        if e.get("data"):
            facts.append((e["data"], False))
        if e.get("train_seconds") is not None:
            facts.append((f"trained in {_fmt_seconds(e['train_seconds'])}", False))
        elif e.get("build_seconds") is not None:
            facts.append((f"built in {_fmt_seconds(e['build_seconds'])}", False))
        if not e.get("profile"):
            facts.append(("not built yet", False))
        if e.get("stale"):
            facts.append(("stale: the latest build failed", True))
        if e.get("diverged"):
            facts.append(("training diverged", True))
        cards.append({
            "slug": slug, "href": href, "title": e.get("title", slug),
            "thumb": thumbs.get(slug), "thumb_dark": (dark_thumbs or {}).get(slug),
            "alt": e.get("thumb_alt") or f"Preview of {e.get('title', slug)}",
            "description": e.get("description", ""), "seed_article": e.get("seed_article"),
            "facts": facts,
        })
    return render("gallery.html", cards=cards)


NOTEBOOK_IMAGE_RE = re.compile(r"!\[(png|jpeg|jpg|svg|gif|svg\+xml)?\]\(([^)\s]+)\)")
SAVE_FIGURE_RE = re.compile(r"""save_figure\(\s*[^,()]+,\s*(?:name\s*=\s*)?["']([^"']+)["']""")


def notebook_image_alts(markdown: str, outputs: list[dict[str, Any]],
                        size_of: Callable[[str], tuple[int, int] | None] | None = None,
                        dark_of: Callable[[str, str | None], tuple[str, str] | None] | None = None,
                        ) -> str:
    """Give the executed notebook's images meaningful alt text (nbconvert writes ``![png]``).

    An image output right after a cell that calls ``ex.save_figure(fig, "name.png", alt=...)``
    gets that figure's alt text; any other gets a plain description of where it comes from.
    Every image is also deferred (``loading=lazy``, through attr_list): a notebook of a dozen
    figures would otherwise download all of them at first load. ``size_of`` (image path ->
    ``(width, height)``) adds the size, so the page reserves the space and the browser defers
    only what is really far from the viewport (a lazy image of unknown size is 0 px tall, so
    every one of them counts as near).

    ``dark_of(src, saved)`` (``saved``: the ``save_figure`` name the image comes from, if any)
    returns the ``(light URL, dark URL)`` of an image that has a dark twin, both relative to the
    page: the image is then written as the site's palette-aware ``<img>`` (``palette_img``), so
    only the version matching the reader's palette is fetched. A saved figure's twin is the
    recipe's own ``name.dark.png`` asset; another inline figure's is the ``.dark.png`` the kernel
    drew next to it (``pipeline.library.inline_dark``). Raw HTML is not rewritten by mkdocs,
    hence URLs relative to the page rather than to the Markdown file.
    """
    alts = {o.get("name"): o.get("alt") for o in outputs if o.get("alt")}
    counter = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal counter
        counter += 1
        before = markdown[: match.start()]
        close = before.rfind("```")  # the end of the code cell this image is an output of
        open_ = before.rfind("```", 0, close) if close > 0 else -1
        saved = SAVE_FIGURE_RE.findall(before[open_:close]) if open_ >= 0 else []
        nth = len(NOTEBOOK_IMAGE_RE.findall(before[close:])) if close >= 0 else 0
        saved_name = saved[nth] if nth < len(saved) else None
        alt = alts.get(saved_name) if saved_name else None
        if not alt:
            alt = f"Figure {counter} of the notebook, drawn by the code cell above"
        alt = alt.replace("[", "(").replace("]", ")")
        src = match.group(2)
        size = size_of(src) if size_of is not None else None
        pair = dark_of(src, saved_name) if dark_of is not None else None
        if pair is not None:
            size_ints = (int(size[0]), int(size[1])) if size else None
            return render("notebook_image.html", url=pair[0], dark_url=pair[1], alt=alt,
                          size=size_ints).strip()
        dims = f' width="{int(size[0])}" height="{int(size[1])}"' if size else ""
        return f"![{alt}]({src}){{ loading=lazy{dims} }}"

    return NOTEBOOK_IMAGE_RE.sub(replace, markdown)
