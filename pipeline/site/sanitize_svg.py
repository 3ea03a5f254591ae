"""SVG files from a recipe made safe to publish: an allowlist of elements, attributes and URLs.

An ``.svg`` a recipe writes (an asset, or an ``image/svg+xml`` notebook output) is published as
a file of the site. Shown through ``<img>`` it cannot run anything, but a reader who opens it
directly (a link, "open image in new tab") gets a document of the site's own origin, where a
``<script>``, an ``onload=`` or a ``javascript:`` link runs. Its text can come from downloaded
data (a label, a column name), so it is cleaned like recipe HTML (:mod:`pipeline.site.sanitize`):
by allowlist, not by searching for known bad patterns.

Kept: SVG's drawing elements (shapes, paths, text, gradients, patterns, clip paths, masks,
markers, filters, ``<use>``, ``<image>``), presentation attributes, ``<style>`` and ``style=``
without external references, and the RDF metadata matplotlib writes (never rendered).
Gone: ``<script>``, ``<foreignObject>`` (it embeds HTML), animation elements (``<set>`` and
``<animate>`` can rewrite a link's target), every ``on...=`` attribute, element in another
namespace (XHTML) and attribute not listed, and any URL that is not an in-document reference
(``#id``), except links (``<a>``: http, https, mailto, relative) and embedded raster images
(``data:image/png|jpeg|gif|webp;base64``). A file that is not well-formed XML, declares entities
or is not an ``<svg>`` is not published at all (``defusedxml`` refuses the entity tricks).

What is published is always the cleaned tree written anew: no DOCTYPE, comments or processing
instructions survive (an ``<?xml-stylesheet?>`` before the root would run XSLT, and the parser
does not even report it), and what was removed is reported for the caller to warn about,
naming the file. A matplotlib SVG loses nothing but its DOCTYPE and comments.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from pipeline.site.errors import SvgRejected
from pipeline.site.sanitize import INVISIBLE_RE, url_allowed

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
#: Metadata vocabularies (matplotlib's ``<metadata>``): never rendered, so their elements and
#: attributes are inert.
INERT_NAMESPACES = frozenset({
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://creativecommons.org/ns#",
    "http://purl.org/dc/elements/1.1/", "http://purl.org/dc/terms/",
})
_PREFIXES = {SVG_NS: "", XLINK_NS: "xlink", "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
             "http://creativecommons.org/ns#": "cc", "http://purl.org/dc/elements/1.1/": "dc",
             "http://purl.org/dc/terms/": "dcterms"}

#: SVG elements kept (local names, as SVG spells them).
ELEMENTS = frozenset({
    "svg", "g", "defs", "desc", "title", "metadata", "symbol", "use", "switch", "view",
    "a", "image", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
    "text", "tspan", "textPath", "style",
    "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask", "marker",
    "filter", "feBlend", "feColorMatrix", "feComponentTransfer", "feComposite",
    "feConvolveMatrix", "feDiffuseLighting", "feDisplacementMap", "feDistantLight",
    "feDropShadow", "feFlood", "feFuncA", "feFuncB", "feFuncG", "feFuncR", "feGaussianBlur",
    "feImage", "feMerge", "feMergeNode", "feMorphology", "feOffset", "fePointLight",
    "feSpecularLighting", "feSpotLight", "feTile", "feTurbulence",
})
#: Attributes kept on SVG elements (compared in lower case; ``href`` is checked as a URL).
ATTRIBUTES = frozenset(name.lower() for name in """
    accent-height alignment-baseline amplitude ascent azimuth baseFrequency baseline-shift
    bias class clip clip-path clip-rule clipPathUnits color color-interpolation
    color-interpolation-filters color-rendering cursor cx cy d diffuseConstant direction display
    divisor dominant-baseline dx dy edgeMode elevation exponent fill fill-opacity fill-rule filter
    filterUnits flood-color flood-opacity font-family font-size font-size-adjust font-stretch
    font-style font-variant font-weight fr fx fy gradientTransform gradientUnits height href id
    image-rendering in in2 intercept k k1 k2 k3 k4 kernelMatrix kernelUnitLength lang
    lengthAdjust letter-spacing lighting-color limitingConeAngle marker-end marker-mid
    marker-start markerHeight markerUnits markerWidth mask maskContentUnits maskUnits media
    mode numOctaves offset opacity operator order orient overflow paint-order pathLength
    patternContentUnits patternTransform patternUnits pointer-events points pointsAtX pointsAtY
    pointsAtZ preserveAlpha preserveAspectRatio primitiveUnits r radius refX refY result
    rotate rx ry scale seed shape-rendering side slope spacing specularConstant
    specularExponent spreadMethod startOffset stdDeviation stitchTiles stop-color stop-opacity
    stroke stroke-dasharray stroke-dashoffset stroke-linecap stroke-linejoin stroke-miterlimit
    stroke-opacity stroke-width style surfaceScale systemLanguage tableValues target
    targetX targetY text-anchor text-decoration text-rendering textLength transform
    transform-origin type unicode-bidi vector-effect version viewBox visibility width
    word-spacing writing-mode x x1 x2 xChannelSelector y y1 y2 yChannelSelector z
    """.split())
#: Elements dropped with everything inside them (what they hold is code or another document).
DROP_WITH_CONTENT = frozenset({"script", "foreignObject", "iframe", "object", "embed", "handler",
                               "listener", "animate", "animateColor", "animateMotion",
                               "animateTransform", "set", "discard"})
_RASTER_DATA_RE = re.compile(r"^data:image/(png|jpe?g|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
_PI_RE = re.compile(rb"<\?([A-Za-z_:][\w.:-]*)")
#: ``url(...)`` in an attribute or CSS; only ``url(#id)`` stays.
_CSS_URL_RE = re.compile(r"url\s*\(\s*['\"]?\s*([^'\")\s]*)", re.I)
_CSS_FORBIDDEN_RE = re.compile(r"@import|expression\s*\(|javascript:|-moz-binding|behavior\s*:"
                               r"|\\", re.I)


@dataclass
class SanitizedSvg:
    """The SVG to publish (``data``: the cleaned tree, written anew) and what was removed
    (:func:`pipeline.site.sanitize.describe` words it)."""

    data: bytes
    removed: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def sanitize_svg(data: bytes) -> SanitizedSvg:
    """Clean one SVG file; raises :class:`SvgRejected` for a file that cannot be published."""
    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise SvgRejected(f"it declares entities or external references "
                          f"({type(exc).__name__}); write a plain SVG") from exc
    except ET.ParseError as exc:
        raise SvgRejected(f"it is not well-formed XML ({exc})") from exc
    if root.tag != f"{{{SVG_NS}}}svg":
        raise SvgRejected(f"its root element is {_local(root.tag)!r} in "
                          f"{_namespace(root.tag) or 'no namespace'}, not an SVG <svg>")
    removed: Counter[str] = Counter()
    for target in _PI_RE.findall(data):
        if target.lower() != b"xml":
            removed[f"a <?{target.decode(errors='replace')}?> processing instruction"] += 1
    _clean(root, removed)
    for uri, prefix in _PREFIXES.items():
        ET.register_namespace(prefix, uri)
    return SanitizedSvg(ET.tostring(root, encoding="utf-8", xml_declaration=True), removed)


def _clean(element: ET.Element, removed: Counter[str]) -> None:
    """Clean ``element``'s attributes and children in place (it is itself allowed)."""
    inert = _namespace(element.tag) in INERT_NAMESPACES
    name = _local(element.tag)
    for attr in list(element.attrib):
        reason = None if inert else _attribute_problem(name, attr, element.attrib[attr])
        if reason:
            removed[reason] += 1
            del element.attrib[attr]
    if name == "style" and not inert and _css_problem(element.text or ""):
        removed["a <style> element with external references or code"] += 1
        element.text = ""
    for child in list(element):
        if not isinstance(child.tag, str):  # comments, processing instructions
            element.remove(child)
            continue
        ns, local = _namespace(child.tag), _local(child.tag)
        if ns in INERT_NAMESPACES and (inert or name == "metadata"):
            _clean(child, removed)
        elif ns == SVG_NS and local in ELEMENTS:
            _clean(child, removed)
        else:
            what = f"a <{local}> element" if ns == SVG_NS else \
                f"a <{local}> element from {ns or 'no namespace'}"
            removed[what] += 1
            _remove_keeping_tail(element, child)


def _attribute_problem(element: str, attr: str, value: str) -> str | None:
    """Why the attribute must go (a short description), or None to keep it."""
    ns, local = _namespace(attr), _local(attr)
    if ns == XML_NS and local in {"space", "lang"}:
        return None
    if local.lower().startswith("on"):
        return f"{local}= on <{element}>"
    if ns not in ("", XLINK_NS) or (ns == XLINK_NS and local != "href"):
        return f"{local}= ({ns}) on <{element}>"
    if local.lower() not in ATTRIBUTES:
        return f"{local}= on <{element}>"
    if local == "href":
        return None if _href_allowed(element, value) else \
            f"href={_short(value)} on <{element}>"
    if local == "style" and _css_problem(value):
        return f"style= with external references or code on <{element}>"
    if "\\" in value:  # a CSS escape can spell url( or javascript: in a presentation attribute
        return f"{local}= with a backslash on <{element}>"
    if "javascript:" in INVISIBLE_RE.sub("", value).lower():
        return f"{local}= with javascript: on <{element}>"
    for target in _CSS_URL_RE.findall(value):
        if not target.startswith("#"):
            return f"{local}= with url({_short(target)}) on <{element}>"
    return None


def _href_allowed(element: str, value: str) -> bool:
    url = INVISIBLE_RE.sub("", value)
    if url.startswith("#"):
        return True
    if element in {"image", "feImage"} and _RASTER_DATA_RE.match(value.strip()):
        return True
    return element == "a" and not url.startswith("//") and url_allowed(url)


def _css_problem(css: str) -> bool:
    if _CSS_FORBIDDEN_RE.search(css):
        return True
    return any(not target.startswith("#") for target in _CSS_URL_RE.findall(css))


def _remove_keeping_tail(parent: ET.Element, child: ET.Element) -> None:
    """Remove ``child``; the text after it (its ``tail``) stays where it was."""
    if child.tail:
        siblings = list(parent)
        at = siblings.index(child)
        if at > 0:
            previous = siblings[at - 1]
            previous.tail = (previous.tail or "") + child.tail
        else:
            parent.text = (parent.text or "") + child.tail
    parent.remove(child)


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def _short(value: str, limit: int = 40) -> str:
    value = " ".join(value.split())
    return repr(value if len(value) <= limit else value[:limit] + "...")
