"""The verification engine end to end on the sample corpus (`sample_home`): real index, real models."""

from __future__ import annotations

import pytest

from pipeline.schema import CheckKind, Label
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.verification.decision import FEATURES, SupportModel
from pipeline.verification.engine import Engine, VerificationError
from pipeline.verification.judges.base import JudgeScores
from pipeline.verification.judges.lexical import LexicalJudge

ANSWER = (
    "Here is a summary of the Northwind agreement. "
    "Customer shall pay each undisputed invoice within thirty (30) days of receipt. "
    "Customer may terminate the Agreement for convenience upon sixty (60) days' prior written notice. "
    "The agreement contains a two-year non-compete covenant binding the Customer."
)


@pytest.fixture(scope="module")
def engine(sample_home) -> Engine:
    return Engine(sample_home)


def by_text(result, fragment: str):
    return next(v for v in result.sentences if fragment in v.text)


def test_sentence_verdicts_with_citations(engine):
    result = engine.verify(ANSWER, corpus="sample", question="What does the Northwind agreement say?")
    assert [v.text for v in result.sentences][0] == "Here is a summary of the Northwind agreement."
    assert all(ANSWER[v.start : v.end] == v.text for v in result.sentences)
    assert by_text(result, "Here is a summary").verdict == Label.NOT_A_CLAIM

    paid = by_text(result, "undisputed invoice")
    assert paid.verdict == Label.SUPPORTED, paid.reason
    cite = paid.citations[0]
    assert cite.doc_id == "northwind-msa.md"
    doc_text = (PROJECT_ROOT / "corpora/sample/contracts/northwind-msa.md").read_text()
    assert doc_text[cite.start : cite.end] == cite.quote
    assert "thirty (30) days" in cite.quote

    notice = by_text(result, "sixty (60) days")
    assert notice.verdict == Label.CONTRADICTED
    assert "60" in notice.reason and "90" in notice.reason
    assert "ninety (90) days" in notice.citations[0].quote

    assert by_text(result, "non-compete").verdict in (Label.UNSUPPORTED, Label.CONTRADICTED)
    assert result.summary["flagged"] is True
    assert (
        0.0
        <= min(v.confidence for v in result.sentences)
        <= max(v.confidence for v in result.sentences)
        <= 1.0
    )


def test_drug_label_dose_mismatch_is_contradicted(engine):
    answer = "The recommended starting dose of ZENTRAVIL is 50 mg orally once daily."
    v = engine.verify(answer, corpus="sample").sentences[0]
    assert v.verdict == Label.CONTRADICTED
    assert "50 mg" in v.reason and "25 mg" in v.reason
    assert v.citations[0].doc_id == "zentravil.xml"
    assert v.citations[0].section.endswith("Recommended Dosage")


def test_unit_mismatch_is_contradicted(engine):
    v = engine.verify("The starting dose of ZENTRAVIL is 25 g once daily.", corpus="sample").sentences[0]
    assert v.verdict == Label.CONTRADICTED, v.reason


def test_scope_restricts_evidence_to_named_documents(engine):
    answer = "Licensee may terminate this Agreement at the end of any contract year by giving sixty (60) days' written notice."
    scoped = engine.verify(answer, corpus="sample", doc_ids=["northwind-msa.md"]).sentences[0]
    assert all(c.doc_id == "northwind-msa.md" for c in scoped.citations)
    assert scoped.verdict != Label.SUPPORTED
    free = engine.verify(answer, corpus="sample").sentences[0]
    assert free.citations[0].doc_id == "helios-license.txt"


def test_redact_and_block_modes(engine):
    redacted = engine.verify(ANSWER, corpus="sample", mode="redact")
    assert "sixty (60)" not in redacted.output
    assert "undisputed invoice within thirty (30) days" in redacted.output
    assert "removed" in redacted.output
    blocked = engine.verify(ANSWER, corpus="sample", mode="block")
    assert blocked.summary["blocked"] is True
    assert "withheld" in blocked.output and "undisputed" not in blocked.output
    annotated = engine.verify(ANSWER, corpus="sample", mode="annotate")
    assert "✗]" in annotated.output and "ninety (90) days" in annotated.output


class BrokenScorer:
    name = "broken"

    def score(self, pairs):
        raise RuntimeError("model crashed")


def test_model_error_is_unchecked_never_supported(sample_home):
    engine = Engine(sample_home, scorer=BrokenScorer())
    result = engine.verify(
        "Customer shall pay each undisputed invoice within thirty (30) days of receipt.", corpus="sample"
    )
    v = result.sentences[0]
    assert v.verdict == Label.UNCHECKED
    assert "model crashed" in v.reason


class EntailsPaymentThenCrashes:
    """Entails only the payment clause; crashes on any second batch."""

    name = "entails-payment-then-crashes"

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str]]] = []

    def score(self, pairs):
        self.batches.append(list(pairs))
        if len(self.batches) > 1:
            raise RuntimeError("model crashed on the second batch")
        return [
            JudgeScores(0.99, 0.005, 0.005) if "undisputed invoice" in p else JudgeScores(0.1, 0.8, 0.1)
            for p, _ in pairs
        ]


def test_best_window_first_then_the_rest_only_where_needed(sample_home):
    scorer = EntailsPaymentThenCrashes()
    pay = "Customer shall pay each undisputed invoice within thirty (30) days of receipt."
    other = "The agreement contains a two-year non-compete covenant binding the Customer."
    result = Engine(sample_home, scorer=scorer).verify(f"{pay} {other}", corpus="sample")
    first, second = scorer.batches
    assert [h for _, h in first] == [pay, other]  # one window per fact
    assert second and all(h == other for _, h in second)  # the settled fact is not scored again
    assert [v.verdict for v in result.sentences] == [Label.SUPPORTED, Label.UNCHECKED]
    assert "crashed on the second batch" in result.sentences[1].reason


class AlwaysEntails:
    name = "always-entails"

    def score(self, pairs):
        return [JudgeScores(0.99, 0.005, 0.005) for _ in pairs]


def test_failed_slot_check_outweighs_entailment(sample_home):
    engine = Engine(sample_home, scorer=AlwaysEntails())
    v = engine.verify(
        "Customer shall pay each undisputed invoice within 45 days of receipt.", corpus="sample"
    ).sentences[0]
    assert v.verdict == Label.CONTRADICTED


def test_no_evidence_is_unchecked(sample_home):
    engine = Engine(sample_home, scorer=AlwaysEntails())
    v = engine.verify("The fee is USD 12,500 per month.", contexts=[""]).sentences[0]
    assert v.verdict == Label.UNCHECKED


def test_contexts_rag_case_and_chinese(sample_home):
    engine = Engine(sample_home, scorer=LexicalJudge())
    passage = "阿达木单抗的推荐剂量为每隔一周40毫克。本品不适用于儿童。"
    answer = "阿达木单抗的推荐剂量为每隔一周80毫克。希望这对您有帮助！"
    result = engine.verify(answer, contexts=[passage])
    assert [v.text for v in result.sentences] == [
        "阿达木单抗的推荐剂量为每隔一周80毫克。",
        "希望这对您有帮助！",
    ]
    assert result.sentences[0].verdict == Label.CONTRADICTED
    assert result.sentences[0].citations[0].doc_id == "context-1"
    assert result.sentences[1].verdict == Label.NOT_A_CLAIM


def test_contexts_whose_last_passage_ends_without_a_stop(engine):
    """A window at the end of the last passage, cut as a chunk edge would cut it, has no chunk after
    it to complete it from: it is judged as it stands (this once failed every such sentence)."""
    passages = ["Store HUMIRA in a refrigerator at 36°F to 46°F", "Do not freeze HUMIRA"]
    result = engine.verify("HUMIRA is stored in a refrigerator at 36°F to 46°F.", contexts=passages)
    (verdict,) = result.sentences
    assert verdict.verdict == Label.SUPPORTED, verdict.reason
    assert verdict.citations[0].quote == passages[0]


def test_bad_requests(engine):
    with pytest.raises(VerificationError):
        engine.verify("x", corpus="sample", mode="shout")
    with pytest.raises(VerificationError):
        engine.verify("x")
    assert engine.verify("", corpus="sample").sentences == []


def test_claim_the_judge_cannot_read_is_unchecked_not_guessed(sample_home):
    # the judge would say "entailed"; it cannot read Chinese, so the verdict must not rest on it
    engine = Engine(sample_home, scorer=AlwaysEntails())
    v = engine.verify("逾期付款按每月1.5%计息。", corpus="sample").sentences[0]
    assert v.verdict == Label.UNCHECKED
    assert "language not supported" in v.reason
    assert v.citations and v.citations[0].doc_id == "northwind-msa.md"


class NeverEntails:
    name = "never-entails"

    def score(self, pairs):
        return [JudgeScores(0.05, 0.9, 0.05) for _ in pairs]


def always_supported() -> SupportModel:
    n = len(FEATURES)
    return SupportModel((0.0,) * n, 10.0, (0.0,) * n, (1.0,) * n, 0.5, "test")


def test_second_opinion_rescues_a_paraphrase_but_never_overrules_a_slot_check(sample_home):
    rule_only = Engine(sample_home, scorer=NeverEntails(), support=None)
    rescued = Engine(sample_home, scorer=NeverEntails(), support=always_supported())
    paraphrase = "Late payments bear interest at 1.5% a month."
    assert rule_only.verify(paraphrase, corpus="sample").sentences[0].verdict == Label.UNSUPPORTED
    v = rescued.verify(paraphrase, corpus="sample").sentences[0]
    assert v.verdict == Label.SUPPORTED, v.reason
    assert "in other words" in v.reason and "1.5% per month" in v.citations[0].quote

    # a wrong number: the slot check's veto stands whatever the learned decision would say
    wrong = rescued.verify("Late payments bear interest at 2.5% per month.", corpus="sample").sentences[0]
    assert wrong.verdict == Label.CONTRADICTED, wrong.reason


def test_second_opinion_needs_every_number_of_the_claim_matched(sample_home):
    rescued = Engine(sample_home, scorer=NeverEntails(), support=always_supported())
    # "12 months" appears nowhere: no number check matches it, so no rescue
    v = rescued.verify(
        "Late payments bear interest at 1.5% per month for up to 12 months.", corpus="sample"
    ).sentences[0]
    assert v.verdict != Label.SUPPORTED, v.reason


def test_citation_names_the_section_and_page_where_the_quote_stands(engine):
    """The demo's termination sentence: the chunk holding clause 3.2 starts in Article II, the
    quote stands in Article III, and the citation says so."""
    answer = "Customer may terminate for convenience with sixty (60) days' notice."
    result = engine.verify(answer, corpus="sample")
    cite = result.sentences[0].citations[0]
    assert "ninety (90) days" in cite.quote
    assert cite.section == "ARTICLE III. TERM AND TERMINATION", cite.section
    assert cite.page is None  # Markdown has no pages


def test_passages_given_twice_are_embedded_once(tmp_path, embedder):
    """The gateway checks every sentence of a stream against the same prompt passages."""
    encoded: list[str] = []

    class Recording:
        dim, id = embedder.dim, embedder.id

        def encode(self, texts, batch_size=64, progress=False):
            encoded.extend(texts)
            return embedder.encode(texts, batch_size, progress)

    engine = Engine(Settings(home=tmp_path), scorer=LexicalJudge(), embedder=Recording(), support=None)
    passage = "Customer shall pay each undisputed invoice within thirty (30) days of receipt."
    first = engine.verify("Customer pays invoices within 30 days.", contexts=[passage])
    second = engine.verify("Invoices are due in thirty days.", contexts=[passage])
    assert encoded.count(passage) == 1
    assert first.sentences[0].citations[0].quote == second.sentences[0].citations[0].quote == passage
    engine.verify("Customer pays invoices within 30 days.", contexts=[passage + " Late fees apply."])
    assert encoded.count(passage + " Late fees apply.") == 1  # other passages: a new index


def test_a_claim_naming_the_parties_is_read_against_the_roles(engine):
    """The Helios licence names its parties once ("Helios Software GmbH ("Licensor")") and then
    writes only the roles; an answer names the companies."""
    result = engine.verify(
        "Marlow Logistics may not sublicense the software. Helios may not sublicense the software.",
        corpus="sample",
    )
    right, swapped = result.sentences
    assert right.verdict == Label.SUPPORTED, right.reason
    assert "Licensee may not sublicense" in right.citations[0].quote  # the document's own words
    assert swapped.verdict == Label.CONTRADICTED, swapped.reason
    assert CheckKind.PARTY in swapped.failed_checks
