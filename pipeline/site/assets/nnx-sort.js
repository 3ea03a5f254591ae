/*
 * nnx-sort.js: sortable tables (the build report, pipeline/site/build_report.py). No library.
 *
 * <table class="nnx-sortable"> has a <button class="nnx-sort"> in each column heading; each
 * body cell carries its sort key in data-nnx-key (numbers for columns whose <th> has
 * data-nnx-type="num"). Activating a heading (click, Enter or Space: it is a real button) sorts
 * the body rows by that column, descending first for numbers and ascending for text, and a
 * second activation reverses; aria-sort on the heading tells screen readers the order. The
 * <tfoot> totals stay where they are. Runs for every page through material's document$.
 */
(function () {
  "use strict";
  if (window.nnxSort) return;

  function keyOf(row, col, numeric) {
    var cell = row.children[col];
    var key = cell ? (cell.getAttribute("data-nnx-key") || cell.textContent) : "";
    return numeric ? Number(key) : key.toLowerCase();
  }

  function sortBy(table, col) {
    var heads = table.tHead.rows[0].cells;
    var th = heads[col];
    var numeric = th.getAttribute("data-nnx-type") === "num";
    var current = th.getAttribute("aria-sort");
    var order = current ? (current === "ascending" ? "descending" : "ascending")
      : (numeric ? "descending" : "ascending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = keyOf(a, col, numeric), y = keyOf(b, col, numeric);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return order === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", order);
  }

  function init() {
    document.querySelectorAll("table.nnx-sortable").forEach(function (table) {
      if (table.dataset.nnxSortReady) return;
      table.dataset.nnxSortReady = "1";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
        var b = th.querySelector("button.nnx-sort");
        if (b) b.addEventListener("click", function () { sortBy(table, col); });
      });
    });
  }

  window.nnxSort = { init: init, sortBy: sortBy };
  window.nnxEachPage(init);
})();
