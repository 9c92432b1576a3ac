"""Gymnasium spaces for free text: any Unicode string up to a maximum length.

``gymnasium.spaces.Text`` checks membership against an explicit character set; its default is
alphanumeric (so LLM text fails ``contains``), and a set of all 1.1 million code points takes
seconds to build per space. :class:`UnicodeText` is a ``Text`` whose ``contains`` accepts every
string of Unicode scalar values (all code points except lone surrogates, which cannot be encoded
as UTF-8) with a length in ``[min_length, max_length]``; ``sample`` draws from a small printable
alphabet (:data:`SAMPLE_ALPHABET`), which is all that random rollouts and API checkers need.

:class:`TextObservation` is a ``str`` with a NumPy ``dtype`` attribute and nothing else, so that
checkers that inspect ``observation.dtype`` (PettingZoo's ``api_test``) accept text observations.
"""

from __future__ import annotations

import re
import string
from typing import Any, ClassVar

import numpy as np
from gymnasium.spaces import Text

__all__ = ["SAMPLE_ALPHABET", "TextObservation", "UnicodeText", "has_lone_surrogate"]

#: Characters that :meth:`UnicodeText.sample` draws from: printable ASCII plus a few non-ASCII ones.
SAMPLE_ALPHABET: str = (
    string.ascii_letters + string.digits + string.punctuation + " \n\téü—π√∑€中😀"
)

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Return whether ``text`` holds a lone surrogate code point (not encodable as UTF-8)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


class UnicodeText(Text):
    """A ``Text`` space of any Unicode string with ``min_length <= len(x) <= max_length``.

    Args:
        max_length: Largest length, in characters (Python ``len``).
        min_length: Smallest length (default 0: the empty string is a member).
        seed: Seed for :meth:`sample`.
    """

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 0,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_ALPHABET, seed=seed)

    def contains(self, x: Any) -> bool:
        """Return whether ``x`` is a string of Unicode scalar values of an allowed length."""
        return (
            isinstance(x, str)
            and self.min_length <= len(x) <= self.max_length
            and not has_lone_surrogate(x)
        )

    def __repr__(self) -> str:
        """Return ``UnicodeText(min_length, max_length)``."""
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object, /) -> bool:
        """Spaces with the same length bounds are equal."""
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )


class TextObservation(str):
    """A ``str`` that also has a ``dtype`` (NumPy's unicode dtype), for generic API checkers."""

    __slots__ = ()
    dtype: ClassVar[np.dtype] = np.dtype(str)
