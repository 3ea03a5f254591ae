/*
 * nnx-scrubber.js: the epoch scrubber of replay explainers.
 *
 * One slider per page moves every scrubbable panel of that page to the same training epoch.
 *
 * Markup (written by the `video(..., scrub="<frames folder>")` shortcode, pipeline/site/pages.py):
 *
 *   <figure class="nnx-video" data-nnx-frames="../../assets/<slug>/<folder>/index.json">
 *     <video controls preload="metadata" poster="..." aria-label="what it shows">...</video>
 *   </figure>
 *
 * index.json (written by pipeline/library/replay/composer.py, Composition.frames):
 *
 *   {"epochs": [0, 5, ...], "files": ["epoch_0000.jpg", ...], "width": W, "height": H}
 *
 * with file names relative to the folder of index.json.
 *
 * Behaviour:
 * - Without JavaScript nothing changes: each panel is its plain <video> with controls and poster.
 * - With JavaScript a control bar (an <input type=range> with a label, a play/pause button and an
 *   "epoch k" read-out) is inserted before the first panel. The range input is keyboard
 *   operable as browsers make it (arrow keys, Home/End, PageUp/PageDown).
 * - Until the reader touches the scrubber the videos stay as they are (the slider starts at the
 *   last epoch, which is what the posters show). The first move swaps each video for an <img>
 *   of the chosen epoch's frame; the loss curve's marker follows because it is drawn into
 *   every frame.
 * - Smoothness: frames are loaded into Image objects and decoded (HTMLImageElement.decode)
 *   before they are shown; a move is applied to all panels in one animation frame, only once
 *   every panel's frame is decoded, so panels never show different epochs. The decoded Image
 *   element itself is put into the page (no second decode). Neighbouring frames are preloaded
 *   after each move; playing preloads further ahead. A newer move that finishes decoding
 *   first wins; an older one is then dropped.
 * - Frames load lazily: only index.json is fetched at page load (a few hundred bytes).
 * - Material's instant navigation replaces the page without reloading scripts, so the script
 *   subscribes to material's `document$` observable and sets the scrubber up again for every
 *   new page (stopping the old one's playback). Without material it runs on DOMContentLoaded.
 *
 * No framework; no request leaves the site. `window.nnxScrubber.current` is the live
 * controller (tests read it).
 */
(function () {
  "use strict";

  if (window.nnxScrubber) return; // loaded once per window; document$ re-runs setup per page

  var PRELOAD_RADIUS = 2; // frames preloaded on each side after a move
  var PLAY_AHEAD = 4; // frames preloaded ahead while playing
  var PLAY_FPS = 8; // playback speed in frames per second (at most; never outruns decoding)
  var instances = 0;

  /** One scrubbable figure: its frame list and the Image objects loaded for it. */
  function Panel(figure, index, indexUrl) {
    this.figure = figure;
    this.video = figure.querySelector("video");
    this.epochs = index.epochs.map(Number);
    this.urls = index.files.map(function (f) { return new URL(f, indexUrl).href; });
    // The dark palette's frames have the same names in a sibling folder (pipeline/library/palette.py):
    // their URLs are known without fetching the dark index.json.
    var darkIndex = figure.getAttribute("data-nnx-frames-dark");
    this.darkUrls = darkIndex ? index.files.map(function (f) {
      return new URL(f, new URL(darkIndex, document.baseURI)).href;
    }) : null;
    this.metrics = index.metrics || null; // {name: [value per frame]} for the frames' alt text
    this.width = index.width;
    this.height = index.height;
    var still = figure.querySelector(".nnx-compare-still img");
    this.label = (this.video && (this.video.getAttribute("aria-label") || this.video.title)) ||
      (figure.getAttribute("data-nnx-label") && still
        ? still.getAttribute("alt").replace(/ \(epoch [^)]*\)$/, "") : null) ||
      "Training animation";
    this.images = new Map(); // frame position -> Promise<HTMLImageElement>
    this.stage = null;
    this.shown = -1;
  }

  /** Position in this panel's frames for `epoch`: the last frame at or before it. */
  Panel.prototype.frameFor = function (epoch) {
    var best = 0;
    for (var i = 0; i < this.epochs.length; i++) {
      if (this.epochs[i] <= epoch) best = i;
      else break;
    }
    return best;
  };

  /** The palette whose frames are shown ("light" or "dark"; see assets/nnx-palette.js). */
  function palette() {
    return window.nnxPalette ? window.nnxPalette.current() : "light";
  }

  /** Alt text of frame `i`: what the panel shows, its epoch and its metrics at that epoch. */
  Panel.prototype.altFor = function (i) {
    var parts = [];
    var metrics = this.metrics || {};
    Object.keys(metrics).forEach(function (name) {
      var v = metrics[name][i];
      if (typeof v === "number" && isFinite(v)) parts.push(name.replace(/_/g, " ") + " " + v.toFixed(3));
    });
    return this.label + " (epoch " + this.epochs[i] + (parts.length ? ": " + parts.join(", ") : "") + ")";
  };

  /** A promise of a decoded Image of frame `i` (cached; a failed load is retried next time). */
  Panel.prototype.load = function (i) {
    var dark = this.darkUrls && palette() === "dark";
    var key = (dark ? "dark:" : "light:") + i;
    var cached = this.images.get(key);
    if (cached) return cached;
    var img = new Image();
    img.decoding = "async";
    img.className = "nnx-frame";
    img.alt = this.altFor(i);
    if (this.width && this.height) {
      img.width = this.width;
      img.height = this.height;
    }
    img.src = dark ? this.darkUrls[i] : this.urls[i];
    var self = this;
    var promise = img.decode().then(function () { return img; }, function (err) {
      self.images.delete(key);
      throw err;
    });
    this.images.set(key, promise);
    return promise;
  };

  /** Swap the video for a frame stage the first time a frame is shown. */
  Panel.prototype.activate = function () {
    if (this.stage) return;
    this.stage = document.createElement("div");
    this.stage.className = "nnx-frame-stage";
    if (this.width && this.height) this.stage.style.aspectRatio = this.width + " / " + this.height;
    if (this.video) {
      this.video.pause();
      this.video.hidden = true;
      this.video.parentNode.insertBefore(this.stage, this.video);
    } else {
      // a run of compare(...): its still (the last frame) gives way to the scrubbed frames
      var still = this.figure.querySelector(".nnx-compare-still");
      if (still) still.hidden = true;
      this.figure.insertBefore(this.stage, this.figure.firstChild);
    }
    this.figure.classList.add("nnx-scrubbing");
  };

  /** Show decoded frame `i` (call inside an animation frame, with all panels together). */
  Panel.prototype.show = function (i, img) {
    this.activate();
    if (this.stage.firstChild !== img) this.stage.replaceChildren(img);
    this.shown = i;
    this.figure.dataset.nnxEpoch = String(this.epochs[i]);
  };

  /** The page's scrubber: the control bar and every panel it moves. */
  function Scrubber(panels) {
    this.panels = panels;
    var seen = new Set();
    panels.forEach(function (p) { p.epochs.forEach(function (e) { seen.add(e); }); });
    this.epochs = Array.from(seen).sort(function (a, b) { return a - b; });
    this.position = this.epochs.length - 1; // the posters show the last epoch
    this.requested = 0; // move counter: a newer decoded move supersedes older ones
    this.applied = 0;
    this.timer = null;
    this.playing = false;
    this.destroyed = false;
    this.build();
  }

  Scrubber.prototype.build = function () {
    var id = "nnx-scrubber-" + (++instances);
    var bar = document.createElement("div");
    bar.className = "nnx-scrubber";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Epoch scrubber");

    var play = document.createElement("button");
    play.type = "button";
    play.className = "nnx-scrubber-play md-button";
    play.setAttribute("aria-label", "Play the training epochs");
    play.textContent = "\u25B6 Play";

    var label = document.createElement("label");
    label.htmlFor = id;
    label.className = "nnx-scrubber-label";
    label.textContent = "Training epoch";

    var input = document.createElement("input");
    input.type = "range";
    input.id = id;
    input.min = "0";
    input.max = String(this.epochs.length - 1);
    input.step = "1";
    input.value = String(this.position);

    var out = document.createElement("output");
    out.htmlFor = id;
    out.className = "nnx-scrubber-epoch";
    out.setAttribute("aria-live", "polite"); // screen readers hear the epoch after each move

    var hint = document.createElement("span");
    hint.className = "nnx-scrubber-hint";
    hint.textContent = this.panels.length > 1
      ? "moves all " + this.panels.length + " animations on this page"
      : "moves the animation below";

    bar.append(play, label, input, out, hint);
    this.bar = bar;
    this.input = input;
    this.output = out;
    this.playButton = play;
    this.setLabel(this.position);

    var first = this.panels[0].figure;
    first.parentNode.insertBefore(bar, first);

    var self = this;
    input.addEventListener("input", function () {
      self.stop();
      self.go(Number(input.value));
    });
    play.addEventListener("click", function () {
      if (self.playing) self.stop(); else self.play();
    });
    // Preload around the current epoch as soon as the reader reaches for the controls.
    var warm = function () { self.preload(self.position, PRELOAD_RADIUS); };
    bar.addEventListener("pointerenter", warm, { once: true });
    bar.addEventListener("focusin", warm, { once: true });
    // A palette toggle redraws the frames shown in the new palette's version.
    this.onPalette = function () {
      if (self.panels.some(function (p) { return p.stage; })) self.go(self.position);
    };
    document.addEventListener("nnx-palette", this.onPalette);
  };

  Scrubber.prototype.setLabel = function (pos) {
    var text = "epoch " + this.epochs[pos];
    this.output.value = text;
    this.output.textContent = text;
    this.input.setAttribute("aria-valuetext", text);
  };

  /** Move every panel to epoch position `pos`; resolves when shown (or superseded). */
  Scrubber.prototype.go = function (pos) {
    pos = Math.max(0, Math.min(this.epochs.length - 1, pos));
    this.position = pos;
    this.input.value = String(pos);
    this.input.setAttribute("aria-valuetext", "epoch " + this.epochs[pos]);
    var epoch = this.epochs[pos];
    var token = ++this.requested;
    var self = this;
    var frames = this.panels.map(function (p) { return p.frameFor(epoch); });
    return Promise.all(this.panels.map(function (p, k) { return p.load(frames[k]); }))
      .then(function (images) {
        return new Promise(function (resolve) {
          requestAnimationFrame(function () {
            if (!self.destroyed && token > self.applied) {
              self.applied = token;
              self.panels.forEach(function (p, k) { p.show(frames[k], images[k]); });
              self.setLabel(pos);
              self.bar.dataset.nnxEpoch = String(epoch);
            }
            resolve();
          });
        });
      }, function (err) {
        console.warn("nnx-scrubber: a frame for epoch " + epoch + " did not load", err);
      })
      .then(function () {
        if (!self.destroyed) self.preload(pos, self.playing ? PLAY_AHEAD : PRELOAD_RADIUS);
      });
  };

  /** Start loading frames around position `pos` (ahead only while playing). */
  Scrubber.prototype.preload = function (pos, radius) {
    var self = this;
    for (var d = 1; d <= radius; d++) {
      [pos + d, this.playing ? -1 : pos - d].forEach(function (q) {
        if (q < 0 || q >= self.epochs.length) return;
        self.panels.forEach(function (p) {
          p.load(p.frameFor(self.epochs[q])).catch(function () { /* retried when needed */ });
        });
      });
    }
  };

  Scrubber.prototype.play = function () {
    if (this.playing || this.destroyed) return;
    if (this.position >= this.epochs.length - 1) this.position = -1; // replay from the start
    this.playing = true;
    this.playButton.textContent = "\u23F8 Pause";
    this.playButton.setAttribute("aria-label", "Pause the training epochs");
    this.playButton.setAttribute("aria-pressed", "true");
    var self = this;
    var step = function () {
      if (!self.playing) return;
      var started = performance.now();
      self.go(self.position + 1).then(function () {
        if (!self.playing) return;
        if (self.position >= self.epochs.length - 1) { self.stop(); return; }
        var wait = Math.max(0, 1000 / PLAY_FPS - (performance.now() - started));
        self.timer = setTimeout(step, wait);
      });
    };
    step();
  };

  Scrubber.prototype.stop = function () {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!this.playing) return;
    this.playing = false;
    this.playButton.textContent = "\u25B6 Play";
    this.playButton.setAttribute("aria-label", "Play the training epochs");
    this.playButton.setAttribute("aria-pressed", "false");
  };

  Scrubber.prototype.destroy = function () {
    this.stop();
    this.destroyed = true;
    document.removeEventListener("nnx-palette", this.onPalette);
  };

  /** Read every panel's index.json; panels whose index fails stay plain videos. */
  function setup(root) {
    var figures = Array.prototype.slice.call(root.querySelectorAll("figure.nnx-video[data-nnx-frames]"));
    if (!figures.length) return Promise.resolve(null);
    var token = api.generation;
    return Promise.all(figures.map(function (fig) {
      var indexUrl = new URL(fig.getAttribute("data-nnx-frames"), document.baseURI).href;
      return fetch(indexUrl)
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (index) {
          if (!Array.isArray(index.epochs) || !Array.isArray(index.files) ||
              index.epochs.length !== index.files.length || !index.files.length) {
            throw new Error("index.json needs equal-length 'epochs' and 'files' lists");
          }
          return new Panel(fig, index, indexUrl);
        })
        .catch(function (err) {
          console.warn("nnx-scrubber: no frames for " + indexUrl + "; the video stays", err);
          return null;
        });
    })).then(function (panels) {
      panels = panels.filter(Boolean);
      if (!panels.length || token !== api.generation) return null; // a newer page took over
      var scrubber = new Scrubber(panels);
      api.current = scrubber;
      return scrubber;
    });
  }

  var api = {
    current: null,
    generation: 0,
    ready: Promise.resolve(null),
    /** Set up the scrubber for the document now shown (called for every page). */
    init: function () {
      if (api.current) api.current.destroy();
      api.current = null;
      api.generation += 1;
      api.ready = setup(document);
      return api.ready;
    },
  };
  window.nnxScrubber = api;

  window.nnxEachPage(api.init);
})();
