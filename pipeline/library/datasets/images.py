"""Single photos: Chelsea the cat (scikit-image) and foolbox's ImageNet samples."""

from __future__ import annotations

import os
import re

import numpy as np

from pipeline.library.datasets.files import decode_rgb, one_line
from pipeline.library.datasets.places import display_path, resolve_data_dir
from pipeline.library.datasets.registry import DataSource, dataset_spec
from pipeline.library.datasets.sources import Trail, run_stages, verified_files


def load_cat_photo(
    data_dir: str | os.PathLike[str] | None = None, source: str = "auto"
) -> tuple[np.ndarray, DataSource]:
    """Chelsea the cat, uint8 ``(300, 451, 3)``: scikit-image's copy first, then the data dir.

    scikit-image's wheel ships the file (no download), and the verified ``images/chelsea.png``
    has the same bytes, so the order only matters when scikit-image is missing.
    """
    spec = dataset_spec("cat_photo")
    data = resolve_data_dir(data_dir)

    def package(trail: Trail):
        try:
            from skimage import data as skdata

            img = np.asarray(skdata.chelsea(), dtype=np.uint8)
        except Exception as exc:  # not installed, or an install that wants to download
            trail.add(f"package copy {spec.package_call}", f"not usable ({one_line(exc)})")
            return None
        desc = (
            f"Chelsea the cat, the {img.shape[1]}x{img.shape[0]} photo shipped in scikit-image "
            f"({spec.package_call}, CC0)"
        )
        return img, DataSource("cat_photo", "package-copy", "scikit-image", desc, None, None, False)

    def verified(trail: Trail):
        files = verified_files(trail, data, ["images/chelsea.png"])
        if files is None:
            return None
        img = decode_rgb(files[0].read_bytes(), str(files[0]))
        loc = display_path(files[0])
        desc = (
            f"Chelsea the cat, the {img.shape[1]}x{img.shape[0]} scikit-image photo, verified "
            f"copy from {loc} (CC0)"
        )
        return img, DataSource("cat_photo", "verified-copy", loc, desc, None, None, False)

    return run_stages(spec, source, {"package": package, "verified": verified})


_IMAGENET_SAMPLE_RE = re.compile(r"^imagenet_(\d+)_(\d+)\.jpg$")


def load_imagenet_samples(
    data_dir: str | os.PathLike[str] | None = None, source: str = "auto"
) -> tuple[list[tuple[int, np.ndarray, str]], DataSource]:
    """The 20 ImageNet photos foolbox ships, as ``(imagenet_class_id, uint8 RGB, filename)``.

    Files are named ``imagenet_<index>_<class id>.jpg``; they are returned in index order. Sizes
    vary, so resizing for a model is the recipe's job.
    """
    spec = dataset_spec("imagenet_samples")
    data = resolve_data_dir(data_dir)

    def verified(trail: Trail):
        folder_rel = "images/foolbox_imagenet_samples"
        if verified_files(trail, data, []) is None:
            return None
        assert data is not None
        folder = data / folder_rel
        found = []
        for path in folder.glob("imagenet_*.jpg") if folder.is_dir() else []:
            match = _IMAGENET_SAMPLE_RE.match(path.name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), path))
        if not found:
            trail.add(f"verified copy {folder}/imagenet_<index>_<class>.jpg", "missing")
            return None
        found.sort()
        samples = [(cls, decode_rgb(p.read_bytes(), str(p)), p.name) for _, cls, p in found]
        loc = display_path(folder)
        desc = (
            f"ImageNet sample photos, the {len(samples)} samples shipped with foolbox 3.3.4, "
            f"verified copy from {loc}"
        )
        src = DataSource(
            "imagenet_samples",
            "verified-copy",
            loc,
            desc,
            None,
            len(samples),
            True,
            "A handful of ImageNet-class photos, not the ImageNet test set.",
        )
        return samples, src

    return run_stages(spec, source, {"verified": verified})
