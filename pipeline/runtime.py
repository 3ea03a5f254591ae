"""The API a recipe uses while it runs inside its kernel.

A recipe never decides where files go or how the page finds them: it names its outputs, and
:class:`Explainer` puts them in the asset directory the pipeline injected, validates the names,
and records alt text, metrics, timings and the data used in ``outputs.json``. The build turns
that file into the manifest that the site reads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline import atomic
from pipeline.errors import AssetPathError

log = logging.getLogger(__name__)

OUTPUTS_FILE = "outputs.json"
OUTPUT_KINDS = ("image", "video", "gif", "iframe", "frames", "data", "replay", "html")


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
    if name == "outputs.json" or name == "manifest.json":
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
        from pipeline import backends

        with contextlib.suppress(Exception):
            info["keras_backend"] = backends.name()
            info["gpus"] = list(backends.current().visible_gpus())
    info["accelerator"] = info["gpus"][0] if info["gpus"] else "CPU only"
    # Thread counts change floating-point reduction order, so they are part of "same hardware"
    # (NNX_KERNEL_THREADS sets them per kernel; unset, the libraries use every core).
    info["intra_op_threads"] = os.environ.get("TF_NUM_INTRAOP_THREADS") or "default"
    return info


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


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
        # is deleted once the result is published. Run by hand, checkpoints go next to the assets.
        self.checkpoint_dir = (Path(checkpoint_dir) if checkpoint_dir
                               else self.asset_dir.parent / "_checkpoints").resolve()
        self.profile = profile
        self.seed = int(seed)
        self.data_dir = Path(data_dir) if data_dir else None
        self.sizes = dict(sizes or {})
        self.outputs: dict[str, Output] = {}
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.data: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.status: dict[str, Any] = {}
        self._started = time.perf_counter()

    # -- reproducibility -------------------------------------------------------------------
    def seed_everything(self) -> None:
        """Seed Python, NumPy and Keras (and TF) so a rebuild gives the same numbers."""
        random.seed(self.seed)
        import numpy as np

        np.random.seed(self.seed)
        with contextlib.suppress(ImportError):
            import keras

            keras.utils.set_random_seed(self.seed)

    def enable_mixed_precision_on_gpu(self) -> bool:
        """Use float16 compute with float32 variables when a GPU is present (the full profile).

        On CPUs mixed precision is slower, so it stays off there; the choice is recorded in the
        provenance notes so a reader knows which arithmetic produced the numbers.
        """
        from pipeline import backends

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
                    **savefig_kwargs: Any) -> Path:
        """Save a matplotlib figure atomically as an asset; keep it inline in the notebook."""
        path = self.asset_path(name)
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches=savefig_kwargs.pop("bbox_inches", "tight"),
                        **savefig_kwargs)
        self.add_output(name, "image", alt=alt)
        if show:
            with contextlib.suppress(ImportError):
                from IPython.display import display

                display(fig)
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
        """Record a final number (shown in the provenance box and usable in prose)."""
        if hasattr(value, "item"):
            value = value.item()
        self.metrics[name] = value
        return value

    def use_data(self, source: Any) -> None:
        """Record a data source (``pipeline.datasets.DataSource`` or a dict) used by the build."""
        data = source.to_dict() if hasattr(source, "to_dict") else dict(source)
        if data not in self.data:
            self.data.append(data)

    def note(self, text: str) -> None:
        """A sentence for the page's provenance box (e.g. why a seed was chosen)."""
        self.notes.append(str(text))

    def diverged(self, error: Any) -> None:
        """Record that training diverged, so the page explains it instead of showing figures.

        ``error`` is a :class:`pipeline.errors.TrainingDiverged` (from
        ``pipeline.training.DivergenceGuard``) or anything with ``epoch``, ``learning_rate`` and
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
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)

    def finish(self) -> Path:
        """Write ``outputs.json``; checks every registered output exists. Call it last."""
        missing = [n for n in self.outputs if not (self.asset_dir / n).exists()]
        if missing:
            raise AssetPathError(f"outputs registered but never written: {', '.join(missing)}")
        self.timings["total"] = round(time.perf_counter() - self._started, 3)
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
        }
        path = self.asset_dir / OUTPUTS_FILE
        atomic.write_json(path, payload)
        log.info("wrote %s with %d outputs", path, len(self.outputs))
        return path
