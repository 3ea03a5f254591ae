/*
 * nnx-replay-core.js: the numbers of a live replay, without the page.
 *
 * A replay's data (pipeline/library/replay/browser_data.py) is a JSON index and one binary file
 * per run. This file turns them into what the views draw, for any recorded epoch:
 *
 * - decoding: a zero-copy typed-array view of each array of the binary file (float32, uint8,
 *   uint16, int32; little-endian, aligned to 8 bytes); a quantised uint16 array decodes as
 *   lo + code * (hi - lo) / 65534, code 65535 being "not a number";
 * - the model's forward pass, layer for layer the maths of NumpyForward
 *   (pipeline/library/replay/forward.py): Dense and its activations, Activation, ReLU,
 *   LeakyReLU, ELU, Softmax, Flatten, BatchNormalization (inference), identity layers;
 * - the per-sample losses as Keras computes them (binary, sparse and categorical
 *   cross-entropy from logits or clipped probabilities; mse; mae);
 * - histograms with numpy's rules (bins [e_i, e_i+1), the last one closed), axis ticks, linear
 *   scales, and the 0.5 line of a probability grid (marching squares).
 *
 * Plain ECMAScript 5 plus typed arrays; no DOM. In the page it is window.nnxReplayCore; under
 * Node (tests/js/) it is the module's exports, so the same code is tested against numpy.
 */
(function (root, factory) {
  "use strict";
  var api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.nnxReplayCore = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var FORMAT = "nnx-replay-data";
  var VERSION = 1;
  var MAX_CODE = 65534;
  var NAN_CODE = 65535;
  var EPS = 1e-7; // keras.backend.epsilon()

  // ------------------------------------------------------------------------------ decoding
  var TYPES = { float32: Float32Array, float64: Float64Array, uint8: Uint8Array,
    uint16: Uint16Array, int32: Int32Array, int64: null };

  /** One array of the binary file: a typed view (no copy) and how to read it. */
  function DataArray(name, entry, buffer) {
    var Type = TYPES[entry.dtype];
    if (!Type) throw new Error("replay data: array " + name + " has dtype " + entry.dtype);
    var count = 1;
    for (var i = 0; i < entry.shape.length; i++) count *= entry.shape[i];
    if (entry.offset % Type.BYTES_PER_ELEMENT !== 0 || entry.offset + count * Type.BYTES_PER_ELEMENT > buffer.byteLength) {
      throw new Error("replay data: array " + name + " lies outside the binary file");
    }
    this.name = name;
    this.shape = entry.shape.slice();
    this.data = new Type(buffer, entry.offset, count); // a view of the buffer, not a copy
    this.quantized = !!entry.range;
    if (this.quantized) {
      this.lo = entry.range[0];
      this.step = (entry.range[1] - entry.range[0]) / MAX_CODE;
    }
    // elements per index of the first axis (an epoch, for per-epoch arrays)
    this.stride = this.shape.length ? count / this.shape[0] : 1;
  }

  /** Element i (dequantised; NaN where the code says so). */
  DataArray.prototype.get = function (i) {
    var v = this.data[i];
    if (!this.quantized) return v;
    return v === NAN_CODE ? NaN : this.lo + v * this.step;
  };

  /** The row of the first axis (an epoch) as float64 numbers: a view when unquantised. */
  DataArray.prototype.row = function (r, out) {
    var n = this.stride, start = r * n;
    if (!this.quantized && !out) return this.data.subarray(start, start + n);
    out = out || new Float64Array(n);
    for (var i = 0; i < n; i++) out[i] = this.get(start + i);
    return out;
  };

  /** Every array of a run, checked against its index. */
  function decode(index, buffer) {
    if (!index || index.format !== FORMAT) throw new Error("replay data: not a replay data index");
    if (index.version > VERSION) {
      throw new Error("replay data: format version " + index.version + " is newer than this page's script (" + VERSION + ")");
    }
    if (buffer.byteLength !== index.bytes) {
      throw new Error("replay data: the binary file has " + buffer.byteLength + " bytes, its index says " + index.bytes);
    }
    var arrays = {};
    Object.keys(index.arrays).forEach(function (name) {
      arrays[name] = new DataArray(name, index.arrays[name], buffer);
    });
    return arrays;
  }

  // --------------------------------------------------------------------------- activations
  function sigmoid(x) {
    // exp(-logaddexp(0, -x)), as NumpyForward: no overflow for large |x|
    return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }
  function softplus(x) { return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))); }
  function elu(x, a) { return x > 0 ? x : a * Math.expm1(Math.min(x, 0)); }
  var SELU_ALPHA = 1.6732632423543772, SELU_SCALE = 1.0507009873554805;

  var ACTIVATIONS = {
    linear: function (x) { return x; },
    tanh: Math.tanh,
    sigmoid: sigmoid,
    relu: function (x) { return x > 0 ? x : 0; },
    relu6: function (x) { return Math.min(Math.max(x, 0), 6); },
    elu: function (x) { return elu(x, 1); },
    selu: function (x) { return SELU_SCALE * elu(x, SELU_ALPHA); },
    softplus: softplus,
    softsign: function (x) { return x / (1 + Math.abs(x)); },
    silu: function (x) { return x * sigmoid(x); },
    swish: function (x) { return x * sigmoid(x); },
    exponential: Math.exp,
    softmax: null, // row-wise, below
  };

  /** Softmax of each row of h (n rows of k), in place. */
  function softmaxRows(h, n, k) {
    for (var r = 0; r < n; r++) {
      var o = r * k, m = -Infinity, s = 0, j;
      for (j = 0; j < k; j++) if (h[o + j] > m) m = h[o + j];
      for (j = 0; j < k; j++) { h[o + j] = Math.exp(h[o + j] - m); s += h[o + j]; }
      for (j = 0; j < k; j++) h[o + j] /= s;
    }
    return h;
  }

  function activate(name, h, n, k) {
    if (name === "softmax") return softmaxRows(h, n, k);
    var f = ACTIVATIONS[name];
    if (!f) throw new Error("replay data: activation " + name + " is not in the page's script");
    if (name !== "linear") for (var i = 0; i < h.length; i++) h[i] = f(h[i]);
    return h;
  }

  // ---------------------------------------------------------------------------- the model
  var IDENTITY = { Dropout: 1, AlphaDropout: 1, GaussianDropout: 1, GaussianNoise: 1,
    SpatialDropout1D: 1, SpatialDropout2D: 1, SpatialDropout3D: 1, ActivityRegularization: 1,
    Flatten: 1 };

  /** The chain of layers in the index, with its weights' arrays. */
  function Model(layers, arrays) {
    this.layers = layers || [];
    this.names = this.layers.map(function (l) { return l.name; });
    this.arrays = arrays;
  }

  Model.prototype.indexOf = function (name, fallback) {
    if (name === null || name === undefined) return fallback;
    var i = this.names.indexOf(name);
    if (i < 0) throw new Error("replay data: no layer " + name);
    return i;
  };

  Model.prototype.weight = function (layer, variable, epoch) {
    var name = layer.weights && layer.weights[variable];
    if (!name || !this.arrays[name]) throw new Error("replay data: no weights " + layer.name + "/" + variable);
    return this.arrays[name].row(epoch);
  };

  /** Apply layer `l` at epoch row `e` to h (n rows of width d): [out, width, preActivation]. */
  Model.prototype.step = function (l, e, h, n, d) {
    if (l.unsupported) throw new Error(l.unsupported);
    var kind = l.kind, i, j, r;
    if (kind === "Dense") {
      var K = this.weight(l, "kernel", e), units = K.length / d;
      var useBias = l.use_bias !== false;
      var b = useBias ? this.weight(l, "bias", e) : null;
      var out = new Float64Array(n * units);
      for (r = 0; r < n; r++) {
        var o = r * units, hi = r * d;
        if (b) for (j = 0; j < units; j++) out[o + j] = b[j];
        for (i = 0; i < d; i++) {
          var v = h[hi + i], ki = i * units;
          if (v === 0) continue;
          for (j = 0; j < units; j++) out[o + j] += v * K[ki + j];
        }
      }
      var pre = l.activation === "linear" ? out : new Float64Array(out);
      return [activate(l.activation, out, n, units), units, pre];
    }
    var y = new Float64Array(h);
    if (kind === "Activation") return [activate(l.activation, y, n, d), d, h];
    if (kind === "Softmax") return [softmaxRows(y, n, d), d, h];
    if (kind === "ReLU") {
      var slope = +(l.negative_slope || 0), th = +(l.threshold || 0);
      var cap = l.max_value === null || l.max_value === undefined ? Infinity : +l.max_value;
      for (i = 0; i < y.length; i++) {
        var x = y[i] >= th ? y[i] : slope * (y[i] - th);
        y[i] = Math.min(x, cap);
      }
      return [y, d, h];
    }
    if (kind === "LeakyReLU") {
      var s = l.negative_slope !== undefined ? +l.negative_slope : (l.alpha !== undefined ? +l.alpha : 0.3);
      for (i = 0; i < y.length; i++) if (y[i] < 0) y[i] = s * y[i];
      return [y, d, h];
    }
    if (kind === "ELU") {
      var a = l.alpha !== undefined ? +l.alpha : 1;
      for (i = 0; i < y.length; i++) y[i] = elu(y[i], a);
      return [y, d, h];
    }
    if (kind === "BatchNormalization") {
      var mean = this.weight(l, "moving_mean", e), variance = this.weight(l, "moving_variance", e);
      var gamma = l.scale !== false ? this.weight(l, "gamma", e) : null;
      var beta = l.center !== false ? this.weight(l, "beta", e) : null;
      var eps = l.epsilon !== undefined ? +l.epsilon : 1e-3;
      for (r = 0; r < n; r++) {
        for (j = 0; j < d; j++) {
          var z = (y[r * d + j] - mean[j]) / Math.sqrt(variance[j] + eps);
          if (gamma) z *= gamma[j];
          if (beta) z += beta[j];
          y[r * d + j] = z;
        }
      }
      return [y, d, h];
    }
    if (IDENTITY[kind]) return [h, d, h];
    throw new Error("replay data: layer kind " + kind + " is not in the page's script");
  };

  /**
   * Run the chain at epoch row `e` on `x` (n rows of width d) from after layer `startAfter`
   * (the input when null) to `stopAt` (the output when null). `capture`: layer names whose
   * outputs to keep. Returns {out, width, pre (the last layer's pre-activation), captured}.
   */
  Model.prototype.run = function (e, x, n, d, startAfter, stopAt, capture) {
    var first = this.indexOf(startAfter, -1) + 1;
    var last = this.indexOf(stopAt, this.layers.length - 1);
    var h = x, w = d, pre = x, captured = {};
    for (var i = first; i <= last; i++) {
      var res = this.step(this.layers[i], e, h, n, w);
      h = res[0]; w = res[1]; pre = res[2];
      if (capture && capture[this.names[i]]) captured[this.names[i]] = { data: h, width: w };
    }
    return { out: h, width: w, pre: pre, captured: captured };
  };

  // ------------------------------------------------------------------------------- losses
  /**
   * Per-sample loss (what the recorder stored), as browser_data.per_sample_loss computes it.
   * `spec`: {name, mode: "logits"|"output"}; `values`: n rows of k (logits or outputs);
   * `targets`: n rows of t.
   */
  function lossValues(spec, values, n, k, targets, t, labels) {
    var out = new Float64Array(n), r, j, o;
    var name = spec.name, logits = spec.mode === "logits";
    for (r = 0; r < n; r++) {
      o = r * k;
      var s = 0;
      if (name === "binary_crossentropy") {
        for (j = 0; j < k; j++) {
          var y = targets[r * t + j], z = values[o + j];
          if (logits) s += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
          else {
            var p = Math.min(Math.max(z, EPS), 1 - EPS);
            s -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
          }
        }
        out[r] = s / k;
      } else if (name === "sparse_categorical_crossentropy" || name === "categorical_crossentropy") {
        var lz = new Float64Array(k), total = 0, m = -Infinity, lse = 0;
        if (!logits) for (j = 0; j < k; j++) total += values[o + j];
        for (j = 0; j < k; j++) {
          lz[j] = logits ? values[o + j]
            : Math.log(Math.min(Math.max(values[o + j] / total, EPS), 1 - EPS));
          if (lz[j] > m) m = lz[j];
        }
        for (j = 0; j < k; j++) lse += Math.exp(lz[j] - m);
        lse = m + Math.log(lse);
        if (name === "sparse_categorical_crossentropy") {
          var c = Math.min(Math.max(labels[r] | 0, 0), k - 1);
          out[r] = lse - lz[c];
        } else {
          var ty = 0, tz = 0;
          for (j = 0; j < k; j++) { ty += targets[r * t + j]; tz += targets[r * t + j] * lz[j]; }
          out[r] = logits ? lse * ty - tz : -tz;
        }
      } else if (name === "mse" || name === "mae") {
        for (j = 0; j < k; j++) {
          var dlt = values[o + j] - targets[r * t + j];
          s += name === "mse" ? dlt * dlt : Math.abs(dlt);
        }
        out[r] = s / k;
      } else {
        throw new Error("replay data: no formula for the loss " + name);
      }
    }
    return out;
  }

  /** Logits (n rows of k) as probabilities: a sigmoid for one unit, else a softmax. */
  function toProbabilities(z, n, k) {
    var p = new Float64Array(z);
    if (k === 1) { for (var i = 0; i < p.length; i++) p[i] = sigmoid(p[i]); return p; }
    return softmaxRows(p, n, k);
  }

  // --------------------------------------------------------------------------- histograms
  /** Bin of `v` over `edges` with numpy's rules; -1 outside (or not a number). */
  function binOf(v, edges) {
    var last = edges.length - 1;
    if (!(v >= edges[0] && v <= edges[last])) return -1;
    if (v === edges[last]) return last - 1;
    var lo = 0, hi = last; // edges[lo] <= v < edges[hi]
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (edges[mid] <= v) lo = mid; else hi = mid;
    }
    return lo;
  }

  /** Clamp as the panels do before counting: "max" (loss: at the last edge), "both". */
  function clampTo(v, edges, clip) {
    if (clip === "max" && v > edges[edges.length - 1]) return edges[edges.length - 1];
    if (clip === "both") return Math.min(Math.max(v, edges[0]), edges[edges.length - 1]);
    return v;
  }

  /** Counts of values[i] (for i where mask is unset or true) over `edges`, like np.histogram. */
  function histogram(values, edges, clip, mask) {
    var counts = new Float64Array(edges.length - 1);
    for (var i = 0; i < values.length; i++) {
      if (mask && !mask[i]) continue;
      var b = binOf(clampTo(values[i], edges, clip), edges);
      if (b >= 0) counts[b] += 1;
    }
    return counts;
  }

  // ------------------------------------------------------------------------ axes and lines
  function linspace(a, b, n) {
    var out = new Float64Array(n);
    for (var i = 0; i < n; i++) out[i] = n === 1 ? a : a + (b - a) * i / (n - 1);
    if (n > 1) out[n - 1] = b;
    return out;
  }

  /** A linear map from [d0, d1] to [r0, r1], with its inverse. */
  function scale(d0, d1, r0, r1) {
    var k = (r1 - r0) / ((d1 - d0) || 1);
    var f = function (v) { return r0 + (v - d0) * k; };
    f.invert = function (p) { return d0 + (p - r0) / k; };
    f.domain = [d0, d1];
    f.range = [r0, r1];
    return f;
  }

  /** Round tick values for [lo, hi], about `count` of them (steps 1, 2, 2.5, 5 x 10^k). */
  function ticks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    var raw = (hi - lo) / Math.max(1, count);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10], step = 10 * mag;
    for (var i = 0; i < steps.length; i++) if (steps[i] * mag >= raw) { step = steps[i] * mag; break; }
    var out = [], first = Math.ceil(lo / step - 1e-9);
    for (var t = first; t * step <= hi + step * 1e-9; t++) out.push(+(t * step).toPrecision(12));
    return out;
  }

  /** Tick labels with as many decimals as the step needs (0.0, 0.5, 1.0 like matplotlib). */
  function tickLabels(values) {
    var step = values.length > 1 ? Math.abs(values[1] - values[0]) : 1;
    var dec = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    if (Math.abs(step / Math.pow(10, -dec) - Math.round(step / Math.pow(10, -dec))) > 1e-6) dec += 1;
    if (dec === 0 && values.every(function (v) { return Math.abs(v) < 10; })) dec = step < 1 ? 1 : 0;
    return values.map(function (v) {
      var s = Math.abs(v) < step * 1e-9 ? (0).toFixed(dec) : v.toFixed(dec);
      return s.replace("-", "\u2212");
    });
  }

  /**
   * Segments of the line z = level on a grid z[j * nx + i] over xs (nx) by ys (ny):
   * [x0, y0, x1, y1, ...] in data coordinates (marching squares; a saddle is split by the
   * cell's mean).
   */
  function contour(z, xs, ys, level) {
    var nx = xs.length, ny = ys.length, seg = [];
    function cross(a, b, va, vb) { return a + (b - a) * ((level - va) / (vb - va)); }
    for (var j = 0; j < ny - 1; j++) {
      for (var i = 0; i < nx - 1; i++) {
        var v0 = z[j * nx + i], v1 = z[j * nx + i + 1], v2 = z[(j + 1) * nx + i + 1], v3 = z[(j + 1) * nx + i];
        if (!(isFinite(v0) && isFinite(v1) && isFinite(v2) && isFinite(v3))) continue;
        var c = (v0 > level ? 1 : 0) | (v1 > level ? 2 : 0) | (v2 > level ? 4 : 0) | (v3 > level ? 8 : 0);
        if (c === 0 || c === 15) continue;
        var x0 = xs[i], x1 = xs[i + 1], y0 = ys[j], y1 = ys[j + 1];
        // crossing points on the four edges: bottom, right, top, left
        var b = [cross(x0, x1, v0, v1), y0], r = [x1, cross(y0, y1, v1, v2)];
        var t = [cross(x0, x1, v3, v2), y1], l = [x0, cross(y0, y1, v0, v3)];
        var pairs;
        switch (c) {
          case 1: case 14: pairs = [l, b]; break;
          case 2: case 13: pairs = [b, r]; break;
          case 3: case 12: pairs = [l, r]; break;
          case 4: case 11: pairs = [r, t]; break;
          case 6: case 9: pairs = [b, t]; break;
          case 7: case 8: pairs = [l, t]; break;
          case 5: case 10:
            var centre = (v0 + v1 + v2 + v3) / 4 > level;
            pairs = (c === 5) === centre ? [l, t, b, r] : [l, b, r, t];
            break;
        }
        for (var p = 0; p < pairs.length; p++) seg.push(pairs[p][0], pairs[p][1]);
      }
    }
    return seg;
  }

  // ------------------------------------------------------------------------------- colours
  /** A colormap shipped as hex digits of 256 RGB triples: lookup(v in [0, 1]) -> [r, g, b]. */
  function colormap(hex) {
    var n = hex.length / 6, rgb = new Uint8Array(n * 3);
    for (var i = 0; i < n * 3; i++) rgb[i] = parseInt(hex.substr(2 * i, 2), 16);
    return function (v, out) {
      var i = Math.round(Math.min(Math.max(v, 0), 1) * (n - 1));
      out = out || [0, 0, 0];
      out[0] = rgb[3 * i]; out[1] = rgb[3 * i + 1]; out[2] = rgb[3 * i + 2];
      return out;
    };
  }

  function hexRgb(hex) {
    var h = hex.replace("#", "");
    return [parseInt(h.substr(0, 2), 16), parseInt(h.substr(2, 2), 16), parseInt(h.substr(4, 2), 16)];
  }

  // ------------------------------------------------------------------------------ the run
  /**
   * A run's data, decoded, with what every view needs at any epoch (computed from the
   * weights where the index says "derived", read from the arrays where it names one).
   */
  function Run(index, buffer) {
    this.index = index;
    this.arrays = decode(index, buffer);
    this.model = new Model(index.model, this.arrays);
    this.epochs = index.epochs;
    this.n = index.n_probe;
    this.task = index.task;
    this.output = index.output;
    this.labels = this.arrays.labels ? this.arrays.labels.data : null;
    this.targets = this.arrays.targets ? this.arrays.targets.data : null;
    this.targetWidth = this.arrays.targets ? this.arrays.targets.stride : 1;
    this.input = this.arrays.probe_x || null;
    this.inputWidth = this.input ? this.input.stride : 0;
    this.frames = new Map(); // epoch row -> frame (a few kept)
    this.paths = new Map();
    var layers = {};
    index.panels.forEach(function (p) { if (p.points === "derived") layers[p.layer] = true; });
    this.derivedLayers = layers;
  }

  Run.prototype.epochRow = function (epoch) { return this.epochs.indexOf(epoch); };

  /**
   * Everything per point at epoch row e: layer outputs of the viewed layers, outputs (what
   * the recording calls probabilities: probabilities or predictions), logits, losses.
   */
  Run.prototype.frame = function (e) {
    var hit = this.frames.get(e);
    if (hit) return hit;
    var n = this.n, f = { e: e, layers: {} }, out = this.output;
    if (out.output === "derived" || Object.keys(this.derivedLayers).length) {
      var wantAll = out.output === "derived";
      var stop = null;
      if (!wantAll) { // only the layers a view shows
        var last = -1, self = this;
        Object.keys(this.derivedLayers).forEach(function (name) { last = Math.max(last, self.model.indexOf(name)); });
        stop = this.model.names[last];
      }
      var res = this.model.run(e, this.input.data, n, this.inputWidth, null, stop, this.derivedLayers);
      f.layers = res.captured;
      if (wantAll) {
        f.k = res.width;
        f.raw = res.out;
        f.pre = res.pre;
        f.out = out.from_logits ? toProbabilities(res.out, n, res.width) : res.out;
      }
    }
    if (out.output !== "derived") {
      var arr = this.arrays[out.output];
      f.shipped = arr.row(e);
      f.k = arr.shape.length > 2 ? arr.shape[2] : 1;
      f.shippedKind = out.output; // "p1", "ptrue" or "pred"
    }
    if (typeof out.loss === "string") f.loss = this.arrays[out.loss].row(e);
    else {
      var logits = out.loss.mode === "logits";
      var vals = (out.from_logits || !logits) ? f.raw : f.pre;
      f.loss = lossValues(out.loss, vals, n, f.k, this.targets, this.targetWidth, this.labels);
    }
    if (this.frames.size > 8) this.frames.delete(this.frames.keys().next().value);
    this.frames.set(e, f);
    return f;
  };

  /** P(class 1) of each point (binary), from the outputs or the shipped array. */
  Run.prototype.p1 = function (f) {
    if (f.shippedKind === "p1") return f.shipped;
    var n = this.n, k = f.k, p = new Float64Array(n);
    for (var i = 0; i < n; i++) p[i] = f.out[i * k + k - 1];
    return p;
  };

  /** The probability of each point's true class (classifiers). */
  Run.prototype.pTrue = function (f) {
    var n = this.n, p = new Float64Array(n), i;
    if (f.shippedKind === "ptrue") return f.shipped;
    if (this.task.kind === "binary") {
      var p1 = this.p1(f);
      for (i = 0; i < n; i++) p[i] = this.labels[i] === 1 ? p1[i] : 1 - p1[i];
      return p;
    }
    for (i = 0; i < n; i++) p[i] = f.out[i * f.k + Math.min(this.labels[i], f.k - 1)];
    return p;
  };

  /** P(class c) of each point: a full row when the outputs are computed, else P(true class)
   *  (enough for the points of class c, the only ones a class histogram counts). */
  Run.prototype.pClass = function (f, c) {
    if (f.out) {
      var n = this.n, p = new Float64Array(n);
      for (var i = 0; i < n; i++) p[i] = f.out[i * f.k + c];
      return p;
    }
    return this.pTrue(f);
  };

  /** Predictions (regression): n rows of f.k outputs. */
  Run.prototype.predictions = function (f) { return f.out || f.shipped; };

  /** The 2-D coordinates of every point in a points view at epoch row e. */
  Run.prototype.points = function (view, e) {
    var n = this.n, xy = new Float64Array(2 * n), i;
    if (view.kind === "boundary") {
      var x = this.input.data, d = this.inputWidth;
      for (i = 0; i < n; i++) { xy[2 * i] = x[i * d]; xy[2 * i + 1] = x[i * d + 1]; }
      return xy;
    }
    if (view.kind === "prediction") {
      var f = this.frame(e), pred = this.predictions(f), k = f.k, o = view.output;
      for (i = 0; i < n; i++) {
        xy[2 * i] = this.targets[i * this.targetWidth + (o === null || o === undefined ? 0 : o)];
        xy[2 * i + 1] = pred[i * k + (o === null || o === undefined ? 0 : o)];
      }
      return xy;
    }
    if (view.points !== "derived") return this.arrays[view.points].row(e, xy);
    var h = this.frame(e).layers[view.layer];
    return this.project(view, h.data, h.width, n, xy);
  };

  /** A layer's outputs (n rows of w) in the view's plane: the fixed projection, or as they are. */
  Run.prototype.project = function (view, h, w, n, xy) {
    xy = xy || new Float64Array(2 * n);
    var pr = view.projection;
    for (var i = 0; i < n; i++) {
      if (!pr) { xy[2 * i] = h[i * w]; xy[2 * i + 1] = h[i * w + 1]; continue; }
      var a = 0, b = 0;
      for (var j = 0; j < w; j++) {
        var c = h[i * w + j] - pr.mean[j];
        a += c * pr.components[0][j];
        b += c * pr.components[1][j];
      }
      xy[2 * i] = a; xy[2 * i + 1] = b;
    }
    return xy;
  };

  /** Point i's place in a points view at every epoch: [x0, y0, x1, y1, ...]. */
  Run.prototype.path = function (view, i) {
    var key = view.kind + ":" + (view.layer || "") + ":" + i;
    var hit = this.paths.get(key);
    if (hit) return hit;
    var E = this.epochs.length, out = new Float64Array(2 * E), e;
    if (view.kind === "boundary") {
      for (e = 0; e < E; e++) { out[2 * e] = this.input.data[i * this.inputWidth]; out[2 * e + 1] = this.input.data[i * this.inputWidth + 1]; }
    } else if (view.kind === "prediction") {
      var o = view.output === null || view.output === undefined ? 0 : view.output;
      var tx = this.targets[i * this.targetWidth + o];
      if (this.output.output === "derived") {
        var xi = this.input.data.subarray(i * this.inputWidth, (i + 1) * this.inputWidth);
        for (e = 0; e < E; e++) {
          var r1 = this.model.run(e, xi, 1, this.inputWidth, null, null);
          out[2 * e] = tx; out[2 * e + 1] = r1.out[o];
        }
      } else {
        var pa = this.arrays[this.output.output], k = pa.shape.length > 2 ? pa.shape[2] : 1;
        for (e = 0; e < E; e++) { out[2 * e] = tx; out[2 * e + 1] = pa.get(e * pa.stride + i * k + o); }
      }
    } else if (view.points !== "derived") {
      var arr = this.arrays[view.points];
      for (e = 0; e < E; e++) { out[2 * e] = arr.get(e * arr.stride + 2 * i); out[2 * e + 1] = arr.get(e * arr.stride + 2 * i + 1); }
    } else {
      var row = this.input.data.subarray(i * this.inputWidth, (i + 1) * this.inputWidth);
      var want = {}; want[view.layer] = true;
      for (e = 0; e < E; e++) {
        var res = this.model.run(e, row, 1, this.inputWidth, null, view.layer, want);
        var p = this.project(view, res.out, res.width, 1);
        out[2 * e] = p[0]; out[2 * e + 1] = p[1];
      }
    }
    if (this.paths.size > 64) this.paths.delete(this.paths.keys().next().value);
    this.paths.set(key, out);
    return out;
  };

  /** The values a histogram view counts at epoch row e, and which points it counts. */
  Run.prototype.histogramValues = function (view, e) {
    var f = this.frame(e), n = this.n, i, mask = null, values;
    if (view.kind === "loss") values = f.loss;
    else if (view.kind === "probability") {
      if (view.stacked) values = this.pTrue(f);
      else if (this.task.kind === "binary") values = this.p1(f);
      else values = this.pClass(f, view.cls);
      if (!view.stacked) {
        mask = new Uint8Array(n);
        for (i = 0; i < n; i++) mask[i] = this.labels[i] === view.cls ? 1 : 0;
      }
    } else if (view.kind === "residual") {
      var pred = this.predictions(f), k = f.k, o = view.output;
      var outs = o === null || o === undefined ? k : 1;
      values = new Float64Array(n * outs);
      for (i = 0; i < n; i++) {
        for (var j = 0; j < outs; j++) {
          var c = o === null || o === undefined ? j : o;
          values[i * outs + j] = pred[i * k + c] - this.targets[i * this.targetWidth + c];
        }
      }
    } else if (view.kind === "weights") {
      var parts = view.weights.map(function (name) { return this.arrays[name].row(e); }, this);
      var total = parts.reduce(function (s, p) { return s + p.length; }, 0);
      values = new Float64Array(total);
      var at = 0;
      parts.forEach(function (p) { values.set(p, at); at += p.length; });
    }
    return { values: values, mask: mask, perPoint: view.kind !== "weights" ? (values.length / n) : 0 };
  };

  /** Counts per bin (and per class for a stacked view) at epoch row e. */
  Run.prototype.histogram = function (view, e) {
    var hv = this.histogramValues(view, e);
    if (!view.stacked) return { total: histogram(hv.values, view.edges, view.clip, hv.mask) };
    var labels = this.labels, self = this;
    var byClass = view.classes.map(function (c) {
      var mask = new Uint8Array(self.n);
      for (var i = 0; i < self.n; i++) mask[i] = labels[i] === c ? 1 : 0;
      return histogram(hv.values, view.edges, view.clip, mask);
    });
    var total = new Float64Array(view.edges.length - 1);
    byClass.forEach(function (h) { for (var b = 0; b < h.length; b++) total[b] += h[b]; });
    return { total: total, byClass: byClass };
  };

  /** Which points (indices) a histogram bar holds at epoch row e. */
  Run.prototype.binMembers = function (view, e, bin) {
    var hv = this.histogramValues(view, e), out = [];
    if (!hv.perPoint) return out;
    for (var i = 0; i < hv.values.length; i++) {
      var p = Math.floor(i / hv.perPoint);
      if (hv.mask && !hv.mask[p]) continue;
      if (binOf(clampTo(hv.values[i], view.edges, view.clip), view.edges) === bin) out.push(p);
    }
    return out.filter(function (p, k) { return k === 0 || out[k - 1] !== p; });
  };

  /**
   * A view's grid of predictions at epoch row e: the feature plane's background (the layers
   * after the viewed one) or the input plane's (the whole model), over the view's limits or
   * the given ones (runs side by side share theirs). Returns {xs, ys, k, p}: probabilities, k
   * per grid point, rows along y.
   */
  Run.prototype.grid = function (view, e, xlim, ylim) {
    var r = view.kind === "boundary" ? view.resolution : view.background.resolution;
    xlim = xlim || view.xlim;
    ylim = ylim || view.ylim;
    var xs = linspace(xlim[0], xlim[1], r), ys = linspace(ylim[0], ylim[1], r);
    var pts = new Float64Array(2 * r * r);
    for (var j = 0; j < r; j++) for (var i = 0; i < r; i++) { pts[2 * (j * r + i)] = xs[i]; pts[2 * (j * r + i) + 1] = ys[j]; }
    var res = view.kind === "boundary"
      ? this.model.run(e, pts, r * r, 2, null, null)
      : this.model.run(e, pts, r * r, 2, view.layer, null);
    var fromLogits = view.kind === "boundary" ? view.from_logits : view.background.from_logits;
    var p = fromLogits ? toProbabilities(res.out, r * r, res.width) : res.out;
    return { xs: xs, ys: ys, k: res.width, p: p };
  };

  /** The input grid's lines bent into the viewed layer at epoch row e: lines x points x 2. */
  Run.prototype.bentGrid = function (view, e) {
    var g = view.input_grid, nv = g.lines[0], nh = g.lines[1], m = g.points;
    var x0 = g.range[0][0], x1 = g.range[0][1], y0 = g.range[1][0], y1 = g.range[1][1];
    var tx = linspace(x0, x1, m), ty = linspace(y0, y1, m), xv = linspace(x0, x1, nv), yh = linspace(y0, y1, nh);
    var pts = new Float64Array(2 * (nv + nh) * m), at = 0, k;
    for (var a = 0; a < nv; a++) for (k = 0; k < m; k++) { pts[at++] = xv[a]; pts[at++] = ty[k]; }
    for (var b = 0; b < nh; b++) for (k = 0; k < m; k++) { pts[at++] = tx[k]; pts[at++] = yh[b]; }
    var res = this.model.run(e, pts, (nv + nh) * m, 2, null, view.layer);
    return { data: this.project(view, res.out, res.width, (nv + nh) * m), lines: nv + nh, points: m };
  };

  /** A metric's value at epoch row e (NaN when missing). */
  Run.prototype.metric = function (name, e) {
    var s = this.index.metrics[name];
    var v = s ? s[e] : null;
    return v === null || v === undefined ? NaN : v;
  };

  return {
    FORMAT: FORMAT, VERSION: VERSION, MAX_CODE: MAX_CODE, NAN_CODE: NAN_CODE,
    decode: decode, DataArray: DataArray, Model: Model, Run: Run,
    activations: ACTIVATIONS, sigmoid: sigmoid, softmaxRows: softmaxRows,
    lossValues: lossValues, toProbabilities: toProbabilities,
    binOf: binOf, histogram: histogram, linspace: linspace, scale: scale, ticks: ticks,
    tickLabels: tickLabels, contour: contour, colormap: colormap, hexRgb: hexRgb,
  };
});
