"""The LLM judge as a cascade: the real engine on the sample corpus (`sample_home`) asking a fake
OpenAI-compatible upstream on loopback about the facts the local judge is unsure of; switched per
request in the engine, the REST API, the gateway and the audit."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from api_support import KEY_A, KEY_RO, ThreadedServer, h, make_settings
from fastapi.testclient import TestClient

from api.app import create_app  # noqa: E402
from api.gateway.config import GatewayConfig  # noqa: E402
from api.gateway.fake_upstream import Behaviour, Record, fake_upstream  # noqa: E402
from pipeline.audit.cli import run_audit  # noqa: E402
from pipeline.cli import build_parser  # noqa: E402
from pipeline.schema import Label  # noqa: E402
from pipeline.settings import PROJECT_ROOT, CascadeSettings, Settings  # noqa: E402
from pipeline.store.corpora import CorpusError, config_from_dict  # noqa: E402
from pipeline.verification.engine import Engine  # noqa: E402

MODEL = "fake-judge"
KEY_ENV = "VERACITY_TEST_CASCADE_KEY"
KEY = "sk-cascade-secret-0123456789"

# The sample corpus's Northwind MSA: invoices within thirty (30) days (the local judge is sure: p~0.97),
# ninety (90) days' notice (a slot check contradicts sixty), late payments bear 1.5% interest a month
# (a paraphrase the local judge is unsure of: p~0.28), no non-compete (sure it is not stated: p<0.01).
CONFIDENT = "Customer shall pay each undisputed invoice within thirty (30) days of receipt."
VETOED = "Customer may terminate the Agreement for convenience upon sixty (60) days' prior written notice."
UNCERTAIN = "Invoices not paid on time carry a monthly charge of 1.5%."
NOT_STATED = "The agreement contains a two-year non-compete covenant binding the Customer."
ANSWER = " ".join([CONFIDENT, VETOED, UNCERTAIN, NOT_STATED])


def asked(record: Record, i: int = -1) -> list[dict]:
    """The facts (with their passages) of the upstream's i-th request."""
    return json.loads(record.bodies[i]["messages"][-1]["content"])["facts"]


PAYMENT_CLAUSE = "1.5% per month"


def answer_all(
    verdict: str, passage: int | str | None = PAYMENT_CLAUSE, reason: str = "the passage says so"
) -> Callable[[list[dict]], str]:
    """A reply giving every fact asked the same verdict, citing `passage`: its number, or the passage
    that quotes that text (the clause a faithful judge relies on)."""

    def cite(fact: dict) -> int | None:
        if isinstance(passage, str):
            return next((int(k) for k, text in fact["passages"].items() if passage in text), 1)
        return passage

    def reply(messages: list[dict]) -> str:
        facts = json.loads(messages[-1]["content"])["facts"]
        return json.dumps(
            {
                "facts": [
                    {"id": f["id"], "verdict": verdict, "passage": cite(f), "reason": reason} for f in facts
                ]
            }
        )

    return reply


@pytest.fixture(scope="module")
def upstream():
    app, behaviour, record = fake_upstream("judge", MODEL)
    with ThreadedServer(app) as server:
        yield server, behaviour, record


@pytest.fixture
def fake(upstream, monkeypatch) -> tuple[Behaviour, Record]:
    """The upstream, reset: it calls every fact supported by its first passage."""
    _, behaviour, record = upstream
    behaviour.__dict__.update(Behaviour(reply=answer_all("supported")).__dict__)
    record.__dict__.update(Record().__dict__)
    monkeypatch.setenv(KEY_ENV, KEY)
    return behaviour, record


def cascade_settings(upstream) -> CascadeSettings:
    return CascadeSettings(base_url=f"{upstream[0].url}/v1", model=MODEL, api_key_env=KEY_ENV, timeout_s=1.0)


@pytest.fixture(scope="module")
def engine(sample_home, upstream, tmp_path_factory) -> Engine:
    """The sample corpus's index with a definition that turns the cascade on."""
    corpora = tmp_path_factory.mktemp("cascade-corpora")
    (corpora / "sample").symlink_to(PROJECT_ROOT / "corpora" / "sample")
    toml = (PROJECT_ROOT / "corpora" / "sample.toml").read_text(encoding="utf-8")
    (corpora / "sample.toml").write_text(toml + "\n[cascade]\nenabled = true\n", encoding="utf-8")
    return Engine(Settings(home=sample_home.home, corpora_dir=corpora, cascade=cascade_settings(upstream)))


@pytest.fixture(scope="module")
def plain_engine(sample_home, upstream) -> Engine:
    """The project's sample definition (no [cascade]) and an LLM configured but not turned on."""
    return Engine(sample_home.model_copy(update={"cascade": cascade_settings(upstream)}))


def by_text(result, fragment: str):
    return next(v for v in result.sentences if fragment in v.text)


def test_only_the_uncertain_fact_goes_to_the_llm_and_takes_its_verdict(engine, fake):
    _, record = fake
    result = engine.verify(ANSWER, corpus="sample")
    assert record.requests == 1
    assert [f["fact"] for f in asked(record)] == [UNCERTAIN]
    assert any(PAYMENT_CLAUSE in text for text in asked(record)[0]["passages"].values())
    assert record.bodies[0]["model"] == MODEL and record.authorization == [f"Bearer {KEY}"]

    v = by_text(result, "1.5%")
    assert v.verdict == Label.SUPPORTED
    assert f"LLM judge ({MODEL})" in v.reason and "MASTER SERVICES AGREEMENT" in v.reason
    assert "1.5% per month" in v.citations[0].quote
    # settled locally: the confident support, the slot check's veto, the confident 'not stated'
    assert by_text(result, "undisputed invoice").verdict == Label.SUPPORTED
    assert "LLM" not in by_text(result, "undisputed invoice").reason
    assert by_text(result, "sixty (60)").verdict == Label.CONTRADICTED
    assert by_text(result, "non-compete").verdict == Label.UNSUPPORTED
    assert result.versions["cascade"] == MODEL
    assert result.timings_ms["cascade"] >= 0


@pytest.mark.parametrize(
    ("verdict", "passage", "label"),
    [("contradicted", 1, Label.CONTRADICTED), ("not_addressed", None, Label.UNSUPPORTED)],
)
def test_llm_contradicted_and_not_addressed(engine, fake, verdict, passage, label):
    fake[0].reply = answer_all(verdict, passage, reason="the passage speaks of something else")
    v = engine.verify(UNCERTAIN, corpus="sample").sentences[0]
    assert v.verdict == label
    assert f"LLM judge ({MODEL})" in v.reason and "something else" in v.reason
    assert v.citations


def test_confident_facts_never_go_to_the_llm(engine, fake):
    _, record = fake
    result = engine.verify(f"{CONFIDENT} {NOT_STATED}", corpus="sample")
    assert record.requests == 0
    assert [v.verdict for v in result.sentences] == [Label.SUPPORTED, Label.UNSUPPORTED]
    assert result.versions["cascade"] == MODEL


def test_slot_check_contradiction_is_not_overruled_by_the_llm(engine, fake):
    _, record = fake  # would call anything supported
    v = engine.verify(VETOED, corpus="sample").sentences[0]
    assert record.requests == 0
    assert v.verdict == Label.CONTRADICTED
    assert "60" in v.reason and "90" in v.reason and "LLM" not in v.reason


def _malformed(b: Behaviour) -> None:
    b.reply = 'Sure! {"facts": [{"id": 1, "verdict": "supported"'


def _wrong_schema(b: Behaviour) -> None:
    b.reply = json.dumps({"facts": [{"id": 1, "verdict": "probably", "passage": 1}]})


def _fact_left_out(b: Behaviour) -> None:
    b.reply = json.dumps({"facts": [{"id": 7, "verdict": "supported", "passage": 1}]})


def _two_verdicts(b: Behaviour) -> None:
    b.reply = json.dumps(
        {"facts": [{"id": 1, "verdict": v, "passage": 1} for v in ("supported", "contradicted")]}
    )


def _supported_without_passage(b: Behaviour) -> None:
    b.reply = answer_all("supported", passage=None)


def _passage_not_given(b: Behaviour) -> None:
    b.reply = answer_all("supported", passage=9)


def _refusal(b: Behaviour) -> None:
    b.refusal = "I can't help with that."


def _server_error(b: Behaviour) -> None:
    b.status = 500


def _hang(b: Behaviour) -> None:
    b.delay_s = 3.0  # past the judge's 1 s timeout


@pytest.mark.parametrize(
    ("breaks", "why"),
    [
        (_malformed, "is not JSON"),
        (_wrong_schema, "does not fit the schema"),
        (_fact_left_out, "no verdicts for this fact"),
        (_two_verdicts, "2 verdicts for this fact"),
        (_supported_without_passage, "without naming the passage"),
        (_passage_not_given, "passage 9, which it was not given"),
        (_refusal, "refused"),
        (_server_error, "HTTP 500"),
        (_hang, "no reply within 1 s"),
    ],
)
def test_a_failed_llm_call_leaves_the_fact_unchecked(engine, fake, caplog, breaks, why):
    breaks(fake[0])
    with caplog.at_level(logging.DEBUG):
        result = engine.verify(f"{CONFIDENT} {UNCERTAIN}", corpus="sample")
    assert fake[1].requests == 1
    v = by_text(result, "1.5%")
    assert v.verdict == Label.UNCHECKED, v.reason
    assert f"LLM judge ({MODEL}) gave no verdict" in v.reason and why in v.reason
    assert by_text(result, "undisputed invoice").verdict == Label.SUPPORTED
    assert KEY not in json.dumps(result.to_dict()) and KEY not in caplog.text


def test_missing_key_variable_is_named_not_sent(engine, fake, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    v = engine.verify(UNCERTAIN, corpus="sample").sentences[0]
    assert fake[1].requests == 0
    assert v.verdict == Label.UNCHECKED and KEY_ENV in v.reason


def test_off_by_default(plain_engine, fake):
    result = plain_engine.verify(ANSWER, corpus="sample")
    assert fake[1].requests == 0
    assert "cascade" not in result.versions and "cascade" not in result.timings_ms
    assert by_text(result, "1.5%").verdict != Label.SUPPORTED


def test_request_overrides_corpus_overrides_settings(engine, plain_engine, fake):
    _, record = fake
    assert "cascade" not in engine.verify(UNCERTAIN, corpus="sample", cascade=False).versions
    assert record.requests == 0
    on = plain_engine.verify(UNCERTAIN, corpus="sample", cascade=True)
    assert record.requests == 1 and on.sentences[0].verdict == Label.SUPPORTED
    contexts = ["Late payments bear interest at 1.5% per month."]
    plain_engine.verify(UNCERTAIN, contexts=contexts)  # no corpus: the settings (off)
    assert record.requests == 1


def test_cascade_without_a_configured_llm_leaves_uncertain_facts_unchecked(sample_home, fake):
    result = Engine(sample_home).verify(f"{CONFIDENT} {UNCERTAIN}", corpus="sample", cascade=True)
    assert fake[1].requests == 0
    assert result.versions["cascade"] == "none configured"
    assert by_text(result, "undisputed invoice").verdict == Label.SUPPORTED
    v = by_text(result, "1.5%")
    assert v.verdict == Label.UNCHECKED and "VERACITY_CASCADE__BASE_URL" in v.reason


def test_corpus_definition_cascade_table():
    assert config_from_dict({"cascade": {"enabled": True}}, "c", Path(".")).cascade is True
    assert config_from_dict({}, "c", Path(".")).cascade is None
    for bad in ({"enabled": "yes"}, {"enabled": True, "model": "x"}, True):
        with pytest.raises(CorpusError, match=r"\[cascade\]"):
            config_from_dict({"cascade": bad}, "c", Path("."))


def test_request_flag_through_the_api(tmp_path, upstream, fake):
    _, record = fake
    settings = make_settings(tmp_path / "home", cascade=cascade_settings(upstream))
    with TestClient(create_app(settings)) as client:
        body = {"answer": f"{CONFIDENT} {UNCERTAIN}", "corpus": "sample"}
        off = client.post("/v1/verify", json=body, headers=h(KEY_A))
        assert off.status_code == 200, off.text
        assert record.requests == 0 and "cascade" not in off.json()["versions"]

        on = client.post("/v1/verify", json=body | {"cascade": True}, headers=h(KEY_A))
        assert on.status_code == 200, on.text
        assert record.requests == 1 and [f["fact"] for f in asked(record)] == [UNCERTAIN]
        out = on.json()
        assert out["versions"]["cascade"] == MODEL
        assert [s["verdict"] for s in out["sentences"]] == ["supported", "supported"]
        assert KEY not in on.text

        bad = client.post("/v1/verify", json=body | {"cascade": "maybe"}, headers=h(KEY_A))
        assert bad.status_code == 422


def judged_by_llm(sentence: dict) -> bool:
    return f"LLM judge ({MODEL})" in sentence["reason"]


def test_request_flag_through_the_gateway(tmp_path, upstream, fake):
    """The openai client -> the gateway -> a fake chat upstream answering CONFIDENT + UNCERTAIN; the
    uncertain fact gets the LLM judge's verdict only when the request (body, header) or the key's
    default turns the cascade on."""
    _, record = fake
    chat_app, chat, _ = fake_upstream("chat", "chat-model")
    chat.reply = f"{CONFIDENT} {UNCERTAIN}"
    settings = make_settings(tmp_path / "home", cascade=cascade_settings(upstream))
    with ThreadedServer(chat_app) as chat_server:
        config = GatewayConfig(
            upstreams=[{"name": "chat", "base_url": f"{chat_server.url}/v1", "models": ["chat-model"]}],
            keys={"reader": {"corpus": "sample", "cascade": True}},  # KEY_RO's requests: on by default
        )
        with ThreadedServer(create_app(settings, gateway=config)) as gateway:

            def ask(key: str = KEY_A, stream: bool = False, headers: dict | None = None, **veracity) -> dict:
                client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=60)
                reply = client.chat.completions.create(
                    model="chat-model",
                    messages=[{"role": "user", "content": "What interest is due on late payments?"}],
                    stream=stream,
                    extra_body={"veracity": {"corpus": "sample"} | veracity},
                    extra_headers=headers or {},
                )
                if not stream:
                    return reply.model_extra["veracity"]
                chunks = list(reply)
                return chunks[-1].model_extra["veracity"]

            def uncertain(result: dict) -> dict:
                return next(s for s in result["sentences"] if "1.5%" in s["text"])

            off = ask()  # off by default: the sample corpus has no [cascade]
            assert record.requests == 0 and "cascade" not in off["versions"]
            assert uncertain(off)["verdict"] != "supported" and not judged_by_llm(uncertain(off))

            for on in (
                ask(cascade=True),
                ask(stream=True, cascade=True),
                ask(headers={"X-Veracity-Cascade": "true"}),
                ask(key=KEY_RO),  # the key's default
            ):
                assert uncertain(on)["verdict"] == "supported" and judged_by_llm(uncertain(on))
                assert on["versions"]["cascade"] == MODEL
                assert not judged_by_llm(on["sentences"][0])  # settled locally, never asked
            assert {f["fact"] for i in range(record.requests) for f in asked(record, i)} == {UNCERTAIN}

            asked_before = record.requests
            for off in (ask(key=KEY_RO, cascade=False), ask(key=KEY_RO, headers={"X-Veracity-Cascade": "0"})):
                assert not judged_by_llm(uncertain(off)) and "cascade" not in off["versions"]
            assert record.requests == asked_before


def test_audit_cascade_flag(tmp_path, plain_engine, fake):
    """`veracity audit --cascade`: the uncertain fact of a transcript gets the LLM judge's verdict;
    without the flag (the corpus has no [cascade]) the LLM is not asked."""
    _, record = fake
    transcript = tmp_path / "chats.jsonl"
    conversation = {
        "id": "late-payments",
        "messages": [
            {"role": "user", "content": "What interest is due on late payments?"},
            {"role": "assistant", "content": f"{CONFIDENT} {UNCERTAIN}"},
        ],
    }
    transcript.write_text(json.dumps(conversation) + "\n", encoding="utf-8")
    settings = plain_engine.settings.model_copy(update={"audit_db": tmp_path / "audit.sqlite"})

    def audit(run_id: str, *flags: str) -> list[dict]:
        out = tmp_path / run_id
        argv = ["audit", "sample", str(transcript), "--out", str(out), "--run-id", run_id, "--no-progress"]
        assert run_audit(build_parser().parse_args([*argv, *flags]), settings, engine=plain_engine) == 0
        (turn,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        return turn["sentences"]

    off = audit("without")
    assert record.requests == 0 and not any(judged_by_llm(s) for s in off)
    on = audit("with", "--cascade")
    assert record.requests == 1 and [f["fact"] for f in asked(record)] == [UNCERTAIN]
    assert on[1]["verdict"] == "supported" and judged_by_llm(on[1])
    assert on[0]["verdict"] == off[0]["verdict"] == "supported" and not judged_by_llm(on[0])
