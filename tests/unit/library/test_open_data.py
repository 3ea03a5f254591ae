"""Open data: scikit-learn's bundled sets, a file beside the recipe, a URL with a known hash.
Declared in the header (validated with did-you-mean), covered by the cache key, opened with one
call that records it for the page, and never fetched offline."""

from __future__ import annotations

import hashlib
import http.server
import textwrap
import threading
from pathlib import Path

import pytest

from pipeline.builder.recipes import parse_header
from pipeline.library.errors import DatasetUnavailable, HeaderError, PipelineError
from pipeline.library.open_data import DataDecl, fetch_url, key_parts, parse_data_field
from tests.conftest import recipe_header


def _header(data_yaml: str) -> str:
    return recipe_header("T", "d", "[]", 1, 2, extra_header=data_yaml)


def test_valid_entries_parse() -> None:
    sha = "a" * 64
    h = parse_header(_header(f"data:\n  - sklearn: load_wine\n  - file: data/wine.csv\n"
                             f"  - url: https://example.org/x/wine.csv\n    sha256: {sha}\n"), "r.py")
    assert h.data == (DataDecl("sklearn", "load_wine"), DataDecl("file", "data/wine.csv"),
                      DataDecl("url", "https://example.org/x/wine.csv", sha256=sha, name="wine.csv"))


@pytest.mark.parametrize("data_yaml, expected", [
    ("data:\n  - sklern: load_wine\n", "Did you mean 'sklearn'?"),
    ("data:\n  - sklearn: load_wines\n", "Did you mean 'load_wine'?"),
    ("data:\n  - sklearn: fetch_covtype\n", "ships with the package"),
    ("data:\n  - file: ../secret.csv\n", "inside the recipe's folder"),
    ("data:\n  - url: https://example.org/a.csv\n", "sha256"),
    ("data:\n  - url: https://example.org/a.csv\n    sha265: " + "a" * 64 + "\n", "Did you mean 'sha256'?"),
    ("data:\n  - load_wine\n", "'- sklearn: load_wine'"),
    ("data: load_wine\n", "must be a list"),
    ("dta: []\n", "Did you mean 'data'?"),
])
def test_bad_entries_name_the_entry_and_the_fix(data_yaml, expected) -> None:
    with pytest.raises(HeaderError) as info:
        parse_header(_header(data_yaml), "r.py")
    assert expected in str(info.value) and "r.py" in str(info.value)


def test_missing_file_beside_the_recipe_is_a_header_error(tmp_path) -> None:
    from pipeline.builder.recipes import load_recipe

    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "wine.csv").write_text("a,b\n")
    (folder / "r.recipe.py").write_text(_header("data:\n  - file: wines.csv\n"))
    with pytest.raises(HeaderError, match="Did you mean 'wine.csv'"):
        load_recipe(folder / "r.recipe.py", tmp_path)


def test_key_parts_cover_file_hash_url_hash_and_package_version(tmp_path, monkeypatch) -> None:
    (tmp_path / "w.csv").write_text("1,2\n")
    decls = parse_data_field([{"sklearn": "load_iris"}, {"file": "w.csv"},
                              {"url": "https://e.org/f.bin", "sha256": "b" * 64}], "r.py")
    parts = key_parts(decls, tmp_path)
    assert parts["file:w.csv"] == hashlib.sha256(b"1,2\n").hexdigest()
    assert parts["url:https://e.org/f.bin"] == "b" * 64
    monkeypatch.setattr("pipeline.library.open_data.package_version", lambda dist: "99.0")
    assert key_parts(decls, tmp_path)["sklearn:load_iris"] == "scikit-learn 99.0"


def test_build_key_changes_with_the_file_and_not_for_recipes_without_data(mini) -> None:
    from pipeline.builder.cache import FileHasher
    from pipeline.builder.orchestrator import BuildOptions, recipe_key
    from pipeline.builder.recipes import discover

    mini.add("plain", _header("") + "\n# %%\nx = 1\n")
    path = mini.add("withfile", _header("data:\n  - file: w.csv\n") + "\n# %%\nx = 1\n")
    (path.parent / "w.csv").write_text("1\n")
    opts = BuildOptions(repo_root=Path(__file__).resolve().parents[3],
                        content_root=mini.content, build_root=mini.build_dir, data_dir=None)

    def keys():
        return {r.slug: recipe_key(r, opts, FileHasher(), {"numpy": "1"})
                for r in discover(mini.content)}

    first = keys()
    assert "open_data" not in first["plain"].parts
    (path.parent / "w.csv").write_text("2\n")
    second = keys()
    assert second["withfile"].digest != first["withfile"].digest
    assert second["plain"].digest == first["plain"].digest


def _decl(payload: bytes, name: str = "f.bin", url: str = "https://e.org/f.bin") -> DataDecl:
    return DataDecl("url", url, sha256=hashlib.sha256(payload).hexdigest(), name=name)


def test_offline_url_must_be_cached_and_the_error_says_where(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NNX_DOWNLOAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NNX_OFFLINE", "1")
    decl = _decl(b"payload")
    with pytest.raises(DatasetUnavailable) as info:
        fetch_url(decl)
    assert str(tmp_path / "cache" / decl.sha256[:16] / "f.bin") in str(info.value)
    assert "NNX_OFFLINE" in str(info.value)
    target = tmp_path / "cache" / decl.sha256[:16] / "f.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"tampered")
    with pytest.raises(DatasetUnavailable, match="SHA-256 differs"):
        fetch_url(decl)
    target.write_bytes(b"payload")
    assert fetch_url(decl)[0] == target


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_is_downloaded_once_and_checked(http_server, tmp_path, monkeypatch) -> None:
    root, base = http_server
    monkeypatch.setenv("NNX_DOWNLOAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NNX_OFFLINE", raising=False)
    (root / "f.bin").write_bytes(b"real data")
    path, _ = fetch_url(_decl(b"real data", url=f"{base}/f.bin"))
    assert path.read_bytes() == b"real data"
    (root / "f.bin").unlink()  # a second call uses the cache
    assert fetch_url(_decl(b"real data", url=f"{base}/f.bin"))[0] == path
    (root / "g.bin").write_bytes(b"changed upstream")
    with pytest.raises(PipelineError, match="declares"):
        fetch_url(_decl(b"expected", name="g.bin", url=f"{base}/g.bin"))
    assert not list((tmp_path / "cache").rglob("g.bin"))


RECIPE = textwrap.dedent('''
    # %% tags=["parameters"]
    profile = "quick"
    seed = 0
    asset_dir = "_assets"
    data_dir = None
    sizes = {"n": 1}

    # %%
    import numpy as np
    from pipeline.library.runtime import Explainer
    ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir, sizes=sizes)
    wine = ex.open_data({"sklearn": "load_wine"})
    table = np.loadtxt(ex.open_data({"file": "tiny.csv"}), delimiter=",")
    ex.metric("wine_rows", int(wine.data.shape[0]))
    ex.metric("table_sum", float(table.sum()))
    ex.finish()
''')


def test_recipe_opens_declared_data_and_the_page_states_it(mini, tmp_path) -> None:
    from tests.sitebuild import build_site

    header = recipe_header("Wine", "Open data.", "[]", 1, 1,
                           extra_header="data:\n  - sklearn: load_wine\n  - file: tiny.csv\n")
    path = mini.add("wine", header + RECIPE, page="# Wine\n\n{{ metric(\"wine_rows\") }} rows.\n")
    (path.parent / "tiny.csv").write_text("1,2\n3,4\n")
    assert mini.cli("build") == 0
    _, manifest = mini.current("wine")
    assert manifest["metrics"] == {"wine_rows": 178, "table_sum": 10.0}
    described = " | ".join(d["description"] for d in manifest["data"])
    assert "178 examples of 13 features" in described and "tiny.csv" in described
    assert manifest["key_parts"]["open_data"]["sklearn:load_wine"].startswith("scikit-learn ")
    result = build_site(mini.content, mini.build_dir, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "demo" / "wine" / "index.html").read_text()
    assert "178 examples of 13 features" in html and "tiny.csv, a file beside the recipe" in html


def test_undeclared_open_data_fails_the_build(mini) -> None:
    header = recipe_header("Wine", "Open data.", "[]", 1, 1,
                           extra_header="data:\n  - file: tiny.csv\n")
    path = mini.add("wine", header + RECIPE)
    (path.parent / "tiny.csv").write_text("1,2\n")
    assert mini.cli("build") == 1
    failure = mini.state("wine")["last_attempt"]["failure"]
    assert "load_wine" in failure["evalue"] and "explainer.data" in failure["evalue"]
