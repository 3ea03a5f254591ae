"""The full CIFAR-10 profile's offline data: 50,000 training + 10,000 test images as JPEG.

A small slice goes through the real loader (the first ranks of every class), so the test reads
the real archives in a few seconds; the full-size read is the recipe's job (and the GPU check's).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pipeline.library import datasets
from pipeline.library.errors import DatasetUnavailable
from pipeline.library.explainers import cifar_views as V
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.needs_data("cifar10", "yoongikim_train_jpeg")


def test_slice_is_the_official_split_with_exact_test_images_first():
    (x_tr, y_tr), (x_te, y_te), src = datasets.load_cifar10_jpeg_full(
        SHARED_DATA, train_per_class=30, test_per_class=5
    )
    assert x_tr.shape == (300, 32, 32, 3) and x_tr.dtype == np.uint8
    assert y_tr[:10, 0].tolist() == list(range(10))  # rank-major: every prefix has every class
    _, (exact_x, exact_y), _ = datasets.load_cifar10(SHARED_DATA)
    np.testing.assert_array_equal(x_te[:20], exact_x)  # test images 0-19, lossless
    np.testing.assert_array_equal(y_te[:20, 0], exact_y[:, 0])
    assert np.bincount(y_te[:, 0], minlength=10).min() >= 5
    assert src.subset and src.origin == "verified-copy" and "official training images" in src.description


def test_jpeg_training_images_are_the_official_ones():
    """Each exact training image (data_batch_1[0:200]) matches the JPEG at its within-class rank."""
    (x_tr, y_tr), _, _ = datasets.load_cifar10_jpeg_full(
        SHARED_DATA, train_per_class=40, test_per_class=1
    )
    (exact_x, exact_y), _, _ = datasets.load_cifar10(SHARED_DATA)
    seen = np.zeros(10, dtype=int)
    errors = []
    for img, label in zip(exact_x, exact_y[:, 0], strict=True):
        rank = seen[label]
        seen[label] += 1
        jpeg = x_tr[rank * 10 + label]
        assert y_tr[rank * 10 + label, 0] == label
        errors.append(np.abs(jpeg.astype(float) - img.astype(float)).mean())
    assert max(errors) < 10.0 and np.mean(errors) < 7.0  # README: mean 5.9/255, at most 9.7


def test_a_broken_archive_is_named(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SHARED_DATA / "cifar10", data / "cifar10")
    (data / "cifar10" / "yoongikim_train_jpeg").chmod(0o755)
    bad = data / "cifar10" / "yoongikim_train_jpeg" / "cat.tar.xz"
    bad.chmod(0o644)
    bad.write_bytes(bad.read_bytes()[:300])  # cut inside the first members
    with pytest.raises(datasets.DatasetCorrupt, match="cat.tar.xz"):
        datasets.load_cifar10_jpeg_full(data, train_per_class=5, test_per_class=1)


def test_missing_archive_says_what_to_put_where(tmp_path):
    with pytest.raises(DatasetUnavailable, match="yoongikim_train_jpeg"):
        datasets.load_cifar10_jpeg_full(tmp_path, train_per_class=5, test_per_class=1)


def test_full_profile_offline_uses_the_jpeg_training_set(monkeypatch):
    calls = []
    real = datasets.load_cifar10_jpeg_full

    def unavailable(*args, **kwargs):
        raise DatasetUnavailable("cifar10", ["Keras cache: missing"], "connect")

    def sliced(data_dir, **kwargs):
        calls.append(data_dir)
        return real(data_dir, train_per_class=5, test_per_class=3)

    monkeypatch.setattr(datasets, "load_cifar10", unavailable)
    monkeypatch.setattr(datasets, "load_cifar10_jpeg_full", sliced)
    data = V.load_cifar10_for_build(SHARED_DATA, prefer_full=True, train_per_class=1,
                                    test_per_class=1)
    assert calls == [SHARED_DATA]
    assert len(data.train[0]) == 50 and not data.full_dataset  # a slice is not "full"
    assert "offline JPEG copy" in data.summary and "training set" in data.summary
    # the quick profile never reads it
    calls.clear()
    V.load_cifar10_for_build(SHARED_DATA, prefer_full=False, train_per_class=1, test_per_class=1)
    assert calls == []
