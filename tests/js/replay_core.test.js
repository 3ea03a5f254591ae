// The page's replay maths (pipeline/site/assets/nnx-replay-core.js) against numpy.
//
// Run by tests/unit/site/test_replay_assets.py, which writes the fixtures (replay data as a
// recipe writes it, and what numpy computes from it) and sets NNX_REPLAY_FIXTURES. By hand:
//   NNX_REPLAY_FIXTURES=<folder> node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const core = require("../../pipeline/site/assets/nnx-replay-core.js");

const ROOT = process.env.NNX_REPLAY_FIXTURES;
if (!ROOT) throw new Error("set NNX_REPLAY_FIXTURES (tests/unit/site/test_replay_assets.py writes them)");
const TOLERANCE = 1e-4; // browser_data.TOLERANCE

function load(name) {
  const dir = path.join(ROOT, name);
  const index = JSON.parse(fs.readFileSync(path.join(dir, "replay.json"), "utf8"));
  const raw = fs.readFileSync(path.join(dir, index.bin));
  const buffer = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const expected = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8"));
  return { index, buffer, expected, run: new core.Run(index, buffer) };
}

/** Largest |a - b| over finite pairs; NaN must meet NaN. */
function worst(a, b, label) {
  assert.equal(a.length, b.length, label + ": lengths");
  let w = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i] === null ? NaN : b[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      assert.ok(Number.isNaN(x) && Number.isNaN(y), `${label}[${i}]: ${x} vs ${y}`);
      continue;
    }
    w = Math.max(w, Math.abs(x - y) / (1 + Math.abs(y)));
  }
  return w;
}

function flat(rows) { return rows.flat ? rows.flat() : [].concat.apply([], rows); }

const cases = fs.readdirSync(ROOT).filter((n) => fs.existsSync(path.join(ROOT, n, "replay.json"))).sort();
assert.ok(cases.length > 0, "no fixtures in " + ROOT);

for (const name of cases) {
  test(name, async (t) => {
    const { index, buffer, expected, run } = load(name);

    await t.test("decoding: typed views; shipped numbers within half a quantisation step", () => {
      const arrays = core.decode(index, buffer);
      for (const [key, want] of Object.entries(expected.arrays)) {
        const arr = arrays[key];
        assert.ok(arr, key + " decoded");
        assert.equal(arr.data.buffer, buffer, key + ": a view of the file, not a copy");
        const got = Array.from({ length: arr.data.length }, (_, i) => arr.get(i));
        let w = 0;
        for (let i = 0; i < got.length; i++) {
          if (Number.isNaN(got[i])) { assert.equal(want.values[i], null, key); continue; }
          w = Math.max(w, Math.abs(got[i] - want.values[i]));
        }
        assert.ok(w <= want.tol, `${key}: decoded differs by ${w} > ${want.tol}`);
      }
      for (const [key, rec] of Object.entries(expected.recorded_arrays)) {
        const arr = arrays[key], tol = expected.arrays[key].tol || 1e-7;
        let w = 0;
        for (let i = 0; i < rec.length; i++) w = Math.max(w, Math.abs(arr.get(i) - rec[i]));
        assert.ok(w <= tol + 1e-7, `${key}: the recording differs from the decoding by ${w}`);
      }
      assert.throws(() => core.decode(index, buffer.slice(0, buffer.byteLength - 8)), /bytes/);
      assert.throws(() => core.decode({ ...index, version: 99 }, buffer), /newer/);
    });

    await t.test("outputs and losses equal the recording", () => {
      for (const row of expected.rows) {
        const f = run.frame(row), rec = expected.recorded[String(row)];
        const k = f.k;
        const loss = Array.from(f.loss);
        const w = worst(loss, rec.loss, `loss at row ${row}`);
        const shipped = index.output.loss === "loss";
        const tol = shipped ? expected.arrays.loss.tol / Math.max(1, 1) + 1e-7 : TOLERANCE;
        assert.ok(w <= tol, `loss at row ${row} differs by ${w}`);
        if (f.out) {
          const out = Array.from(f.out);
          assert.ok(worst(out, flat(rec.out), `output at row ${row}`) <= TOLERANCE);
        } else {
          const recOut = flat(rec.out);
          const kind = f.shippedKind;
          const mine = kind === "p1" ? Array.from(run.p1(f))
            : kind === "ptrue" ? Array.from(run.pTrue(f)) : Array.from(run.predictions(f));
          const want = kind === "p1" ? recOut.filter((_, i) => i % k === k - 1) : kind === "ptrue"
            ? Array.from(run.labels, (c, i) => recOut[i * (recOut.length / run.n) + c]) : recOut;
          const tol = expected.arrays[kind].tol;
          let m = 0;
          for (let i = 0; i < mine.length; i++) m = Math.max(m, Math.abs(mine[i] - want[i]));
          assert.ok(m <= tol + 1e-7, `${kind} at row ${row} differs by ${m}`);
        }
      }
    });

    await t.test("views: points, grids, backgrounds and histograms equal numpy's", () => {
      index.panels.forEach((spec, v) => {
        const exp = expected.views[v];
        for (const row of expected.rows) {
          const want = exp.rows[String(row)];
          const label = `${spec.kind} (view ${v}) at row ${row}`;
          if (want.points) {
            const got = Array.from(run.points(spec, row));
            const w = worst(got, flat(want.points), label + ": points");
            assert.ok(w <= (exp.tol !== undefined ? exp.tol : TOLERANCE), `${label}: points differ by ${w}`);
          }
          if (want.bent) {
            const got = Array.from(run.bentGrid(spec, row).data);
            const w = worst(got, flat(want.bent), label + ": bent grid");
            assert.ok(w <= 1e-5, `${label}: bent grid differs by ${w}`);
          }
          if (want.background) {
            const g = run.grid(spec, row);
            const w = worst(Array.from(g.p), want.background, label + ": background");
            assert.ok(w <= 1e-6, `${label}: background differs from NumpyForward by ${w}`);
          }
          if (want.grid) {
            const g = run.grid(spec, row);
            const w = worst(Array.from(g.p), want.grid, label + ": boundary grid");
            assert.ok(w <= 1e-6, `${label}: boundary grid differs from NumpyForward by ${w}`);
            if (want.crossings) {
              const p1 = g.p.filter((_, i) => i % g.k === g.k - 1);
              const segs = core.contour(p1, g.xs, g.ys, 0.5);
              assertSameCrossings(segs, want.crossings, label);
            }
          }
          if (want.counts) {
            const h = run.histogram(spec, row);
            assert.deepEqual(Array.from(h.total), want.counts, `${label}: counts vs np.histogram`);
            if (want.by_class) h.byClass.forEach((c, k) => assert.deepEqual(Array.from(c), want.by_class[k]));
            const off = want.panel.reduce((s, c, b) => s + Math.abs(c - h.total[b]), 0);
            assert.ok(off <= 2, `${label}: the matplotlib panel counts ${want.panel}, the page ${Array.from(h.total)}`);
          }
        }
        if (exp.path) {
          const got = Array.from(run.path(spec, exp.path.index));
          const w = worst(got, flat(exp.path.xy), `${spec.kind}: path of point ${exp.path.index}`);
          assert.ok(w <= (exp.tol !== undefined ? exp.tol : TOLERANCE), `path differs by ${w}`);
        }
      });
    });

    await t.test("a histogram bar holds exactly the points counted in it", () => {
      index.panels.forEach((spec) => {
        if (["probability", "loss", "residual"].indexOf(spec.kind) < 0) return;
        const row = expected.rows[expected.rows.length - 1];
        const h = run.histogram(spec, row);
        for (let b = 0; b < h.total.length; b++) {
          const members = run.binMembers(spec, row, b);
          if (spec.kind !== "residual" || run.task.n_outputs === 1) assert.equal(members.length, h.total[b]);
        }
      });
    });
  });
}

function assertSameCrossings(segs, want, label) {
  const key = (x, y) => x.toFixed(7) + "," + y.toFixed(7);
  const mine = new Set(), theirs = new Set();
  for (let i = 0; i < segs.length; i += 2) mine.add(key(segs[i], segs[i + 1]));
  for (const [x, y] of want) theirs.add(key(x, y));
  const missing = [...theirs].filter((k) => !mine.has(k));
  const extra = [...mine].filter((k) => !theirs.has(k));
  assert.ok(missing.length === 0 && extra.length === 0,
    `${label}: 0.5 line crossings differ from contourpy's (missing ${missing.slice(0, 3)}, extra ${extra.slice(0, 3)})`);
}

test("basics: histogram with numpy's rules, contour crossings as contourpy's, ticks", () => {
  const b = JSON.parse(fs.readFileSync(path.join(ROOT, "basics.json"), "utf8"));
  const values = b.values.map((v) => (v === null ? NaN : v));
  assert.deepEqual(Array.from(core.histogram(values, b.edges)), b.counts);
  assert.equal(core.binOf(1, b.edges), b.edges.length - 2); // the last bin is closed
  assert.equal(core.binOf(0.5, b.edges), 5);
  assert.equal(core.binOf(-1e-12, b.edges), -1);
  const segs = core.contour(b.z, b.xs, b.ys, b.level);
  assertSameCrossings(segs, b.crossings, "contour");
  assert.deepEqual(core.ticks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(core.tickLabels([0, 0.5, 1]), ["0.0", "0.5", "1.0"]);
  assert.deepEqual(core.ticks(-1.1, 1.1, 5), [-1, -0.5, 0, 0.5, 1]);
  assert.deepEqual(core.ticks(-1.1, 1.1, 4), [-1, 0, 1]);
  assert.deepEqual(core.tickLabels([0, 100, 200]), ["0", "100", "200"]);
  const s = core.scale(-1, 1, 10, 110);
  assert.equal(s(0), 60);
  assert.equal(s.invert(110), 1);
});
