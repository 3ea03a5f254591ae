"""The page's replay script (assets/nnx-replay-core.js) against numpy, with Node's test runner.

This test writes the fixtures (replay data of small synthetic runs, written by
``browser_data.write_replay_data`` exactly as a recipe writes them, and what numpy says the page
must compute from them), then runs ``node --test tests/js/`` on them, so ``nox -s tests`` (and
``.ci/run``) runs the JavaScript tests in the same command. What ``tests/js/replay_core.test.js``
checks, for every case:

- decoding: every number shipped as recorded equals the recording within half a quantisation
  step; the float32 arrays (inputs, weights) exactly;
- what the page computes from the weights (the viewed layer, the predictions, the losses)
  equals the recording within ``browser_data.TOLERANCE``;
- the feature space's background and the decision boundary's grid equal ``NumpyForward`` on
  the same grid (within 1e-6; the issue asks 1e-3), the bent input grid equals the panel's;
- histogram counts equal ``np.histogram`` of the same values, and the matplotlib panel's
  counts within 2 (a value a float32 ulp from a bin edge may fall either side);
- a point's path over the epochs is that point's recorded place;
- the 0.5 line crosses the grid's edges where contourpy's does.

The cases: the seed-000 shape (computed, and shipped with ``derive=False``), a multiclass
projection, a multiclass decision boundary, a regression (computed and shipped), a
BatchNormalization before the viewed layer, and a layer the page cannot compute before it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import need_module

keras = need_module("keras")

from pipeline.library.explainers.seed000 import seed000_layout  # noqa: E402
from pipeline.library.replay import default_layout  # noqa: E402
from pipeline.library.replay.browser_data import (  # noqa: E402
    _pre_activation,
    _to_probabilities,
    per_sample_loss,
    quantization_step,
    read_replay_data,
    write_replay_data,
)
from pipeline.library.replay.forward import NumpyForward  # noqa: E402
from pipeline.library.replay.store import Replay  # noqa: E402
from tests.conftest import REPO_ROOT, missing  # noqa: E402
from tests.replay_synth import normalized_classifier, synthetic_replay  # noqa: E402

JS_TESTS = REPO_ROOT / "tests" / "js"
SMALL = {"figsize": (6, 3), "dpi": 40}
ROWS = (0, 2, 5)  # epoch rows checked (the replays have 6 epochs after epoch 0)


def _forward64(fwd: NumpyForward, weights: dict[str, np.ndarray], x: np.ndarray, *,
               start_after: str | None = None, stop_at: str | None = None
               ) -> dict[str, np.ndarray]:
    """NumpyForward's layers in float64: what the page's float64 arithmetic computes."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    first = fwd._index(start_after, -1) + 1
    last = fwd._index(stop_at, len(fwd.steps) - 1)
    h = np.asarray(x, dtype=np.float64)
    outs: dict[str, np.ndarray] = {}
    for step in fwd.steps[first : last + 1]:
        h = step(h, w)
        outs[step.name] = h
    return outs


def _page_values(replay: Replay, index: dict[str, Any], arrays: dict[str, np.ndarray],
                 row: int) -> dict[str, np.ndarray]:
    """The per-point numbers the page shows at epoch ``row``, computed in numpy float64 the way
    the page computes them (or decoded, where the index ships them)."""
    n = replay.n_probe
    out: dict[str, np.ndarray] = {}
    spec = index["output"]
    epoch = int(replay.epochs[row])
    if spec["output"] == "derived":
        fwd = replay.numpy_model
        weights = replay.weights(epoch)
        outs = _forward64(fwd, weights, replay.probe_x.reshape(n, -1))
        raw = next(reversed(outs.values())).reshape(n, -1)
        pre = _pre_activation(fwd, outs, {k: np.asarray(v, np.float64) for k, v in weights.items()},
                              replay.probe_x).reshape(n, -1)
        shown = _to_probabilities(raw) if spec["from_logits"] else raw
        out["out"] = shown
        if isinstance(spec["loss"], dict):
            mode = spec["loss"]["mode"]
            values = raw if (spec["from_logits"] or mode == "output") else pre
            out["loss"] = per_sample_loss(spec["loss"]["name"], mode, values, replay.probe_y)
    else:
        out[spec["output"]] = arrays[spec["output"]][row].reshape(n, -1)
    if not isinstance(spec["loss"], dict):
        out["loss"] = arrays["loss"][row]
    kind = index["task"]["kind"]
    if kind == "binary":
        out["p1"] = out["out"][:, -1] if "out" in out else out["p1"][:, 0]
        labels = replay.labels
        out["ptrue"] = np.where(labels == 1, out["p1"], 1 - out["p1"])
    elif kind == "multiclass":
        if "out" in out:
            out["ptrue"] = out["out"][np.arange(n), replay.labels]
        else:
            out["ptrue"] = out["ptrue"][:, 0]
    else:
        out["pred"] = out["out"] if "out" in out else out["pred"]
    return out


def _hist(values: np.ndarray, edges: list[float], clip: str | None,
          mask: np.ndarray | None = None) -> list[int]:
    v = np.asarray(values, dtype=np.float64)
    if mask is not None:
        v = v[mask]
    v = v[np.isfinite(v)]
    if clip == "max":
        v = np.minimum(v, edges[-1])
    elif clip == "both":
        v = np.clip(v, edges[0], edges[-1])
    return [int(c) for c in np.histogram(v, bins=np.asarray(edges))[0]]


def _expected(replay: Replay, comp: Any, index: dict[str, Any],
              arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """What the page must compute, per checked epoch row and view."""
    fwd = None
    try:
        fwd = replay.numpy_model
    except Exception:  # noqa: BLE001 - a model without a chain: nothing computed from weights
        fwd = None
    out: dict[str, Any] = {"rows": list(ROWS), "views": []}
    per_point = {}
    for row in ROWS:
        v = _page_values(replay, index, arrays, row)
        per_point[row] = v
    out["recorded"] = {
        str(row): {"loss": replay.all_sample_losses[row].tolist(),
                   "out": replay.all_probabilities[row].reshape(replay.n_probe, -1).tolist()}
        for row in ROWS}
    for (panel, _), spec in zip(comp.panels, index["panels"], strict=True):
        view: dict[str, Any] = {"kind": spec["kind"], "rows": {}}
        name = spec.get("points")
        if isinstance(name, str) and name != "derived":
            lo, hi = index["arrays"][name]["range"]
            view["tol"] = quantization_step(lo, hi) / 2 + 1e-9
        for row in ROWS:
            epoch = int(replay.epochs[row])
            got: dict[str, Any] = {}
            if spec["kind"] == "feature":
                got["points"] = panel.feature_coordinates(epoch).tolist()
                if "input_grid" in spec:
                    got["bent"] = panel.grid_coordinates(epoch).reshape(-1, 2).tolist()
                if "background" in spec:
                    r = spec["background"]["resolution"]
                    gx = np.linspace(*spec["xlim"], r)
                    gy = np.linspace(*spec["ylim"], r)
                    xx, yy = np.meshgrid(gx, gy)
                    grid = np.column_stack([xx.ravel(), yy.ravel()])
                    p = fwd(replay.weights(epoch), grid, start_after=spec["layer"])
                    if spec["background"]["from_logits"]:
                        p = _to_probabilities(p)
                    got["background"] = np.asarray(p).ravel().tolist()
            elif spec["kind"] == "projection":
                got["points"] = panel.projected(epoch).tolist()
            elif spec["kind"] == "boundary":
                got["grid"] = np.asarray(panel.probability_grid(epoch)).ravel().tolist()
                if not spec["multiclass"]:
                    segs = panel.boundary_segments(epoch)
                    got["crossings"] = np.concatenate(segs).tolist() if segs else []
            elif spec["kind"] == "prediction":
                got["points"] = np.column_stack([panel.targets, panel.predictions(epoch)]).tolist()
            elif spec["kind"] in ("probability", "loss", "residual"):
                v = per_point[row]
                labels = replay.labels if index["task"]["kind"] != "regression" else None
                mask = None
                if spec["kind"] == "loss":
                    values = v["loss"]
                elif spec["kind"] == "residual":
                    target = np.asarray(replay.probe_y, np.float64).reshape(replay.n_probe, -1)
                    values = (v["pred"] - target).ravel()
                elif spec["stacked"]:
                    values = v["ptrue"]
                elif index["task"]["kind"] == "binary":
                    values, mask = v["p1"], labels == spec["cls"]
                else:
                    values, mask = v["ptrue"], labels == spec["cls"]
                if spec.get("stacked"):
                    got["by_class"] = [_hist(values, spec["edges"], spec.get("clip"), labels == c)
                                       for c in spec["classes"]]
                    panel_counts = panel.class_histograms(epoch)
                    got["panel"] = np.asarray(panel_counts).sum(axis=0).tolist()
                    got["counts"] = np.sum(got["by_class"], axis=0).tolist()
                else:
                    got["counts"] = _hist(values, spec["edges"], spec.get("clip"), mask)
                    got["panel"] = np.asarray(panel.histogram(epoch)).tolist()
            view["rows"][str(row)] = got
        if spec["kind"] in ("feature", "projection"):
            pts = panel._points_fs if spec["kind"] == "feature" else panel._points
            view["path"] = {"index": 3, "xy": np.asarray(pts)[:, 3].tolist()}
        out["views"].append(view)
    return out


def _cases() -> dict[str, tuple[Replay, Any, bool]]:
    """name -> (replay, composition, derive)."""
    binary = synthetic_replay("binary", 2, (4, 2), n_probe=60, epochs=6, record=("h1",))
    multi = synthetic_replay("multiclass", 5, (6,), n_classes=3, n_probe=60, epochs=6)
    multi2d = synthetic_replay("multiclass", 2, (5,), n_classes=3, n_probe=60, epochs=6, seed=1)
    regression = synthetic_replay("regression", 3, (4,), n_probe=50, epochs=6)
    bn_model = normalized_classifier()
    bn = synthetic_replay("binary", 2, n_probe=50, epochs=6, record=("h1",), model=bn_model)
    config = binary.model_config
    for spec in config["config"]["layers"]:
        if spec.get("config", {}).get("name") == "h0":
            spec["class_name"] = "LocallyConnected1D"  # a layer the page cannot compute
    opaque = Replay(binary.arrays(), dict(binary.meta, model_config=json.dumps(config)))
    return {
        "binary-feature": (binary, seed000_layout(binary, layer="h1", **SMALL), True),
        "binary-feature-shipped": (binary, seed000_layout(binary, layer="h1", **SMALL), False),
        "multiclass-projection": (multi, default_layout(multi, **SMALL), True),
        "multiclass-boundary": (multi2d, default_layout(multi2d, **SMALL), True),
        "regression": (regression, default_layout(regression, **SMALL), True),
        "regression-shipped": (regression, default_layout(regression, **SMALL), False),
        "batchnorm-before-view": (bn, default_layout(bn, **SMALL), True),
        "opaque-before-view": (opaque, seed000_layout(opaque, layer="h1", **SMALL), True),
    }


def write_fixtures(root: Path) -> list[str]:
    """Every case's replay data and expectations under ``root/<case>/``; the case names."""
    names = []
    for name, (replay, comp, derive) in _cases().items():
        folder = root / name
        folder.mkdir(parents=True)
        data = write_replay_data(folder / "replay.json", replay, comp, fps=10, derive=derive)
        index, arrays = read_replay_data(data.index)
        expected = _expected(replay, comp, index, arrays)
        expected["arrays"] = {
            key: {"values": np.asarray(arrays[key], np.float64).ravel().tolist(),
                  "tol": (quantization_step(*index["arrays"][key]["range"]) / 2 + 1e-9
                          if "range" in index["arrays"][key] else 0)}
            for key in arrays}
        recorded = {"points/h1": replay.layer_outputs("h1") if "h1" in replay.recorded_layers
                    else None, "loss": replay.all_sample_losses,
                    "p1": replay.positive_probability() if replay.all_probabilities.ndim else None}
        expected["recorded_arrays"] = {k: np.asarray(v, np.float64).ravel().tolist()
                                       for k, v in recorded.items()
                                       if v is not None and k in arrays}
        (folder / "expected.json").write_text(json.dumps(expected))
        names.append(name)
    # histogram edge cases and a contour, independent of any replay
    rng = np.random.default_rng(4)
    edges = np.linspace(0, 1, 11)
    values = np.concatenate([rng.random(200), edges, [np.nan, -0.1, 1.1]])
    xs, ys = np.linspace(-1, 1, 31), np.linspace(-1, 2, 41)
    z = np.sin(2 * xs[None, :]) * np.cos(ys[:, None]) + 0.3 * ys[:, None]
    import contourpy

    lines = contourpy.contour_generator(xs, ys, z, line_type="Separate").lines(0.2)
    (root / "basics.json").write_text(json.dumps({
        "values": [None if not np.isfinite(v) else float(v) for v in values],
        "edges": edges.tolist(), "counts": np.histogram(values[np.isfinite(values)],
                                                        bins=edges)[0].tolist(),
        "xs": xs.tolist(), "ys": ys.tolist(), "z": z.ravel().tolist(), "level": 0.2,
        "crossings": np.concatenate(lines).tolist()}))
    return names


def test_the_page_script_computes_what_numpy_computes(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        missing("Node.js (the page's JavaScript tests run with `node --test`)",
                "install it (apt-get install nodejs; version 20 or newer)")
    names = write_fixtures(tmp_path)
    env = {**os.environ, "NNX_REPLAY_FIXTURES": str(tmp_path)}
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.js"))
    assert files, f"no JavaScript tests in {JS_TESTS}"
    result = subprocess.run([node, "--test", *files], capture_output=True, text=True,
                            env=env, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    for name in names:  # every case ran (a test per case, by name)
        assert name in result.stdout, f"{name}: not tested\n{result.stdout[-3000:]}"
    assert "# fail 0" in result.stdout
