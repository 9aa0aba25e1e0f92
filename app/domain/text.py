"""Text helpers shared by the domain: translatable message markers and search normalisation."""

from __future__ import annotations

import re
import unicodedata


def N_(message: str) -> str:  # noqa: N802 - conventional gettext marker name
    """Mark a message for extraction; it is translated where it is shown, not here."""
    return message


_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case, strip accents and collapse white space: 'Électricité  Verte' -> 'electricite verte'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()
