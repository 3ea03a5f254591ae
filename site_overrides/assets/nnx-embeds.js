/*
 * nnx-embeds.js: load embedded pages (the `iframe(...)` shortcode) only when they are needed.
 *
 * The shortcode writes <iframe data-nnx-src="..." loading="lazy"> plus a <noscript> copy with a
 * real src. Chrome's loading="lazy" still fetches frames within about 1250 px of the viewport,
 * which on a short page means at first load; an embedded HiPlot page alone is 1.6 MB. This
 * script sets `src` as soon as any part of a frame scrolls into view (EMBED_MARGIN around the
 * viewport), or when the page is printed; it re-runs for every page through material's
 * `document$` (instant navigation). A frame already visible at load is loaded at once.
 */
(function () {
  "use strict";

  if (window.nnxEmbeds) return;
  var EMBED_MARGIN = "0px";
  var observer = null;

  function load(frame) {
    var src = frame.getAttribute("data-nnx-src");
    if (src && !frame.getAttribute("src")) frame.setAttribute("src", src);
  }

  function init() {
    if (observer) observer.disconnect();
    var frames = document.querySelectorAll("iframe[data-nnx-src]:not([src])");
    if (!frames.length) return;
    if (!("IntersectionObserver" in window)) {
      frames.forEach(load);
      return;
    }
    observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          load(entry.target);
          observer.unobserve(entry.target);
        }
      });
    }, { rootMargin: EMBED_MARGIN });
    frames.forEach(function (f) { observer.observe(f); });
  }

  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("iframe[data-nnx-src]:not([src])").forEach(load);
  });

  window.nnxEmbeds = { init: init };
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
