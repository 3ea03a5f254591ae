"""Say in words which build profile a reader is looking at, and when a site mixes profiles.

Why in words: the provenance box at the end of a page names the profile in a table row that
most readers never open, and a ``quick`` page's 32 % on CIFAR-10 read as the article's result
would be a false statement about the article. So every explainer page opens with one sentence
that says which profile built it and what that means, and the build report warns when pages of
different profiles sit side by side (a full build with one recipe still from a quick build).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from markupsafe import Markup, escape

#: What each profile means to a reader (the recipes' ``profiles`` header names them).
MEANINGS = {
    "full": "the models are trained at the article's sizes",
    "quick": "the models are trained at small sizes so that the whole site builds in minutes on "
             "a laptop CPU; its numbers are smaller than the article's (the full profile trains "
             "at the article's sizes)",
}


def profile_sentence(profile: str | None) -> str:
    """The sentence under an explainer page's title (HTML, one line)."""
    if not profile:
        return ""
    meaning = MEANINGS.get(profile, "a profile this site does not describe")
    return str(Markup('<p class="nnx-profile-note" data-nnx-profile="{p}">You are reading the '
                      '<strong>{p}</strong> profile of this explainer: {m}.</p>')
               .format(p=profile, m=meaning))


def mixed_profiles_note(profiles: Iterable[str | None]) -> str:
    """A warning admonition when the shown results come from more than one profile (else "")."""
    counts = Counter(p for p in profiles if p)
    if len(counts) < 2:
        return ""
    parts = ", ".join(f"{n} from the {escape(p)} profile" for p, n in sorted(counts.items()))
    return ('!!! warning "This site mixes build profiles"\n\n'
            f"    Of the explainers shown, {parts}. Each page says which profile it shows; "
            "numbers from different profiles are not comparable. Build every recipe with one "
            "profile (`python -m pipeline build --profile full`) to publish one.\n")
