"""Interactive HiPlot parallel-coordinates pages that work offline, with one shared script.

HiPlot's own standalone HTML (``Experiment.to_html``) inlines its 1.5 MB JavaScript bundle into
every page, so each plot costs 1.6 MB and nothing is cached between plots or visits. Instead the
page is written from HiPlot's template with the bundle referenced by a relative
``<script src>``, and the bundle is written once, next to it, under a versioned name
(``hiplot-<version>.bundle.js``): the page itself is a few kB, every plot of a recipe shares the
script, a browser caches it, and a new HiPlot version gets a new name (no stale cache).

The bundle's CSS ``@import``s a Google font; that is the only request HiPlot makes to another
host, so it is removed from the script (the plot falls back to the system font) and the page is
checked to load nothing from elsewhere. The plot still works offline: page and script are both
assets of the recipe. The bundle is already minified (webpack production build); it is about
1.5 MB raw and 0.37 MB gzip-compressed, which is what GitHub Pages and most servers send.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipeline.library import atomic

log = logging.getLogger(__name__)

_FONT_IMPORT = re.compile(r'@import\s*(?:url\()?\\?["\']?https?://fonts\.googleapis\.com[^"\'\\)]*\\?["\']?\)?;?')
_EXTERNAL_LOAD = re.compile(r'<(?:link|script)[^>]+(?:href|src)=["\']https?://', re.IGNORECASE)
# The template's <script src="static/built/hiplot.bundle.js" ...></script>
_BUNDLE_TAG = re.compile(r'<script\b[^>]*\bsrc=["\'][^"\']*hiplot\.bundle\.js["\'][^>]*>\s*</script>',
                         re.IGNORECASE)
# The template's favicon (a file inside the hiplot package): an iframe shows no favicon.
_RANDOM_ID = re.compile(r"hiplot_[0-9a-f]{32}")
_ICON_LINK = re.compile(r'<link\b[^>]*\brel=["\']icon["\'][^>]*>\s*', re.IGNORECASE)
_LOCAL_REF = re.compile(r'<(?:link|script|img)\b[^>]*\b(?:href|src)=["\'](?!data:|https?:)([^"\']+)',
                        re.IGNORECASE)


def offline_html(html: str) -> str:
    """Strip HiPlot's remote font import; fail loudly if anything else would load remotely.

    Applies to a page with the bundle inlined and to the bundle script itself.
    """
    cleaned = _FONT_IMPORT.sub("", html)
    if "fonts.googleapis.com/css" in cleaned.replace("$web-font-path", ""):
        # Only a SCSS source-map string mentions the font path; make sure nothing else does.
        remaining = [m.start() for m in re.finditer(r"@import[^;]{0,20}fonts\.googleapis", cleaned)]
        if remaining:
            raise RuntimeError("HiPlot HTML still imports a remote font; update offline_html()")
    if _EXTERNAL_LOAD.search(cleaned):
        raise RuntimeError("HiPlot HTML loads a remote script or stylesheet; update offline_html()")
    return cleaned


def bundle_name() -> str:
    """File name of the shared HiPlot script: versioned, so browsers never mix versions."""
    import hiplot

    version = re.sub(r"[^0-9A-Za-z.]+", "-", str(getattr(hiplot, "__version__", "unknown")))
    return f"hiplot-{version}.bundle.js"


def _bundle_source() -> Path:
    import hiplot

    path = Path(hiplot.__file__).parent / "static" / "built" / "hiplot.bundle.js"
    if not path.is_file():
        raise RuntimeError(f"HiPlot's script bundle is missing ({path}); reinstall hiplot")
    return path


def write_bundle(folder: str | Path) -> Path:
    """Write the offline HiPlot bundle into ``folder`` once; later calls reuse the file.

    An existing file with the same content is left alone (so several plots in one asset folder
    share one script); a different one (an interrupted or edited copy) is replaced atomically.
    """
    target = Path(folder) / bundle_name()
    data = offline_html(_bundle_source().read_text(encoding="utf-8")).encode("utf-8")
    if target.is_file() and target.stat().st_size == len(data):
        if hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest():
            return target
    atomic.write_bytes(target, data)
    log.info("wrote the HiPlot bundle %s (%d bytes)", target, len(data))
    return target


# The site's palette, for HiPlot's own dark theme (its ``dark`` option, the ``hip_thm--dark``
# styles of its bundle): the scheme Material sets on the embedding page's <body> (the plot is a
# same-origin iframe), else the palette Material stored in localStorage (``<scope>.__palette``,
# the page opened on its own), else the system preference. The page and the root element get the
# theme's background before HiPlot draws; a palette change on the embedding page redraws the plot
# in the new theme (the iframe reloads itself; the script is cached). Data colours (HiPlot's
# colour scale for ``colorby``) are the same in both themes.
_PALETTE_HEAD = """<script>
(function () {
  function fromParent() {
    try {
      var body = window.parent !== window && window.parent.document.body;
      var scheme = body && body.getAttribute("data-md-color-scheme");
      if (scheme) return scheme === "slate" ? "dark" : "light";
    } catch (e) { /* another origin: fall through */ }
    return null;
  }
  function fromStorage() {
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var key = localStorage.key(i);
        if (!/(^|\\.)__palette$/.test(key)) continue;
        var value = JSON.parse(localStorage.getItem(key));
        var scheme = value && value.color && value.color.scheme;
        if (scheme) return scheme === "slate" ? "dark" : "light";
      }
    } catch (e) { /* no storage */ }
    return null;
  }
  function palette() {
    return fromParent() || fromStorage() ||
      (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  }
  var shown = palette();
  window.nnxHiplotPalette = shown;
  document.documentElement.setAttribute("data-nnx-palette", shown);
  try {
    var body = window.parent !== window && window.parent.document.body;
    if (body && window.MutationObserver) {
      new MutationObserver(function () {
        if (palette() !== shown) window.location.reload();
      }).observe(body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
    }
  } catch (e) { /* another origin: the palette at load time stays */ }
})();
</script>
<style>
html[data-nnx-palette="dark"], html[data-nnx-palette="dark"] body { background: #222; color: #fff; color-scheme: dark; }
</style>
"""
_PALETTE_OPTION = "options.dark = window.nnxHiplotPalette === \"dark\";\n"


def standalone_page(exp: Any, script_src: str) -> str:
    """HiPlot's standalone page for ``exp`` that loads its script from ``script_src``."""
    import html as html_lib

    from hiplot.render import make_experiment_standalone_page

    exp.validate()
    page = make_experiment_standalone_page(options={"experiment": exp._asdict()})
    page, n = _BUNDLE_TAG.subn(
        f'<script src="{html_lib.escape(script_src, quote=True)}" type="text/javascript"></script>',
        page)
    if n != 1:
        raise RuntimeError(f"HiPlot's page template has {n} bundle <script> tags, expected 1; "
                           "update pipeline/library/hiplot_export.py for this HiPlot version")
    page = page.replace("/*ON_LOAD_SCRIPT_INJECT*/", "/*ON_LOAD_SCRIPT_INJECT*/\n" + _PALETTE_OPTION, 1)
    page = page.replace("</head>", _PALETTE_HEAD + "</head>", 1)
    page = _ICON_LINK.sub("", page)
    page = page.replace("<html>", '<html lang="en">', 1)
    # HiPlot names its root element with a random uuid; name it after the content instead, so
    # the same experiment gives the same bytes (reproducible builds, byte-equal --jobs results).
    random_ids = set(_RANDOM_ID.findall(page))
    if random_ids:
        neutral = _RANDOM_ID.sub("hiplot_root", page)
        stable = "hiplot_" + hashlib.sha256(neutral.encode("utf-8")).hexdigest()[:32]
        page = _RANDOM_ID.sub(stable, page)
    others = [ref for ref in _LOCAL_REF.findall(page) if ref != script_src]
    if others:
        raise RuntimeError(f"HiPlot's page refers to files that are not written: {others}; "
                           "update pipeline/library/hiplot_export.py")
    return offline_html(page)


def parallel_coordinates(
    rows: Iterable[dict[str, Any]],
    path: str | Path,
    order: Sequence[str] | None = None,
    color_by: str | None = None,
) -> Path:
    """Write an offline HiPlot page with one line per row (e.g. one per epoch).

    The page (``path``) is small; the script it needs is written next to it by
    :func:`write_bundle` (one file per folder, shared by every plot there).
    """
    import hiplot as hip

    rows = list(rows)
    if not rows:
        raise ValueError("parallel_coordinates needs at least one row")
    exp = hip.Experiment.from_iterable(rows)
    exp.display_data(hip.Displays.PARALLEL_PLOT).update(
        {"order": list(order or rows[0].keys())}
    )
    exp.display_data(hip.Displays.TABLE).update({"hide": ["uid", "from_uid"]})
    if color_by:
        exp.colorby = color_by
    path = Path(path)
    bundle = write_bundle(path.parent)
    atomic.write_text(path, standalone_page(exp, bundle.name))
    log.info("wrote HiPlot page %s (%d rows; script %s)", path, len(rows), bundle.name)
    return path
