"""The API a recipe uses while it runs inside its kernel.

A recipe never decides where files go or how the page finds them: it names its outputs, and
:class:`Explainer` puts them in the asset directory the pipeline injected, validates the names,
and records alt text, metrics, timings and the data used in ``outputs.json``. The build turns
that file into the manifest that the site reads.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import random
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.library import atomic
from pipeline.library.errors import AssetPathError, ConfigError

log = logging.getLogger(__name__)

OUTPUTS_FILE = "outputs.json"
OUTPUT_KINDS = ("image", "video", "gif", "iframe", "frames", "data", "replay", "html")
#: The values the build injects after a recipe's ``parameters`` cell, with the defaults a run
#: by hand gets when the recipe does not set them (:meth:`Explainer.from_parameters`).
PARAMETER_DEFAULTS: dict[str, Any] = {"profile": "quick", "seed": 0, "asset_dir": "_assets",
                                      "data_dir": None, "sizes": {}, "checkpoint_dir": None}


def safe_asset_name(name: str) -> str:
    """Validate an asset name: relative, forward slashes, no ``..``, no hidden or empty parts.

    Raises :class:`AssetPathError` so a recipe can never write outside its asset directory.
    """
    if not isinstance(name, str) or not name.strip():
        raise AssetPathError(f"asset name must be non-empty text, got {name!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise AssetPathError(f"asset name {name!r} contains control characters (NUL, newline, ...)")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise AssetPathError(f"asset name {name!r} must be a relative path with '/' separators")
    parts = PurePosixPath(name).parts
    for part in parts:
        if part in ("..", ".") or part.startswith("."):
            raise AssetPathError(
                f"asset name {name!r} would escape or hide inside the asset directory; "
                "use a plain relative name such as 'loss.png' or 'frames/0001.jpg'"
            )
    if name in ("outputs.json", "manifest.json", "deps.json"):
        raise AssetPathError(f"asset name {name!r} is reserved for the pipeline")
    return PurePosixPath(*parts).as_posix()


@dataclass
class Output:
    """One file the recipe produced, with what the page needs to show it accessibly."""

    name: str
    kind: str
    alt: str = ""
    poster: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "alt": self.alt}
        if self.poster:
            data["poster"] = self.poster
        if self.extra:
            data["extra"] = self.extra
        return data


def _json_number(value: Any) -> float | str | None:
    """A float for JSON; NaN and infinities as text (JSON has no spelling for them)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if number == number and abs(number) != float("inf") else str(number)


def detect_hardware() -> dict[str, Any]:
    """CPU, Keras backend and GPU facts (once Keras is imported) for the provenance box."""
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpus": [],
    }
    import sys

    if "keras" in sys.modules:  # the backend and its devices, once a recipe has imported Keras
        from pipeline.library import backends

        with contextlib.suppress(Exception):
            info["keras_backend"] = backends.name()
            info["gpus"] = list(backends.current().visible_gpus())
    info["accelerator"] = info["gpus"][0] if info["gpus"] else "CPU only"
    # Thread counts change floating-point reduction order, so they are part of "same hardware"
    # (NNX_KERNEL_THREADS sets them per kernel; unset, the libraries use every core).
    info["intra_op_threads"] = os.environ.get("TF_NUM_INTRAOP_THREADS") or "default"
    return info


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this kernel (and of the first GPU, when TensorFlow used one), MB.

    Read once at :meth:`Explainer.finish` for the site's build report: what a reader needs to
    know before rebuilding an explainer on a smaller machine.
    """
    out: dict[str, float] = {}
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        # ru_maxrss is in kilobytes on Linux (bytes on macOS); a child process (ffmpeg, a
        # forked renderer) counts when it peaked higher than the kernel itself
        kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        out["peak_rss_mb"] = round(kb / (1024 * 1024 if platform.system() == "Darwin" else 1024), 1)
    import sys

    tf = sys.modules.get("tensorflow")
    if tf is not None:
        with contextlib.suppress(Exception):
            if tf.config.list_physical_devices("GPU"):
                info = tf.config.experimental.get_memory_info("GPU:0")
                out["gpu_peak_mb"] = round(info["peak"] / 2**20, 1)
    return out


def cpu_seconds() -> dict[str, float]:
    """CPU seconds this kernel spent (user + system, with the child processes it waited for).

    With the wall time it says how many cores a recipe kept busy; the build report and the
    full-profile benchmark show both.
    """
    with contextlib.suppress(ImportError, OSError):
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        return {"cpu_s": round(total, 1)}
    return {}


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


#: Output kinds that are pictures: withheld from the page when an unguarded run went non-finite.
VISUAL_KINDS = frozenset({"image", "video", "gif", "iframe", "frames", "html"})

_active: Explainer | None = None


def active_explainer() -> Explainer | None:
    """The Explainer most recently created in this process (the running recipe's), if any.

    Lets library code that has no handle on it (the replay recorder's epoch hook) report a
    non-finite loss, so an unguarded diverged run is never published as a success.
    """
    return _active


def _is_non_finite(value: Any) -> bool:
    """True for a number that is NaN or infinite (text, None and non-numbers are False)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return not math.isfinite(number)


def _running_source() -> str | None:
    """The code of the recipe running by hand: the script, the notebook's file, or its cells.

    ``python x.recipe.py`` -> that file. A Jupyter server names the notebook's file in
    ``JPY_SESSION_NAME``. Otherwise (``jupytext --execute``, a console) the cells executed so
    far, from IPython's input history.
    """
    import sys

    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    candidates = [main_file, os.environ.get("JPY_SESSION_NAME")]
    for candidate in candidates:
        if candidate and candidate.endswith((".py", ".ipynb")) and "ipykernel" not in candidate:
            path = Path(candidate)
            if path.is_file():
                return path.read_text(encoding="utf-8", errors="replace")
    with contextlib.suppress(ImportError):
        from IPython import get_ipython

        shell = get_ipython()
        history = shell.user_ns.get("In") if shell is not None else None
        if history:
            return "\n".join(str(cell) for cell in history)
    return None


def _recipe_dir() -> Path:
    """The running recipe's folder: the build's ``recipe_dir`` parameter, else the script's or
    the notebook's folder when run by hand, else the working directory."""
    import sys

    with contextlib.suppress(ImportError):
        from IPython import get_ipython

        shell = get_ipython()
        injected = shell.user_ns.get("recipe_dir") if shell is not None else None
        if injected:
            return Path(injected)
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    for candidate in (main_file, os.environ.get("JPY_SESSION_NAME")):
        if candidate and "ipykernel" not in candidate and Path(candidate).is_file():
            return Path(candidate).resolve().parent
    return Path.cwd()


def report_non_finite_loss(epoch: int, logs: dict[str, Any] | None, model: Any = None,
                           monitor: str = "loss") -> bool:
    """Epoch-end hook: flag the active Explainer when ``logs[monitor]`` is NaN or infinite.

    Called by the replay recorder after each epoch (and usable from any Keras callback), so a
    run without a ``DivergenceGuard`` is marked diverged at the epoch it happened. Returns True
    when the value was non-finite. Does not import Keras: the learning rate is read duck-typed.
    """
    value = (logs or {}).get(monitor)
    if value is None or not _is_non_finite(value if not hasattr(value, "numpy") else value.numpy()):
        return False
    ex = active_explainer()
    if ex is not None:
        ex.report_non_finite(f"the training {monitor}", float(value), epoch=epoch,
                             learning_rate=_learning_rate_of(model))
    return True


def _learning_rate_of(model: Any) -> float | None:
    """The optimizer's current learning rate as a float, or None when it cannot be read."""
    lr = getattr(getattr(model, "optimizer", None), "learning_rate", None)
    if lr is None:
        return None
    try:
        return float(lr.numpy() if hasattr(lr, "numpy") else lr)
    except Exception:  # noqa: BLE001 - schedules or wrappers that cannot report a number
        return None


class _SeedKerasOnImport:
    """A meta path finder that seeds Keras right after its first import, then removes itself.

    Why not import Keras in :meth:`Explainer.seed_everything`: importing it costs seconds (its
    backend) in a recipe that never trains a model, and authors were told to import Keras only
    after seeding. With this finder, ``import keras`` before or after the Explainer gives the
    same weights.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, seed = spec.loader, self.seed
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            # Importing Keras and its backend draws from Python's `random` (and Keras takes
            # the seeds of unseeded initializers from it): undo that, so the recipe's state is
            # what seeding left, as if Keras had been imported before.
            states = _random_states()
            original(module)
            _seed_keras(module, seed, states)

        loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's loader only
        return spec


def _random_states() -> tuple[Any, Any]:
    import numpy as np

    return random.getstate(), np.random.get_state()


def _seed_keras(keras: Any, seed: int, states: tuple[Any, Any] | None = None) -> None:
    """``keras.utils.set_random_seed(seed)``, then Python's and NumPy's random states put back
    to ``states`` (default: as they are now: seeded by the Explainer, maybe drawn from since)."""
    import numpy as np

    py_state, np_state = states or _random_states()
    try:
        keras.utils.set_random_seed(seed)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _seed_keras_on_import(seed: int) -> None:
    """Seed Keras now if it is imported, else as soon as it is (see :class:`_SeedKerasOnImport`)."""
    for finder in [f for f in sys.meta_path if isinstance(f, _SeedKerasOnImport)]:
        sys.meta_path.remove(finder)  # a later Explainer's seed replaces an earlier one's
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "utils"):
        _seed_keras(keras, seed)
    else:
        sys.meta_path.insert(0, _SeedKerasOnImport(seed))


class Explainer:
    """Collects a recipe's outputs, metrics and provenance; writes ``outputs.json`` at the end."""

    def __init__(
        self,
        asset_dir: str | os.PathLike[str],
        profile: str = "quick",
        seed: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        sizes: dict[str, Any] | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.asset_dir = Path(asset_dir).resolve()
        self.asset_dir.mkdir(parents=True, exist_ok=True)
        # The build injects build/checkpoints/<slug>/<key16>/: it survives a killed build and
        # is deleted once the result is published. Run by hand, checkpoints go next to the
        # assets, in a folder keyed on the recipe's code and parameters (see checkpoint_dir).
        self._checkpoint_dir = Path(checkpoint_dir).resolve() if checkpoint_dir else None
        self.profile = profile
        self.seed = int(seed)
        self.data_dir = Path(data_dir) if data_dir else None
        self.sizes = dict(sizes or {})
        self.outputs: dict[str, Output] = {}
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float | None] = {}  # None: non-finite, written as JSON null
        self.data: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.status: dict[str, Any] = {}
        self._started = time.perf_counter()
        #: checkpoint files that already existed when first asked for: this run resumed them
        self.resumed: list[str] = []
        #: outputs registered before a non-finite value was detected (None: nothing detected)
        self._finite_outputs: set[str] | None = None
        global _active
        _active = self
        # The depfile: which data files this run reads (modules and packages are read from
        # sys.modules at finish). The next build keys on exactly these (pipeline.library.deps).
        from pipeline.library import deps

        deps.start_recording(self.data_dir, _recipe_dir(),
                             exclude=(self.asset_dir, *filter(None, [self._checkpoint_dir])))
        # In a kernel, every figure a cell shows inline gets a dark twin for the notebook page.
        from pipeline.library import inline_dark

        inline_dark.install()

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any] | Any = None, *,
                        seed: bool = True) -> Explainer:
        """The run's Explainer from the build's parameters: ``Explainer.from_parameters(globals())``.

        The build injects ``profile``, ``seed``, ``asset_dir``, ``data_dir``, ``sizes`` and
        ``checkpoint_dir`` after the cell tagged ``parameters``; this reads them from the
        recipe's namespace (``globals()``), a mapping, or an object with those attributes, so a
        recipe's parameters cell needs only the values it wants by hand (typically ``sizes``).
        Missing ones take :data:`PARAMETER_DEFAULTS`. With ``seed`` (the default) it calls
        :meth:`seed_everything` at once, so every random number the recipe draws after this line,
        whatever it imported before, comes from the build's seed.
        """
        values = dict(PARAMETER_DEFAULTS)
        for name in PARAMETER_DEFAULTS:
            if isinstance(parameters, Mapping):
                if name in parameters:
                    values[name] = parameters[name]
            elif parameters is not None and hasattr(parameters, name):
                values[name] = getattr(parameters, name)
        if not isinstance(values["profile"], str) or not values["profile"]:
            raise ConfigError(f"parameter 'profile' must be a profile name such as 'quick', got "
                              f"{values['profile']!r}")
        if isinstance(values["seed"], bool) or not isinstance(values["seed"], int):
            raise ConfigError(f"parameter 'seed' must be an integer, got {values['seed']!r}")
        if not isinstance(values["sizes"], Mapping):
            raise ConfigError(f"parameter 'sizes' must be a mapping such as {{'epochs': 20}}, got "
                              f"{values['sizes']!r}")
        ex = cls(asset_dir=values["asset_dir"], profile=values["profile"], seed=values["seed"],
                 data_dir=values["data_dir"], sizes=dict(values["sizes"]),
                 checkpoint_dir=values["checkpoint_dir"])
        if seed:
            ex.seed_everything()
        return ex

    @property
    def checkpoint_dir(self) -> Path:
        """Where :meth:`checkpoint_path` puts files a re-run may resume from.

        Injected by the build (keyed on the cache key). Run by hand (``python x.recipe.py``,
        Jupyter, ``jupytext --execute``) it is ``_checkpoints/<fingerprint>/`` beside the asset
        folder, where the fingerprint hashes the recipe's source and the parameters: a run
        never resumes a checkpoint made from other code or other sizes. It is computed on first
        use, so in a notebook it covers every cell run up to the one that checkpoints.
        """
        if self._checkpoint_dir is None:
            self._checkpoint_dir = (self.asset_dir.parent / "_checkpoints"
                                    / self.by_hand_fingerprint()).resolve()
        return self._checkpoint_dir

    @checkpoint_dir.setter
    def checkpoint_dir(self, value: str | os.PathLike[str]) -> None:
        self._checkpoint_dir = Path(value).resolve()

    def by_hand_fingerprint(self) -> str:
        """16 hex digits over the running recipe's source and this run's parameters."""
        import hashlib
        import json

        source = _running_source()
        if source is None:  # nothing to compare against: never resume
            import uuid

            log.warning("cannot tell which code is running; checkpoints start fresh")
            return "unknown-" + uuid.uuid4().hex[:8]
        params = json.dumps({"profile": self.profile, "seed": self.seed, "sizes": self.sizes,
                             "data_dir": str(self.data_dir) if self.data_dir else None},
                            sort_keys=True, default=str)
        return hashlib.sha256((source + "\0" + params).encode()).hexdigest()[:16]

    # -- reproducibility -------------------------------------------------------------------
    def seed_everything(self) -> None:
        """Seed Python, NumPy and Keras (and its backend) so a rebuild gives the same numbers.

        Import order does not matter: when Keras is already imported it is seeded now; when it
        is not, it is seeded the moment the recipe imports it (:func:`_seed_keras_on_import`),
        without importing it here (a page without a model does not pay for TensorFlow) and
        without touching the Python and NumPy random states the recipe may have used by then.
        Either way a model built after this call gets the same weights (tested).
        :meth:`from_parameters` calls it for you.
        """
        random.seed(self.seed)
        import numpy as np

        np.random.seed(self.seed)
        _seed_keras_on_import(self.seed)

    def enable_mixed_precision(self) -> str | None:
        """Switch Keras to the mixed-precision policy that is faster than float32 here, if any.

        ``mixed_float16`` when the backend computes on a GPU; ``mixed_bfloat16`` on a CPU with
        bfloat16 matrix units (``amx_bf16`` or ``avx512_bf16`` in ``/proc/cpuinfo``) when
        TensorFlow's oneDNN kernels are on (the only way to those units); otherwise nothing, as
        mixed precision would be slower (:mod:`pipeline.library.precision` has the measurements).
        Variables stay float32 either way. The choice, and why, is a provenance note so a reader
        knows which arithmetic produced the numbers. Returns the policy name, or None.

        Train with it, then draw every picture from :func:`pipeline.library.training.float32_copy`
        of the model after ``keras.mixed_precision.set_global_policy("float32")``.
        """
        from pipeline.library import backends
        from pipeline.library.precision import bf16_cpu_flags, choose_mixed_precision

        module = backends.current()
        onednn = backends.name() == "tensorflow" and bool(module.onednn_enabled())
        choice = choose_mixed_precision(gpu=bool(module.visible_gpus()),
                                        cpu_flags=bf16_cpu_flags(), onednn=onednn)
        if choice.policy is None:
            log.info("mixed precision off: %s", choice.reason)
            return None
        import keras

        keras.mixed_precision.set_global_policy(choice.policy)
        self.note(f"Trained with mixed precision: {choice.reason}.")
        return choice.policy

    def enable_mixed_precision_on_gpu(self) -> bool:
        """Use float16 compute with float32 variables when a GPU is present; off on CPUs.

        Kept for recipes written before :meth:`enable_mixed_precision`, which also uses a CPU's
        bfloat16 units; the choice is recorded in the provenance notes.
        """
        from pipeline.library import backends

        if not backends.current().visible_gpus():
            return False
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
        self.note("Trained with mixed precision (float16 compute, float32 weights) on the GPU.")
        return True

    # -- files -------------------------------------------------------------------------------
    def asset_path(self, name: str) -> Path:
        """A validated path for ``name`` inside the asset directory (parents created)."""
        clean = safe_asset_name(name)
        path = (self.asset_dir / clean).resolve()
        if not path.is_relative_to(self.asset_dir):
            raise AssetPathError(f"asset name {name!r} resolves outside the asset directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def checkpoint_path(self, name: str) -> Path:
        """A validated path for ``name`` in the recipe's checkpoint directory (parents created).

        Use it for anything a re-run of the same recipe, profile and inputs can continue from
        (e.g. ``ReplayRecorder(path=ex.checkpoint_path("replay.h5"), checkpoint_every=5)``): the
        directory survives a killed or failed build and is removed once the result is published.
        It is not an asset: nothing in it reaches the site.
        """
        clean = safe_asset_name(name)
        path = (self.checkpoint_dir / clean).resolve()
        if not path.is_relative_to(self.checkpoint_dir):
            raise AssetPathError(f"checkpoint name {name!r} resolves outside the checkpoint directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and clean not in self.resumed:
            self.resumed.append(clean)  # a killed run left it: the manifest says this run resumed
        return path

    def add_output(self, name: str, kind: str, alt: str = "", poster: str | None = None,
                   **extra: Any) -> Output:
        """Register a file the recipe wrote, so the page and the manifest know about it."""
        clean = safe_asset_name(name)
        if kind not in OUTPUT_KINDS:
            raise AssetPathError(f"output kind {kind!r} for {name!r} is not one of {OUTPUT_KINDS}")
        if kind in ("image", "video", "gif", "iframe", "frames") and not alt.strip():
            raise AssetPathError(f"output {name!r} needs alt text describing what it shows")
        if poster is not None:
            poster = safe_asset_name(poster)
        out = Output(clean, kind, alt.strip(), poster, dict(extra))
        self.outputs[clean] = out
        return out

    def save_figure(self, fig: Any, name: str, alt: str, dpi: int = 100, show: bool = True,
                    dark: bool = True, **savefig_kwargs: Any) -> Path:
        """Save a matplotlib figure atomically as an asset; keep it inline in the notebook.

        With ``dark`` (the default) a dark-palette version is saved too, from the same figure
        restyled by :func:`pipeline.library.palette.restyle_figure` (data colours unchanged), as
        ``variant_name(name, "dark")``; the page shows the one matching the reader's palette.
        """
        from pipeline.library import inline_dark, palette

        path = self.asset_path(name)
        bbox = savefig_kwargs.pop("bbox_inches", "tight")
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches=bbox, **savefig_kwargs)
        extra: dict[str, Any] = {}
        if show:  # the notebook shows the light version
            with contextlib.suppress(ImportError):
                from IPython.display import display

                with inline_dark.skip_dark():  # its dark twin is the dark asset below
                    display(fig)
        if dark:
            dark_name = palette.variant_name(name, "dark")
            palette.restyle_figure(fig, "dark")
            with atomic.atomic_path(self.asset_path(dark_name)) as tmp:
                fig.savefig(tmp, dpi=dpi, bbox_inches=bbox,
                            **palette.savefig_kwargs("dark", savefig_kwargs))
            extra["dark"] = dark_name
        self.add_output(name, "image", alt=alt, **extra)
        import matplotlib.pyplot as plt

        plt.close(fig)
        return path

    def save_text(self, name: str, text: str, kind: str = "data", alt: str = "") -> Path:
        """Write a text asset (HTML, JSON, Markdown) atomically and register it."""
        path = self.asset_path(name)
        atomic.write_text(path, text)
        self.add_output(name, kind, alt=alt)
        return path

    # -- facts for the page --------------------------------------------------------------------
    def metric(self, name: str, value: Any) -> Any:
        """Record a final number (shown in the provenance box and usable in prose).

        A NaN or infinite value is stored as ``None`` and marks the build as diverged (see
        :meth:`report_non_finite`): the page then says so instead of printing "nan".
        """
        if hasattr(value, "item"):
            value = value.item()
        if _is_non_finite(value):
            self.report_non_finite(f"metric {name!r}", value)
            self.metrics[name] = None
            return value
        self.metrics[name] = value
        return value

    def report_non_finite(self, what: str, value: Any, epoch: int | None = None,
                          learning_rate: float | None = None) -> None:
        """Mark the build diverged because ``what`` became ``value`` (NaN or infinite).

        Called by :meth:`metric`, :meth:`finish` and the replay recorder's epoch hook, so a run
        without :class:`pipeline.library.training.DivergenceGuard` is still never published as a
        success. The recipe goes on (nothing raises), but every picture it registers from now
        on is withheld from the page; when the value is found only after training (a metric,
        no epoch), *every* picture is withheld, since none can be trusted. An explicit
        :meth:`diverged` call (the guard's path) replaces this and keeps the recipe's choice.
        The first report wins; later ones only log.
        """
        if self.is_diverged:
            log.debug("%s is %s (already marked diverged)", what, value)
            return
        at = f" at epoch {epoch}" if epoch is not None else ""
        message = (f"{what} became {value}{at}: training diverged (no DivergenceGuard stopped "
                   "it), so the figures drawn from this run are not published. Lower the "
                   "learning rate or check the input scaling.")
        self.status = {
            "state": "diverged",
            "epoch": int(epoch) if epoch is not None else None,
            "learning_rate": float(learning_rate) if learning_rate is not None else None,
            "loss": _json_number(value),
            "message": message,
            "detected": "non-finite",
            # The notebook page withholds the pictures of this cell and the later ones
            # (every one when no epoch says when it happened).
            "cell": _execution_count() if epoch is not None else None,
        }
        self._finite_outputs = set(self.outputs) if epoch is not None else set()
        log.warning("%s", message)

    def use_data(self, source: Any) -> None:
        """Record a data source (``pipeline.library.datasets.DataSource`` or a dict) used by the build."""
        data = source.to_dict() if hasattr(source, "to_dict") else dict(source)
        if data not in self.data:
            self.data.append(data)

    def open_data(self, spec: dict[str, Any], recipe_dir: str | os.PathLike[str] | None = None
                  ) -> Any:
        """Open data the registry does not list, and record it for the page.

        ``spec`` is an entry of the header's ``data:`` list: ``{"sklearn": "load_wine"}``
        returns scikit-learn's Bunch; ``{"file": "wine.csv"}`` the path of that file beside
        the recipe; ``{"url": ..., "sha256": ...}`` the path of the checked local copy
        (downloaded once; offline it must be cached). The build refuses a run that opened data
        its header does not declare, since the cache key would not cover it. ``recipe_dir``
        defaults to the folder the build names (or, by hand, the running script's folder).
        """
        from pipeline.library.open_data import open_declared, parse_entry

        decl = parse_entry(dict(spec), "ex.open_data(...)")
        folder = Path(recipe_dir) if recipe_dir is not None else _recipe_dir()
        data, record = open_declared(decl, folder, self.data_dir)
        self.use_data(record)
        return data

    def note(self, text: str) -> None:
        """A sentence for the page's provenance box (e.g. why a seed was chosen)."""
        self.notes.append(str(text))

    def diverged(self, error: Any) -> None:
        """Record that training diverged, so the page explains it instead of showing figures.

        ``error`` is a :class:`pipeline.library.errors.TrainingDiverged` (from
        ``pipeline.library.training.DivergenceGuard``) or anything with ``epoch``, ``learning_rate`` and
        ``loss`` attributes. The recipe then skips the figures that need a trained model and
        still calls :meth:`finish`; the build publishes the result with
        ``status.state == "diverged"`` and the page shows an admonition naming the epoch and the
        learning rate. Figures already saved (say, the loss curve up to the divergence) stay.
        """
        epoch = getattr(error, "epoch", None)
        lr = getattr(error, "learning_rate", None)
        loss = getattr(error, "loss", None)
        self.status = {
            "state": "diverged",
            "epoch": int(epoch) if epoch is not None else None,
            "learning_rate": float(lr) if lr is not None else None,
            "loss": _json_number(loss),
            "message": str(error),
        }
        self._finite_outputs = None  # the recipe handles it: it decides which figures it draws
        log.warning("%s", error)

    @property
    def is_diverged(self) -> bool:
        """True after :meth:`diverged`: skip the figures that need a trained model."""
        return self.status.get("state") == "diverged"

    @contextlib.contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Time a block; the result appears as ``timings[name]`` in seconds."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round((self.timings.get(name) or 0.0) + time.perf_counter() - start, 3)

    def finish(self) -> Path:
        """Write ``outputs.json``; checks every registered output exists. Call it last."""
        missing = [n for o in self.outputs.values() for n in (o.name, o.extra.get("dark"))
                   if n and not (self.asset_dir / n).exists()]
        if missing:
            raise AssetPathError(f"outputs registered but never written: {', '.join(missing)}")
        self.timings["total"] = round(time.perf_counter() - self._started, 3)
        for key, value in list(self.timings.items()):
            if _is_non_finite(value):
                self.timings[key] = None
        for key, value in list(self.metrics.items()):  # set without ex.metric(...)
            if _is_non_finite(value):
                self.report_non_finite(f"metric {key!r}", value)
                self.metrics[key] = None
        withheld = self._withhold_untrusted_pictures()
        payload = {
            "profile": self.profile,
            "seed": self.seed,
            "sizes": self.sizes,
            "outputs": [o.to_dict() for o in self.outputs.values()],
            "metrics": self.metrics,
            "timings": self.timings,
            "data": self.data,
            "notes": self.notes,
            "status": self.status,
            "hardware": detect_hardware(),
            "resources": {**peak_memory(), **cpu_seconds()},
        }
        if self.resumed:
            payload["resumed_from"] = list(self.resumed)
        if withheld:
            payload["withheld"] = withheld
        from pipeline.library import deps

        deps.write_depfile(self.asset_dir)  # before outputs.json: the build reads both
        path = self.asset_dir / OUTPUTS_FILE
        atomic.write_json(path, payload)
        log.info("wrote %s with %d outputs", path, len(self.outputs))
        return path

    def _withhold_untrusted_pictures(self) -> list[str]:
        """Drop pictures registered after a non-finite value was detected; return their names.

        Their files are deleted too, with everything derived from them: the dark twin, the
        poster and its twin, a frames folder and its dark folder (:func:`_derived_files`), so no
        plot of NaN reaches the store or the site. A file a kept picture also uses stays. The
        page's shortcodes for them then say "not drawn: training diverged".
        """
        if self._finite_outputs is None:
            return []
        withheld = [name for name, out in self.outputs.items()
                    if out.kind in VISUAL_KINDS and name not in self._finite_outputs]
        gone = [self.outputs.pop(name) for name in withheld]
        kept = {path for out in self.outputs.values() for path in _derived_files(out)}
        import shutil

        for out in gone:
            for rel in _derived_files(out):
                if rel in kept:
                    continue
                target = self.asset_dir / rel
                if target.is_dir():
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    target.unlink(missing_ok=True)
        if withheld:
            log.warning("not publishing %d picture(s) drawn after training diverged: %s",
                        len(withheld), ", ".join(withheld))
        return withheld


def _derived_files(out: Output) -> set[str]:
    """The asset files and folders an output stands for: itself, its poster, the dark twins
    of both (registered with ``dark=`` or written by the naming rule,
    :func:`pipeline.library.palette.variant_name`), and for a frames index its whole folder."""
    from pipeline.library.palette import variant_name

    names = {out.name, *(v for v in (out.poster, out.extra.get("dark")) if isinstance(v, str))}
    names |= {variant_name(n, "dark") for n in list(names)}
    files = set(names)
    for name in names:
        if out.kind == "frames" and name.endswith("/index.json"):
            files.add(name.rsplit("/", 1)[0])  # the folder of the frames
    return files


def _execution_count() -> int | None:
    """The number of the notebook cell running now (``In [N]``), or None outside IPython."""
    with contextlib.suppress(ImportError):
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            return int(shell.execution_count)
    return None
