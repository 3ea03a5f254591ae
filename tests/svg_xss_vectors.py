"""SVG documents that run script, navigate or call another host when a reader opens them directly,
for the SVG sanitiser's tests (tests/unit/site/test_sanitize_svg.py and
tests/browser/test_sanitize_svg_browser.py).

``PAYLOAD`` becomes ``alert(<n>)``: "ran nothing" is read from the browser's dialogs. ``EVIL``
is a host the browser test refuses to reach; a request for it counts as a leak. Sources: the
SVG cases of OWASP's XSS filter-evasion cheat sheet and of DOMPurify's and svg-sanitizer's
test suites, plus what the SVG 2 specification lets ``href`` and animation do.
"""

from __future__ import annotations

import base64

SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ' \
           'width="200" height="100"'
EVIL = "https://attacker.example"
_INNER = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="PAYLOAD"/>').decode()

#: Each a whole document; ``{svg}`` is the opening tag up to (not including) its ``>``.
VECTORS: list[str] = [
    '{svg} onload="PAYLOAD"></svg>',
    "{svg}><script>PAYLOAD</script></svg>",
    '{svg}><script><![CDATA[PAYLOAD]]></script></svg>',
    '{svg}><script xlink:href="data:text/javascript,PAYLOAD"/></svg>',
    '{svg}><script href="data:text/javascript,PAYLOAD"/></svg>',
    '{svg}><g onload="PAYLOAD"><rect width="10" height="10"/></g></svg>',
    '{svg}><rect width="200" height="100" onmouseover="PAYLOAD" onclick="PAYLOAD"/></svg>',
    '{svg}><image href="x.png" onerror="PAYLOAD"/></svg>',
    '{svg}><a xlink:href="javascript:PAYLOAD"><rect width="200" height="100"/></a></svg>',
    '{svg}><a href="javascript:PAYLOAD"><rect width="200" height="100"/></a></svg>',
    '{svg}><a href="&#106;avascript:PAYLOAD"><rect width="200" height="100"/></a></svg>',
    '{svg}><a href=" &#x09;javascript:PAYLOAD"><rect width="200" height="100"/></a></svg>',
    '{svg}><a><set attributeName="href" to="javascript:PAYLOAD"/>'
    '<rect width="200" height="100"/></a></svg>',
    '{svg}><a><animate attributeName="href" values="javascript:PAYLOAD" dur="1s" begin="0s" '
    'fill="freeze"/><rect width="200" height="100"/></a></svg>',
    '{svg}><animate onbegin="PAYLOAD" attributeName="x" dur="1s"/></svg>',
    '{svg}><set onbegin="PAYLOAD" attributeName="x" to="1"/></svg>',
    '{svg}><discard onbegin="PAYLOAD"/></svg>',
    '{svg}><foreignObject width="200" height="100"><body xmlns="http://www.w3.org/1999/xhtml">'
    '<img src="x" onerror="PAYLOAD"/></body></foreignObject></svg>',
    '{svg}><foreignObject width="200" height="100"><iframe xmlns="http://www.w3.org/1999/xhtml" '
    'srcdoc="&lt;script&gt;parent.PAYLOAD&lt;/script&gt;"/></foreignObject></svg>',
    '{svg}><html:script xmlns:html="http://www.w3.org/1999/xhtml">PAYLOAD</html:script></svg>',
    '{svg}><html:img xmlns:html="http://www.w3.org/1999/xhtml" src="x" onerror="PAYLOAD"/></svg>',
    '{svg}><svg onload="PAYLOAD"/></svg>',
    '{svg}><title><![CDATA[</title><script>PAYLOAD</script>]]></title>'
    '<desc onclick="PAYLOAD">d</desc></svg>',
    '{svg}><use href="data:image/svg+xml;base64,' + _INNER + '#x"/></svg>',
    '{svg}><image href="data:image/svg+xml;base64,' + _INNER + '"/></svg>',
    '{svg}><iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:PAYLOAD"/></svg>',
    '{svg}><handler xmlns:ev="http://www.w3.org/2001/xml-events" ev:event="load">PAYLOAD'
    '</handler></svg>',
    '{svg}><style>@import url("' + EVIL + '/import.css");</style></svg>',
    '{svg}><style>rect {{ fill: url("' + EVIL + '/fill.svg#p") }}</style>'
    '<rect width="10" height="10"/></svg>',
    '{svg}><rect width="10" height="10" style="fill: url(' + EVIL + '/style.svg#p)"/></svg>',
    '{svg}><rect width="10" height="10" fill="url(' + EVIL + '/attr.svg#p)"/></svg>',
    '{svg}><rect width="10" height="10" style="fill: u\\72l(' + EVIL + '/escaped.svg#p)"/></svg>',
    '{svg}><image href="' + EVIL + '/track.png" width="10" height="10"/></svg>',
    '{svg}><image xlink:href="//attacker.example/track2.png" width="10" height="10"/></svg>',
    '{svg}><feImage href="' + EVIL + '/fe.png"/></svg>',
    '{svg}><a xlink:href="data:text/html,&lt;script&gt;PAYLOAD&lt;/script&gt;">'
    '<rect width="200" height="100"/></a></svg>',
]

#: Vectors that are not published at all (the sanitiser refuses the file), as whole documents.
REJECTED: list[str] = [
    '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "<script>PAYLOAD</script>">]>'
    '<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
    '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "' + EVIL + '/entity">]>'
    '<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
    '<html xmlns="http://www.w3.org/1999/xhtml"><script>PAYLOAD</script></html>',
    "<svg onload=PAYLOAD>",  # HTML, not XML
]

#: A processing instruction before the root: the parser drops it without a word.
STYLESHEET_PI = ('<?xml-stylesheet type="text/xsl" href="' + EVIL + '/x.xsl"?>'
                 '<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>')


def document(index: int) -> str:
    """Vector ``index`` as a whole SVG document with its payload."""
    return VECTORS[index].format(svg=SVG_OPEN).replace("PAYLOAD", f"alert({index})")


def matplotlib_svg() -> bytes:
    """A small matplotlib figure as SVG, with what its SVGs hold: paths, text, an embedded PNG
    (``imshow``), clip paths, ``<use>``, a ``<style>``, RDF metadata and a DOCTYPE."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(3, 2), dpi=72)
    ax.plot([0, 1, 2], [2, 0, 1], label="a < b & c")
    ax.imshow(np.arange(16).reshape(4, 4), extent=(0, 1, 0, 1))
    ax.set_title("accuracy (%)")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()
