/*
 * nnx-embeds.js: load embedded pages (the `iframe(...)` shortcode) only when the reader wants them.
 *
 * The shortcode writes <iframe data-nnx-src="..." loading="lazy">, a hidden "Load" button that
 * says how much the embed downloads, and a <noscript> copy with a real src. Chrome's
 * loading="lazy" fetches frames within about 1250 px of the viewport, so on its own it loads an
 * embedded HiPlot page (about 1.6 MB with its script) at first load on any large screen. Here a
 * frame gets its `src` only
 *   - when the reader scrolls and any part of the frame is then in view (EMBED_MARGIN), or
 *   - when the reader presses its button (a frame already in view on a tall screen), or
 *   - when the page is printed.
 * Nothing is loaded before the reader does something, so a page's first load stays small at
 * every viewport size. It re-runs for every page through material's `document$` (instant
 * navigation); each page waits for its own first scroll.
 */
(function () {
  "use strict";

  if (window.nnxEmbeds) return;
  var EMBED_MARGIN = "0px";
  var observer = null;
  var armed = false;

  function button(frame) {
    var box = frame.parentElement;
    return box ? box.querySelector(".nnx-embed-load") : null;
  }

  function load(frame) {
    var src = frame.getAttribute("data-nnx-src");
    if (!src || frame.getAttribute("src")) return;
    var b = button(frame);
    var hadFocus = b && document.activeElement === b;
    frame.setAttribute("src", src);
    if (b) b.hidden = true;
    if (observer) observer.unobserve(frame);
    if (hadFocus) frame.focus();  // keep keyboard focus where the reader was
  }

  function pending() {
    return document.querySelectorAll("iframe[data-nnx-src]:not([src])");
  }

  function observe() {
    var frames = pending();
    if (!frames.length) return;
    if (!("IntersectionObserver" in window)) {
      frames.forEach(load);
      return;
    }
    observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) load(entry.target);
      });
    }, { rootMargin: EMBED_MARGIN });
    frames.forEach(function (f) { observer.observe(f); });
  }

  function onScroll() {
    if (armed) return;
    armed = true;  // the reader is moving through the page: load frames as they come into view
    observe();
  }

  function init() {
    if (observer) observer.disconnect();
    observer = null;
    armed = false;
    pending().forEach(function (frame) {
      var b = button(frame);
      if (!b) return;
      b.hidden = false;
      b.addEventListener("click", function () { load(frame); });
    });
  }

  window.addEventListener("scroll", onScroll, { passive: true });
  window.addEventListener("beforeprint", function () { pending().forEach(load); });

  window.nnxEmbeds = { init: init, load: load };
  window.nnxEachPage(init);
})();
