"""The verification engine: answer -> claims -> evidence -> checks + entailment -> verdicts."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict, Unpack

from pipeline.models.embedders import Embedder, get_embedder
from pipeline.retrieval.base import SearchIndex
from pipeline.retrieval.hybrid import Retriever, Scope
from pipeline.retrieval.passages import ContextIndex
from pipeline.retrieval.windows import Sentences, select_windows
from pipeline.schema import (
    Label,
    Mode,
    VeracityError,
    Verdict,
    VerificationResult,
)
from pipeline.settings import Settings, Thresholds
from pipeline.store.corpora import corpus_config, open_index
from pipeline.store.index_files import CorpusIndex, corpus_dir, current_version
from pipeline.verification.checks import extract_quantities, run_checks
from pipeline.verification.claims import extract_claims
from pipeline.verification.decision import (
    SupportModel,
    load_support_model,
)
from pipeline.verification.facts import Assessment, Fact, FactResult
from pipeline.verification.judges import Judge, make_judge
from pipeline.verification.judges.llm import LLMJudge, Question
from pipeline.verification.parties import PREAMBLE_CHARS, defined_parties, name_roles, party_names
from pipeline.verification.render import render
from pipeline.verification.rules import combine, decide, from_llm, llm_evidence, supports, uncertain

_DEFINED_TERM = re.compile(r"\(\s*(?:the\s+)?[\"“]([A-Z][A-Za-z0-9 .&-]{1,40})[\"”]\s*\)")


class VerificationError(VeracityError):
    """Bad request to the engine (unknown mode, neither corpus nor contexts)."""


PASSAGE_INDEXES = 16


class AssessOptions(TypedDict, total=False):
    """Keyword arguments of Engine.assess, which Engine.verify passes on."""

    corpus: str | None
    contexts: Sequence[str] | None
    question: str | None
    doc_ids: Sequence[str] | None
    domains: Sequence[str] | None
    judge: str | None
    timeout_s: float | None


@dataclass(frozen=True)
class _OpenCorpus:
    version: str
    index: CorpusIndex
    retriever: Retriever
    thresholds: Thresholds
    judge: str | None
    cascade: bool | None
    parties: dict[str, dict[str, str]] = field(default_factory=dict)  # doc_id -> role -> party name

    def parties_of(self, doc_id: str) -> dict[str, str]:
        """The parties `doc_id` defines in its opening, read once per index version."""
        found = self.parties.get(doc_id)
        if found is None:
            found = self.parties[doc_id] = defined_parties(self.index.opening(doc_id, PREAMBLE_CHARS))
        return found


class Engine:
    """Holds loaded models and opened indexes; `verify` is safe to call from several threads."""

    def __init__(
        self,
        settings: Settings,
        scorer: Judge | None = None,
        embedder: Embedder | None = None,
        support: SupportModel | Literal["default"] | None = "default",
        evidence_per_claim: int | None = None,
        chunks_per_claim: int | None = None,
    ) -> None:
        """`scorer` and `embedder`, when given, serve every corpus and request; otherwise each corpus
        uses the judge and embedder its definition names (Settings.judge / .embedder by default)."""
        self.settings = settings
        self._fixed_embedder = embedder
        self._fixed_judge = scorer
        self._judges: dict[str, Judge] = {}
        self._llm: LLMJudge | None = None
        self._lock = threading.Lock()
        self.embedder = embedder or get_embedder(settings.embedder)
        self.scorer = scorer or self.judge(settings.judge)
        self.support = load_support_model() if support == "default" else support
        self.evidence_per_claim = evidence_per_claim or settings.evidence_per_claim
        self.chunks_per_claim = chunks_per_claim or settings.chunks_per_claim
        self._corpora: dict[str, _OpenCorpus] = {}
        self._passages: OrderedDict[tuple[str, ...], ContextIndex] = OrderedDict()

    def judge(self, name: str | None) -> Judge:
        """The judge registered as `name` (None: Settings.judge), loaded once per engine."""
        if self._fixed_judge is not None:
            return self._fixed_judge
        name = name or self.settings.judge
        with self._lock:
            if name not in self._judges:
                self._judges[name] = make_judge(name)
            return self._judges[name]

    def llm(self) -> LLMJudge:
        """The cascade's LLM judge (Settings.cascade), created on first use."""
        c = self.settings.cascade
        with self._lock:
            if self._llm is None:
                self._llm = LLMJudge(c.base_url, c.model, c.api_key_env, c.timeout_s)
            return self._llm

    # --- corpora ------------------------------------------------------------------------------
    def _open(self, corpus: str) -> _OpenCorpus:
        """The live index version of `corpus` with its definition; reopened when a new version is swapped in."""
        vdir = current_version(corpus_dir(self.settings.indexes_dir, corpus))
        key = vdir.name if vdir else ""
        with self._lock:
            cached = self._corpora.get(corpus)
        if cached and cached.version == key:
            return cached
        config = corpus_config(corpus, self.settings)
        index = open_index(corpus, self.settings, config)
        opened = _OpenCorpus(
            index.manifest.version,
            index,
            self._retriever(index, self._fixed_embedder or get_embedder(config.embedder)),
            config.thresholds,
            config.judge,
            config.cascade,
        )
        with self._lock:
            self._corpora[corpus] = opened
        return opened

    def _retriever(self, index: SearchIndex, embedder: Embedder) -> Retriever:
        return Retriever(index, embedder, self.settings.rrf_k, self.settings.retrieval_depth)

    def _passage_index(self, contexts: Sequence[str]) -> ContextIndex:
        """The passages' index, kept for the last PASSAGE_INDEXES sets: the gateway checks each
        sentence of a streamed answer against the same prompt passages, which need embedding once."""
        key = tuple(contexts)
        with self._lock:
            if key in self._passages:
                self._passages.move_to_end(key)
                return self._passages[key]
        index = ContextIndex(list(contexts), self.embedder)
        with self._lock:
            self._passages[key] = index
            while len(self._passages) > PASSAGE_INDEXES:
                self._passages.popitem(last=False)
        return index

    def index(self, corpus: str) -> CorpusIndex:
        """The corpus's live index (documents, chunks), shared with verification."""
        return self._open(corpus).index

    def retriever(self, corpus: str) -> tuple[Retriever, Thresholds]:
        """The retriever of the corpus's live index and the corpus's thresholds."""
        opened = self._open(corpus)
        return opened.retriever, opened.thresholds

    # --- verification -------------------------------------------------------------------------
    def verify(
        self,
        answer: str,
        *,
        mode: Mode | str = Mode.ANNOTATE,
        cascade: bool | None = None,
        **options: Unpack[AssessOptions],
    ) -> VerificationResult:
        """Label every sentence of `answer` against a corpus or against given context passages
        (`options` as for `assess`), rendered for `mode`. `cascade` asks the LLM judge about the facts
        the local judge is unsure of; by default the corpus's [cascade] setting, else
        Settings.cascade.enabled."""
        try:
            mode = Mode(mode)
        except ValueError:
            raise VerificationError(f"unknown mode {mode!r}; use one of {', '.join(Mode)}") from None
        t0 = time.perf_counter()
        a = self.assess(answer, **options)
        flat = [f for facts in a.facts for f in facts]
        parts = [decide(f, a.thresholds, self.support) for f in flat]
        if self._cascade_on(options.get("corpus"), cascade):
            llm, t1 = self.llm(), time.perf_counter()
            timeout_s = options.get("timeout_s")
            budget = timeout_s - (t1 - t0) if timeout_s else None
            self._second_judge(llm, flat, parts, a.thresholds, budget)
            a.timings_ms["cascade"] = (time.perf_counter() - t1) * 1000
            a.versions["cascade"] = llm.name
        verdicts: list[Verdict] = []
        decided = iter(parts)
        for claim, facts in zip(a.claims, a.facts, strict=True):
            if not facts:
                verdicts.append(
                    Verdict(
                        claim.text, claim.start, claim.end, Label.NOT_A_CLAIM, 1.0, "states no checkable fact"
                    )
                )
                continue
            verdicts.append(combine(claim.text, claim.start, claim.end, [next(decided) for _ in facts]))
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

    def _cascade_on(self, corpus: str | None, requested: bool | None) -> bool:
        """The request's choice, else the corpus's, else the settings'."""
        if requested is not None:
            return requested
        configured = self._open(corpus).cascade if corpus is not None else None
        return self.settings.cascade.enabled if configured is None else configured

    @staticmethod
    def _second_judge(
        llm: LLMJudge, facts: list[Fact], parts: list[FactResult], th: Thresholds, budget: float | None
    ) -> None:
        """Replace in `parts` the local verdicts of the facts the local judge is unsure of by the LLM
        judge's, all asked in one call; facts it settled, or a slot check vetoed, are not asked."""
        asked = [i for i, (f, local) in enumerate(zip(facts, parts, strict=True)) if uncertain(f, th, local)]
        if not asked:
            return
        evidence = {i: llm_evidence(facts[i]) for i in asked}
        quotes = {i: [facts[i].windows[wi].citation.quote for wi in evidence[i]] for i in asked}
        questions = [Question(facts[i].text, quotes[i]) for i in asked]
        for i, judgement in zip(asked, llm.judge(questions, budget), strict=True):
            parts[i] = from_llm(facts[i], evidence[i], judgement, llm.name)

    def assess(
        self,
        answer: str,
        *,
        corpus: str | None = None,
        contexts: Sequence[str] | None = None,
        question: str | None = None,
        doc_ids: Sequence[str] | None = None,
        domains: Sequence[str] | None = None,
        judge: str | None = None,
        timeout_s: float | None = None,
        score_all: bool = False,
    ) -> Assessment:
        """Split `answer` into facts and gather, check and score their evidence (no verdicts yet).
        `judge` names a registered judge; by default the corpus's, else Settings.judge. `score_all`
        scores every window of every fact, so that the verdict rules can decide the facts under any
        thresholds (calibration), not only the corpus's."""
        if (corpus is None) == (contexts is None):
            raise VerificationError("give exactly one of corpus or contexts")
        t0 = time.perf_counter()
        deadline = t0 + timeout_s if timeout_s else None
        timings: dict[str, float] = {}

        opened_corpus: _OpenCorpus | None = None
        if contexts is not None:
            retriever = self._retriever(self._passage_index(contexts), self.embedder)
            thresholds = Thresholds()
            index_version = "contexts"
            scorer = self.judge(judge)
        else:
            opened = self._open(corpus)
            retriever, thresholds = opened.retriever, opened.thresholds
            index_version = f"{corpus}/{opened.version}"
            opened_corpus = opened
            scorer = self.judge(judge or opened.judge)
        versions = {
            "embedder": retriever.embedder.id,
            "verifier": scorer.name,
            "decision": f"{self.support.kind}@{self.support.version}" if self.support else "rule-only",
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
            # chunk id -> its sentences, shared by the facts of this answer
            sentences: dict[int, Sentences] = {}
            for fact, hits in zip(flat, hits_per_fact, strict=True):
                if not hits:
                    fact.no_evidence = True
                    continue
                usable = [h for h in hits if h.dense >= thresholds.min_retrieval or h.lexical > 0]
                fact.hits = usable
                fact.windows = select_windows(
                    fact.text,
                    usable,
                    retriever.index.place_of,
                    self.evidence_per_claim,
                    sentences,
                    retriever.index.chunks,
                )
                docs = {w.citation.doc_id for w in fact.windows} if opened_corpus else set()
                by_doc = {d: party_names(fact.text, opened_corpus.parties_of(d)) for d in docs}
                names = [by_doc.get(w.citation.doc_id, {}) for w in fact.windows]
                fact.premises = [
                    name_roles(w.citation.quote, n) for w, n in zip(fact.windows, names, strict=True)
                ]
                fact.party_names = sorted({name for n in names for name in n.values()})
        t2 = time.perf_counter()
        timings["retrieve"] = (t2 - t1) * 1000

        for fact in flat:
            entities = _defined_terms(w.citation.quote for w in fact.windows) + fact.party_names
            fact.checks = [
                run_checks(fact.text, fact.premise(wi), entities) for wi in range(len(fact.windows))
            ]
        t3 = time.perf_counter()
        timings["check"] = (t3 - t2) * 1000

        self._score(flat, scorer, thresholds, deadline, score_all)
        timings["score"] = (time.perf_counter() - t3) * 1000
        return Assessment(claims, facts_by_claim, thresholds, versions, timings)

    def _score(
        self, flat: list[Fact], scorer: Judge, th: Thresholds, deadline: float | None, score_all: bool = False
    ) -> None:
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
            pairs = [(fact.premise(wi), fact.text) for fact, wi in batch]
            try:
                for (fact, wi), s in zip(batch, scorer.score(pairs), strict=True):
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
                if not fact.error and (score_all or not supports(fact, fact.checks[0], fact.scores[0], th))
                for wi in range(1, len(fact.windows))
            ]
        )


def _defined_terms(quotes) -> list[str]:
    found: list[str] = []
    for q in quotes:
        for m in _DEFINED_TERM.finditer(q):
            if m.group(1) not in found:
                found.append(m.group(1))
    return found


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
