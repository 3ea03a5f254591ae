"""Where data lives: the data directory, Keras's home and cache, installed packages; and the
environment variables the loaders read.

Why apart: the build tool asks the same questions as the loaders (which files would a recipe
read?), and a test pins Keras's home here (``places.keras_home``) for every loader at once.
Standard library only.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DATA_DIR_ENV = "NNX_DATA_DIR"
OFFLINE_ENV = "NNX_OFFLINE"
DOWNLOAD_TIMEOUT_ENV = "NNX_DOWNLOAD_TIMEOUT"


def repo_root() -> Path:
    """The folder holding the ``pipeline`` package (a checkout, or site-packages when installed).

    Only :func:`display_path` uses it, to shorten paths on the page; no data is looked for here.
    """
    return Path(__file__).resolve().parents[3]


def default_data_dir() -> Path | None:
    """The data directory used when a loader gets ``data_dir=None``.

    ``$NNX_DATA_DIR`` if set (even if it does not exist, so a typo is reported rather than
    silently replaced), else None. Never a folder found beside the package: a build passes the
    site's own (``--data-dir``, ``$NNX_DATA_DIR`` or the ``data_dir`` of the nn-explainers plugin
    in ``mkdocs.yml``) to each recipe, and sets ``$NNX_DATA_DIR`` in its kernel.
    """
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else None


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    if data_dir is None or str(data_dir) == "":
        return default_data_dir()
    return Path(data_dir).expanduser()


def keras_home() -> Path:
    """Keras's home directory (``$KERAS_HOME``, else ``~/.keras``, else ``/tmp/.keras``).

    Keras reads ``KERAS_HOME`` once, at import; when Keras is already imported we ask it, so we
    look where it will look.
    """
    config = sys.modules.get("keras.src.backend.config")
    getter = getattr(config, "keras_home", None)
    if callable(getter):
        try:
            return Path(getter()).expanduser()
        except Exception:  # a private accessor: never let its change break a build
            log.debug("keras.src.backend.config.keras_home() failed", exc_info=True)
    env = os.environ.get("KERAS_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    home = Path("~").expanduser()
    base = home if os.access(home, os.W_OK) else Path("/tmp")
    return base / ".keras"


def keras_cache_root() -> Path:
    """Where ``keras.utils.get_file`` reads and writes: Keras home, or /tmp/.keras if read-only."""
    home = keras_home()
    if home.exists() and not os.access(home, os.W_OK):
        return Path(tempfile.gettempdir()) / ".keras"
    return home


def package_dir(import_name: str) -> Path | None:
    """An installed package's directory, found without importing it (cheap for cache keys)."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def display_path(path: str | os.PathLike[str]) -> str:
    """A path for the page: relative to the checkout when nearby, ``~/...`` under home.

    Keeps machine-specific absolute paths (user names, mount points) off the published site.
    """
    p = Path(path).expanduser()
    try:
        p = p.resolve()
    except OSError:
        pass
    root = repo_root()
    if p.is_relative_to(root.parent):
        return os.path.relpath(p, root)
    home = Path("~").expanduser()
    if home != Path("/") and p.is_relative_to(home):
        return "~/" + p.relative_to(home).as_posix()
    if "site-packages" in p.parts:
        return "<site-packages>/" + "/".join(p.parts[p.parts.index("site-packages") + 1 :])
    return str(p)
