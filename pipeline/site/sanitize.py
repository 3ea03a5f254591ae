"""Recipe HTML made safe to inline: an allowlist sanitiser, and a report of what it removed.

Every piece of HTML a recipe produces and the site puts *into* a page (``include(...)``
fragments, ``text/html`` and ``text/markdown`` outputs of the executed notebook) can carry text
computed from downloaded data: a column name, a label. It is cleaned by ammonia (through
``nh3``) with an allowlist, not searched for known bad patterns: whatever is not listed here is
gone, however it is spelt (``<svg/onload=...>``, ``&#106;avascript:``, ``<iframe srcdoc>``,
``<meta http-equiv=refresh>``, ``<base href>``: the parser sees what a browser sees).

Kept: tables (with scope, spans, captions), lists, links (http, https, mailto, relative; with
``rel="noopener noreferrer"``), headings, inline formatting, quotes, code, details, figures and
images, including the site's palette-aware ``<img data-nnx-light data-nnx-dark>`` and
``<picture><source srcset media>``. ``style`` attributes keep only text properties (alignment,
wrapping, weight, colour: what ``pipeline.library.tables.html_table`` and cell highlighting use).
Gone: everything that can run (``<script>``, ``on...=`` attributes, ``javascript:``/``data:``
URLs), navigate (``<meta>``, ``<base>``, ``<form>``, frames, objects) or restyle the page
(``<style>``, ``<link>``, layout CSS such as ``position``); also ``class`` (site styles and page
scripts select on classes, and material styles only tables without one) and ``name`` (DOM
clobbering); ``id`` values get a prefix, so no id can shadow a global the page scripts use.

What was removed is reported (:attr:`Sanitized.removed`): the caller warns, naming the asset or
the notebook cell. Removing inert markup (``class``, ``border``, comments, pandas' own
``<style scoped>`` for its ``dataframe`` class) is reported apart (:attr:`Sanitized.inert`),
as a note rather than a warning, so a plain pandas table does not fail ``mkdocs build --strict``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

#: Elements kept (with their text); anything else is dropped, its text kept as text.
TAGS = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "data", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption",
    "figure", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol",
    "p", "picture", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small", "source", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time",
    "tr", "u", "ul", "var", "wbr",
})
#: Elements dropped together with their content (the content is code or a hidden document).
DROP_WITH_CONTENT = frozenset({
    "script", "style", "template", "noscript", "iframe", "frame", "frameset", "object", "embed",
    "applet", "svg", "math", "textarea", "select", "title", "xmp", "noembed", "noframes",
    "plaintext",
})
_CELL = {"align", "colspan", "rowspan", "style"}
#: Attributes kept, per element ("*": on every kept element).
ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir", "id"},
    "a": {"href", "hreflang", "target"},
    "img": {"src", "alt", "width", "height", "loading", "decoding", "srcset", "sizes", "style",
            "data-nnx-light", "data-nnx-dark", "data-nnx-still-light", "data-nnx-still-dark"},
    "source": {"srcset", "sizes", "media", "type", "width", "height"},
    "th": _CELL | {"scope", "abbr"}, "td": _CELL,
    "tr": {"style"}, "col": {"span", "style"}, "colgroup": {"span"},
    "caption": {"style"}, "span": {"style"}, "div": {"style"}, "p": {"style"},
    "ol": {"start", "reversed", "type"}, "li": {"value"},
    "blockquote": {"cite"}, "q": {"cite"}, "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"}, "time": {"datetime"}, "data": {"value"},
    "details": {"open"}, "abbr": {"title"},
}
#: CSS properties a ``style`` attribute keeps: text only, nothing that moves or layers boxes.
STYLE_PROPERTIES = frozenset({
    "text-align", "vertical-align", "white-space", "font-weight", "font-style",
    "font-variant-numeric", "text-decoration", "color", "background-color", "max-width",
})
URL_SCHEMES = frozenset({"http", "https", "mailto"})
#: Attributes holding a URL that ammonia does not check itself (the palette script sets ``src``
#: from them) or a list of URLs (``srcset``).
_EXTRA_URL_ATTRIBUTES = frozenset({"data-nnx-light", "data-nnx-dark", "data-nnx-still-light",
                                   "data-nnx-still-dark"})
ID_PREFIX = "nnx-user-"

_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
#: What browsers ignore inside a URL (``java\tscript:`` is ``javascript:``).
INVISIBLE_RE = re.compile(r"[\x00-\x20\x7f]+")


def url_allowed(value: str) -> bool:
    """A relative URL, or one of :data:`URL_SCHEMES` (after removing what browsers ignore)."""
    compact = INVISIBLE_RE.sub("", value)
    match = _SCHEME_RE.match(compact)
    return match is None or match.group(1).lower() in URL_SCHEMES


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    if attribute in _EXTRA_URL_ATTRIBUTES:
        return value if url_allowed(value) else None
    if attribute == "srcset":
        candidates = [part.strip().split()[0] for part in value.split(",") if part.strip()]
        return value if all(url_allowed(url) for url in candidates) else None
    if element == "a" and attribute == "target":
        return value if value in ("_blank", "_self") else None
    return value


def clean(html: str) -> str:
    """``html`` with everything outside the allowlist removed (ammonia's parser and serializer)."""
    return nh3.clean(
        html, tags=set(TAGS), clean_content_tags=set(DROP_WITH_CONTENT), attributes=ATTRIBUTES,
        attribute_filter=_filter_attribute, strip_comments=True,
        link_rel="noopener noreferrer", url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(STYLE_PROPERTIES), id_prefix=ID_PREFIX,
    )


@dataclass(frozen=True)
class Sanitized:
    """A cleaned fragment and what cleaning it removed.

    ``removed``: what could run, navigate or restyle the page (the caller warns);
    ``inert``: markup dropped only because it is not on the allowlist (the caller notes it).
    Each entry is a short phrase such as ``"a <script> element"`` or ``"onerror= on <img>"``.
    """

    html: str
    removed: tuple[str, ...] = ()
    inert: tuple[str, ...] = ()

    @property
    def unsafe(self) -> bool:
        return bool(self.removed)


def sanitize(html: str) -> Sanitized:
    """Clean ``html`` (:func:`clean`) and say what was removed (:func:`removed_parts`)."""
    cleaned = clean(html)
    removed, inert = removed_parts(html, cleaned)
    return Sanitized(cleaned, removed, inert)


def one_block(html: str) -> str:
    """``html`` without blank lines: Markdown ends a raw-HTML block at the first blank line, so
    a fragment inlined into Markdown must have none (a ``<pre>`` loses its empty lines)."""
    return "\n".join(line for line in html.strip().splitlines() if line.strip())


def describe(parts: tuple[str, ...] | list[str] | Counter[str]) -> str:
    """``"a <script> element, onload= on <svg> (2)"``: the parts counted, in first-seen order
    (a ``Counter`` keeps its counts: :mod:`pipeline.site.sanitize_svg` reports that way)."""
    counts = Counter(parts)
    return ", ".join(f"{part} ({n})" if n > 1 else part for part, n in counts.items())


# ------------------------------------------------------------------------------- the report
class _Markup(HTMLParser):
    """Start tags with their attributes (entities decoded, as a browser reads them), comments,
    and the text of ``<style>`` elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str]]]] = []
        self.comments = 0
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, [(k, v or "") for k, v in attrs]))
        self._in_style = tag == "style"
        if self._in_style:
            self.styles.append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, [(k, v or "") for k, v in attrs]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles[-1] += data

    def handle_comment(self, data: str) -> None:
        self.comments += 1


def _parse(html: str) -> _Markup:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser


#: Elements whose removal can run, navigate or restyle something (the rest is merely unlisted).
_ACTIVE_ELEMENTS = DROP_WITH_CONTENT | {
    "meta", "base", "link", "form", "input", "button", "portal", "video", "audio", "track",
    "area", "map", "dialog", "html", "head", "body", "image", "animate", "set", "use",
    "foreignobject", "param", "isindex", "keygen",
}
_ACTIVE_ATTRIBUTES = {"srcdoc", "formaction", "action", "http-equiv", "style", "xlink:href",
                      "autofocus", "popover", "popovertarget", "ping", "background", "lowsrc",
                      "dynsrc", "data", "code", "codebase", "form"}
_URL_ATTRIBUTES = {"href", "src", "srcset", "poster", "cite", "action", "formaction", "data",
                   "background", "xlink:href"} | _EXTRA_URL_ATTRIBUTES
#: pandas' DataFrame HTML carries a ``<style scoped>`` for its own ``dataframe`` class.
_PANDAS_SELECTOR_RE = re.compile(r"^\s*\.dataframe\b")


def _is_pandas_style(css: str) -> bool:
    selectors = [s for block in re.findall(r"([^{}]+)\{", css) for s in block.split(",")]
    return bool(selectors) and all(_PANDAS_SELECTOR_RE.match(s) for s in selectors)


def _style_properties(value: str) -> set[str]:
    return {decl.split(":", 1)[0].strip().lower() for decl in value.split(";") if ":" in decl}


def _scheme(value: str) -> str:
    match = _SCHEME_RE.match(INVISIBLE_RE.sub("", value))
    return match.group(1).lower() if match else ""


def removed_parts(before: str, after: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What is in ``before`` and not in ``after``, as ``(active, inert)`` phrases.

    Both are read with the standard library's HTML parser (entities decoded): an element
    whose count dropped was removed; an attribute, compared by (element, name, value) over the
    whole fragment, was removed unless its element went too. ``id`` values are prefixed, not
    removed, and ammonia's additions (``rel`` on links) are not removals.
    """
    old, new = _parse(before), _parse(after)
    active: list[str] = []
    inert: list[str] = []
    old_tags = Counter(tag for tag, _ in old.elements)
    new_tags = Counter(tag for tag, _ in new.elements)
    pandas_styles = sum(_is_pandas_style(css) for css in old.styles)
    for tag, count in old_tags.items():
        gone = count - new_tags.get(tag, 0)
        if gone <= 0:
            continue
        if tag == "style" and pandas_styles:
            inert += ["pandas' <style scoped> for its dataframe class"] * min(gone, pandas_styles)
            gone -= min(gone, pandas_styles)
        phrase = f"a <{tag}> element"
        (active if tag in _ACTIVE_ELEMENTS else inert).extend([phrase] * gone)
    kept = Counter((tag, name, value) for tag, attrs in new.elements for name, value in attrs)
    for tag, attrs in old.elements:
        for name, value in attrs:
            if name == "id":
                continue
            if kept[(tag, name, value)] > 0:
                kept[(tag, name, value)] -= 1
                continue
            if tag not in TAGS and not (name.startswith("on") or name in _ACTIVE_ATTRIBUTES
                                        or name in _URL_ATTRIBUTES and not url_allowed(value)):
                continue  # went with its element, reported above
            if name.startswith("on"):
                active.append(f"{name}= on <{tag}>")
            elif name in _URL_ATTRIBUTES and not url_allowed(value):
                active.append(f"a {_scheme(value)}: URL in {name}= on <{tag}>")
            elif name == "style":
                dropped = sorted(_style_properties(value) - STYLE_PROPERTIES)
                if dropped:
                    active.append(f"CSS {', '.join(dropped)} in style= on <{tag}>")
                elif "style" not in ATTRIBUTES.get(tag, ()):
                    inert.append(f"style= on <{tag}>")
                # else: the same properties, only re-spelt ("a: b;" -> "a:b")
            elif name in _ACTIVE_ATTRIBUTES:
                active.append(f"{name}= on <{tag}>")
            else:
                inert.append(f"{name}= on <{tag}>")
    if old.comments:
        inert.extend(["an HTML comment"] * old.comments)
    return tuple(active), tuple(inert)
