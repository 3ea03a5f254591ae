/*
 * nnx-a11y.js: small accessibility repairs of the theme's own markup.
 *
 * Material's search overlay is a role=dialog without a name (axe: aria-dialog-name); it gets the
 * name of the search field it holds (the theme translates that one). No library, no requests.
 */
(function () {
  "use strict";

  function nameSearchDialog() {
    document.querySelectorAll(".md-search[role=dialog]:not([aria-label])").forEach(function (dialog) {
      var input = dialog.querySelector("input[aria-label]");
      dialog.setAttribute("aria-label", input ? input.getAttribute("aria-label") : "Search");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", nameSearchDialog);
  } else {
    nameSearchDialog();
  }
})();
