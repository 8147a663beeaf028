"""What reaches the person: the answer annotated, with flagged sentences removed, or withheld."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.schema import Label, Verdict
from pipeline.segments import cut

MARK = {Label.CONTRADICTED: "✗", Label.UNSUPPORTED: "?", Label.UNCHECKED: "!"}


def render(answer: str, verdicts: Sequence[Verdict], mode: str) -> str:
    """annotate: inline markers [n✗] after flagged sentences, then the list with evidence;
    redact: flagged sentences cut out, with a note; block: withheld if anything is contradicted."""
    flagged = [v for v in verdicts if v.flagged]
    if mode == "block":
        contradicted = sum(v.verdict == Label.CONTRADICTED for v in verdicts)
        if contradicted:
            return (
                f"[Veracity withheld this answer: {contradicted} sentence(s) contradict the source "
                "documents.]"
            )
        return annotate(answer, verdicts)
    if mode == "redact":
        if not flagged:
            return answer
        kept = "".join(p.text for p in cut(answer, ((v.start, v.end, v) for v in flagged)) if p.item is None)
        text = " ".join(kept.split(" ")).strip()
        text = "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()
        return (
            text
            + ("\n\n" if text else "")
            + f"[Veracity removed {len(flagged)} sentence(s) that could not be verified against the "
            "source documents.]"
        )
    return annotate(answer, verdicts)


def annotate(answer: str, verdicts: Sequence[Verdict]) -> str:
    flagged = [v for v in verdicts if v.flagged]
    if not flagged:
        return answer
    out = []
    for piece in cut(answer, ((v.start, v.end, (n, v)) for n, v in enumerate(flagged, start=1))):
        out.append(piece.text)
        if piece.item is not None:
            n, v = piece.item
            out.append(f" [{n}{MARK[v.verdict]}]")
    lines = ["", "", "Flagged by Veracity:"]
    for n, v in enumerate(flagged, start=1):
        lines.append(f"[{n}] {v.verdict}: {v.text.strip()} — {v.reason}")
        for c in v.citations[:1]:
            where = c.where
            quote = " ".join(c.quote.split())
            lines.append(f"    evidence ({c.doc_id}{', ' + where if where else ''}): “{quote[:300]}”")
    return "".join(out) + "\n".join(lines)
