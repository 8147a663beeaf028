"""Finding sentences in a stream of tokens with the splitter `verify` uses.

The splitter decides a boundary by looking at what follows it ("Acme Inc. The" splits, "Acme Inc.
Thermo" does not), so a sentence is handed out once its end is final (`sentence_end_final`): usually
as soon as the first character after the space arrives ("pumps. T"), at once after "?" / "!" + a
space or a paragraph break, and only after a known abbreviation or initial does it wait for the
whole next word. The rest is flushed when the stream ends. The whole text is split again on each
token, so offsets are exactly those `verify` would give.

Until its end is final, a sentence is a *candidate* when it could already end where it does
(the splitter cuts there now, or the text so far ends with a sentence's closing punctuation or a line
break). The gateway verifies candidates speculatively; a candidate whose boundary later moves is
simply never handed out, so its verdict is never used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.text import sentence_end_final
from pipeline.verification.claims import split_sentences

# How a trailing sentence that may be complete ends: closing punctuation, then closing quotes/brackets.
_CLOSING = re.compile(r"(?:[.!?…。！？；])[\"'”’)\]」』）】]*$")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


class SentenceStream:
    """Feed text as it arrives; get each sentence once, in order, with offsets into the whole answer."""

    def __init__(self) -> None:
        self.text = ""
        self._done = 0  # end offset of the last sentence handed out
        self._open: list[tuple[int, int]] = []  # the sentences after it, as the text splits now

    def feed(self, delta: str) -> list[Span]:
        self.text += delta
        spans = [(s, e) for s, e in split_sentences(self.text) if s >= self._done]
        out: list[Span] = []
        for s, e in spans:
            if not sentence_end_final(self.text, e):
                break
            out.append(self._take(s, e))
        self._open = spans[len(out) :]
        return out

    def candidates(self) -> list[Span]:
        """The sentences not handed out yet that could already be complete (see the module docstring):
        each may still change, so it is verified speculatively, never released as it is."""
        out = [Span(s, e, self.text[s:e]) for s, e in self._open[:-1]]
        if self._open:
            s, e = self._open[-1]
            if _CLOSING.search(self.text, s, e) or "\n" in self.text[e:]:
                out.append(Span(s, e, self.text[s:e]))
        return out

    def finish(self) -> list[Span]:
        """The sentences not handed out yet, the trailing partial one included."""
        return [self._take(s, e) for s, e in split_sentences(self.text) if s >= self._done]

    def _take(self, s: int, e: int) -> Span:
        self._done = e
        return Span(s, e, self.text[s:e])
