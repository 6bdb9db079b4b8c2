"""The one error type for bad SLO input: it names the file, the field and the reason."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["SpecError", "suggest"]


class SpecError(ValueError):
    """An invalid spec. ``str()`` is one line: ``FILE: FIELD: REASON``."""

    def __init__(self, file: str, field: str, reason: str) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        super().__init__(f"{file}: {field or '<document>'}: {reason}")


def suggest(word: str, known: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a known word is close to ``word``, else ''."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
