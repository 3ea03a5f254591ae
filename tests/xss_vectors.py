"""Known XSS filter-evasion vectors (after OWASP's cheat sheet, plus mutation-XSS and
clobbering cases), for the sanitiser's browser test (tests/browser/test_sanitize_browser.py).

Each vector runs ``PAYLOAD`` when a browser lets it: the test puts ``top.nnxRan(<n>)`` there, a
function that records the vector's number, so "ran nothing" is a fact read from the page, not
the absence of an alert. ``top`` reaches the page from a ``srcdoc`` frame as well. The first five
are the ones issue 25 found getting past the old regular expressions.
"""

from __future__ import annotations

import base64
import html

_SVG_ONLOAD = base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="PAYLOAD"></svg>').decode()
_HTML_SCRIPT = base64.b64encode(b"<script>PAYLOAD</script>").decode()

VECTORS: list[str] = [
    # the five from the issue
    "<svg/onload=PAYLOAD>",
    '<a href="&#106;avascript:PAYLOAD">entity-encoded javascript: link</a>',
    '<iframe srcdoc="&lt;script&gt;PAYLOAD&lt;/script&gt;"></iframe>',
    '<meta http-equiv="refresh" content="0;url=?navigated-by-meta-refresh">',
    '<base href="https://attacker.example/"><img src="x.png" alt="relative image">',
    # script elements, however spelt
    "<script>PAYLOAD</script>",
    "<SCRIPT SRC=data:text/javascript,PAYLOAD></SCRIPT>",
    '<SCRIPT/XSS SRC="data:,PAYLOAD"></SCRIPT>',
    "<<SCRIPT>PAYLOAD//<</SCRIPT>",
    '<IMG """><SCRIPT>PAYLOAD</SCRIPT>">',
    "</TITLE><SCRIPT>PAYLOAD</SCRIPT>",
    "<svg><script>PAYLOAD</script></svg>",
    # event handlers
    "<IMG SRC=/ onerror=\"PAYLOAD\"></img>",
    "<img src=x onerror=PAYLOAD>",
    '<IMG SRC=# onmouseover="PAYLOAD">',
    "<body onload=PAYLOAD>",
    "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=PAYLOAD>",
    "<input autofocus onfocus=PAYLOAD>",
    "<select autofocus onfocus=PAYLOAD></select>",
    "<textarea autofocus onfocus=PAYLOAD></textarea>",
    "<details open ontoggle=PAYLOAD><summary>s</summary>d</details>",
    "<video><source onerror=PAYLOAD></video>",
    "<audio src=x onerror=PAYLOAD></audio>",
    "<marquee onstart=PAYLOAD>m</marquee>",
    "<div tabindex=1 autofocus onfocus=PAYLOAD>d</div>",
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114'
    '&#0000105&#0000112&#0000116&#0000058PAYLOAD">',
    '<img src=x onerror=eval(alt) alt="PAYLOAD">',
    '<style>@keyframes k{}</style><b style="animation-name:k" onanimationstart=PAYLOAD>b</b>',
    # javascript: and data: URLs
    '<IMG SRC="javascript:PAYLOAD;">',
    "<IMG SRC=JaVaScRiPt:PAYLOAD>",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;PAYLOAD>",
    '<IMG SRC="jav\tascript:PAYLOAD;">',
    '<IMG SRC="jav&#x09;ascript:PAYLOAD;">',
    '<IMG SRC="jav&#x0A;ascript:PAYLOAD;">',
    '<IMG SRC=" &#14;  javascript:PAYLOAD;">',
    '<a href="jAvAsCrIpT&colon;PAYLOAD">named-entity colon</a>',
    '<a href="  javascript:PAYLOAD">leading spaces</a>',
    f'<a href="data:text/html;base64,{_HTML_SCRIPT}">data: link</a>',
    '<iframe src="javascript:PAYLOAD"></iframe>',
    f'<iframe src="data:text/html;base64,{_HTML_SCRIPT}"></iframe>',
    f'<embed src="data:image/svg+xml;base64,{_SVG_ONLOAD}">',
    '<object data="javascript:PAYLOAD"></object>',
    '<form><button formaction="javascript:PAYLOAD">go</button></form>',
    '<form action="javascript:PAYLOAD"><input type=submit></form>',
    '<img data-nnx-light="javascript:PAYLOAD" data-nnx-dark="javascript:PAYLOAD" alt="palette">',
    '<picture><source srcset="javascript:PAYLOAD"><img src="x.png" alt="p"></picture>',
    # styles and stylesheets
    '<LINK REL="stylesheet" HREF="javascript:PAYLOAD;">',
    "<STYLE>@import'javascript:PAYLOAD';</STYLE>",
    '<DIV STYLE="background-image: url(javascript:PAYLOAD)">bg</DIV>',
    '<table><tr><td style="position:fixed;inset:0;z-index:9;background:red">overlay</td></tr>'
    "</table>",
    # mutation XSS: markup that a sanitiser and a browser parse differently
    "<noscript><p title=\"</noscript><img src=x onerror=PAYLOAD>\">",
    "<math><mtext><table><mglyph><style><img src=x onerror=PAYLOAD>",
    "<svg><style><img src=x onerror=PAYLOAD></style></svg>",
    "<template><img src=x onerror=PAYLOAD></template>",
    "<xmp><img src=x onerror=PAYLOAD></xmp>",
    # clobbering the page scripts' globals
    '<img name="nnxClobbered" src="x.png" alt="c"><a id="nnxClobbered2" href="#">c</a>',
]

#: Vectors that navigate when they work (kept out of the control page, where a navigation
#: would end the count).
NAVIGATING = {3}


def with_payload(index: int) -> str:
    """Vector ``index`` with its payload (``top.nnxRan(index)``), ready to inline."""
    payload = f"top.nnxRan({index})"
    vector = VECTORS[index]
    if "base64," in vector:  # a payload inside base64: encode it with the number in
        head, _, rest = vector.partition("base64,")
        encoded, _, tail = rest.partition('"')
        inner = base64.b64decode(encoded).decode().replace("PAYLOAD", payload)
        return f'{head}base64,{base64.b64encode(inner.encode()).decode()}"{tail}'
    return vector.replace("PAYLOAD", payload)


def srcdoc(index: int) -> str:
    """The raw vector as a frame of its own, for the control page (nothing sanitised)."""
    return f'<iframe title="vector {index}" srcdoc="{html.escape(with_payload(index))}"></iframe>'
