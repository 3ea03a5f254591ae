"""Data the registry (:data:`pipeline.library.datasets.DATASETS`) does not list: scikit-learn's bundled
sets, a file beside the recipe, or a file at a URL with a known SHA-256.

A recipe declares such data in its header, so the cache key covers it::

    # explainer:
    #   datasets: []
    #   data:
    #     - sklearn: load_wine
    #     - file: wine.csv                       # beside the recipe
    #     - url: https://example.org/wine.csv
    #       sha256: 4e1f...64 hex digits
    #       name: wine.csv                       # optional file name in the download cache

and opens it with one call, which also records it for the page's provenance box::

    wine = ex.open_data({"sklearn": "load_wine"})     # the scikit-learn Bunch
    path = ex.open_data({"file": "wine.csv"})          # a pathlib.Path

Why the header: the build computes cache keys without executing recipes, so what a recipe
reads must be known from its header. The key takes a file's SHA-256, a URL's declared SHA-256,
or the version of the package that ships a set (scikit-learn). A URL is downloaded once into a
cache, checked against its hash, and never fetched when offline (``NNX_OFFLINE=1``): then it
must already be cached, and the error says where to put it.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.library import atomic
from pipeline.library.errors import DatasetUnavailable, HeaderError, PipelineError
from pipeline.library.files import sha256_file
from pipeline.library.suggest import did_you_mean

log = logging.getLogger(__name__)

#: scikit-learn loaders whose data ships inside the package (no download, always offline).
SKLEARN_BUNDLED: tuple[str, ...] = ("load_iris", "load_wine", "load_breast_cancer",
                                    "load_diabetes", "load_digits", "load_linnerud")
#: entry kind -> the keys an entry of that kind may have
ENTRY_KEYS: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn", "description"),
    "file": ("file", "description"),
    "url": ("url", "sha256", "name", "description"),
}
DOWNLOAD_CACHE_ENV = "NNX_DOWNLOAD_CACHE"
RECIPE_DIR_PARAMETER = "recipe_dir"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DataDecl:
    """One validated entry of a recipe header's ``data:`` list."""

    kind: str  # "sklearn" | "file" | "url"
    value: str  # loader name, relative file path, or URL
    sha256: str | None = None
    name: str | None = None
    description: str | None = None

    def spec(self) -> dict[str, str]:
        """The entry as written in the header (what ``ex.open_data`` takes)."""
        out = {self.kind: self.value}
        if self.sha256:
            out["sha256"] = self.sha256
        if self.name:
            out["name"] = self.name
        return out

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_data_field(value: Any, path: str) -> tuple[DataDecl, ...]:
    """Validate the header's ``data:`` list; errors name the entry and suggest the fix."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise HeaderError(path, "field 'explainer.data' must be a list of entries such as "
                                "'- sklearn: load_wine', '- file: wine.csv' or "
                                "'- url: ...' with 'sha256: ...'")
    return tuple(parse_entry(entry, path, i) for i, entry in enumerate(value))


def parse_entry(entry: Any, path: str, index: int = 0) -> DataDecl:
    """One ``data:`` entry (also used by ``ex.open_data`` on what a recipe passes)."""
    where = f"'explainer.data[{index}]'"
    if isinstance(entry, str):
        raise HeaderError(path, f"{where} is {entry!r}; say what it is, e.g. "
                                f"'- sklearn: {entry}' or '- file: {entry}'")
    if not isinstance(entry, dict) or not entry:
        raise HeaderError(path, f"{where} must be a mapping such as 'sklearn: load_wine'")
    kinds = [k for k in entry if k in ENTRY_KEYS]
    if len(kinds) != 1:
        unknown = [str(k) for k in entry if k not in ENTRY_KEYS and k not in
                   ("sha256", "name", "description")]
        hint = did_you_mean(unknown[0], list(ENTRY_KEYS)) if unknown else ""
        raise HeaderError(path, f"{where} must have exactly one of {', '.join(ENTRY_KEYS)}; "
                                f"got {', '.join(map(str, entry)) or 'nothing'}.{hint}")
    kind = kinds[0]
    for key in entry:
        if key not in ENTRY_KEYS[kind]:
            raise HeaderError(path, f"unknown key {key!r} in {where} ({kind} entry)."
                                    f"{did_you_mean(str(key), ENTRY_KEYS[kind])} Allowed: "
                                    f"{', '.join(ENTRY_KEYS[kind])}")
    raw = entry[kind]
    if not isinstance(raw, str) or not raw.strip():
        raise HeaderError(path, f"{where}: '{kind}' must be non-empty text, got {raw!r}")
    raw = raw.strip()
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise HeaderError(path, f"{where}: 'description' must be text")
    if kind == "sklearn":
        if raw not in SKLEARN_BUNDLED:
            raise HeaderError(path, f"{where}: {raw!r} is not a scikit-learn set that ships "
                                    f"with the package.{did_you_mean(raw, SKLEARN_BUNDLED)} "
                                    f"Bundled: {', '.join(SKLEARN_BUNDLED)}")
        return DataDecl("sklearn", raw, description=description)
    if kind == "file":
        return DataDecl("file", _relative_file(raw, path, where), description=description)
    parsed = urllib.parse.urlparse(raw)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise HeaderError(path, f"{where}: url {raw!r} must be an http(s) address")
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not _SHA256_RE.match(sha.strip().lower()):
        raise HeaderError(path, f"{where}: a url needs 'sha256:' with the file's 64-hex-digit "
                                "SHA-256 (compute it with `sha256sum FILE`), so the build knows "
                                "what it downloads and can key its cache on it")
    name = entry.get("name") or PurePosixPath(parsed.path).name or "download"
    name = _relative_file(str(name), path, where) if "/" not in str(name) else None
    if name is None:
        raise HeaderError(path, f"{where}: 'name' must be a plain file name")
    return DataDecl("url", raw, sha256=sha.strip().lower(), name=name, description=description)


def _relative_file(raw: str, path: str, where: str) -> str:
    parts = PurePosixPath(raw).parts
    if (raw.startswith(("/", "~")) or "\\" in raw or not parts
            or any(p in ("..", ".") or p.startswith(".") for p in parts)):
        raise HeaderError(path, f"{where}: {raw!r} must be a plain relative path inside the "
                                "recipe's folder (no '..', no absolute or hidden paths)")
    return PurePosixPath(*parts).as_posix()


def check_files_exist(decls: tuple[DataDecl, ...], recipe_dir: Path, path: str) -> None:
    """A declared ``file:`` must exist beside the recipe (did-you-mean among what is there)."""
    for i, decl in enumerate(decls):
        if decl.kind == "file" and not (recipe_dir / decl.value).is_file():
            present = sorted(p.relative_to(recipe_dir).as_posix() for p in recipe_dir.rglob("*")
                             if p.is_file() and not p.name.endswith((".py", ".md")))
            raise HeaderError(path, f"'explainer.data[{i}]': file {decl.value!r} not found in "
                                    f"{recipe_dir}.{did_you_mean(decl.value, present)} Put it "
                                    "beside the recipe (it is published with the page)")


def package_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def key_parts(decls: tuple[DataDecl, ...], recipe_dir: Path,
              hash_file: Any = None) -> dict[str, str]:
    """What the cache key takes from each entry: a file's hash, a URL's declared hash, or the
    providing package's version (bundled sets change only with the package)."""
    hash_file = hash_file or sha256_file
    parts: dict[str, str] = {}
    for decl in decls:
        if decl.kind == "sklearn":
            parts[decl.label] = f"scikit-learn {package_version('scikit-learn')}"
        elif decl.kind == "file":
            target = recipe_dir / decl.value
            parts[decl.label] = hash_file(target) if target.is_file() else "missing"
        else:
            parts[decl.label] = decl.sha256 or ""
    return parts


# ------------------------------------------------------------------------------------ loading
def download_cache_dir() -> Path:
    """``$NNX_DOWNLOAD_CACHE``, else ``$XDG_CACHE_HOME/nnx/downloads`` (``~/.cache/...``)."""
    env = os.environ.get(DOWNLOAD_CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "nnx" / "downloads"


def fetch_url(decl: DataDecl, data_dir: Path | None = None) -> tuple[Path, str]:
    """The local copy of a ``url:`` entry, downloaded once and checked; (path, origin).

    Looked for first in ``<data_dir>/downloads/<name>``, then in the download cache. Offline
    (``NNX_OFFLINE=1``) nothing is fetched: a missing copy is an error that says where to put it.
    """
    assert decl.kind == "url" and decl.sha256 and decl.name
    cached = download_cache_dir() / decl.sha256[:16] / decl.name
    looked: list[str] = []
    for candidate, origin in (((data_dir / "downloads" / decl.name) if data_dir else None,
                               "verified-copy"), (cached, "verified-copy")):
        if candidate is None:
            continue
        if candidate.is_file():
            if sha256_file(candidate) == decl.sha256:
                return candidate, origin
            looked.append(f"{candidate}: present but its SHA-256 differs from the header's")
        else:
            looked.append(f"{candidate}: not there")
    fix = (f"download {decl.value} on a machine with internet, check it with `sha256sum` "
           f"(expect {decl.sha256}), and copy it to {cached}"
           + (f" or {data_dir / 'downloads' / decl.name}" if data_dir else ""))
    if os.environ.get("NNX_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise DatasetUnavailable(decl.value, [*looked, "network: not tried (NNX_OFFLINE=1)"], fix)
    timeout = float(os.environ.get("NNX_DOWNLOAD_TIMEOUT", "60"))

    def check(tmp: Path) -> None:
        got = sha256_file(tmp)
        if got != decl.sha256:
            raise PipelineError(f"{decl.value}: downloaded file has SHA-256 {got}, but the "
                                f"header declares {decl.sha256}. The file changed upstream or "
                                "the header is wrong; nothing was kept")

    try:
        with urllib.request.urlopen(decl.value, timeout=timeout) as resp:
            atomic.copy_stream(resp, cached, verify=check)
    except OSError as exc:
        raise DatasetUnavailable(decl.value, [*looked, f"network: {exc}"], fix) from None
    log.info("downloaded %s to %s", decl.value, cached)
    return cached, "verified-copy"


def open_declared(decl: DataDecl, recipe_dir: Path, data_dir: Path | None = None
                  ) -> tuple[Any, dict[str, Any]]:
    """Load one entry; return (the data, the record for the page's provenance box)."""
    record: dict[str, Any] = {"open_data": decl.spec(), "n_test": None, "subset": False,
                              "n_train": None}
    if decl.kind == "sklearn":
        try:
            from sklearn import datasets as skd
        except ImportError:
            raise DatasetUnavailable(decl.value, ["scikit-learn: not installed"],
                                     "`pip install scikit-learn`") from None
        bunch = getattr(skd, decl.value)()
        title = (getattr(bunch, "DESCR", "") or "").split("\n")[0].strip(". _-") or decl.value
        shape: tuple[int, ...] = getattr(bunch.data, "shape", (len(bunch.data),))
        version = package_version("scikit-learn")
        record.update(
            dataset=decl.value.removeprefix("load_"), origin="package-copy",
            location=f"sklearn.datasets.{decl.value}() (scikit-learn {version})",
            description=decl.description or (
                f"{title}: {shape[0]} examples" + (f" of {shape[1]} features" if len(shape) > 1
                                                   else "")
                + f", shipped with scikit-learn {version}"),
            n_train=int(shape[0]))
        return bunch, record
    if decl.kind == "file":
        target = recipe_dir / decl.value
        if not target.is_file():
            raise DatasetUnavailable(decl.value, [str(target)],
                                     "put the file beside the recipe, as its header declares")
        record.update(dataset=decl.value, origin="verified-copy", location=decl.value,
                      description=decl.description or
                      f"{decl.value}, a file beside the recipe (SHA-256 {sha256_file(target)[:12]})")
        return target, record
    local, origin = fetch_url(decl, data_dir)
    assert decl.sha256  # a url entry always has one (parse_data_field, fetch_url)
    record.update(dataset=decl.name, origin=origin, location=decl.value,
                  description=decl.description or
                  f"{decl.name} from {decl.value} (SHA-256 {decl.sha256[:12]}, checked)")
    return local, record


def undeclared(recorded: list[dict[str, Any]], declared: list[dict[str, str]]) -> list[str]:
    """Open-data specs a run used but its header does not declare (the cache would miss them)."""
    wanted = [{k: v for k, v in d.items() if k != "description"} for d in declared]
    return [str(r["open_data"]) for r in recorded
            if isinstance(r, dict) and r.get("open_data") and r["open_data"] not in wanted]
