"""A text cut at character spans: the plain text between them and the spans themselves (an answer
and its sentences, for the rendered output, the audit report and the review UI)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Piece(Generic[T]):
    text: str
    item: T | None = None  # the span's item; None for text between spans


def cut(text: str, spans: Iterable[tuple[int, int, T]]) -> list[Piece[T]]:
    """`text`, in order, as pieces between and at `spans` ((start, end, item), sorted by start). A span
    that starts inside the previous one, ends before it starts or ends past the text is left out
    (its text stays plain)."""
    out: list[Piece[T]] = []
    pos = 0
    for start, end, item in spans:
        if start < pos or end < start or end > len(text):
            continue
        if start > pos:
            out.append(Piece(text[pos:start]))
        out.append(Piece(text[start:end], item))
        pos = end
    if pos < len(text):
        out.append(Piece(text[pos:]))
    return out
