/*
 * nnx-replay.js: replays drawn live in the page, from the recorded numbers.
 *
 * Markup (the replay(...) shortcode, pipeline/site/pages.py, templates/replay.html):
 *
 *   <figure class="nnx-replay" data-nnx-autoplay="true" aria-label="...">
 *     <div class="nnx-replay-runs">
 *       <div class="nnx-replay-run" data-nnx-replay="../assets/<slug>/replay.json" data-nnx-label="seed 0">
 *         <div class="nnx-replay-placeholder"> (the poster's size, until the data is drawn) </div>
 *         <noscript> the poster and the video, for readers without JavaScript </noscript>
 *         <template class="nnx-replay-fallback"> the same, shown only if the data cannot load </template>
 *       </div> ... one per run side by side
 *     </div>
 *     <figcaption>, download links, <details> with the numbers per epoch
 *   </figure>
 *
 * Each run's JSON index and binary file (pipeline/library/replay/browser_data.py) are fetched
 * when the figure comes near the viewport; nnx-replay-core.js turns them into the numbers of
 * any epoch. This file draws them: one canvas per view (feature space with its background and
 * the bent input grid, projection, decision boundary, histograms, prediction against target,
 * curves), laid out on the same grid as the video, axes fixed over all epochs.
 *
 * - One control bar per figure: play/pause (at the recorded pace, index.fps epochs per
 *   second), a range slider (keyboard: arrows, Home/End, PageUp/PageDown) with aria-valuetext,
 *   the epoch read out. Runs side by side share the epoch and the hover.
 * - Hover (or touch) a point: its path over all epochs, its label, probability and loss.
 *   Hover a histogram bar: its points light up in every points view. Click the curves to
 *   seek that epoch.
 * - Playback starts by itself once, when the figure is first in view, unless the reader
 *   prefers reduced motion (then nothing moves until Play is pressed); any interaction stops it.
 * - Colours: neutral ones from Material's CSS variables, read again when the palette toggles
 *   (the "nnx-palette" event of nnx-palette.js); class colours and colormaps from the index
 *   (matplotlib's, as the video).
 * - Material's instant navigation: set up on every document$ emission, the previous page's
 *   figures torn down. Without material: on DOMContentLoaded.
 * - Without JavaScript the poster and the video are shown (<noscript>); if the data cannot
 *   load, the script puts them in (from the <template>), so a reader whose page draws the
 *   replay downloads neither.
 *
 * window.nnxReplay.groups are the live figures (tests and the benchmark drive them).
 */
(function () {
  "use strict";
  if (window.nnxReplay) return;
  var core = window.nnxReplayCore;
  if (!core) { console.warn("nnx-replay: nnx-replay-core.js is missing"); return; }

  var NARROW = 560; // px: below this a run's views stack in two columns
  var HOVER_RADIUS = 7; // px around a point that count as hovering it
  var MARGIN = { left: 40, right: 8, top: 6, bottom: 30 };
  var instances = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmt(v, digits) {
    if (!isFinite(v)) return "n/a";
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    return v.toFixed(digits === undefined ? 3 : digits);
  }

  // ------------------------------------------------------------------------------ colours
  /** Neutral colours of the palette shown (Material's CSS variables), as canvas colours. */
  function readTheme(node) {
    var cs = getComputedStyle(node);
    var v = function (name, fallback) { return (cs.getPropertyValue(name) || "").trim() || fallback; };
    var probe = el("span");
    probe.style.display = "none";
    node.appendChild(probe);
    var resolve = function (color) {
      probe.style.color = color;
      var m = getComputedStyle(probe).color.match(/[\d.]+/g) || ["255", "255", "255"];
      return [+m[0], +m[1], +m[2]];
    };
    var t = {
      ink: v("--md-default-fg-color", "rgba(0,0,0,.87)"),
      light: v("--md-default-fg-color--light", "rgba(0,0,0,.54)"),
      lighter: v("--md-default-fg-color--lighter", "rgba(0,0,0,.32)"),
      lightest: v("--md-default-fg-color--lightest", "rgba(0,0,0,.07)"),
      bg: v("--md-default-bg-color", "#fff"),
      accent: v("--md-accent-fg-color", "#526cfe"),
    };
    t.bgRgb = resolve(t.bg);
    t.inkRgb = resolve(t.ink);
    node.removeChild(probe);
    return t;
  }

  function rgba(rgb, a) { return "rgba(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + "," + a + ")"; }

  // --------------------------------------------------------------------------- one view
  /** A view of one run: a title, a canvas and its axes' tick labels (DOM). */
  function Panel(runView, spec, number) {
    this.runView = runView;
    this.run = runView.run;
    this.spec = spec;
    this.kind = spec.kind;
    this.number = number;
    this.node = el("div", "nnx-rp-panel nnx-rp-" + spec.kind);
    var s = spec.slot;
    this.node.style.gridArea = (s[0] + 1) + " / " + (s[1] + 1) + " / span " + s[2] + " / span " + s[3];
    this.node.dataset.span = String(s[3]);
    this.title = el("div", "nnx-rp-title", spec.title || "");
    this.plot = el("div", "nnx-rp-plot");
    this.canvas = el("canvas");
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", this.describe());
    this.axes = el("div", "nnx-rp-axes");
    this.axes.setAttribute("aria-hidden", "true");
    this.plot.append(this.canvas, this.axes);
    this.node.append(this.title, this.plot);
    if (spec.kind === "unsupported") {
      this.plot.replaceChildren(el("p", "nnx-rp-unsupported", "Not drawn here: " + spec.why));
    }
    this.points = ["feature", "projection", "boundary", "prediction"].indexOf(spec.kind) >= 0;
    this.histogram = ["probability", "loss", "residual", "weights"].indexOf(spec.kind) >= 0;
    this.image = null; // the background's offscreen canvas
    this.imageKey = null;
  }

  Panel.prototype.describe = function () {
    var s = this.spec, t = this.run.task;
    var what = {
      feature: "the " + this.run.n + " probe points in the plane of layer '" + s.layer + "'" +
        (s.input_grid ? ", with the input grid bent into it" : "") +
        (s.background ? "; the background is what the rest of the network predicts there" : ""),
      projection: "the " + this.run.n + " probe points in a fixed 2-D projection of layer '" + s.layer + "'",
      boundary: "the predicted probability over the input plane, its decision boundary and the " + this.run.n + " points",
      prediction: "each point's prediction against its target, with the line y = x",
      probability: "a histogram of predicted probabilities",
      loss: "a histogram of the per-sample loss",
      residual: "a histogram of the residuals (prediction minus target)",
      weights: "a histogram of the layer's weights",
      curves: "the curves of " + (s.labels || []).join(" and ") + " over the epochs",
    }[s.kind] || "";
    var classes = t.kind === "binary" ? " Red points are class 0, blue class 1." : "";
    return (s.title || s.kind) + ": " + what + "." + (this.points ? classes : "");
  };

  /** Size the canvas to its box (device pixels) and lay out scales and tick labels. */
  Panel.prototype.resize = function () {
    if (this.kind === "unsupported") return;
    var w = this.plot.clientWidth, h = this.plot.clientHeight;
    if (!w || !h) return;
    var dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = w + "px";
    this.canvas.style.height = h + "px";
    this.dpr = dpr;
    this.w = w;
    this.h = h;
    var r = this.rect = { x: MARGIN.left, y: MARGIN.top, w: Math.max(10, w - MARGIN.left - MARGIN.right),
      h: Math.max(10, h - MARGIN.top - MARGIN.bottom) };
    var lim = this.limits();
    this.x = core.scale(lim.x[0], lim.x[1], r.x, r.x + r.w);
    this.y = core.scale(lim.y[0], lim.y[1], r.y + r.h, r.y);
    this.layoutTicks();
  };

  /** Axis ranges (fixed over epochs; shared over runs side by side). */
  Panel.prototype.limits = function () {
    var s = this.spec, shared = this.runView.group.shared[this.number] || {};
    if (this.histogram) {
      return { x: [s.edges[0], s.edges[s.edges.length - 1]], y: [0, shared.ymax || s.ymax] };
    }
    return { x: shared.xlim || s.xlim, y: shared.ylim || s.ylim };
  };

  Panel.prototype.layoutTicks = function () {
    var self = this, r = this.rect, axes = this.axes;
    axes.replaceChildren();
    var xt = core.ticks(this.x.domain[0], this.x.domain[1], Math.max(2, Math.floor(r.w / 60)));
    var yt = core.ticks(this.y.domain[0], this.y.domain[1], Math.max(2, Math.floor(r.h / 40)));
    this.xticks = xt.filter(function (v) { return v >= self.x.domain[0] - 1e-9 && v <= self.x.domain[1] + 1e-9; });
    this.yticks = yt.filter(function (v) { return v >= self.y.domain[0] - 1e-9 && v <= self.y.domain[1] + 1e-9; });
    var xl = core.tickLabels(this.xticks), yl = core.tickLabels(this.yticks);
    this.xticks.forEach(function (v, i) {
      var t = el("span", "nnx-rp-tick nnx-rp-xtick", xl[i]);
      t.style.left = self.x(v) + "px";
      t.style.top = (r.y + r.h + 4) + "px";
      t.dataset.value = String(v);
      axes.appendChild(t);
    });
    this.yticks.forEach(function (v, i) {
      var t = el("span", "nnx-rp-tick nnx-rp-ytick", yl[i]);
      t.style.right = (self.w - r.x + 4) + "px";
      t.style.top = self.y(v) + "px";
      t.dataset.value = String(v);
      axes.appendChild(t);
    });
    if (this.spec.xlabel) {
      var xlab = el("span", "nnx-rp-xlabel", this.spec.xlabel);
      xlab.style.left = (r.x + r.w / 2) + "px";
      axes.appendChild(xlab);
    }
    if (this.spec.ylabel) {
      var ylab = el("span", "nnx-rp-ylabel", this.spec.ylabel);
      ylab.style.top = (r.y + r.h / 2) + "px";
      axes.appendChild(ylab);
    }
    if (this.kind === "curves") {
      var legend = el("span", "nnx-rp-legend");
      (this.spec.labels || []).forEach(function (label, i) {
        var item = el("span", "nnx-rp-legend-item", label);
        item.style.setProperty("--nnx-swatch", self.spec.colors[i]);
        legend.appendChild(item);
      });
      axes.appendChild(legend);
    }
  };

  /** Epoch row of this run at the group's epoch (its last recorded epoch at or before it). */
  Panel.prototype.row = function (epoch) { return this.runView.rowFor(epoch); };

  Panel.prototype.draw = function (state) {
    if (this.kind === "unsupported" || !this.rect) return;
    var ctx = this.canvas.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.w, this.h);
    var e = this.row(state.epoch), theme = state.theme;
    ctx.save();
    ctx.beginPath();
    ctx.rect(this.rect.x, this.rect.y, this.rect.w, this.rect.h);
    ctx.clip();
    if (this.points) this.drawPoints(ctx, e, state);
    else if (this.histogram) this.drawHistogram(ctx, e, state);
    else if (this.kind === "curves") this.drawCurves(ctx, e, state);
    ctx.restore();
    this.drawFrame(ctx, theme);
  };

  Panel.prototype.drawFrame = function (ctx, theme) {
    var r = this.rect, self = this;
    ctx.strokeStyle = theme.ink;
    ctx.lineWidth = 0.8;
    ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
    ctx.beginPath();
    this.xticks.forEach(function (v) { var px = Math.round(self.x(v)) + 0.5; ctx.moveTo(px, r.y + r.h); ctx.lineTo(px, r.y + r.h + 3.5); });
    this.yticks.forEach(function (v) { var py = Math.round(self.y(v)) + 0.5; ctx.moveTo(r.x, py); ctx.lineTo(r.x - 3.5, py); });
    ctx.stroke();
  };

  // -- points views --------------------------------------------------------------------
  Panel.prototype.pointColors = function () {
    var s = this.spec, run = this.run;
    if (s.kind === "prediction") return null;
    if (run.task.kind !== "regression") return run.index.classes.colors;
    return null;
  };

  Panel.prototype.radius = function () {
    var g = this.run.index.grid, run = this.runView.node.clientWidth || 600;
    var scale = run / (g.width * 100); // the video is drawn at 100 dpi
    return Math.max(1.3, (this.spec.point_size || 2) * 0.69 * scale);
  };

  Panel.prototype.drawImage = function (ctx, e, state) {
    var s = this.spec, bg = s.kind === "boundary" ? s : s.background;
    if (!bg) return null;
    var lim = this.limits(); // the axes shown (shared by runs side by side): fill them
    var grid = this.run.grid(s, e, lim.x, lim.y), r = grid.xs.length;
    var key = e + ":" + lim.x + ":" + lim.y;
    if (this.imageKey !== key) {
      if (!this.image) { this.image = document.createElement("canvas"); this.image.width = r; this.image.height = r; }
      var ictx = this.image.getContext("2d"), img = ictx.createImageData(r, r), px = img.data;
      // blended with white in both palettes, as matplotlib's light colormaps (the video and
      // the stills keep these images in the dark palette too)
      var alpha = bg.alpha, back = [255, 255, 255], rgb = [0, 0, 0], k = grid.k;
      var lut = this.runView.group.colormap(bg.cmap || "RdBu", this.run.index);
      var colors = (bg.colors || []).map(core.hexRgb);
      var multiclass = (s.kind === "boundary" ? s.multiclass : bg.kind === "multiclass");
      for (var j = 0; j < r; j++) {
        for (var i = 0; i < r; i++) {
          var g = j * r + i, a = alpha;
          if (multiclass) {
            var best = 0, top = -Infinity;
            for (var c = 0; c < k; c++) if (grid.p[g * k + c] > top) { top = grid.p[g * k + c]; best = c; }
            var conf = (top - 1 / k) / (1 - 1 / k);
            a = alpha * Math.min(Math.max(isFinite(conf) ? conf : 0, 0), 1);
            rgb = colors[best % colors.length];
          } else {
            lut(grid.p[g * k + k - 1], rgb);
          }
          var o = 4 * ((r - 1 - j) * r + i); // origin lower: row 0 of the grid at the bottom
          px[o] = a * rgb[0] + (1 - a) * back[0];
          px[o + 1] = a * rgb[1] + (1 - a) * back[1];
          px[o + 2] = a * rgb[2] + (1 - a) * back[2];
          px[o + 3] = 255;
        }
      }
      ictx.putImageData(img, 0, 0);
      this.imageKey = key;
    }
    // pixel centres on the grid points (matplotlib's extent +- half a cell), nearest neighbour
    var dx = (grid.xs[r - 1] - grid.xs[0]) / (r - 1) / 2, dy = (grid.ys[r - 1] - grid.ys[0]) / (r - 1) / 2;
    var x0 = this.x(grid.xs[0] - dx), x1 = this.x(grid.xs[r - 1] + dx);
    var y0 = this.y(grid.ys[r - 1] + dy), y1 = this.y(grid.ys[0] - dy);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.image, x0, y0, x1 - x0, y1 - y0);
    return grid;
  };

  Panel.prototype.drawPoints = function (ctx, e, state) {
    var s = this.spec, run = this.run, theme = state.theme, self = this, i;
    var grid = this.drawImage(ctx, e, state);
    if (s.kind === "boundary" && s.contour && grid) {
      ctx.strokeStyle = s.multiclass ? theme.ink : theme.ink;
      ctx.lineWidth = s.multiclass ? 1.2 : 1.5;
      var lines = [];
      if (!s.multiclass) {
        var p1 = new Float64Array(grid.xs.length * grid.ys.length);
        for (i = 0; i < p1.length; i++) p1[i] = grid.p[i * grid.k + grid.k - 1];
        lines.push(core.contour(p1, grid.xs, grid.ys, 0.5));
      } else {
        for (var c = 0; c < grid.k; c++) {
          var d = new Float64Array(grid.xs.length * grid.ys.length);
          for (i = 0; i < d.length; i++) {
            var other = -Infinity;
            for (var c2 = 0; c2 < grid.k; c2++) if (c2 !== c && grid.p[i * grid.k + c2] > other) other = grid.p[i * grid.k + c2];
            d[i] = grid.p[i * grid.k + c] - other;
          }
          lines.push(core.contour(d, grid.xs, grid.ys, 0));
        }
      }
      ctx.beginPath();
      lines.forEach(function (seg) {
        for (var q = 0; q < seg.length; q += 4) { ctx.moveTo(self.x(seg[q]), self.y(seg[q + 1])); ctx.lineTo(self.x(seg[q + 2]), self.y(seg[q + 3])); }
      });
      ctx.stroke();
    }
    if (s.kind === "feature" && s.input_grid) {
      var bent = run.bentGrid(s, e), m = bent.points, data = bent.data;
      ctx.strokeStyle = rgba(state.theme.inkRgb, 0.35);
      ctx.lineWidth = 0.6;
      ctx.beginPath();
      for (var l = 0; l < bent.lines; l++) {
        for (var k = 0; k < m; k++) {
          var q = 2 * (l * m + k), X = this.x(data[q]), Y = this.y(data[q + 1]);
          if (k === 0) ctx.moveTo(X, Y); else ctx.lineTo(X, Y);
        }
      }
      ctx.stroke();
    }
    if (s.kind === "prediction") {
      ctx.strokeStyle = theme.light;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(this.x(s.xlim[0]), this.y(s.ylim[0]));
      ctx.lineTo(this.x(s.xlim[1]), this.y(s.ylim[1]));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (s.kind === "boundary" && !s.points) return;
    var xy = run.points(s, e), n = run.n, radius = this.radius();
    this.xy = xy;
    var lit = state.lit; // indices lit by a hovered histogram bar (Uint8Array) or null
    var colors = this.pointColors(), labels = run.labels;
    var fill = function (style, alpha, pick) {
      ctx.fillStyle = style;
      ctx.globalAlpha = alpha;
      ctx.beginPath();
      for (var p = 0; p < n; p++) {
        if (!pick(p)) continue;
        var X = self.x(xy[2 * p]), Y = self.y(xy[2 * p + 1]);
        if (!isFinite(X) || !isFinite(Y)) continue;
        ctx.moveTo(X + radius, Y);
        ctx.arc(X, Y, radius, 0, 2 * Math.PI);
      }
      ctx.fill();
    };
    var dim = lit ? 0.15 : 1;
    if (colors) {
      colors.forEach(function (color, c) {
        fill(color, dim, function (p) { return labels[p] === c; });
        if (lit) fill(color, 1, function (p) { return labels[p] === c && lit[p]; });
      });
    } else if (s.color_by) {
      var lut = this.runView.group.colormap("viridis", run.index), lo = s.color_by.range[0], span = (s.color_by.range[1] - lo) || 1;
      var rgb = [0, 0, 0];
      ctx.globalAlpha = 1;
      for (var p = 0; p < n; p++) {
        lut((run.targets[p * run.targetWidth] - lo) / span, rgb);
        ctx.globalAlpha = lit && !lit[p] ? 0.15 : 1;
        ctx.fillStyle = "rgb(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + ")";
        ctx.beginPath();
        ctx.arc(this.x(xy[2 * p]), this.y(xy[2 * p + 1]), radius, 0, 2 * Math.PI);
        ctx.fill();
      }
    } else {
      fill(s.color || "#1f77b4", 0.7 * dim, function () { return true; });
      if (lit) fill(s.color || "#1f77b4", 1, function (p) { return lit[p]; });
    }
    ctx.globalAlpha = 1;
    var hover = state.hover;
    if (hover && hover.type === "point") this.drawPath(ctx, e, hover.index, theme, radius);
  };

  Panel.prototype.drawPath = function (ctx, e, i, theme, radius) {
    var path = this.run.path(this.spec, i), E = path.length / 2, self = this;
    this.shownPath = { index: i, data: path };
    ctx.strokeStyle = theme.ink;
    ctx.lineWidth = 1.2;
    ctx.beginPath();
    for (var k = 0; k < E; k++) {
      var X = self.x(path[2 * k]), Y = self.y(path[2 * k + 1]);
      if (k === 0) ctx.moveTo(X, Y); else ctx.lineTo(X, Y);
    }
    ctx.stroke();
    var X0 = this.x(path[2 * e]), Y0 = this.y(path[2 * e + 1]);
    ctx.fillStyle = theme.accent;
    ctx.beginPath();
    ctx.arc(X0, Y0, Math.max(4, radius * 2.5), 0, 2 * Math.PI);
    ctx.fill();
    ctx.strokeStyle = theme.bg;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  };

  // -- histograms -----------------------------------------------------------------------
  Panel.prototype.histColor = function (theme) {
    var c = this.spec.color;
    return !c || c === "neutral" ? theme.light : c;
  };

  Panel.prototype.drawHistogram = function (ctx, e, state) {
    var s = this.spec, self = this, edges = s.edges, theme = state.theme;
    var counts = this.run.histogram(s, e);
    this.counts = counts;
    var base = this.y(0);
    var stacks = s.stacked ? counts.byClass : [counts.total];
    var colors = s.stacked ? s.colors : [this.histColor(theme)];
    var below = new Float64Array(edges.length - 1);
    ctx.globalAlpha = 0.85;
    stacks.forEach(function (h, c) {
      ctx.fillStyle = colors[c];
      ctx.beginPath();
      for (var b = 0; b < h.length; b++) {
        if (!h[b]) continue;
        var x0 = self.x(edges[b]), x1 = self.x(edges[b + 1]);
        var y0 = self.y(below[b]), y1 = self.y(below[b] + h[b]);
        ctx.rect(x0, y1, x1 - x0, y0 - y1);
        below[b] += h[b];
      }
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    var hover = state.hover;
    if (hover && hover.type === "bin" && hover.panel === this.number) {
      var b0 = hover.bin;
      ctx.strokeStyle = theme.ink;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(self.x(edges[b0]) + 0.5, self.y(counts.total[b0]), self.x(edges[b0 + 1]) - self.x(edges[b0]) - 1, base - self.y(counts.total[b0]));
    }
    if (hover && hover.type === "point" && s.kind !== "weights") {
      var hv = this.run.histogramValues(s, e), per = hv.perPoint, i = hover.index;
      if (!hv.mask || hv.mask[i]) {
        for (var j = 0; j < per; j++) {
          var bin = core.binOf(Math.min(Math.max(hv.values[i * per + j], edges[0]), edges[edges.length - 1]), edges);
          if (bin < 0) continue;
          var cx = (self.x(edges[bin]) + self.x(edges[bin + 1])) / 2, top = self.y(counts.total[bin]) - 3;
          ctx.fillStyle = theme.accent;
          ctx.beginPath();
          ctx.moveTo(cx, top); ctx.lineTo(cx - 5, top - 8); ctx.lineTo(cx + 5, top - 8);
          ctx.closePath();
          ctx.fill();
        }
      }
    }
  };

  // -- curves ---------------------------------------------------------------------------
  Panel.prototype.drawCurves = function (ctx, e, state) {
    var s = this.spec, run = this.run, self = this, E = run.epochs.length;
    s.metrics.forEach(function (name, m) {
      var color = s.colors[m];
      var line = function (upto, alpha, width) {
        ctx.strokeStyle = color;
        ctx.globalAlpha = alpha;
        ctx.lineWidth = width;
        ctx.beginPath();
        var pen = false;
        for (var k = 0; k <= upto; k++) {
          var v = run.metric(name, k);
          if (!isFinite(v)) { pen = false; continue; }
          var X = self.x(run.epochs[k]), Y = self.y(v);
          if (!pen) ctx.moveTo(X, Y); else ctx.lineTo(X, Y);
          pen = true;
        }
        ctx.stroke();
      };
      if (s.show_future) line(E - 1, 0.2, 1);
      line(e, 1, 1.6);
      ctx.globalAlpha = 1;
      var v = run.metric(name, e);
      if (isFinite(v)) {
        ctx.fillStyle = color;
        ctx.beginPath();
        ctx.arc(self.x(run.epochs[e]), self.y(v), 3.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    });
    ctx.strokeStyle = state.theme.light;
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 0.8;
    ctx.beginPath();
    var X = Math.round(self.x(run.epochs[e])) + 0.5;
    ctx.moveTo(X, this.rect.y);
    ctx.lineTo(X, this.rect.y + this.rect.h);
    ctx.stroke();
    ctx.setLineDash([]);
  };

  // -- hover ----------------------------------------------------------------------------
  /** What is under the pointer at (px, py) in canvas CSS pixels: a point, a bar, or null. */
  Panel.prototype.hit = function (px, py, epoch) {
    var r = this.rect;
    if (!r || px < r.x || px > r.x + r.w || py < r.y || py > r.y + r.h) return null;
    if (this.points && this.xy) {
      var best = -1, bestD = HOVER_RADIUS * HOVER_RADIUS, xy = this.xy;
      for (var i = 0; i < this.run.n; i++) {
        var dx = this.x(xy[2 * i]) - px, dy = this.y(xy[2 * i + 1]) - py, d = dx * dx + dy * dy;
        if (d <= bestD) { bestD = d; best = i; }
      }
      return best >= 0 ? { type: "point", index: best } : null;
    }
    if (this.histogram && this.kind !== "weights") {
      var bin = core.binOf(this.x.invert(px), this.spec.edges);
      return bin >= 0 ? { type: "bin", panel: this.number, bin: bin } : null;
    }
    if (this.kind === "curves") return { type: "epoch", epoch: this.x.invert(px) };
    return null;
  };

  // ---------------------------------------------------------------------------- one run
  /** One run's views on the layout's grid. */
  function RunView(group, runNode, run, label) {
    this.group = group;
    this.run = run;
    this.label = label;
    this.node = el("div", "nnx-rp-grid");
    var g = run.index.grid;
    this.node.style.setProperty("--nnx-rp-cols", g.cols);
    this.node.style.setProperty("--nnx-rp-rows", g.rows);
    this.node.style.setProperty("--nnx-rp-aspect", g.width + " / " + g.height);
    this.node.setAttribute("role", "group");
    this.node.setAttribute("aria-label", (label ? label + ": " : "") + "replay of " + run.epochs.length + " recorded epochs");
    var self = this;
    this.panels = run.index.panels.map(function (spec, k) { return new Panel(self, spec, k); });
    this.panels.forEach(function (p) { self.node.appendChild(p.node); });
    this.runNode = runNode;
    this.rowCache = {};
  }

  RunView.prototype.rowFor = function (epoch) {
    if (this.rowCache[epoch] !== undefined) return this.rowCache[epoch];
    var eps = this.run.epochs, best = 0;
    for (var i = 0; i < eps.length; i++) { if (eps[i] <= epoch) best = i; else break; }
    this.rowCache[epoch] = best;
    return best;
  };

  RunView.prototype.notes = function () {
    var out = [];
    this.run.index.panels.forEach(function (p) {
      (p.notes || []).forEach(function (n) { out.push(n); });
      if (p.kind === "unsupported") out.push(p.title + ": " + p.why);
    });
    return out;
  };

  // ------------------------------------------------------------------------- the figure
  /** A figure: its runs, one control bar, one epoch and one hover for all of them. */
  function Group(figure) {
    this.figure = figure;
    this.runNodes = Array.prototype.slice.call(figure.querySelectorAll(".nnx-replay-run[data-nnx-replay]"));
    this.views = [];
    this.shared = [];
    this.state = { epoch: 0, hover: null, lit: null, theme: null };
    this.playing = false;
    this.destroyed = false;
    this.raf = 0;
    this.luts = {};
    this.cleanups = [];
    this.id = "nnx-replay-" + (++instances);
  }

  Group.prototype.colormap = function (name, index) {
    if (!this.luts[name]) this.luts[name] = core.colormap(index.colormaps[name] || index.colormaps.RdBu);
    return this.luts[name];
  };

  Group.prototype.listen = function (target, type, fn, opts) {
    target.addEventListener(type, fn, opts);
    this.cleanups.push(function () { target.removeEventListener(type, fn, opts); });
  };

  /** A run's index and binary file, fetched once per page (figures may share a run). */
  function fetchRun(href) {
    var hit = api.runs.get(href);
    if (hit) return hit;
    var url = new URL(href);
    var promise = fetch(url).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status + " for " + url);
      return r.json();
    }).then(function (index) {
      var bin = new URL(index.bin, url);
      return fetch(bin).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status + " for " + bin);
        return r.arrayBuffer();
      }).then(function (buffer) { return { index: index, buffer: buffer }; });
    });
    api.runs.set(href, promise);
    promise.catch(function () { api.runs.delete(href); });
    return promise;
  }

  /** Fetch every run's index and binary file; resolves to this group (or rejects). */
  Group.prototype.load = function () {
    var self = this;
    return Promise.all(this.runNodes.map(function (node) {
      var href = new URL(node.getAttribute("data-nnx-replay"), document.baseURI).href;
      // each figure decodes its own Run (its own caches), over the same bytes
      return fetchRun(href).then(function (data) { return new core.Run(data.index, data.buffer); });
    })).then(function (runs) {
      if (self.destroyed) return self;
      self.mount(runs);
      return self;
    });
  };

  Group.prototype.mount = function (runs) {
    var self = this, figure = this.figure;
    this.runs = runs;
    var seen = {};
    runs.forEach(function (r) { r.epochs.forEach(function (e) { seen[e] = true; }); });
    this.epochs = Object.keys(seen).map(Number).sort(function (a, b) { return a - b; });
    this.position = this.epochs.length - 1; // the poster shows the last epoch
    this.state.epoch = this.epochs[this.position];
    this.fps = runs[0].index.fps || 10;
    this.shareLimits(runs);
    this.state.theme = readTheme(figure);
    this.views = runs.map(function (run, k) {
      var node = self.runNodes[k], view = new RunView(self, node, run, node.getAttribute("data-nnx-label"));
      var placeholder = node.querySelector(".nnx-replay-placeholder");
      if (placeholder) placeholder.remove();
      node.appendChild(view.node); // under the run's caption (the shortcode's label)
      return view;
    });
    this.buildControls();
    this.tooltip = el("div", "nnx-rp-tooltip");
    this.tooltip.setAttribute("role", "status");
    this.tooltip.hidden = true;
    figure.appendChild(this.tooltip);
    var notes = [];
    this.views.forEach(function (v) { v.notes().forEach(function (n) { if (notes.indexOf(n) < 0) notes.push(n); }); });
    if (notes.length) {
      var list = el("ul", "nnx-rp-notes");
      notes.forEach(function (n) { list.appendChild(el("li", null, n)); });
      figure.insertBefore(list, this.runsNode().nextSibling);
    }
    this.views.forEach(function (v) { self.bindPointer(v); });
    if (window.ResizeObserver) {
      this.resizer = new ResizeObserver(function () { self.resize(); });
      this.resizer.observe(this.runsNode());
    }
    this.listen(window, "resize", function () { self.resize(); });
    this.listen(document, "nnx-palette", function () { self.state.theme = readTheme(figure); self.invalidate(); });
    this.resize();
    this.setupAutoplay();
  };

  Group.prototype.runsNode = function () { return this.figure.querySelector(".nnx-replay-runs") || this.figure; };

  /** Runs side by side are drawn on the union of their axes (and histogram heights). */
  Group.prototype.shareLimits = function (runs) {
    var shared = [];
    runs[0].index.panels.forEach(function (spec, k) {
      var all = runs.map(function (r) { return r.index.panels[k]; }).filter(function (p) { return p && p.kind === spec.kind; });
      var s = {};
      if (spec.xlim) s.xlim = [Math.min.apply(null, all.map(function (p) { return p.xlim[0]; })), Math.max.apply(null, all.map(function (p) { return p.xlim[1]; }))];
      if (spec.ylim) s.ylim = [Math.min.apply(null, all.map(function (p) { return p.ylim[0]; })), Math.max.apply(null, all.map(function (p) { return p.ylim[1]; }))];
      if (spec.ymax) s.ymax = Math.max.apply(null, all.map(function (p) { return p.ymax; }));
      shared.push(s);
    });
    this.shared = shared;
  };

  Group.prototype.buildControls = function () {
    var self = this, id = this.id + "-epoch";
    var bar = el("div", "nnx-rp-controls");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Replay controls");
    var play = el("button", "nnx-rp-play md-button", "\u25B6 Play");
    play.type = "button";
    play.setAttribute("aria-pressed", "false");
    var label = el("label", "nnx-rp-label", "Training epoch");
    label.htmlFor = id;
    var input = el("input");
    input.type = "range";
    input.id = id;
    input.min = "0";
    input.max = String(this.epochs.length - 1);
    input.step = "1";
    input.value = String(this.position);
    var out = el("output", "nnx-rp-epoch");
    out.htmlFor = id;
    out.setAttribute("aria-live", "polite");
    bar.append(play, label, input, out);
    this.figure.insertBefore(bar, this.runsNode());
    this.bar = bar;
    this.input = input;
    this.output = out;
    this.playButton = play;
    this.listen(input, "input", function () { self.stop(); self.seek(Number(input.value)); });
    this.listen(play, "click", function () { if (self.playing) self.stop(); else self.play(); });
    var interrupt = function (ev) { if (self.autoplaying && ev.target !== play) self.stop(); };
    this.listen(this.figure, "pointerdown", interrupt);
    this.listen(this.figure, "keydown", interrupt);
    this.setLabel();
  };

  /** "epoch 57 of 200: loss 0.213, accuracy 0.951" (the first run's curves). */
  Group.prototype.describeEpoch = function () {
    var epoch = this.state.epoch, run = this.runs[0], e = this.views[0].rowFor(epoch);
    var curves = run.index.panels.filter(function (p) { return p.kind === "curves"; })[0];
    var names = curves ? curves.metrics : Object.keys(run.index.metrics).slice(0, 2);
    var labels = curves ? curves.labels : names;
    var parts = names.map(function (name, k) {
      var v = run.metric(name, e);
      return isFinite(v) ? labels[k] + " " + fmt(v) : null;
    }).filter(Boolean);
    return "epoch " + epoch + " of " + this.epochs[this.epochs.length - 1] + (parts.length ? ": " + parts.join(", ") : "");
  };

  Group.prototype.setLabel = function () {
    var text = "epoch " + this.state.epoch;
    this.output.value = text;
    this.output.textContent = text;
    this.input.value = String(this.position);
    this.input.setAttribute("aria-valuetext", this.describeEpoch());
    this.figure.dataset.nnxEpoch = String(this.state.epoch);
  };

  /** Show epoch position `pos` (drawn in the next animation frame, or now with {now: true}). */
  Group.prototype.seek = function (pos, opts) {
    pos = Math.max(0, Math.min(this.epochs.length - 1, Math.round(pos)));
    this.position = pos;
    this.state.epoch = this.epochs[pos];
    this.refreshLit();
    this.setLabel();
    if (opts && opts.now) this.draw(); else this.invalidate();
  };

  Group.prototype.invalidate = function () {
    var self = this;
    if (this.raf || this.destroyed) return;
    this.raf = requestAnimationFrame(function () { self.raf = 0; self.draw(); });
  };

  Group.prototype.draw = function () {
    if (this.destroyed) return;
    var state = this.state;
    this.views.forEach(function (v) { v.panels.forEach(function (p) { p.draw(state); }); });
    this.figure.classList.add("nnx-replay-live"); // drawn at least once (tests wait for it)
  };

  Group.prototype.resize = function () {
    var self = this;
    this.views.forEach(function (v) {
      v.node.classList.toggle("nnx-rp-narrow", v.node.clientWidth < NARROW);
      v.panels.forEach(function (p) { p.resize(); });
    });
    this.invalidate();
    if (this.bar) this.bar.style.setProperty("--nnx-rp-width", self.figure.clientWidth + "px");
  };

  // -- hover ----------------------------------------------------------------------------
  Group.prototype.bindPointer = function (view) {
    var self = this;
    view.panels.forEach(function (panel) {
      var at = function (ev) {
        var box = panel.canvas.getBoundingClientRect();
        return panel.hit(ev.clientX - box.left, ev.clientY - box.top, self.state.epoch);
      };
      self.listen(panel.canvas, "pointermove", function (ev) {
        var hit = at(ev);
        if (hit && hit.type === "epoch") hit = null;
        self.setHover(hit ? Object.assign(hit, { run: self.views.indexOf(view) }) : null, ev, panel);
      });
      self.listen(panel.canvas, "pointerleave", function () { self.setHover(null); });
      self.listen(panel.canvas, "click", function (ev) {
        var hit = at(ev);
        if (hit && hit.type === "epoch") {
          self.stop();
          var target = hit.epoch, best = 0;
          self.epochs.forEach(function (ep, k) { if (Math.abs(ep - target) < Math.abs(self.epochs[best] - target)) best = k; });
          self.seek(best);
        }
      });
    });
  };

  Group.prototype.setHover = function (hover, ev, panel) {
    var old = this.state.hover;
    var same = (!old && !hover) || (old && hover && old.type === hover.type && old.index === hover.index &&
      old.bin === hover.bin && old.panel === hover.panel && old.run === hover.run);
    this.state.hover = hover;
    if (!same) { this.refreshLit(); this.invalidate(); }
    this.showTooltip(ev, panel);
  };

  /** Points lit by a hovered bar (of the hovered run, at the current epoch), or none. */
  Group.prototype.refreshLit = function () {
    var h = this.state.hover;
    if (!h || h.type !== "bin") { this.state.lit = null; return; }
    var view = this.views[h.run], panel = view.panels[h.panel];
    var members = view.run.binMembers(panel.spec, view.rowFor(this.state.epoch), h.bin);
    var lit = new Uint8Array(view.run.n);
    members.forEach(function (i) { lit[i] = 1; });
    this.state.lit = lit;
    h.count = members.length;
  };

  Group.prototype.pointText = function (i) {
    var epoch = this.state.epoch, self = this;
    return this.views.map(function (v) {
      var run = v.run, e = v.rowFor(epoch), f = run.frame(e), task = run.task;
      var parts = [];
      if (task.kind === "regression") {
        var k = f.k, pred = run.predictions(f);
        parts.push("target " + fmt(run.targets[i * run.targetWidth]), "prediction " + fmt(pred[i * k]));
      } else {
        var c = run.labels[i];
        parts.push("class " + c);
        if (task.kind === "binary") parts.push("P(class 1) " + fmt(run.p1(f)[i]));
        else parts.push("P(class " + c + ") " + fmt(run.pTrue(f)[i]));
      }
      parts.push("loss " + fmt(f.loss[i]));
      return (self.views.length > 1 && v.label ? v.label + ": " : "") + parts.join(", ");
    }).join("; ");
  };

  Group.prototype.showTooltip = function (ev, panel) {
    var h = this.state.hover, tip = this.tooltip;
    if (!h || !ev) { tip.hidden = true; return; }
    var text;
    if (h.type === "point") text = "Point " + h.index + " at epoch " + this.state.epoch + ": " + this.pointText(h.index);
    else {
      var s = panel.spec, lo = s.edges[h.bin], hi = s.edges[h.bin + 1];
      text = h.count + " point" + (h.count === 1 ? "" : "s") + " with " + (s.xlabel || "value") + " in [" +
        fmt(lo) + ", " + fmt(hi) + (h.bin === s.edges.length - 2 ? "]" : ")") +
        (s.stacked || s.cls === null || s.cls === undefined ? "" : ", class " + s.cls) + " (lit in the other views)";
    }
    tip.textContent = text;
    tip.hidden = false;
    var box = this.figure.getBoundingClientRect();
    var x = ev.clientX - box.left + 12, y = ev.clientY - box.top + 12;
    tip.style.left = Math.min(x, Math.max(0, box.width - tip.offsetWidth - 4)) + "px";
    tip.style.top = y + "px";
  };

  // -- playback -------------------------------------------------------------------------
  Group.prototype.play = function (auto) {
    if (this.playing || this.destroyed) return;
    if (this.position >= this.epochs.length - 1) this.position = 0;
    this.playing = true;
    this.autoplaying = !!auto;
    this.playButton.textContent = "\u23F8 Pause";
    this.playButton.setAttribute("aria-pressed", "true");
    this.output.setAttribute("aria-live", "off"); // no announcement per frame while playing
    var self = this, start = performance.now(), from = this.position;
    var tick = function (now) {
      if (!self.playing || self.destroyed) return;
      var pos = Math.min(self.epochs.length - 1, from + Math.floor((now - start) / 1000 * self.fps));
      if (pos !== self.position) self.seek(pos, { now: true });
      if (pos >= self.epochs.length - 1) { self.stop(); return; }
      self.playRaf = requestAnimationFrame(tick);
    };
    this.seek(from, { now: true });
    this.playRaf = requestAnimationFrame(tick);
  };

  Group.prototype.stop = function () {
    if (this.playRaf) cancelAnimationFrame(this.playRaf);
    this.playRaf = 0;
    if (!this.playing) return;
    this.playing = false;
    this.autoplaying = false;
    this.playButton.textContent = "\u25B6 Play";
    this.playButton.setAttribute("aria-pressed", "false");
    this.output.setAttribute("aria-live", "polite");
    this.setLabel();
  };

  /** Play once when first in view, unless the reader prefers reduced motion. */
  Group.prototype.setupAutoplay = function () {
    var self = this;
    if (this.figure.getAttribute("data-nnx-autoplay") !== "true") return;
    var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    if (reduced || !window.IntersectionObserver) return;
    this.autoObserver = new IntersectionObserver(function (entries) {
      if (!entries.some(function (en) { return en.isIntersecting; })) return;
      self.autoObserver.disconnect();
      self.autoObserver = null;
      if (!self.playing && !self.touched) self.play(true);
    }, { threshold: 0.6 });
    this.autoObserver.observe(this.runsNode());
    this.listen(this.figure, "pointerdown", function () { self.touched = true; });
    this.listen(this.figure, "focusin", function () { self.touched = true; });
  };

  Group.prototype.destroy = function () {
    this.destroyed = true;
    this.playing = false;
    if (this.raf) cancelAnimationFrame(this.raf);
    if (this.playRaf) cancelAnimationFrame(this.playRaf);
    if (this.resizer) this.resizer.disconnect();
    if (this.autoObserver) this.autoObserver.disconnect();
    if (this.loadObserver) this.loadObserver.disconnect();
    this.cleanups.forEach(function (f) { f(); });
    this.cleanups = [];
  };

  // ------------------------------------------------------------------------ mount/unmount
  /** Put each run's poster and video (its <template>) in place of its placeholder. */
  function showFallback(figure) {
    figure.querySelectorAll(".nnx-replay-run").forEach(function (node) {
      var tpl = node.querySelector("template.nnx-replay-fallback");
      var placeholder = node.querySelector(".nnx-replay-placeholder");
      if (!tpl || !placeholder) return;
      placeholder.replaceWith(tpl.content.cloneNode(true));
    });
    if (window.nnxPalette) window.nnxPalette.apply(figure);
  }

  function setup(root) {
    var figures = Array.prototype.slice.call(root.querySelectorAll("figure.nnx-replay"));
    var token = api.generation;
    return Promise.all(figures.map(function (figure) {
      var group = new Group(figure);
      if (!group.runNodes.length) return null;
      api.groups.push(group);
      return new Promise(function (resolve) {
        var start = function () {
          group.load().then(resolve, function (err) {
            console.warn("nnx-replay: the live replay could not load; showing the video", err);
            showFallback(figure);
            var note = el("p", "nnx-rp-notes", "The live replay could not load (" + err.message + "); the video shows the same replay.");
            figure.appendChild(note);
            resolve(null);
          });
        };
        if (!window.IntersectionObserver) { start(); return; }
        // fetch when the figure comes within a quarter of a screen of the viewport: a replay
        // further down the page costs nothing until the reader scrolls towards it
        group.loadObserver = new IntersectionObserver(function (entries) {
          if (!entries.some(function (en) { return en.isIntersecting; })) return;
          group.loadObserver.disconnect();
          group.loadObserver = null;
          if (token === api.generation) start(); else resolve(null);
        }, { rootMargin: "25% 0px" });
        group.loadObserver.observe(figure);
      });
    }));
  }

  var api = {
    groups: [],
    runs: new Map(), // URL of a run's index -> Promise of {index, buffer}, for this page
    generation: 0,
    ready: Promise.resolve([]),
    core: core,
    /** Tear down the previous page's figures and set up the ones of the page shown. */
    init: function () {
      api.groups.forEach(function (g) { g.destroy(); });
      api.groups = [];
      api.runs = new Map();
      api.generation += 1;
      api.ready = setup(document);
      return api.ready;
    },
  };
  window.nnxReplay = api;

  window.nnxEachPage(api.init);
})();
