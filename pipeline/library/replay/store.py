"""The replay file: everything a recorded training run left behind, readable without TensorFlow.

One ``.npz`` per run (numpy's zip of ``.npy`` arrays): it needs nothing beyond numpy to read,
stores arrays losslessly, and its per-member CRC lets a truncated or corrupted file be detected
on load instead of producing a silently wrong picture. Layout (``E`` epochs, ``N`` probe points):

==============================  ===================================================
``meta``                        0-d unicode array holding a JSON object (see below)
``epochs``                      ``(E,)`` int: epoch numbers; 0 is "before training"
``probe_x`` / ``probe_y``       the fixed probe set every per-sample array refers to
``metric/<name>``               ``(E,)`` float: Keras logs (NaN at epoch 0) and ``probe_*``
``weight/<layer>/<var>``        ``(E, ...)`` every variable of every layer
``grad/<layer>/<var>``          ``(E, ...)`` optional: gradient of the mean probe loss
``output/<layer>``              ``(E, N, ...)`` recorded layer outputs on the probe set
``probabilities``               ``(E, N, k)`` predicted probabilities on the probe set
``sample_loss``                 ``(E, N)`` per-sample loss on the probe set
``ckpt/model/<i>``, ``ckpt/optimizer/<i>``  optional: state for resuming (last epoch only)
==============================  ===================================================

``meta`` holds ``format``, ``version``, the model config (``model.to_json()``), the model's
layer names, each layer's class name and width (``layer_kinds``, ``layer_widths``: values per
example, so a layout can choose its views without running the model), the recorded layer
names, weight and gradient keys, the loss name and whether it takes logits, and the recorder's
settings (so a run can be resumed with the same ones).

A replay published beside a page (:meth:`Replay.publish`) has a size budget,
:data:`PUBLISH_BUDGET_MB`: readers download it, and GitHub Pages refuses files over 100 MB.
Over it, the error names what takes the space and what to thin: points, epochs or layers.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.library.atomic import atomic_path
from pipeline.library.errors import ReplayBudgetError, ReplayFileError
from pipeline.library.replay.forward import NumpyForward

log = logging.getLogger(__name__)

__all__ = ["FORMAT", "PUBLISH_BUDGET_MB", "VERSION", "Replay", "ReplayBudgetError",
           "ReplayFileError", "array_sizes", "check_budget", "write_replay_file"]

FORMAT = "nn-explainers-replay"
VERSION = 1


_PER_EPOCH_PREFIXES = ("metric/", "weight/", "grad/", "output/")
_PER_EPOCH = frozenset({"probabilities", "sample_loss"})
"""Arrays with one entry per recorded epoch (first axis), besides ``epochs`` itself."""

MB = 1_000_000
PUBLISH_BUDGET_MB = 10.0
"""The most a replay file published beside a page may weigh, in MB (10**6 bytes), unless the
recipe passes another budget to :meth:`Replay.publish`. A small CNN's replay that kept every
layer's outputs weighed 185 MB; what its pictures need weighs a few."""


def write_replay_file(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], *, compress: bool = False
) -> Path:
    """Write ``arrays`` (which must include ``meta``) as one ``.npz``, atomically.

    Uncompressed by default: weights and activations barely compress, and writing at memory
    speed keeps checkpoints cheap. The file is first written under a hidden temporary name and
    renamed, so a kill mid-write leaves the previous file (or none), never a partial one.
    """
    final = Path(path)
    if final.suffix != ".npz":
        raise ReplayFileError(final, "replay files must end in .npz")
    save: Callable[..., None] = np.savez_compressed if compress else np.savez
    with atomic_path(final) as tmp, open(tmp, "wb") as fh:
        save(fh, **{k: np.asarray(v) for k, v in arrays.items()})
        fh.flush()
        os.fsync(fh.fileno())  # a checkpoint must not be renamed into place before it is on disk
    log.debug("wrote replay %s (%d arrays)", final, len(arrays))
    return final


def array_sizes(path: str | os.PathLike[str]) -> dict[str, int]:
    """Bytes each array takes in a replay file (compressed, as stored), by array name."""
    with zipfile.ZipFile(path) as zf:
        return {info.filename.removesuffix(".npy"): info.compress_size for info in zf.infolist()}


def _mb(n: float) -> str:
    return f"{n / MB:,.1f} MB" if n >= 0.05 * MB else f"{n / 1000:,.0f} kB"


def _counts(arrays: Mapping[str, np.ndarray]) -> tuple[int, int]:
    return len(arrays["epochs"]), len(arrays["probe_x"])


def _costs(sizes: Mapping[str, int], n_epochs: int, n_points: int
           ) -> tuple[dict[str, int], int, int, int, int]:
    """``(layer outputs, per point x epoch, per epoch, per point, fixed)`` bytes of a file."""
    layers = {k[len("output/"):]: n for k, n in sizes.items() if k.startswith("output/")}
    both = sum(layers.values()) + sum(n for k, n in sizes.items() if k in _PER_EPOCH)
    epoch = sum(n for k, n in sizes.items()
                if k.startswith(("metric/", "weight/", "grad/")) or k == "epochs")
    point = sum(n for k, n in sizes.items() if k in ("probe_x", "probe_y"))
    fixed = sum(sizes.values()) - both - epoch - point
    return layers, both, epoch, point, fixed


def epochs_that_fit(sizes: Mapping[str, int], budget: int, n_epochs: int, n_points: int) -> int:
    """How many epochs a file like this one holds within ``budget`` bytes (per-epoch arrays
    scale with the epochs, the probe set and metadata do not); a 2 % margin for compression
    that is not quite linear."""
    _, both, epoch, point, fixed = _costs(sizes, n_epochs, n_points)
    per_epoch = (both + epoch) / max(n_epochs, 1)
    room = 0.98 * budget - point - fixed
    return int(room // per_epoch) if per_epoch > 0 else n_epochs


def budget_message(name: str, size: int, budget: int, sizes: Mapping[str, int],
                   n_epochs: int, n_points: int) -> str:
    """What takes the space in an over-budget replay file, and what to thin: points, epochs,
    layers (with how many points or epochs would fit, everything else kept)."""
    layers, both, epoch, point, fixed = _costs(sizes, n_epochs, n_points)
    weights = sum(n for k, n in sizes.items() if k.startswith("weight/"))
    by_layer = sorted(layers.items(), key=lambda kv: -kv[1])
    lines = [f"{name} is {_mb(size)}, over its budget of {_mb(budget)} (a replay published "
             "beside a page: readers download it, and GitHub Pages refuses files over 100 MB). "
             "What takes the space (compressed):"]
    if by_layer:
        lines.append("  layer outputs, every point at every epoch: " + ", ".join(
            f"{k} {_mb(n)}" for k, n in by_layer))
    lines.append(f"  predictions and per-sample losses: {_mb(both - sum(layers.values()))} "
                 f"({n_points:,} points x {n_epochs} epochs)")
    lines.append(f"  weights: {_mb(weights)} ({n_epochs} epochs); probe set: {_mb(point)} "
                 f"({n_points:,} points)")
    fit_epochs = epochs_that_fit(sizes, budget, n_epochs, n_points)
    per_point = (both + point) / max(n_points, 1)
    fit_points = int((0.98 * budget - epoch - fixed) // per_point) if per_point > 0 else 0
    lines.append("Thin it:")
    if by_layer:
        lines.append("  - layers: record only what the pictures draw (ReplayRecorder's default, "
                     "layers=None) or a shorter layers=[...]; without "
                     + ", ".join(repr(k) for k, _ in by_layer) + f" it would be "
                     f"{_mb(size - sum(layers.values()))}")
    lines.append("  - epochs: publish fewer (Replay.publish(path, max_epochs=N), or "
                 "replay.subset(epochs)): "
                 + (f"about {fit_epochs} of {n_epochs} fit" if fit_epochs >= 2
                    else "not even the first and the last fit"))
    lines.append("  - points: record fewer probe points (ReplayRecorder(x[:n], y[:n], ...)): "
                 + (f"about {fit_points:,} of {n_points:,} fit" if fit_points >= 1
                    else "no number of points fits"))
    lines.append("  (or pass a larger budget_mb= to Replay.publish, up to what your host allows)")
    return "\n".join(lines)


def check_budget(path: str | os.PathLike[str], budget_mb: float = PUBLISH_BUDGET_MB) -> int:
    """The size of the replay file ``path``; :class:`ReplayBudgetError` when it is over
    ``budget_mb``, naming what takes the space and what to thin."""
    p = Path(path)
    size = p.stat().st_size
    budget = int(budget_mb * MB)
    if size <= budget:
        return size
    sizes = array_sizes(p)
    with np.load(p, allow_pickle=False) as npz:
        n_epochs, n_points = len(npz["epochs"]), len(npz["probe_x"])
    raise ReplayBudgetError(p, budget_message(p.name, size, budget, sizes, n_epochs, n_points))


def evenly_spaced(epochs: Iterable[int], n: int | None) -> list[int]:
    """At most ``n`` of ``epochs``: every k-th one from the first (the smallest k that keeps
    at most ``n``), and the last; so a reader sees "every 3rd epoch", not uneven gaps."""
    items = [int(e) for e in epochs]
    if n is None or n >= len(items):
        return items
    if n < 2:
        raise ReplayFileError(None, f"cannot keep {n} epochs: the first and the last at least")
    stride = -(-(len(items) - 1) // (n - 1))  # ceil
    picks = items[::stride]
    if picks[-1] != items[-1]:
        picks.append(items[-1])
    while len(picks) > n:  # the appended last one made it n + 1
        stride += 1
        picks = items[::stride]
        if picks[-1] != items[-1]:
            picks.append(items[-1])
    return picks


class Replay:
    """A recorded training run: weights, metrics and probe-set outputs for every epoch.

    Epoch arguments are epoch *numbers* as stored in :attr:`epochs` (0 is the state before the
    first update, ``k`` the state after ``k`` epochs), not positions, so a replay recorded with
    ``initial_epoch`` or resumed from a checkpoint still answers ``weights(160)`` correctly.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path: Path | None = None if path is None else Path(path)
        arrays = dict(arrays)
        if meta is None:
            if "meta" not in arrays:
                raise ReplayFileError(self.path, "no 'meta' entry: not a replay file")
            try:
                meta = json.loads(str(arrays["meta"]))
            except (TypeError, ValueError) as exc:
                raise ReplayFileError(self.path, f"its metadata is not valid JSON ({exc})") from exc
        arrays.pop("meta", None)
        self.meta: dict[str, Any] = dict(meta)
        self._arrays: dict[str, np.ndarray] = arrays
        self._validate()
        self.epochs: np.ndarray = self._arrays["epochs"].astype(int)
        self._position = {int(e): i for i, e in enumerate(self.epochs)}

    # ----------------------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Replay:
        """Read and validate a replay file; a bad file raises :class:`ReplayFileError`.

        Every member is read (numpy checks each one's CRC while doing so), so a truncated or
        bit-flipped file is reported here, with its name, rather than as a strange picture.
        """
        p = Path(path)
        if not p.exists():
            raise ReplayFileError(p, "replay file does not exist; run the recording first")
        arrays: dict[str, np.ndarray] = {}
        try:
            with np.load(p, allow_pickle=False) as npz:
                for key in npz.files:
                    arrays[key] = npz[key]
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
            raise ReplayFileError(
                p,
                f"not a readable replay file (truncated or corrupted: {exc}). Delete it and "
                "record the run again.",
            ) from exc
        return cls(arrays, path=p)

    def _validate(self) -> None:
        meta = self.meta
        if meta.get("format") != FORMAT:
            raise ReplayFileError(self.path, f"format is {meta.get('format')!r}, not {FORMAT!r}")
        if int(meta.get("version", -1)) > VERSION:
            raise ReplayFileError(
                self.path,
                f"written by a newer pipeline (replay format version {meta.get('version')}, "
                f"this one reads up to {VERSION}); update the pipeline or re-record",
            )
        for key in ("epochs", "probe_x", "probe_y", "probabilities", "sample_loss"):
            if key not in self._arrays:
                raise ReplayFileError(self.path, f"missing array {key!r}; re-record the run")
        n_epochs = len(self._arrays["epochs"])
        n_probe = len(self._arrays["probe_x"])
        if n_epochs == 0:
            raise ReplayFileError(self.path, "contains no epochs")
        for key, arr in self._arrays.items():
            if key.startswith(_PER_EPOCH_PREFIXES) or key in _PER_EPOCH:
                if arr.ndim == 0 or arr.shape[0] != n_epochs:
                    raise ReplayFileError(
                        self.path,
                        f"array {key!r} has shape {arr.shape}, expected {n_epochs} epochs first",
                    )
            if (key.startswith("output/") or key in {"probabilities", "sample_loss"}) and (
                arr.ndim < 2 or arr.shape[1] != n_probe
            ):
                raise ReplayFileError(
                    self.path, f"array {key!r} has shape {arr.shape}, expected {n_probe} probes"
                )
        if len(self._arrays["probe_y"]) != n_probe:
            raise ReplayFileError(self.path, "probe_x and probe_y have different lengths")

    def save(self, path: str | os.PathLike[str], *, compress: bool = False) -> Path:
        """Write this replay (without any checkpoint state) atomically to ``path``."""
        arrays = {k: v for k, v in self._arrays.items() if not k.startswith("ckpt/")}
        meta = {k: v for k, v in self.meta.items() if k != "checkpoint"}
        arrays["meta"] = np.array(json.dumps(meta))
        return write_replay_file(path, arrays, compress=compress)

    def publish(self, path: str | os.PathLike[str], *, budget_mb: float = PUBLISH_BUDGET_MB,
                max_epochs: int | None = None, thin_epochs: bool = True) -> Replay:
        """Write this replay for readers, within ``budget_mb``; return what was written.

        Compressed, without checkpoint state, with every recorded epoch (or ``max_epochs``
        evenly spaced ones; the first and the last always). Over the budget, with
        ``thin_epochs`` (the default) as many evenly spaced epochs as fit are written instead,
        and the log says how many: the returned replay's ``epochs`` are those published, for
        the page to state. When even the first and the last epoch do not fit (or
        ``thin_epochs`` is False) nothing is left at ``path`` and :class:`ReplayBudgetError`
        names what takes the space and what to thin: points, epochs, layers.
        """
        target = Path(path)
        budget = int(budget_mb * MB)
        wanted = evenly_spaced(self.epochs, max_epochs)
        thinned = False
        for _ in range(6):  # each pass re-measures; compression is close to linear
            out = self if len(wanted) == len(self.epochs) else self.subset(wanted)
            out.save(target, compress=True)
            size = target.stat().st_size
            if size <= budget:
                if thinned:
                    log.warning("%s: %d of %d recorded epochs published (evenly spaced, the "
                                "first and the last among them) to fit its %s budget",
                                target.name, len(wanted), len(self.epochs), _mb(budget))
                log.info("%s: %s, %d epochs, %d points", target.name, _mb(size), len(wanted),
                         self.n_probe)
                return out
            sizes = array_sizes(target)
            fit = min(epochs_that_fit(sizes, budget, len(wanted), self.n_probe), len(wanted) - 1)
            if not thin_epochs or fit < 2:
                target.unlink()
                raise ReplayBudgetError(target, budget_message(
                    target.name, size, budget, sizes, len(wanted), self.n_probe))
            wanted, thinned = evenly_spaced(self.epochs, fit), True
        target.unlink()
        raise ReplayBudgetError(target, f"still over its budget of {_mb(budget)} with "
                                f"{len(wanted)} epochs; publish fewer (max_epochs=)")

    def subset(self, epochs: Iterable[int]) -> Replay:
        """A replay holding only the given epoch numbers (in the order given), in memory.

        Why: a seed-000 replay (2,000 probe points, 201 epochs) is about 6 MB, mostly per-epoch
        outputs on the probe set; every tenth epoch is small enough to publish beside the video
        (``replay.subset(range(0, 201, 10)).save(path, compress=True)``) so a reader, or a
        test, can check the pictures against the model without re-training. Checkpoint state
        is dropped: a subset cannot be resumed.
        """
        wanted = [int(e) for e in epochs]
        if not wanted:
            raise ReplayFileError(self.path, "subset() needs at least one epoch")
        idx = np.asarray([self.index(e) for e in wanted], dtype=np.int64)
        arrays: dict[str, np.ndarray] = {}
        for key, arr in self._arrays.items():
            if key.startswith("ckpt/"):
                continue
            if key == "epochs" or key in _PER_EPOCH or key.startswith(_PER_EPOCH_PREFIXES):
                arrays[key] = arr[idx]
            else:
                arrays[key] = arr
        meta = {k: v for k, v in self.meta.items() if k != "checkpoint"}
        return Replay(arrays, meta)

    # ------------------------------------------------------------------------------ lookup
    def __repr__(self) -> str:
        where = self.path or "memory"
        return f"Replay({where}, epochs {self.epochs[0]}..{self.epochs[-1]}, probe {self.n_probe})"

    def index(self, epoch: int) -> int:
        """Position of epoch number ``epoch`` in the per-epoch arrays."""
        try:
            return self._position[int(epoch)]
        except KeyError:
            raise KeyError(
                f"epoch {epoch} is not in this replay (epochs {self.epochs[0]}..{self.epochs[-1]})"
            ) from None

    @property
    def n_probe(self) -> int:
        """Number of probe points."""
        return len(self._arrays["probe_x"])

    @property
    def probe_x(self) -> np.ndarray:
        """The probe inputs every per-sample array refers to."""
        return self._arrays["probe_x"]

    @property
    def probe_y(self) -> np.ndarray:
        """The probe targets."""
        return self._arrays["probe_y"]

    @cached_property
    def labels(self) -> np.ndarray:
        """Integer class labels of the probe points (argmax of one-hot targets)."""
        y = np.asarray(self.probe_y)
        if y.ndim > 1 and y.shape[-1] > 1:
            return np.argmax(y, axis=-1)
        return np.rint(y.reshape(len(y))).astype(int)

    @cached_property
    def metrics(self) -> dict[str, np.ndarray]:
        """``name -> (E,)`` array over epochs. Keras logs are NaN at epoch 0.

        Two families: what Keras logged at each epoch end (``loss``, ``accuracy``, ``val_*``:
        for training metrics the running average over the epoch's batches while the weights
        moved) and ``probe_loss`` / ``probe_accuracy``, computed by the recorder on the probe
        set with the weights at the end of the epoch, exactly what ``model.evaluate`` on the
        probe set returns for those weights (no regularization penalty included).
        """
        return {k[len("metric/") :]: v for k, v in self._arrays.items() if k.startswith("metric/")}

    @property
    def weight_keys(self) -> list[str]:
        """``layer/variable`` names of the recorded weights, in model order."""
        return list(self.meta.get("weight_keys", []))

    @property
    def gradient_keys(self) -> list[str]:
        """``layer/variable`` names of the recorded gradients (empty unless recorded)."""
        return list(self.meta.get("gradient_keys", []))

    def weights(self, epoch: int) -> dict[str, np.ndarray]:
        """``{"layer/variable": array}`` at epoch ``epoch``."""
        i = self.index(epoch)
        return {k: self._arrays[f"weight/{k}"][i] for k in self.weight_keys}

    def weight_history(self, key: str) -> np.ndarray:
        """One variable over all epochs: ``(E, ...)``."""
        try:
            return self._arrays[f"weight/{key}"]
        except KeyError:
            raise KeyError(f"no weights {key!r}; recorded: {self.weight_keys}") from None

    def gradients(self, epoch: int) -> dict[str, np.ndarray]:
        """Gradients of the mean probe loss at epoch ``epoch`` (recorded with gradients=True)."""
        if not self.gradient_keys:
            raise KeyError("no gradients in this replay; record with ReplayRecorder(gradients=True)")
        i = self.index(epoch)
        return {k: self._arrays[f"grad/{k}"][i] for k in self.gradient_keys}

    @property
    def layer_names(self) -> list[str]:
        """Names of all layers of the model, in order."""
        return list(self.meta.get("layer_names", []))

    @property
    def layer_kinds(self) -> dict[str, str]:
        """``{layer: class name}`` of every layer but the input (empty in older files)."""
        return dict(self.meta.get("layer_kinds") or {})

    @property
    def layer_widths(self) -> dict[str, int | None]:
        """``{layer: values per example}`` of every layer but the input, in model order
        (None where unknown; empty in files recorded before the recorder stored them)."""
        return dict(self.meta.get("layer_widths") or {})

    @property
    def recorded_layers(self) -> list[str]:
        """Layers whose outputs on the probe set were recorded."""
        return list(self.meta.get("recorded_layers", []))

    def layer_outputs(self, name: str) -> np.ndarray:
        """A recorded layer's outputs for all epochs: ``(E, N, ...)``."""
        try:
            return self._arrays[f"output/{name}"]
        except KeyError:
            raise KeyError(
                f"layer {name!r} was not recorded; recorded layers: {self.recorded_layers}"
            ) from None

    def layer_output(self, name: str, epoch: int) -> np.ndarray:
        """A recorded layer's outputs on the probe set at epoch ``epoch``: ``(N, ...)``."""
        return self.layer_outputs(name)[self.index(epoch)]

    def probabilities(self, epoch: int) -> np.ndarray:
        """Predicted probabilities on the probe set at epoch ``epoch``: ``(N, k)``."""
        return self._arrays["probabilities"][self.index(epoch)]

    @property
    def all_probabilities(self) -> np.ndarray:
        """Predicted probabilities for all epochs: ``(E, N, k)``."""
        return self._arrays["probabilities"]

    def positive_probability(self, epoch: int | None = None) -> np.ndarray:
        """P(class 1) per probe point, ``(N,)`` (or ``(E, N)`` when epoch is None).

        Binary models have one sigmoid unit (P(1) is that unit) or a two-way softmax (P(1) is
        the second column); the binary panels use this so they need not know which.
        """
        p = self.all_probabilities if epoch is None else self.probabilities(epoch)
        return p[..., -1]

    def sample_loss(self, epoch: int) -> np.ndarray:
        """Per-sample loss on the probe set at epoch ``epoch``: ``(N,)``."""
        return self._arrays["sample_loss"][self.index(epoch)]

    @property
    def all_sample_losses(self) -> np.ndarray:
        """Per-sample losses for all epochs: ``(E, N)``."""
        return self._arrays["sample_loss"]

    @property
    def model_config(self) -> dict[str, Any]:
        """The model's ``to_json()`` as a dict (for rebuilding it or the numpy forward pass)."""
        cfg = self.meta.get("model_config")
        return json.loads(cfg) if isinstance(cfg, str) else dict(cfg or {})

    @property
    def loss_name(self) -> str:
        """Name of the loss the model was compiled with."""
        return str(self.meta.get("loss", "unknown"))

    @cached_property
    def numpy_model(self) -> NumpyForward:
        """A TensorFlow-free forward pass of the stored model (chains of Dense layers)."""
        return NumpyForward(self.model_config)

    @cached_property
    def partial_numpy_model(self) -> NumpyForward:
        """The forward pass of every part of the chain numpy can run (see
        :class:`NumpyForward`'s ``partial``): for a convolution before a Dense tail, the tail."""
        return NumpyForward(self.model_config)

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        """Resume state written by ``ReplayRecorder(checkpoint_every=...)``, or None."""
        info = self.meta.get("checkpoint")
        if not info:
            return None
        model = [self._arrays[f"ckpt/model/{i:04d}"] for i in range(int(info["n_model"]))]
        opt = [self._arrays[f"ckpt/optimizer/{i:04d}"] for i in range(int(info["n_optimizer"]))]
        return {**info, "model": model, "optimizer": opt}

    def arrays(self) -> dict[str, np.ndarray]:
        """The raw per-key arrays (without ``meta``); for tools that extend the format."""
        return dict(self._arrays)
