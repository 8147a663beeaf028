"""The verdict rules: a fact's label from its checks, judge scores and the learned decision, and a
sentence's label from its facts. Pure functions over the records in `facts`; every threshold is a
named field of `Thresholds`."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.retrieval.windows import Window
from pipeline.schema import CheckKind, Citation, Label, SlotCheck, Verdict
from pipeline.settings import Thresholds
from pipeline.verification.decision import (
    SupportModel,
    closest_window,
    eligible_windows,
    learned_p,
    unreadable_share,
)
from pipeline.verification.facts import Fact, FactResult
from pipeline.verification.judges.base import JudgeScores
from pipeline.verification.judges.llm import Judgement, LLMVerdict

# The LLM gives no probability; its verdicts rank below what the local judge states confidently.
LLM_CONFIDENCE = 0.8


def decide(
    fact: Fact, th: Thresholds, support: SupportModel | None = None, learned: float | None = None
) -> FactResult:
    """One fact's verdict. A failed slot check outweighs a high entailment score on the same
    evidence; 'supported' needs evidence that the model entails and that passes every check, and
    for a claim with numbers, evidence where a number check positively matched. Where that rule finds
    no support and no slot check failed, `support` (the learned decision) may still find the fact
    stated: a faithful paraphrase the entailment model rejected. `learned` is its p for this fact when
    already computed (a calibration sweep decides the same fact under many thresholds)."""
    if fact.no_evidence:
        return FactResult(fact.text, Label.UNCHECKED, 0.0, fact.error or "no evidence could be retrieved")
    if not fact.windows:
        return FactResult(fact.text, Label.UNSUPPORTED, 0.7, "no passage of the documents addresses this")
    if fact.error:
        return FactResult(fact.text, Label.UNCHECKED, 0.0, fact.error, [w.citation for w in fact.windows[:1]])
    best_support, best_contra, vetoed = _rule(fact, th)
    if unreadable_share(fact.text) > th.foreign_share and not vetoed:
        # the English-only model cannot read the claim: its scores would be a guess either way
        return FactResult(
            fact.text,
            Label.UNCHECKED,
            0.0,
            "language not supported by the judge; closest passage: " + _where(fact.windows[0].citation),
            [fact.windows[0].citation],
        )
    if best_support:
        conf, w = best_support
        return FactResult(fact.text, Label.SUPPORTED, conf, f"stated in {_where(w.citation)}", [w.citation])
    if support is not None and not vetoed:
        p = learned_p(fact, support) if learned is None else learned
        threshold = support.threshold if th.decision is None else th.decision
        if p >= threshold:
            w = fact.windows[closest_window(fact)]
            return FactResult(
                fact.text,
                Label.SUPPORTED,
                p,
                f"stated in other words in {_where(w.citation)} (learned decision p={p:.2f})",
                [w.citation],
            )
        if best_contra is None and p >= threshold - th.review_band:
            w = fact.windows[closest_window(fact)]
            return FactResult(
                fact.text,
                Label.UNCHECKED,
                0.0,
                f"needs review: {_where(w.citation)} comes close to stating it but the judge is not sure "
                f"(p={p:.2f})",
                [w.citation],
                needs_review=True,
            )
    if best_contra:
        w = best_contra.window
        return FactResult(
            fact.text,
            Label.CONTRADICTED,
            best_contra.confidence,
            f"{best_contra.reason} ({_where(w.citation)})",
            [w.citation],
            best_contra.failed_checks,
        )
    top = fact.windows[0]
    s = fact.scores.get(0)
    conf = 1.0 - (s.entail if s else 0.0)
    return FactResult(
        fact.text,
        Label.UNSUPPORTED,
        max(0.5, min(conf, 0.95)),
        f"not stated in the documents; closest passage: {_where(top.citation)}",
        [top.citation],
    )


@dataclass(frozen=True)
class _Contradiction:
    confidence: float
    window: Window
    reason: str
    failed_checks: list[CheckKind]


def _rule(fact: Fact, th: Thresholds) -> tuple[tuple[float, Window] | None, _Contradiction | None, bool]:
    """The hand-set rule over a fact's scored windows: its best support, its strongest contradiction
    and whether a slot check failed on relevant evidence (a veto no learned score may overrule)."""
    best_support: tuple[float, Window] | None = None
    best_contra: _Contradiction | None = None
    vetoed = False
    # a slot check only speaks for passages about the same thing as the claim: among the most
    # relevant ones, not a pharmacokinetics table that happens to mention another dose
    on_topic = max(th.on_topic_floor, th.on_topic_share * max(w.relevance for w in fact.windows))
    for wi, w in enumerate(fact.windows):
        s = fact.scores.get(wi)
        failed = [c for c in fact.checks[wi] if not c.ok]
        if s is None:
            continue
        if failed:
            if w.relevance >= on_topic or (
                s.contradict >= th.veto_contradict and w.relevance >= th.contradiction_relevance
            ):
                vetoed = True
                conf = max(th.veto_confidence, s.contradict)
                if not best_contra or conf > best_contra.confidence:
                    kinds = list(dict.fromkeys(c.kind for c in failed))
                    best_contra = _Contradiction(conf, w, "; ".join(c.message for c in failed), kinds)
            continue
        if supports(fact, fact.checks[wi], s, th):
            if not best_support or s.entail > best_support[0]:
                best_support = (s.entail, w)
        elif s.contradict >= th.contradict and w.relevance >= th.contradiction_relevance:
            if not best_contra or s.contradict > best_contra.confidence:
                best_contra = _Contradiction(
                    s.contradict,
                    w,
                    f"the verifier model judges the passage to contradict it (p={s.contradict:.2f})",
                    [],
                )
    return best_support, best_contra, vetoed


def second_opinion_applies(fact: Fact, th: Thresholds) -> bool:
    """Whether `decide` would ask the learned decision about this fact: it has scored evidence, the
    rule found no support, no slot check vetoed it and the judge can read it."""
    if fact.no_evidence or not fact.windows or fact.error:
        return False
    if unreadable_share(fact.text) > th.foreign_share:
        return False
    best_support, _, vetoed = _rule(fact, th)
    return best_support is None and not vetoed


def uncertain(fact: Fact, th: Thresholds, local: FactResult) -> bool:
    """Whether the cascade asks the LLM judge about a fact: it has evidence no slot check vetoed, and
    its local verdict `local` is a 'needs review', or rests on a best entailment probability in
    [cascade_low, cascade_high), or on a claim the local judge cannot read."""
    if fact.no_evidence or not fact.windows or fact.error or not llm_evidence(fact) or _rule(fact, th)[2]:
        return False
    if local.needs_review or unreadable_share(fact.text) > th.foreign_share:
        return True
    best = max((fact.scores[wi].entail for wi in eligible_windows(fact)), default=0.0)
    return th.cascade_low <= best < th.cascade_high


def llm_evidence(fact: Fact) -> list[int]:
    """The windows quoted to the LLM judge: those no slot check failed on."""
    return [wi for wi, checks in enumerate(fact.checks) if all(c.ok for c in checks)]


def from_llm(fact: Fact, evidence: list[int], j: Judgement, judge: str) -> FactResult:
    """A fact's verdict from the LLM judge's judgement `j` over its windows `evidence`; no usable
    judgement makes it unchecked."""
    if j.verdict is None:
        return FactResult(
            fact.text,
            Label.UNCHECKED,
            0.0,
            f"the LLM judge ({judge}) gave no verdict: {j.reason}",
            [fact.windows[evidence[0]].citation],
        )
    w = fact.windows[evidence[j.passage if j.passage is not None else 0]].citation
    said = f": {j.reason}" if j.reason else ""
    if j.verdict == LLMVerdict.SUPPORTED:
        reason = f"stated in {_where(w)}, says the LLM judge ({judge}){said}"
        return FactResult(fact.text, Label.SUPPORTED, LLM_CONFIDENCE, reason, [w])
    if j.verdict == LLMVerdict.CONTRADICTED:
        return FactResult(
            fact.text,
            Label.CONTRADICTED,
            LLM_CONFIDENCE,
            f"the LLM judge ({judge}) finds it contradicted by {_where(w)}{said}",
            [w],
        )
    return FactResult(
        fact.text,
        Label.UNSUPPORTED,
        LLM_CONFIDENCE,
        f"not stated in the documents, says the LLM judge ({judge}){said}; closest passage: {_where(w)}",
        [w],
    )


def supports(fact: Fact, window_checks: list[SlotCheck], s: JudgeScores, th: Thresholds) -> bool:
    """Whether one window supports the fact: entailed, every slot check passed and, for a claim
    with numbers, a number check positively matched."""
    if any(not c.ok for c in window_checks):
        return False
    confirmed = not fact.has_quantity or any(c.ok and c.kind == CheckKind.NUMBER for c in window_checks)
    return s.entail >= th.entail and s.entail > s.contradict and confirmed


def combine(text: str, start: int, end: int, parts: list[FactResult]) -> Verdict:
    """A sentence's verdict is the worst of its facts; the reason names the failing fact."""
    worst = max(parts, key=lambda p: p.verdict.severity)
    citations: list[Citation] = []
    for p in sorted(parts, key=lambda p: -p.verdict.severity):
        for c in p.citations:
            if c not in citations:
                citations.append(c)
    reason = worst.reason
    if len(parts) > 1:
        if worst.verdict == Label.SUPPORTED:
            reason = f"all {len(parts)} facts supported; " + worst.reason
        else:
            reason = f"part “{worst.text.strip()}”: {worst.reason}"
    conf = worst.confidence if worst.verdict != Label.SUPPORTED else min(p.confidence for p in parts)
    return Verdict(text, start, end, worst.verdict, float(conf), reason, citations, worst.failed_checks)


def _where(c: Citation) -> str:
    name = c.title or c.doc_id
    place = c.where
    return name + (f", {place}" if place and place != name else "")
