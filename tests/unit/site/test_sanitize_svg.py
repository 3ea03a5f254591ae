"""Recipe SVG files: what an attacker puts in goes, what a plotting library writes stays."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pipeline.site.errors import SvgRejected
from pipeline.site.notebook_page import export_page
from pipeline.site.sanitize import describe
from pipeline.site.sanitize_svg import SVG_NS, sanitize_svg
from tests.svg_xss_vectors import (
    EVIL,
    REJECTED,
    STYLESHEET_PI,
    SVG_OPEN,
    VECTORS,
    document,
    matplotlib_svg,
)

DANGEROUS_ELEMENTS = {"script", "foreignObject", "iframe", "set", "animate", "discard",
                      "handler", "img", "body"}


def _problems(data: bytes) -> list[str]:
    """What in a cleaned SVG could still run, navigate or call another host."""
    out = []
    for el in ET.fromstring(data).iter():
        ns, _, local = el.tag[1:].partition("}")
        if ns != SVG_NS and "rdf" not in ns and "purl.org" not in ns and \
                "creativecommons" not in ns:
            out.append(f"element {el.tag}")
        if local in DANGEROUS_ELEMENTS:
            out.append(f"element <{local}>")
        for name, value in el.attrib.items():
            bare = name.rpartition("}")[2]
            squeezed = "".join(value.split()).lower()
            if bare.lower().startswith("on"):
                out.append(f"{bare}= on <{local}>")
            if "javascript:" in squeezed or "attacker.example" in squeezed or "\\" in value:
                out.append(f"{bare}={value!r} on <{local}>")
            if bare == "href" and not (value.startswith("#") or value.startswith("data:image/png")):
                out.append(f"href={value!r} on <{local}>")
        if local == "style" and ("@import" in (el.text or "") or "attacker" in (el.text or "")):
            out.append("<style> with an external reference")
    return out


@pytest.mark.parametrize("index", range(len(VECTORS)))
def test_every_vector_is_cleaned_and_the_removal_reported(index: int) -> None:
    raw = document(index).encode()
    assert _problems(raw), f"vector {index} is not a threat to begin with"
    clean = sanitize_svg(raw)
    assert _problems(clean.data) == [], f"vector {index}: {VECTORS[index]}"
    assert clean.changed and describe(clean.removed)


@pytest.mark.parametrize("text", REJECTED)
def test_files_that_cannot_be_cleaned_are_refused_with_why(text: str) -> None:
    with pytest.raises(SvgRejected) as info:
        sanitize_svg(text.replace("PAYLOAD", "alert(1)").encode())
    assert any(word in str(info.value) for word in ("entities", "well-formed", "not an SVG"))


def test_a_stylesheet_instruction_before_the_root_is_reported_and_dropped() -> None:
    clean = sanitize_svg(STYLESHEET_PI.encode())
    assert "a <?xml-stylesheet?> processing instruction" in clean.removed
    assert b"xml-stylesheet" not in clean.data and EVIL.encode() not in clean.data


def test_what_a_drawing_needs_survives() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    text = (f'{SVG_OPEN} viewBox="0 0 200 100"><defs><style type="text/css">'
            "*{stroke-linejoin: round} rect > title {display: none}</style>"
            '<linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient>'
            '<clipPath id="c"><rect width="5" height="5"/></clipPath></defs>'
            '<g clip-path="url(#c)" style="fill: url(#g); stroke: #000">'
            '<path d="M 0 0 L 10 10" marker-end="url(#g)"/><use xlink:href="#c" x="3"/>'
            f'<image xlink:href="{png}" width="4" height="4"/>'
            '<text x="1" y="2" xml:space="preserve">a &lt; b &amp; c</text></g>'
            '<a href="https://example.org/page" target="_blank"><text>link</text></a>'
            '<a href="../other.svg"><text>relative</text></a></svg>')
    clean = sanitize_svg(text.encode())
    assert not clean.changed, describe(clean.removed)
    before, after = ET.fromstring(text), ET.fromstring(clean.data)
    assert [(e.tag, e.attrib, e.text) for e in before.iter()] == \
        [(e.tag, e.attrib, e.text) for e in after.iter()]


def test_a_matplotlib_svg_loses_nothing_but_its_doctype_and_comments() -> None:
    raw = matplotlib_svg()
    assert b"<!DOCTYPE" in raw and b"data:image/png;base64" in raw and b"<metadata>" in raw
    clean = sanitize_svg(raw)
    assert not clean.changed, describe(clean.removed)
    before, after = ET.fromstring(raw), ET.fromstring(clean.data)
    assert [(e.tag, e.attrib, e.text) for e in before.iter()] == \
        [(e.tag, e.attrib, e.text) for e in after.iter()]
    assert b"<!DOCTYPE" not in clean.data


def test_a_notebook_svg_output_is_cleaned_and_reported_with_its_cell() -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("display(SVG(drawing))")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "image/svg+xml": document(1), "text/plain": "<IPython.core.display.SVG object>"})]
    nb.cells = [cell]
    page = export_page(nb, "demo")
    svgs = {name: data for name, data in page.files.items() if name.endswith(".svg")}
    assert len(svgs) == 1
    (name, data), = svgs.items()
    assert name in page.markdown and _problems(data) == []
    assert page.removed == [f"{name}: removed a <script> element"]
