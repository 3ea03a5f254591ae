"""Every recipe's quick profile is a faithful miniature of its full one, and pages say so."""

from __future__ import annotations

import re

import pytest

from pipeline.builder.recipes import discover_all
from tests.conftest import REPO_ROOT

RECIPES, _ = discover_all(REPO_ROOT / "content")
#: Size fields that count images, samples or epochs: quick may only use fewer (None: all).
COUNTS = re.compile(r"(epochs|samples|per_class|limit|_n$|^n_|smoothgrad)")


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.slug for r in RECIPES])
def test_quick_is_a_miniature_of_full(recipe) -> None:
    quick, full = recipe.header.sizes("quick"), recipe.header.sizes("full")
    assert set(quick) <= set(full), f"{recipe.slug}: quick has fields full lacks"
    for name, value in quick.items():
        if not COUNTS.search(name) or isinstance(value, bool):
            continue
        big = full[name]
        if big is None:  # full: everything
            continue
        assert value is not None and value <= big, f"{recipe.slug}: quick {name}={value} > {big}"


def test_the_provenance_box_states_the_sizes() -> None:
    from pipeline.site.pages import provenance_box

    box = provenance_box({"profile": "quick", "seed": 0,
                          "sizes": {"train_per_class": 250, "epochs": 6}})
    assert "Sizes" in box and "train_per_class 250" in box and "epochs 6" in box
