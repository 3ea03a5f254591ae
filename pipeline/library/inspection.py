"""Reading a Keras model: summary tables, layer configs, weight statistics, feature-map pictures.

Seed 004 reads VGG16 (``model.summary()``, ``get_config()``, ``get_weights()``); seeds 002 and 003
draw feature maps, first-layer filters, per-layer weight histograms before and after training and
a GIF stepping through activations. Keras prints its summary to the console; a static page needs
the same facts as data. So everything here returns plain rows, dicts and arrays taken from the
real model (tested against ``model.count_params()`` and ``get_weights()``), and the picture
helpers return the exact array they drew, so a test can check the picture against the model.

TensorFlow, Keras and matplotlib are imported inside functions: importing this module is cheap
and has no side effects (no rcParams changes, no backend selection).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.library import atomic
from pipeline.library.errors import PipelineError
from pipeline.library.suggest import did_you_mean

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Layers by name
# --------------------------------------------------------------------------------------------


def layer_names(model: keras.Model) -> list[str]:
    """Names of the model's top-level layers, in the model's order."""
    return [layer.name for layer in model.layers]


def find_layer(model: keras.Model, name: str | int, argument: str = "layer") -> Any:
    """The layer called ``name`` (or at index ``name``), else an error with a did-you-mean.

    Keras's own ``get_layer`` error gives no hint; a recipe author with a typo in
    ``"block5_conv1"`` should see the closest names and the full list.
    """
    layers = model.layers
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if -len(layers) <= int(name) < len(layers):
            return layers[int(name)]
        raise PipelineError(
            f"{argument}={name}: model {model.name!r} has {len(layers)} layers "
            f"(indices 0..{len(layers) - 1})."
        )
    for layer in layers:
        if layer.name == name:
            return layer
    names = layer_names(model)
    hint = did_you_mean(name, names, n=3, sep=", ")
    raise PipelineError(
        f"{argument}={name!r}: model {model.name!r} has no layer of that name.{hint} "
        f"Valid layer names: {', '.join(names)}."
    )


def _model_input(model: keras.Model) -> Any:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise PipelineError(
            f"model {model.name!r} has no symbolic inputs: build it with keras.Input "
            "(Sequential([keras.Input(shape), ...]) or the functional API) so its layers' "
            "outputs can be read."
        )
    return inputs


# --------------------------------------------------------------------------------------------
# Summary table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    """One line of ``model.summary()``, as data."""

    name: str
    class_name: str
    output_shape: str
    params: int
    trainable_params: int
    non_trainable_params: int
    trainable: bool


@dataclass(frozen=True)
class SummaryTotals:
    """The summary's footer: what must match ``model.count_params()``."""

    total: int
    trainable: int
    non_trainable: int


def _format_shape(shape: Iterable[Any]) -> str:
    return "(" + ", ".join("None" if d is None else str(int(d)) for d in shape) + ")"


def _output_shape(layer: Any) -> str:
    """Output shape as Keras prints it; "?" where the layer was never called on a tensor."""
    import keras

    out = None
    try:
        out = layer.output
    except (AttributeError, ValueError, RuntimeError):
        nodes = getattr(layer, "_inbound_nodes", None) or []
        if nodes:  # a shared layer: Keras's summary shows its last call
            out = nodes[-1].output_tensors
    if out is None:
        return "?"
    shapes = [_format_shape(t.shape) for t in keras.tree.flatten(out)]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _count(variables: Iterable[Any]) -> int:
    return int(sum(math.prod(v.shape) for v in variables))


def summary_rows(model: keras.Model) -> list[LayerRow]:
    """One :class:`LayerRow` per top-level layer, built from the live model.

    Trainable and non-trainable counts come from each layer's variables, so a frozen base model
    (``trainable=False``) shows up as non-trainable, which is what seed 004 asks a reader to
    check before fine-tuning. A nested model is one row, as in ``model.summary()``.
    """
    if not getattr(model, "built", False):
        raise PipelineError(
            f"model {model.name!r} is not built, so its layers have no weights or shapes yet; "
            "call model.build(input_shape) or start it with keras.Input(shape)."
        )
    rows = []
    for layer in model.layers:
        trainable = _count(layer.trainable_weights)
        non_trainable = _count(layer.non_trainable_weights)
        rows.append(
            LayerRow(
                name=layer.name,
                class_name=layer.__class__.__name__,
                output_shape=_output_shape(layer),
                params=trainable + non_trainable,
                trainable_params=trainable,
                non_trainable_params=non_trainable,
                trainable=bool(layer.trainable),
            )
        )
    return rows


def summary_totals(rows: Sequence[LayerRow]) -> SummaryTotals:
    """Totals of :func:`summary_rows` (equal to ``model.count_params()`` for unshared weights)."""
    return SummaryTotals(
        total=sum(r.params for r in rows),
        trainable=sum(r.trainable_params for r in rows),
        non_trainable=sum(r.non_trainable_params for r in rows),
    )


_COLUMNS = ("Layer", "Type", "Output shape", "Params", "Trainable", "Non-trainable")


def _row_cells(row: LayerRow) -> list[str]:
    return [
        row.name,
        row.class_name,
        row.output_shape,
        f"{row.params:,}",
        f"{row.trainable_params:,}",
        f"{row.non_trainable_params:,}",
    ]


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def rows_to_markdown(rows: Sequence[LayerRow], totals: bool = True) -> str:
    """A Markdown pipe table of the summary (thousands separators, numbers right-aligned).

    With ``totals=True`` the table ends with a bold total row, so the page's table and the
    Keras footer ("Total params: 138,357,544") say the same thing.
    """
    lines = [
        "| " + " | ".join(_COLUMNS) + " |",
        "| :--- | :--- | :--- | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_md_escape(c) for c in _row_cells(row)) + " |")
    if totals:
        t = summary_totals(rows)
        lines.append(
            f"| **Total** | | | **{t.total:,}** | **{t.trainable:,}** | **{t.non_trainable:,}** |"
        )
    return "\n".join(lines) + "\n"


def rows_to_html(rows: Sequence[LayerRow], totals: bool = True, caption: str | None = None) -> str:
    """The summary as an HTML ``<table>`` fragment for the page's ``include(...)`` shortcode.

    Built by :func:`pipeline.library.tables.html_table`: escaped text, ``<th scope="col">`` headers, the
    layer name as each row's header, numbers right-aligned, totals in ``<tfoot>``.
    """
    from pipeline.library.tables import html_table

    foot = None
    if totals:
        t = summary_totals(rows)
        foot = ["Total", None, None, f"{t.total:,}", f"{t.trainable:,}", f"{t.non_trainable:,}"]
    return html_table(_COLUMNS, [_row_cells(r) for r in rows], numeric=(3, 4, 5), nowrap=(2,),
                      caption=caption, foot=foot)


# --------------------------------------------------------------------------------------------
# Configs and weights
# --------------------------------------------------------------------------------------------


def _json_safe(obj: Any) -> Any:
    """Plain JSON types from a Keras config (tuples, numpy scalars, nested Keras objects)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": _json_safe(obj.get_config())}
    return repr(obj)


def layer_config(model: keras.Model, name: str | int) -> dict[str, Any]:
    """``get_config()`` of one layer, converted to JSON-safe types (for a page or a manifest).

    ``json.dumps(layer_config(model, "block5_conv1"))`` always works; Keras configs may hold
    tuples and numpy scalars that would otherwise fail or change type on the way.
    """
    config = _json_safe(find_layer(model, name).get_config())
    json.dumps(config)  # fail here, naming nothing obscure, if something slipped through
    return config


def layer_configs(model: keras.Model) -> dict[str, dict[str, Any]]:
    """``{layer name: JSON-safe config}`` for every layer (seed 004's ``layers_info``)."""
    return {layer.name: layer_config(model, layer.name) for layer in model.layers}


@dataclass(frozen=True)
class WeightRow:
    """Statistics of one weight variable (a kernel or a bias) of one layer."""

    layer: str
    name: str
    shape: tuple[int, ...]
    count: int
    mean: float
    std: float
    min: float
    max: float
    zero_fraction: float
    trainable: bool


def _to_numpy(variable: Any) -> np.ndarray:
    """A numpy copy of a Keras variable (``.numpy()`` avoids a numpy-2 copy-keyword warning)."""
    to_numpy = getattr(variable, "numpy", None)
    return np.asarray(to_numpy() if callable(to_numpy) else variable)


def weight_stats(model: keras.Model, layers: Sequence[str | int] | None = None) -> list[WeightRow]:
    """One :class:`WeightRow` per variable, in ``layer.get_weights()`` order.

    Statistics are computed in float64 so the page's numbers do not depend on the variable's
    dtype; ``zero_fraction`` shows dead or pruned weights at a glance.
    """
    chosen = model.layers if layers is None else [find_layer(model, n, "layers") for n in layers]
    rows = []
    for layer in chosen:
        trainable_ids = {id(v) for v in layer.trainable_weights}
        for var in layer.weights:
            arr = _to_numpy(var).astype(np.float64)
            n = int(arr.size)
            rows.append(
                WeightRow(
                    layer=layer.name,
                    name=str(getattr(var, "name", "")),
                    shape=tuple(int(d) for d in arr.shape),
                    count=n,
                    mean=float(arr.mean()) if n else math.nan,
                    std=float(arr.std()) if n else math.nan,
                    min=float(arr.min()) if n else math.nan,
                    max=float(arr.max()) if n else math.nan,
                    zero_fraction=float(np.count_nonzero(arr == 0) / n) if n else math.nan,
                    trainable=id(var) in trainable_ids,
                )
            )
    return rows


def snapshot_weights(
    model: keras.Model, layers: Sequence[str | int] | None = None, kernels_only: bool = True
) -> dict[str, np.ndarray]:
    """``{layer name: flattened weights}`` copied now, e.g. before training.

    Copies, not views: training updates the variables in place, so a "before" picture must be
    taken from a snapshot. ``kernels_only`` keeps each layer's first variable (its kernel)
    because biases start at zero and would pile up as a spike at 0 in a histogram.
    """
    chosen = model.layers if layers is None else [find_layer(model, n, "layers") for n in layers]
    out: dict[str, np.ndarray] = {}
    for layer in chosen:
        variables = layer.weights[:1] if kernels_only else layer.weights
        if variables:
            out[layer.name] = np.concatenate([_to_numpy(v).ravel() for v in variables]).copy()
    return out


# --------------------------------------------------------------------------------------------
# Feature maps
# --------------------------------------------------------------------------------------------


def feature_maps(
    model: keras.Model,
    x: np.ndarray,
    layer_names: Sequence[str | int],
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Outputs of the named layers for input ``x``, from one multi-output model and one predict.

    One forward pass for all layers (rather than one sub-model per layer) keeps the maps
    consistent with each other and costs a single pass. ``x`` is a batch, or one sample without
    the batch axis, in which case the maps come back without it too. Layers may be given by
    name or index; the result is keyed by name.
    """
    import keras

    if isinstance(layer_names, (str, int)):
        layer_names = [layer_names]
    if not layer_names:
        raise PipelineError("feature_maps: layer_names is empty; name at least one layer.")
    inputs = _model_input(model)
    layers = [find_layer(model, n, "layer_names") for n in layer_names]
    arr = np.asarray(x, dtype=np.float32)
    rank = len(inputs[0].shape)
    single = arr.ndim == rank - 1
    if single:
        arr = arr[None]
    if arr.ndim != rank:
        raise PipelineError(
            f"feature_maps: x has shape {np.shape(x)} but model {model.name!r} takes inputs of "
            f"shape {tuple(inputs[0].shape)}; pass a batch or one sample."
        )
    outputs = []
    for layer in layers:
        try:
            outputs.append(layer.output)
        except (AttributeError, ValueError) as exc:
            raise PipelineError(
                f"feature_maps: layer {layer.name!r} has no single output in model "
                f"{model.name!r} ({exc}); a layer called several times (shared) has one output "
                "per call: build keras.Model(model.inputs, <the tensor you want>) yourself."
            ) from exc
    probe = keras.Model(inputs, outputs, name=f"{model.name}_probe")
    outs = probe.predict(arr, batch_size=batch_size, verbose=0)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    result = {}
    for layer, out in zip(layers, outs, strict=True):
        out = np.asarray(out)
        result[layer.name] = out[0] if single else out
    return result


def _grid_shape(n: int, cols: int | None) -> tuple[int, int]:
    ncols = max(1, min(n, cols if cols else math.ceil(math.sqrt(n))))
    return math.ceil(n / ncols), ncols


def _as_maps(maps: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(maps)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise PipelineError(
            f"{what} must be one (H, W, C) stack of feature maps, got shape {arr.shape}; pass "
            "maps[i] for sample i of a batch."
        )
    return arr


def _count_arg(value: int | None, available: int, name: str) -> int:
    if value is None:
        return available
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise PipelineError(f"{name} must be a positive integer or None, got {value!r}.")
    return min(int(value), available)


def feature_map_grid(
    maps: np.ndarray,
    max_channels: int | None = None,
    cols: int | None = None,
    title: str | None = None,
    channel_labels: bool = True,
    cmap: str = "viridis",
    shared_scale: bool = False,
    panel_size: float = 1.3,
) -> tuple[Figure, np.ndarray]:
    """Every channel (or the first ``max_channels``) of an ``(H, W, C)`` map as small multiples.

    Returns ``(figure, shown)`` where ``shown`` is exactly ``maps[..., :k]``, the array drawn
    (panel ``i`` shows ``shown[..., i]``), so a test can compare the picture with the layer's
    output. Each panel has its own colour scale by default because channel magnitudes differ by
    orders of magnitude and a shared scale leaves most panels black; ``shared_scale=True``
    compares magnitudes instead. Seed 003 shows the first 27 of 128 channels.
    """
    from matplotlib.figure import Figure

    arr = _as_maps(maps, "maps")
    k = _count_arg(max_channels, arr.shape[-1], "max_channels")
    shown = arr[..., :k]
    nrows, ncols = _grid_shape(k, cols)
    label_pad = 0.25 if channel_labels else 0.0
    fig = Figure(
        figsize=(panel_size * ncols, (panel_size + label_pad) * nrows + (0.5 if title else 0.1))
    )
    axes = fig.subplots(nrows, ncols, squeeze=False)
    vmin, vmax = (float(shown.min()), float(shown.max())) if shared_scale else (None, None)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= k:
            continue
        ax.imshow(shown[..., i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if channel_labels:
            ax.set_title(f"ch {i}", fontsize=8, pad=2)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, wspace=0.05, hspace=0.3,
                        top=1.0 - (0.5 if title else 0.1) / fig.get_figheight())
    log.debug("feature_map_grid: %d of %d channels, %dx%d grid", k, arr.shape[-1], nrows, ncols)
    return fig, shown


def filter_grid(
    kernel: np.ndarray | Sequence[np.ndarray],
    max_filters: int | None = None,
    cols: int | None = None,
    title: str | None = None,
    channel_labels: bool = True,
    in_channel: int | None = None,
    panel_size: float = 0.9,
) -> tuple[Figure, np.ndarray]:
    """First-layer filters ``(kh, kw, cin, cout)`` as a grid; RGB pictures when ``cin == 3``.

    An RGB filter is min-max scaled on its own (the colour it responds to is what matters, not
    its magnitude). For other ``cin`` the grey picture is input channel ``in_channel``, or the
    mean over input channels when None. Accepts ``layer.get_weights()`` directly (uses the
    kernel). Returns ``(figure, shown)``: ``shown[i]`` is exactly what panel ``i`` displays,
    ``(n, kh, kw, 3)`` for RGB, ``(n, kh, kw)`` otherwise.
    """
    from matplotlib.figure import Figure

    if isinstance(kernel, (list, tuple)):
        if not kernel:
            raise PipelineError("filter_grid: got an empty weight list; pass a conv kernel.")
        kernel = kernel[0]
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 4:
        raise PipelineError(
            f"filter_grid: kernel must be a Conv2D kernel (kh, kw, cin, cout), got shape "
            f"{k.shape}."
        )
    n = _count_arg(max_filters, k.shape[-1], "max_filters")
    filters = np.moveaxis(k[..., :n], -1, 0)  # (n, kh, kw, cin)
    rgb = filters.shape[-1] == 3 and in_channel is None
    if rgb:
        lo = filters.min(axis=(1, 2, 3), keepdims=True)
        hi = filters.max(axis=(1, 2, 3), keepdims=True)
        shown = np.divide(filters - lo, hi - lo, out=np.full_like(filters, 0.5), where=hi > lo)
    elif in_channel is not None:
        if not 0 <= in_channel < filters.shape[-1]:
            raise PipelineError(
                f"filter_grid: in_channel={in_channel} but the kernel has {filters.shape[-1]} "
                "input channels."
            )
        shown = filters[..., in_channel]
    else:
        shown = filters.mean(axis=-1)
    nrows, ncols = _grid_shape(n, cols)
    fig = Figure(figsize=(panel_size * ncols, (panel_size + 0.2) * nrows + (0.5 if title else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        if rgb:
            ax.imshow(shown[i], interpolation="nearest")
        else:
            ax.imshow(shown[i], cmap="gray", interpolation="nearest")
        if channel_labels:
            ax.set_title(str(i), fontsize=7, pad=1)
    if title:
        fig.suptitle(title)
    return fig, shown


def _weights_by_layer(
    source: keras.Model | Mapping[str, Any], kernels_only: bool
) -> dict[str, np.ndarray]:
    if isinstance(source, Mapping):
        out = {}
        for name, value in source.items():
            if isinstance(value, (list, tuple)):
                parts = value[:1] if kernels_only else value
                out[str(name)] = np.concatenate([np.asarray(p).ravel() for p in parts])
            else:
                out[str(name)] = np.asarray(value).ravel()
        return out
    if hasattr(source, "layers"):
        return snapshot_weights(source, kernels_only=kernels_only)
    raise PipelineError(
        "weight_histograms: pass a Keras model or a {layer name: weights} dict (e.g. from "
        f"snapshot_weights(model)), got {type(source).__name__}."
    )


def _span_title(chunk: Sequence[str]) -> str:
    """The layers of one panel by name, as the legends and the model's summary name them."""
    return chunk[0] if len(chunk) == 1 else f"{chunk[0]}-{chunk[-1]}"


def weight_histograms(
    weights: keras.Model | Mapping[str, Any],
    layers: Sequence[str] | None = None,
    bins: int = 50,
    group: int = 3,
    before: keras.Model | Mapping[str, Any] | None = None,
    kernels_only: bool = True,
    row_titles: tuple[str, str] = ("before training", "after training"),
    panel_size: tuple[float, float] = (4.0, 3.0),
) -> Figure:
    """Per-layer weight histograms, ``group`` layers overlaid per panel; a before/after pair.

    Seed 003 splits nine layers into three plots of three, before training (mean 0, std
    0.04-0.06) and after (spread to +-5 in the first layers). Overlaying a few layers per panel
    keeps them comparable without one panel per layer. Histograms are step outlines of counts,
    so a layer with more weights draws a taller curve, as in the article; each legend entry
    gives the layer's std. ``before`` is a model or a :func:`snapshot_weights` dict taken
    before training; without it there is one row. Each panel is titled with its row title and
    the names of its first and last layer (``"after training: conv1-conv3"``), never with
    positions, which readers would have to count (and would count from 1).
    """
    from matplotlib.figure import Figure

    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise PipelineError(f"weight_histograms: group must be a positive integer, got {group!r}.")
    after = _weights_by_layer(weights, kernels_only)
    snapshots = [after] if before is None else [_weights_by_layer(before, kernels_only), after]
    titles = [row_titles[-1]] if before is None else list(row_titles)
    names = list(layers) if layers is not None else list(after)
    for snap, label in zip(snapshots, titles, strict=True):
        missing = [n for n in names if n not in snap]
        if missing:
            hint = did_you_mean(missing[0], snap, n=3, sep=", ")
            raise PipelineError(
                f"weight_histograms: no weights for layer(s) {missing} in the {label!r} "
                f"snapshot.{hint} Layers with weights: {', '.join(snap)}."
            )
    if not names:
        raise PipelineError("weight_histograms: no layers with weights to draw.")
    groups = [names[i : i + group] for i in range(0, len(names), group)]
    nrows, ncols = len(snapshots), len(groups)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r, (snap, label) in enumerate(zip(snapshots, titles, strict=True)):
        for c, chunk in enumerate(groups):
            ax = axes[r, c]
            for name in chunk:
                values = snap[name]
                label_std = f"{name} (std {values.std():.3g})"
                ax.hist(values, bins=bins, histtype="step", label=label_std)
            ax.legend(fontsize=7)
            ax.set_title(f"{label}: {_span_title(chunk)}", fontsize=9)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Frames and GIF
# --------------------------------------------------------------------------------------------


def tile_channels(
    maps: np.ndarray, max_channels: int | None = None, cols: int | None = None, pad: int = 1
) -> np.ndarray:
    """One 2-D mosaic of the channels of an ``(H, W, C)`` map, each scaled to [0, 1].

    Gaps between tiles are NaN, so ``imshow`` leaves them blank; used for GIF frames where a
    whole figure per frame is too heavy.
    """
    arr = _as_maps(maps, "maps").astype(np.float64)
    k = _count_arg(max_channels, arr.shape[-1], "max_channels")
    nrows, ncols = _grid_shape(k, cols)
    h, w = arr.shape[:2]
    mosaic = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    for i in range(k):
        ch = arr[..., i]
        lo, hi = ch.min(), ch.max()
        ch = (ch - lo) / (hi - lo) if hi > lo else np.zeros_like(ch)
        r, c = divmod(i, ncols)
        mosaic[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = ch
    return mosaic


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a figure to ``uint8`` RGB ``(H, W, 3)`` with Agg (no pyplot, no backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if hasattr(fig.canvas, "buffer_rgba") else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _frame_image(frame: Any, max_channels: int, cmap: str) -> tuple[np.ndarray, str | None]:
    arr = np.asarray(frame)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return arr.astype(np.float64), cmap
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        img = arr[..., :3]
        if img.dtype != np.uint8:
            img = img.astype(np.float64)
            lo, hi = float(img.min()), float(img.max())
            if lo < 0 or hi > 1:
                img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        return img, None
    if arr.ndim == 3:
        return tile_channels(arr, max_channels=max_channels), cmap
    raise PipelineError(
        f"activation_strip_gif: a frame has shape {arr.shape}; frames must be images (H, W), "
        "(H, W, 3) or feature maps (H, W, C)."
    )


def activation_strip_gif(
    path: str | os.PathLike[str],
    frames: Sequence[np.ndarray],
    labels: Sequence[str],
    duration: float | Sequence[float] = 1.0,
    max_channels: int = 27,
    cmap: str = "viridis",
    frame_size: tuple[float, float] = (4.0, 4.4),
    dpi: int = 100,
    loop: int = 0,
    palette: str = "light",
    poster: str | os.PathLike[str] | None = None,
) -> Path:
    """A labelled GIF stepping through ``frames`` (seed 003: input -> layer 3 -> 6 -> 9).

    ``palette`` (``"light"`` or ``"dark"``, :mod:`pipeline.library.palette`) recolours the frames'
    background and labels for the site's palette; the images and their colormap stay the same.
    ``poster``: also write the first frame there as a PNG, the still that readers who prefer
    reduced motion see instead of the animation.

    A frame may be an image (``(H, W)`` or ``(H, W, 3)``) or a feature-map stack ``(H, W, C)``,
    drawn as a mosaic of its first ``max_channels`` channels. Every frame is rendered at the
    same ``frame_size`` so frames of different sizes line up. ``duration`` is seconds per frame
    (one number or one per frame). The file is written to a temporary name in the same folder
    and renamed, so a reader or a cached build never sees half a GIF. Note that GIF encoders
    merge identical consecutive frames; distinct labels keep them distinct.
    """
    import imageio.v3 as iio
    from matplotlib.figure import Figure

    if len(frames) == 0:
        raise PipelineError("activation_strip_gif: frames is empty; pass at least one frame.")
    if len(labels) != len(frames):
        raise PipelineError(
            f"activation_strip_gif: {len(frames)} frames but {len(labels)} labels; give one "
            "label per frame."
        )
    if isinstance(duration, (int, float)):
        durations = [float(duration)] * len(frames)
    else:
        durations = [float(d) for d in duration]
        if len(durations) != len(frames):
            raise PipelineError(
                f"activation_strip_gif: {len(durations)} durations for {len(frames)} frames."
            )
    if any(d <= 0 for d in durations):
        raise PipelineError("activation_strip_gif: durations must be positive seconds.")

    rendered = []
    for frame, label in zip(frames, labels, strict=True):
        img, frame_cmap = _frame_image(frame, max_channels, cmap)
        fig = Figure(figsize=frame_size, dpi=dpi)
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.86))
        ax.set_axis_off()
        ax.imshow(img, cmap=frame_cmap, interpolation="nearest")
        fig.suptitle(str(label), y=0.97)
        if palette != "light":
            from pipeline.library.palette import restyle_figure

            restyle_figure(fig, palette)
        rendered.append(figure_to_array(fig))
    stack = np.stack(rendered)

    ms = [int(round(d * 1000)) for d in durations]
    target = Path(path)
    # pipeline.library.atomic: a temporary sibling renamed into place, world-readable (0644) like every
    # other published asset (a bare mkstemp file is 0600 and would be unreadable when served).
    with atomic.atomic_path(target, suffix=".gif") as tmp:
        iio.imwrite(
            tmp,
            stack,
            extension=".gif",
            # Pillow takes a list only for several frames; a one-frame GIF needs a number.
            duration=ms[0] if len(ms) == 1 else ms,
            loop=loop,
        )
    if poster is not None:
        with atomic.atomic_path(Path(poster), suffix=".png") as tmp:
            iio.imwrite(tmp, stack[0], extension=".png")
    log.info("wrote %s (%d frames)", target, len(rendered))
    return target
