"""What the site shows from build results: shortcodes, provenance box, stale banner, gallery.

Pure functions over manifests and state dicts, so they are tested without mkdocs. The mkdocs
hook (``pipeline/mkdocs_hook.py``) only wires them into mkdocs' events.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SHORTCODE_RE = re.compile(r"\{\{\s*([a-z_]+)\((.*?)\)\s*\}\}", re.DOTALL)


class ShortcodeError(ValueError):
    """A shortcode is malformed or refers to something the build did not produce."""


@dataclass
class PageContext:
    """What a page's shortcodes can see: its recipe's manifest and a URL resolver."""

    slug: str | None
    manifest: dict[str, Any] | None
    state: dict[str, Any]
    url_for: Callable[[str], str | None]  # asset name -> URL relative to the page, None if absent
    notebook_url: str | None = None
    gallery: list[dict[str, Any]] = field(default_factory=list)
    gallery_urls: dict[str, str] = field(default_factory=dict)
    thumb_urls: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
    for out in (ctx.manifest or {}).get("outputs", []):
        if out.get("name") == name:
            return out
    return {"name": name, "alt": ""}


def _require_url(ctx: PageContext, name: str) -> str:
    url = ctx.url_for(name)
    if url is None:
        raise ShortcodeError(
            f"asset {name!r} is not among the outputs of recipe {ctx.slug!r}; check the name or "
            f"rebuild with `python -m pipeline build --only {ctx.slug}`"
        )
    return url


def sc_figure(ctx: PageContext, name: str, caption: str | None = None, width: str | None = None) -> str:
    out = _output(ctx, name)
    url = _require_url(ctx, name)
    alt = html.escape(out.get("alt") or caption or name, quote=True)
    style = f' style="max-width:{html.escape(width)}"' if width else ""
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure class="nnx-figure"><img src="{url}" alt="{alt}" loading="lazy"{style}>'
            f"{cap}</figure>")


def sc_video(ctx: PageContext, name: str, caption: str | None = None, scrub: str | None = None) -> str:
    """A deferred video: poster shown, nothing but metadata loaded until the reader plays it."""
    out = _output(ctx, name)
    url = _require_url(ctx, name)
    poster = out.get("poster")
    poster_attr = f' poster="{_require_url(ctx, poster)}"' if poster else ""
    alt = html.escape(out.get("alt") or name, quote=True)
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    scrub_attr = ""
    if scrub:
        index_url = _require_url(ctx, f"{scrub}/index.json")
        scrub_attr = f' data-nnx-frames="{index_url}"'
    return (f'<figure class="nnx-video"{scrub_attr}><video controls preload="metadata" playsinline '
            f'muted loop{poster_attr} aria-label="{alt}" title="{alt}">'
            f'<source src="{url}" type="video/mp4">'
            f'<a href="{url}">Download the video</a></video>{cap}</figure>')


def sc_iframe(ctx: PageContext, name: str, height: int = 600, title: str | None = None) -> str:
    out = _output(ctx, name)
    url = _require_url(ctx, name)
    label = html.escape(title or out.get("alt") or name, quote=True)
    return (f'<iframe class="nnx-iframe" src="{url}" title="{label}" loading="lazy" '
            f'style="width:100%;height:{int(height)}px;border:0"></iframe>')


def sc_metric(ctx: PageContext, name: str, fmt: str = "") -> str:
    metrics = (ctx.manifest or {}).get("metrics", {})
    if name not in metrics:
        raise ShortcodeError(f"metric {name!r} is not recorded by recipe {ctx.slug!r}; "
                             f"known: {', '.join(sorted(metrics)) or 'none'}")
    value = metrics[name]
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def sc_notebook_link(ctx: PageContext) -> str:
    if not ctx.notebook_url:
        return ""
    return f'<a class="md-button" href="{ctx.notebook_url}">Notebook: the code and its outputs</a>'


def sc_provenance(ctx: PageContext) -> str:
    return provenance_box(ctx.manifest) if ctx.manifest else ""


def sc_gallery(ctx: PageContext) -> str:
    return gallery_html(ctx.gallery, ctx.gallery_urls, ctx.thumb_urls)


SHORTCODES: dict[str, Callable[..., str]] = {
    "figure": sc_figure, "video": sc_video, "iframe": sc_iframe, "metric": sc_metric,
    "notebook_link": sc_notebook_link, "provenance": sc_provenance, "gallery": sc_gallery,
}


def expand_shortcodes(markdown: str, ctx: PageContext) -> str:
    """Replace ``{{ name(args) }}`` shortcodes; problems are collected in ``ctx.warnings``."""

    def replace(match: re.Match[str]) -> str:
        name, args_text = match.group(1), match.group(2)
        func = SHORTCODES.get(name)
        if func is None:
            ctx.warnings.append(f"unknown shortcode {name!r}; known: {', '.join(SHORTCODES)}")
            return match.group(0)
        try:
            args, kwargs = parse_call(args_text)
            if ctx.manifest is None and name not in ("gallery",):
                raise ShortcodeError(
                    f"recipe {ctx.slug!r} has no build result yet; run "
                    f"`python -m pipeline build --only {ctx.slug}`"
                )
            return func(ctx, *args, **kwargs)
        except (ShortcodeError, TypeError) as exc:
            ctx.warnings.append(f"{{{{ {name}(...) }}}}: {exc}")
            return f'<p class="nnx-missing"><strong>Missing:</strong> {html.escape(str(exc))}</p>'

    return SHORTCODE_RE.sub(replace, markdown)


def _fmt_seconds(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "?"
    return f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min"


def provenance_box(m: dict[str, Any]) -> str:
    """A collapsible admonition with what the build used and measured."""
    hw = m.get("hardware", {})
    timings = m.get("timings", {})
    rows = [("Profile", f"`{m.get('profile')}` (seed {m.get('seed')})")]
    for d in m.get("data", []):
        subset = " (subset)" if d.get("subset") else ""
        rows.append(("Data", f"{d.get('description', d.get('dataset'))}{subset}"))
    rows.append(("Hardware", f"{hw.get('accelerator', '?')}; CPU {hw.get('cpu', '?')} "
                             f"({hw.get('cpu_count', '?')} cores)"))
    time_bits = [f"{k} {_fmt_seconds(v)}" for k, v in timings.items()
                 if k not in ("total",)]
    rows.append(("Time", ", ".join(time_bits) or "?"))
    metrics = m.get("metrics", {})
    if metrics:
        rows.append(("Final metrics", ", ".join(f"{k} = {_fmt_metric(v)}" for k, v in metrics.items())))
    versions = m.get("versions", {})
    rows.append(("Versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    rows.append(("Built", f"{m.get('built_at', '?')}, cache key `{str(m.get('key', ''))[:12]}`"))
    for note in m.get("notes", []):
        rows.append(("Note", note))
    body = "\n".join(f"    | {k} | {str(v).replace('|', '/')} |" for k, v in rows)
    return ('??? info "How this page was built (provenance)"\n\n'
            "    | | |\n    |---|---|\n" + body + "\n")


def _fmt_metric(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def stale_banner(state: dict[str, Any], manifest: dict[str, Any] | None) -> str:
    """A warning when the latest build of this recipe failed (older results are shown)."""
    attempt = state.get("last_attempt") or {}
    if attempt.get("status") != "failed":
        return ""
    failure = attempt.get("failure") or {}
    summary = failure.get("summary") or "the recipe failed"
    if manifest:
        lead = (f"These results are from the last good build ({manifest.get('built_at', '?')}); "
                f"the latest build failed at {attempt.get('at', '?')}.")
    else:
        lead = "The build of this explainer failed and no earlier results exist."
    detail = f"{failure.get('ename', '')}: {failure.get('evalue', '')}".strip(": ")
    return (f'!!! failure "Stale: the latest build failed"\n\n    {lead}\n\n'
            f"    `{summary.replace('`', '')}`\n\n" + (f"    {detail}\n\n" if detail else ""))


def gallery_html(entries: list[dict[str, Any]], urls: dict[str, str],
                 thumbs: dict[str, str | None]) -> str:
    """Cards: thumbnail, title, description, seed article, build facts."""
    cards = []
    for e in entries:
        slug = e["slug"]
        href = urls.get(slug)
        if not href:
            continue
        thumb = thumbs.get(slug)
        alt = html.escape(e.get("thumb_alt") or f"Preview of {e.get('title', slug)}", quote=True)
        img = (f'<img src="{thumb}" alt="{alt}" loading="lazy">' if thumb
               else '<div class="nnx-card-nothumb" aria-hidden="true"></div>')
        facts = []
        if e.get("profile"):
            facts.append(f"profile {e['profile']}")
        if e.get("train_seconds") is not None:
            facts.append(f"trained in {_fmt_seconds(e['train_seconds'])}")
        if e.get("data"):
            facts.append(html.escape(e["data"]))
        seed = f'<p class="nnx-card-seed">From seed article {html.escape(e["seed_article"])}</p>' \
            if e.get("seed_article") else ""
        cards.append(
            f'<li class="nnx-card"><a href="{href}">{img}'
            f'<h3>{html.escape(e.get("title", slug))}</h3></a>'
            f'<p>{html.escape(e.get("description", ""))}</p>{seed}'
            f'<p class="nnx-card-facts">{" · ".join(facts)}</p></li>'
        )
    return '<ul class="nnx-gallery">' + "".join(cards) + "</ul>"
