"""The verification engine: answer -> claims -> evidence -> checks + entailment -> verdicts."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pipeline.models.embedders import Embedder, get_embedder
from pipeline.retrieval.hybrid import Retriever, Scope
from pipeline.retrieval.passages import ContextIndex
from pipeline.retrieval.windows import Window, select_windows
from pipeline.schema import (
    Citation,
    Claim,
    Label,
    SearchHit,
    SlotCheck,
    VeracityError,
    Verdict,
    VerificationResult,
)
from pipeline.settings import Settings, Thresholds
from pipeline.verification.checks import extract_quantities, run_checks
from pipeline.verification.claims import extract_claims
from pipeline.verification.decision import (
    SupportModel,
    closest_window,
    fact_features,
    load_support_model,
    may_rescue,
    unreadable_share,
)
from pipeline.verification.judges.base import Judge, JudgeScores
from pipeline.verification.render import render

SEVERITY = {
    Label.CONTRADICTED: 4,
    Label.UNSUPPORTED: 3,
    Label.UNCHECKED: 2,
    Label.SUPPORTED: 1,
    Label.NOT_A_CLAIM: 0,
}
MODES = ("annotate", "redact", "block")
FOREIGN_SHARE = 0.3  # above this share of letters in scripts the judge cannot read, a claim is not judged
_DEFINED_TERM = re.compile(r"\(\s*(?:the\s+)?[\"“]([A-Z][A-Za-z0-9 .&-]{1,40})[\"”]\s*\)")


class VerificationError(VeracityError):
    """Bad request to the engine (unknown mode, neither corpus nor contexts)."""


@dataclass
class FactResult:
    text: str
    verdict: Label
    confidence: float
    reason: str
    citations: list[Citation] = field(default_factory=list)


@dataclass
class Fact:
    """One fact of a sentence with everything the verdict rules look at."""

    text: str
    hits: list[SearchHit] = field(default_factory=list)  # retrieved chunks the windows come from
    windows: list[Window] = field(default_factory=list)
    no_evidence: bool = False
    has_quantity: bool = False
    checks: list[list[SlotCheck]] = field(default_factory=list)  # per window
    scores: dict[int, JudgeScores] = field(default_factory=dict)  # per scored window
    error: str | None = None  # why it could not be checked


@dataclass
class Assessment:
    """An answer's claims and their facts, gathered and scored but not yet decided."""

    claims: list[Claim]
    facts: list[list[Fact]]  # per claim; empty for a claim that states no checkable fact
    thresholds: Thresholds
    versions: dict[str, str]
    timings_ms: dict[str, float]


class Engine:
    """Holds loaded models and opened indexes; `verify` is safe to call from several threads."""

    def __init__(
        self,
        settings: Settings,
        scorer: Judge | None = None,
        embedder: Embedder | None = None,
        support: SupportModel | Literal["default"] | None = "default",
        evidence_per_claim: int = 3,
        chunks_per_claim: int = 6,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or get_embedder()
        if scorer is None:
            from pipeline.verification.judges import make_judge

            scorer = make_judge()
        self.scorer = scorer
        self.support = load_support_model() if support == "default" else support
        self.evidence_per_claim = evidence_per_claim
        self.chunks_per_claim = chunks_per_claim
        self._retrievers: dict[str, tuple[str, Retriever, Thresholds]] = {}
        self._lock = threading.Lock()

    # --- corpora ------------------------------------------------------------------------------
    def retriever(self, corpus: str) -> tuple[Retriever, Thresholds]:
        """The retriever of the live index version; reopened when a new version is swapped in."""
        from pipeline.store.corpora import corpus_config, open_index
        from pipeline.store.index_files import corpus_dir, current_version

        vdir = current_version(corpus_dir(self.settings.indexes_dir, corpus))
        key = vdir.name if vdir else ""
        with self._lock:
            cached = self._retrievers.get(corpus)
        if cached and cached[0] == key:
            return cached[1], cached[2]
        index = open_index(corpus, self.settings)
        thresholds = corpus_config(corpus, self.settings).thresholds
        retriever = Retriever(index, self.embedder)
        with self._lock:
            self._retrievers[corpus] = (index.manifest.version, retriever, thresholds)
        return retriever, thresholds

    # --- verification -------------------------------------------------------------------------
    def verify(
        self,
        answer: str,
        *,
        corpus: str | None = None,
        contexts: Sequence[str] | None = None,
        question: str | None = None,
        doc_ids: Sequence[str] | None = None,
        domains: Sequence[str] | None = None,
        mode: str = "annotate",
        timeout_s: float | None = None,
    ) -> VerificationResult:
        """Label every sentence of `answer` against a corpus or against given context passages."""
        if mode not in MODES:
            raise VerificationError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        t0 = time.perf_counter()
        a = self.assess(
            answer,
            corpus=corpus,
            contexts=contexts,
            question=question,
            doc_ids=doc_ids,
            domains=domains,
            timeout_s=timeout_s,
        )
        verdicts: list[Verdict] = []
        for claim, facts in zip(a.claims, a.facts, strict=True):
            if not facts:
                verdicts.append(
                    Verdict(
                        claim.text, claim.start, claim.end, Label.NOT_A_CLAIM, 1.0, "states no checkable fact"
                    )
                )
                continue
            parts = [decide(f, a.thresholds, self.support) for f in facts]
            verdicts.append(_combine(claim.text, claim.start, claim.end, parts))
        output = render(answer, verdicts, mode)
        a.timings_ms["total"] = (time.perf_counter() - t0) * 1000
        return VerificationResult(
            answer=answer,
            sentences=verdicts,
            output=output,
            mode=mode,
            timings_ms=a.timings_ms,
            versions=a.versions,
        )

    def assess(
        self,
        answer: str,
        *,
        corpus: str | None = None,
        contexts: Sequence[str] | None = None,
        question: str | None = None,
        doc_ids: Sequence[str] | None = None,
        domains: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> Assessment:
        """Split `answer` into facts and gather, check and score their evidence (no verdicts yet)."""
        if (corpus is None) == (contexts is None):
            raise VerificationError("give exactly one of corpus or contexts")
        t0 = time.perf_counter()
        deadline = t0 + timeout_s if timeout_s else None
        timings: dict[str, float] = {}

        if contexts is not None:
            retriever = Retriever(ContextIndex(list(contexts), self.embedder), self.embedder)
            thresholds = Thresholds()
            index_version = "contexts"
        else:
            retriever, thresholds = self.retriever(corpus)
            index_version = f"{corpus}/{retriever.index.manifest.version}"
        versions = {
            "embedder": self.embedder.id,
            "verifier": _scorer_version(self.scorer),
            "decision": f"logistic@{self.support.version}" if self.support else "rule-only",
            "index": index_version,
        }

        claims = extract_claims(answer)
        t1 = time.perf_counter()
        timings["split"] = (t1 - t0) * 1000

        scope = Scope(
            doc_ids=tuple(doc_ids) if doc_ids else None, domains=tuple(domains) if domains else None
        )
        if scope.doc_ids is None and contexts is None and question:
            named = named_documents(question, retriever.index.titles)
            if named:
                scope = Scope(doc_ids=tuple(named), domains=scope.domains)

        facts_by_claim: list[list[Fact]] = []
        flat: list[Fact] = []
        for claim in claims:
            facts = (
                [Fact(p, has_quantity=bool(extract_quantities(p))) for p in (claim.parts or [claim.text])]
                if claim.checkable
                else []
            )
            facts_by_claim.append(facts)
            flat.extend(facts)

        if flat:
            try:
                hits_per_fact = retriever.search_many(
                    [f.text for f in flat], k=self.chunks_per_claim, scope=scope
                )
            except Exception as exc:  # noqa: BLE001 - reported per sentence as unchecked, never as supported
                for fact in flat:
                    fact.error = f"retrieval failed: {exc}"
                hits_per_fact = [[] for _ in flat]
            for fact, hits in zip(flat, hits_per_fact, strict=True):
                if not hits:
                    fact.no_evidence = True
                    continue
                usable = [h for h in hits if h.dense >= thresholds.min_retrieval or h.lexical > 0]
                fact.hits = usable
                fact.windows = select_windows(
                    fact.text, usable, retriever.index.page_at, top=self.evidence_per_claim
                )
        t2 = time.perf_counter()
        timings["retrieve"] = (t2 - t1) * 1000

        for fact in flat:
            entities = _defined_terms(w.citation.quote for w in fact.windows)
            fact.checks = [run_checks(fact.text, w.citation.quote, entities) for w in fact.windows]
        t3 = time.perf_counter()
        timings["check"] = (t3 - t2) * 1000

        self._score(flat, thresholds, deadline)
        timings["score"] = (time.perf_counter() - t3) * 1000
        return Assessment(claims, facts_by_claim, thresholds, versions, timings)

    def _score(self, flat: list[Fact], th: Thresholds, deadline: float | None) -> None:
        """Entailment scores per window into each fact; a fact that could not be scored gets why.

        Two batches: first every fact's most relevant window, then the other windows only of the
        facts that window did not support. Once one window supports a fact, more windows cannot
        change its label, and most true sentences are settled by their best window, so this scores
        about half the pairs of a single batch over all windows.
        """

        def run(batch: list[tuple[Fact, int]]) -> None:
            if not batch:
                return
            if deadline and time.perf_counter() > deadline:
                for fact, _ in batch:
                    fact.error = "timed out before the verifier model ran on all its evidence"
                return
            pairs = [(fact.windows[wi].citation.quote, fact.text) for fact, wi in batch]
            try:
                for (fact, wi), s in zip(batch, self.scorer.score(pairs), strict=True):
                    fact.scores[wi] = s
            except Exception as exc:  # noqa: BLE001 - never fail open on a model error
                for fact, _ in batch:
                    fact.error = f"verifier model error: {type(exc).__name__}: {exc}"

        first = [fact for fact in flat if fact.windows and not fact.error]
        run([(fact, 0) for fact in first])
        run(
            [
                (fact, wi)
                for fact in first
                if not fact.error and not _supports(fact, fact.checks[0], fact.scores[0], th)
                for wi in range(1, len(fact.windows))
            ]
        )


def decide(fact: Fact, th: Thresholds, support: SupportModel | None = None) -> FactResult:
    """One fact's verdict. A failed slot check outweighs a high entailment score on the same
    evidence; 'supported' needs evidence that the model entails and that passes every check, and
    for a claim with numbers, evidence where a number check positively matched. Where that rule finds
    no support and no slot check failed, `support` (the learned decision) may still find the fact
    stated: a faithful paraphrase the entailment model rejected."""
    if fact.no_evidence:
        return FactResult(fact.text, Label.UNCHECKED, 0.0, fact.error or "no evidence could be retrieved")
    if not fact.windows:
        return FactResult(fact.text, Label.UNSUPPORTED, 0.7, "no passage of the documents addresses this")
    if fact.error:
        return FactResult(fact.text, Label.UNCHECKED, 0.0, fact.error, [w.citation for w in fact.windows[:1]])
    best_support, best_contra, vetoed = _rule(fact, th)
    if unreadable_share(fact.text) > FOREIGN_SHARE and not vetoed:
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
        features = fact_features(fact)
        p = support.p_supported(features) if may_rescue(features) else 0.0
        if p >= support.threshold:
            w = fact.windows[closest_window(fact)]
            return FactResult(
                fact.text,
                Label.SUPPORTED,
                p,
                f"stated in other words in {_where(w.citation)} (learned decision p={p:.2f})",
                [w.citation],
            )
        if best_contra is None and p >= support.threshold - th.review_band:
            w = fact.windows[closest_window(fact)]
            return FactResult(
                fact.text,
                Label.UNCHECKED,
                0.0,
                f"needs review: {_where(w.citation)} comes close to stating it but the judge is not sure "
                f"(p={p:.2f})",
                [w.citation],
            )
    if best_contra:
        conf, w, why = best_contra
        return FactResult(fact.text, Label.CONTRADICTED, conf, f"{why} ({_where(w.citation)})", [w.citation])
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


def _rule(
    fact: Fact, th: Thresholds
) -> tuple[tuple[float, Window] | None, tuple[float, Window, str] | None, bool]:
    """The hand-set rule over a fact's scored windows: its best support, its strongest contradiction
    and whether a slot check failed on relevant evidence (a veto no learned score may overrule)."""
    best_support: tuple[float, Window] | None = None
    best_contra: tuple[float, Window, str] | None = None
    vetoed = False
    # a slot check only speaks for passages about the same thing as the claim: among the most
    # relevant ones, not a pharmacokinetics table that happens to mention another dose
    on_topic = max(0.45, 0.85 * max(w.relevance for w in fact.windows))
    for wi, w in enumerate(fact.windows):
        s = fact.scores.get(wi)
        failed = [c for c in fact.checks[wi] if not c.ok]
        if s is None:
            continue
        if failed:
            if w.relevance >= on_topic or (s.contradict >= 0.3 and w.relevance >= 0.35):
                vetoed = True
                conf = max(0.8, s.contradict)
                if not best_contra or conf > best_contra[0]:
                    best_contra = (conf, w, "; ".join(c.message for c in failed))
            continue
        if _supports(fact, fact.checks[wi], s, th):
            if not best_support or s.entail > best_support[0]:
                best_support = (s.entail, w)
        elif s.contradict >= th.contradict and w.relevance >= 0.35:
            if not best_contra or s.contradict > best_contra[0]:
                best_contra = (
                    s.contradict,
                    w,
                    f"the verifier model judges the passage to contradict it (p={s.contradict:.2f})",
                )
    return best_support, best_contra, vetoed


def second_opinion_applies(fact: Fact, th: Thresholds) -> bool:
    """Whether `decide` would ask the learned decision about this fact: it has scored evidence, the
    rule found no support, no slot check vetoed it and the judge can read it."""
    if fact.no_evidence or not fact.windows or fact.error:
        return False
    if unreadable_share(fact.text) > FOREIGN_SHARE:
        return False
    best_support, _, vetoed = _rule(fact, th)
    return best_support is None and not vetoed


def _supports(fact: Fact, window_checks: list[SlotCheck], s: JudgeScores, th: Thresholds) -> bool:
    """Whether one window supports the fact: entailed, every slot check passed and, for a claim
    with numbers, a number check positively matched."""
    if any(not c.ok for c in window_checks):
        return False
    confirmed = not fact.has_quantity or any(c.ok and c.kind == "number" for c in window_checks)
    return s.entail >= th.entail and s.entail > s.contradict and confirmed


def _combine(text: str, start: int, end: int, parts: list[FactResult]) -> Verdict:
    """A sentence's verdict is the worst of its facts; the reason names the failing fact."""
    worst = max(parts, key=lambda p: SEVERITY[p.verdict])
    citations: list[Citation] = []
    for p in sorted(parts, key=lambda p: -SEVERITY[p.verdict]):
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
    return Verdict(text, start, end, worst.verdict, float(conf), reason, citations)


def _where(c: Citation) -> str:
    name = c.title or c.doc_id
    place = f"p. {c.page}" if c.page else (c.section or "")
    return name + (f", {place}" if place and place != name else "")


def _defined_terms(quotes) -> list[str]:
    found: list[str] = []
    for q in quotes:
        for m in _DEFINED_TERM.finditer(q):
            if m.group(1) not in found:
                found.append(m.group(1))
    return found


def _scorer_version(scorer: Judge) -> str:
    version = getattr(scorer, "version", None)
    return f"{scorer.name}@{version}" if version else scorer.name


_NAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]{3,}")
_GENERIC = frozenset(
    "agreement contract exhibit tablets injection label information prescribing highlights "
    "these include safely effectively full oral subcutaneous use capsules solution master "
    "services software license drug record part".split()
)


def named_documents(question: str, titles: dict[str, str], limit: int = 3) -> list[str]:
    """Documents the question names by title or file name (e.g. "HUMIRA", "Northwind"), when only a
    few match; a question about a document should not be answered from another one's clause."""
    q = re.sub(r"[^a-z0-9]", "", question.lower())
    if not q:
        return []
    matched = []
    for doc_id, title in titles.items():
        stem = doc_id.rsplit("/", 1)[-1].split("#")[0]
        words = _NAME_TOKEN.findall(title) + _NAME_TOKEN.findall(stem.split("_")[0] + " " + stem)
        keys = {w.lower() for w in words if w.lower() not in _GENERIC and len(w) >= 5}
        if any(k in q for k in keys):
            matched.append(doc_id)
    return matched if 0 < len(matched) <= limit else []
