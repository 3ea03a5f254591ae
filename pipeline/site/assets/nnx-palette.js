/*
 * nnx-palette.js: show the light or dark version of every generated picture, as the palette is.
 *
 * Material sets data-md-color-scheme="default" (light) or "slate" (dark) on <body> and changes
 * it without a reload when the reader presses the palette toggle. The shortcodes
 * (pipeline/site/pages.py) write pictures that have two versions without a URL to load:
 *
 *   <img data-nnx-light="a.png" data-nnx-dark="a.dark.png" loading="lazy" alt="...">
 *   <img ... data-nnx-still-light="poster.png" data-nnx-still-dark="poster.dark.png">  (a GIF)
 *   <video data-nnx-poster-light=".." data-nnx-poster-dark=".."><source data-nnx-light=".."
 *          data-nnx-dark=".."></video>
 *
 * and this script gives each the URL of the palette shown (on every page, through material's
 * document$, and on every palette change, through a MutationObserver on <body>), so the other
 * version is never requested. An <img> keeps loading="lazy". A reader who prefers reduced
 * motion gets the GIF's still instead of the GIF. A palette change also fires an
 * "nnx-palette" event on document (the scrubber redraws its frames); window.nnxPalette.current()
 * says which palette is shown ("light" or "dark").
 */
(function () {
  "use strict";
  if (window.nnxPalette) return;

  var reduceMotion = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;

  function current() {
    var scheme = document.body && document.body.getAttribute("data-md-color-scheme");
    if (scheme === "slate") return "dark";
    if (scheme) return "light";
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function reduced() { return !!(reduceMotion && reduceMotion.matches); }

  function pick(el, prefix, palette) {
    return el.getAttribute(prefix + palette) || el.getAttribute(prefix + "light");
  }

  function apply(root) {
    var palette = current();
    var changed = false;
    (root || document).querySelectorAll("img[data-nnx-light]").forEach(function (img) {
      var url = (reduced() && img.hasAttribute("data-nnx-still-light"))
        ? pick(img, "data-nnx-still-", palette) : pick(img, "data-nnx-", palette);
      if (img.getAttribute("src") !== url) { img.setAttribute("src", url); changed = true; }
    });
    (root || document).querySelectorAll("video[data-nnx-poster-light], video.nnx-palette-video").forEach(function (video) {
      var poster = pick(video, "data-nnx-poster-", palette);
      if (poster && video.getAttribute("poster") !== poster) { video.setAttribute("poster", poster); changed = true; }
      var reload = false;
      // no source chosen yet (none of the <source>s had a src when the page was parsed)
      var fresh = video.networkState === HTMLMediaElement.NETWORK_EMPTY ||
        video.networkState === HTMLMediaElement.NETWORK_NO_SOURCE;
      video.querySelectorAll("source[data-nnx-light]").forEach(function (source) {
        var url = pick(source, "data-nnx-", palette);
        if (source.getAttribute("src") === url) return;
        if (fresh) {
          // The first time, insert a new <source> as the HTML parser would: the browser then
          // selects it honouring preload="none" (an explicit load() makes Chrome fetch it all).
          var copy = source.cloneNode(false);
          copy.setAttribute("src", url);
          source.replaceWith(copy);
        } else {
          source.setAttribute("src", url);
          reload = true;
        }
      });
      if (fresh) changed = true;
      if (reload) {
        var time = video.currentTime || 0;
        var playing = !video.paused;
        video.load();  // a <source> change needs load(); keep the reader's place
        if (time) video.addEventListener("loadedmetadata", function () { video.currentTime = time; }, { once: true });
        if (playing) video.play().catch(function () { /* the reader can press play */ });
        changed = true;
      }
    });
    return changed;
  }

  var shown = null;
  function update() {
    var palette = current();
    apply(document);
    if (shown !== null && shown !== palette) {
      document.dispatchEvent(new CustomEvent("nnx-palette", { detail: { palette: palette } }));
    }
    shown = palette;
  }

  function watch() {
    if (!document.body || !window.MutationObserver) return;
    new MutationObserver(update).observe(document.body,
      { attributes: true, attributeFilter: ["data-md-color-scheme"] });
  }

  window.nnxPalette = { current: current, apply: apply, reducedMotion: reduced };
  if (reduceMotion && reduceMotion.addEventListener) reduceMotion.addEventListener("change", update);
  if (document.body) watch(); else document.addEventListener("DOMContentLoaded", watch);
  /** Run ``fn`` for every page Material shows: now (or once the DOM is ready), then after each
   *  instant navigation (``document$`` emits the new page). Every page script starts through
   *  this; the plugin loads this file first. */
  function eachPage(fn) {
    if (window.document$ && typeof window.document$.subscribe === "function") {
      window.document$.subscribe(function () { fn(); });
    } else if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { fn(); });
    } else {
      fn();
    }
  }
  window.nnxEachPage = eachPage;
  eachPage(update);
})();
