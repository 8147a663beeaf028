"""The gateway end to end: the official openai client -> the real gateway on loopback -> fake upstreams.

Real models and the sample corpus: a contradicted sentence comes back annotated, a supported one
passes; streamed text is held per sentence (verified) or passed at once (immediate).
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest
from gateway_support import (
    CONTRADICTED,
    KEY_A,
    KEY_B,
    KEY_ENV,
    KEY_RO,
    MODEL,
    SUPPORTED,
    UPSTREAM_KEY,
    gateway_config,
    start_gateway,
    start_upstream,
)

from api.gateway.traffic import TrafficStore
from pipeline.audit.store import GATEWAY_RUN
from pipeline.review.trail import QueueFilter, ReviewStore
from pipeline.schema import Label, Mode, Verdict, VerificationResult
from pipeline.settings import PROJECT_ROOT

ANSWER = f"{SUPPORTED} {CONTRADICTED}"


@pytest.fixture(scope="module")
def ups():
    primary, secondary = start_upstream("primary"), start_upstream("secondary")
    yield primary, secondary
    primary.server.__exit__(None, None, None)
    secondary.server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def gateway(ups, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv(KEY_ENV, UPSTREAM_KEY)
    server = start_gateway(tmp_path_factory.mktemp("gw") / "home", gateway_config(*ups))
    yield server
    server.__exit__(None, None, None)
    mp.undo()


@pytest.fixture
def up(ups, gateway):
    """Both upstreams healthy with ANSWER as reply, circuits closed."""
    primary, secondary = ups
    primary.reset(ANSWER)
    secondary.reset(ANSWER)
    for breaker in gateway.server.config.app.state.gateway_pool.breakers.values():
        breaker.success()
    return primary, secondary


def client(gateway, key: str = KEY_A) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=120)


def veracity(obj) -> dict | None:
    return (obj.model_extra or {}).get("veracity")


def chat(gateway, key=KEY_A, **kw):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "What does the Northwind MSA say?"}]}
    return client(gateway, key).chat.completions.create(**(body | kw))


def collect(stream) -> tuple[str, list, list[dict]]:
    """(content, chunks, verdict dicts in the order they came)."""
    text, chunks, verdicts = "", [], []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        v = veracity(chunk)
        if v and "sentences" in v and "summary" not in v:
            verdicts += v["sentences"]
    return text, chunks, verdicts


@pytest.mark.parametrize("readme", ["README.md", "api/gateway/README.md"])
def test_the_readme_streaming_example_runs(gateway, up, capsys, readme):
    """The five-line openai example of the README, as written, against the gateway on loopback (the
    secondary upstream serves "deepseek-chat" through its "*")."""
    text = (PROJECT_ROOT / readme).read_text(encoding="utf-8")
    code = re.search(r"```python\n(from openai import OpenAI\n.*?)```", text, re.DOTALL).group(1)
    assert len(code.splitlines()) == 5
    code = code.replace("http://127.0.0.1:8000/v1", f"{gateway.url}/v1").replace("<your Veracity API key>", KEY_A)
    exec(compile(code, readme, "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith(f"{SUPPORTED} {CONTRADICTED} [1✗]") and "Flagged by Veracity" in out
    assert up[1].record.bodies[-1]["model"] == "deepseek-chat"


def test_models_and_auth(gateway, up):
    assert [m.id for m in client(gateway).models.list()] == [MODEL]
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "not-a-key-at-all").models.list()
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, "not-a-key-at-all", extra_body={"veracity": {"corpus": "sample"}})
    with pytest.raises(openai.NotFoundError) as exc:  # tenant-b may not read sample: as if it did not exist
        chat(gateway, KEY_B, extra_body={"veracity": {"corpus": "sample"}})
    assert "corpus" in str(exc.value)
    with pytest.raises(openai.UnprocessableEntityError):  # no evidence named, and no default for the key
        chat(gateway)
    assert up[0].record.requests == 0  # refused before any upstream token was paid for


def test_non_streaming_annotates_the_contradicted_sentence(gateway, up, caplog):
    caplog.set_level(logging.INFO)
    resp = chat(gateway, extra_body={"veracity": {"corpus": "sample"}})
    content = resp.choices[0].message.content
    assert content.startswith(f"{SUPPORTED} {CONTRADICTED} [1✗]")
    assert "Flagged by Veracity" in content and "ninety (90) days" in content
    v = veracity(resp)
    assert [s["verdict"] for s in v["sentences"]] == ["supported", "contradicted"]
    assert v["sentences"][1]["citations"][0]["doc_id"] == "northwind-msa.md"
    assert (
        v["upstream"] == "primary" and v["fallbacks"] == [] and v["versions"]["index"].startswith("sample/")
    )
    # the upstream got its own key; the client's key and the veracity object never reached it
    assert up[0].record.authorization == [f"Bearer {UPSTREAM_KEY}"]
    assert "veracity" not in up[0].record.bodies[0]
    assert UPSTREAM_KEY not in resp.model_dump_json()
    # the key's default corpus applies when the request names none
    assert [s["verdict"] for s in veracity(chat(gateway, KEY_RO))["sentences"]] == [
        "supported",
        "contradicted",
    ]
    logged = caplog.text
    assert '"event": "gateway"' in logged and '"upstream": "primary"' in logged
    assert UPSTREAM_KEY not in logged and "undisputed invoice" not in logged and "sixty" not in logged


def test_stream_verified_holds_each_sentence_until_verified(gateway, up):
    primary, _ = up
    primary.reset(ANSWER, tokens_per_s=30)
    stream = chat(gateway, stream=True, extra_body={"veracity": {"corpus": "sample"}})
    first_at = None
    text, chunks, verdicts = "", [], []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            first_at = first_at or time.perf_counter()
            text += chunk.choices[0].delta.content
        v = veracity(chunk)
        if v and "summary" not in v:
            verdicts += v["sentences"]
    final = veracity(chunks[-1])
    assert chunks[-1].choices[0].finish_reason == "stop"
    # the first sentence went out, verified, while the upstream was still sending the second
    assert first_at < primary.record.token_times[0][-1]
    assert [v["verdict"] for v in verdicts] == ["supported", "contradicted"]
    assert text == final["output"] and text.startswith(f"{SUPPORTED} {CONTRADICTED} [1✗]")
    assert final["upstream"] == "primary" and final["summary"]["counts"]["contradicted"] == 1
    assert all(v["held_ms"] >= 0 for v in verdicts)


def test_stream_immediate_passes_tokens_and_adds_verdicts(gateway, up):
    text, chunks, verdicts = collect(
        chat(gateway, stream=True, extra_body={"veracity": {"corpus": "sample", "release": "immediate"}})
    )
    assert text == ANSWER  # every token, in order, untouched
    assert [v["verdict"] for v in verdicts] == ["supported", "contradicted"]
    assert veracity(chunks[-1])["output"].startswith(f"{SUPPORTED} {CONTRADICTED} [1✗]")


def test_stream_redact(gateway, up):
    text, _, _ = collect(
        chat(gateway, stream=True, extra_body={"veracity": {"corpus": "sample", "mode": "redact"}})
    )
    assert SUPPORTED in text and "sixty" not in text and "[Veracity removed 1 sentence(s)" in text


def test_block_mode_ends_the_stream_mid_answer(gateway, up):
    primary, _ = up
    tail = " ".join([SUPPORTED] * 6)
    primary.reset(f"{SUPPORTED} {CONTRADICTED} {tail}", tokens_per_s=40)
    text, chunks, verdicts = collect(
        chat(gateway, stream=True, extra_body={"veracity": {"corpus": "sample", "mode": "block"}})
    )
    assert text.startswith(SUPPORTED) and "sixty" not in text
    assert "[Veracity withheld this answer: 1 sentence(s) contradict" in text
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert veracity(chunks[-1])["summary"]["blocked"] is True
    assert [v["verdict"] for v in verdicts] == ["supported", "contradicted"]
    deadline = time.monotonic() + 10
    while primary.record.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert primary.record.cancelled == 1 and primary.record.finished == 0  # the rest was never generated


@pytest.mark.parametrize("failure", ["500", "429", "hang", "dropped"])
def test_fallback_to_the_second_upstream(gateway, up, failure):
    primary, secondary = up
    if failure == "hang":
        primary.behaviour.hang = True
    elif failure == "dropped":
        primary.behaviour.cut_after = 0  # the stream dies before its first token
    else:
        primary.behaviour.status = int(failure)
    for stream in (True,) if failure == "dropped" else (False, True):
        resp = chat(gateway, stream=stream, extra_body={"veracity": {"corpus": "sample"}})
        final = veracity(resp) if not stream else veracity(collect(resp)[1][-1])
        assert final["upstream"] == "secondary"
        assert final["fallbacks"][0]["upstream"] == "primary"
        assert [s["verdict"] for s in final["sentences"]] == ["supported", "contradicted"]
        for breaker in gateway.server.config.app.state.gateway_pool.breakers.values():
            breaker.success()
    assert secondary.record.requests == (1 if failure == "dropped" else 2)


def test_circuit_breaker_skips_a_failing_upstream_then_retries_it(gateway, up):
    primary, secondary = up
    primary.behaviour.status = 503
    for _ in range(2):  # failure_threshold = 2
        assert (
            veracity(chat(gateway, extra_body={"veracity": {"corpus": "sample"}}))["upstream"] == "secondary"
        )
    assert primary.record.requests == 2
    v = veracity(chat(gateway, extra_body={"veracity": {"corpus": "sample"}}))
    assert v["fallbacks"] == [{"upstream": "primary", "error": "skipped: circuit open"}]
    assert primary.record.requests == 2  # not asked while open
    primary.behaviour.status = 200
    time.sleep(1.1)  # cool-down: one trial request goes through and closes the circuit
    assert veracity(chat(gateway, extra_body={"veracity": {"corpus": "sample"}}))["upstream"] == "primary"
    assert primary.record.requests == 3


def test_all_upstreams_failing_is_an_error_not_a_verdict(gateway, up):
    up[0].behaviour.status = 429
    up[1].behaviour.status = 429
    with pytest.raises(openai.RateLimitError):
        chat(gateway, extra_body={"veracity": {"corpus": "sample"}})
    up[0].behaviour.status = 500
    up[1].behaviour.status = 500
    with pytest.raises(openai.APIStatusError) as exc:
        chat(gateway, stream=True, extra_body={"veracity": {"corpus": "sample"}})
    assert exc.value.status_code == 502


def test_cut_stream_checks_what_arrived(gateway, up):
    primary, _ = up
    primary.behaviour.cut_after = 20  # inside the second sentence: no fallback once tokens were sent
    text, chunks, verdicts = collect(
        chat(gateway, stream=True, extra_body={"veracity": {"corpus": "sample"}})
    )
    final = veracity(chunks[-1])
    assert final["upstream"] == "primary" and "upstream_error" in final
    assert verdicts[0]["verdict"] == "supported" and len(verdicts) == 2  # the partial sentence checked too
    assert text.startswith(SUPPORTED)


def test_client_disconnect_cancels_the_upstream(gateway, up):
    primary, _ = up
    primary.reset(" ".join([SUPPORTED] * 20), tokens_per_s=30)
    body = {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": "Invoices?"}],
        "veracity": {"corpus": "sample", "release": "immediate"},
    }
    with httpx.stream(
        "POST", f"{gateway.url}/v1/chat/completions", json=body, headers={"X-API-Key": KEY_A}, timeout=60
    ) as r:
        assert r.status_code == 200 and r.headers["x-veracity-upstream"] == "primary"
        for line in r.iter_lines():
            if line.startswith("data:") and '"content": "Customer' in line:
                break
    deadline = time.monotonic() + 10
    while primary.record.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert primary.record.cancelled == 1 and primary.record.finished == 0
    assert len(primary.record.token_times[0]) < 60


def test_evidence_from_the_messages(gateway, up):
    up[0].reset("Refunds are accepted within thirty (30) days of delivery. Shipping is free.")
    messages = [
        {
            "role": "system",
            "content": "Answer from the policy.\n\n<context>Refunds are accepted within "
            "fourteen (14) days of delivery.</context>",
        },
        {"role": "user", "content": "How long do I have to return an item?"},
    ]
    resp = client(gateway).chat.completions.create(
        model=MODEL, messages=messages, extra_body={"veracity": {"evidence": "messages"}}
    )
    v = veracity(resp)
    assert v["versions"]["index"] == "contexts" and v["evidence"] == "(messages)"
    assert [s["verdict"] for s in v["sentences"]] == ["contradicted", "unsupported"]
    # the same through headers, streamed
    r = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": MODEL, "messages": messages, "stream": True},
        headers={"Authorization": f"Bearer {KEY_A}", "X-Veracity-Evidence": "messages"},
        timeout=60,
    )
    lines = [json.loads(x[5:]) for x in r.text.splitlines() if x.startswith("data: {")]
    assert [s["verdict"] for s in lines[-1]["veracity"]["sentences"]] == ["contradicted", "unsupported"]


def test_langchain_chat_openai_streams_through_the_gateway(gateway, up):
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        model=MODEL,
        base_url=f"{gateway.url}/v1",
        api_key=KEY_A,
        max_retries=0,
        extra_body={"veracity": {"corpus": "sample"}},
    )
    text = "".join(part.content for part in llm.stream("What does the Northwind MSA say?"))
    assert text.startswith(f"{SUPPORTED} {CONTRADICTED} [1✗]")
    assert llm.invoke("Again?").content.startswith(f"{SUPPORTED} {CONTRADICTED} [1✗]")


def eventually(check, timeout: float = 10.0):
    """check()'s first truthy value within `timeout` (stored traffic is written after [DONE]), else its last."""
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_stored_traffic_reaches_the_review_queue_and_expires(gateway, up):
    traffic = gateway.server.config.app.state.gateway_traffic
    review = ReviewStore(traffic.store.path)

    def turns(conversation_id: str) -> list[dict]:
        return review.store.query("SELECT * FROM turns WHERE conversation_id = ?", (conversation_id,))

    def streamed(key: str) -> str:
        _, chunks, _ = collect(chat(gateway, key, stream=True, extra_body={"veracity": {"corpus": "sample"}}))
        return f"gateway-{veracity(chunks[-1])['request_id']}"

    quiet = streamed(KEY_RO)  # reader: no `store = true`
    kept = streamed(KEY_A)  # tenant-a stores its traffic
    [turn] = eventually(lambda: turns(kept))
    assert turn["run_id"] == GATEWAY_RUN and turn["answer"] == ANSWER and turn["corpus"] == "sample"
    assert turn["source"] == "gateway key tenant-a" and turn["n_contradicted"] == 1
    assert turns(quiet) == []  # one writer, in order: it would be there by now
    queue = [r for r in review.queue(QueueFilter(run=GATEWAY_RUN), limit=500) if r["conversation_id"] == kept]
    assert [(r["text"], r["verdict"], r["status"]) for r in queue] == [(CONTRADICTED, "contradicted", "open")]
    assert queue[0]["doc_id"] == "northwind-msa.md" and review.store.run(GATEWAY_RUN)["kind"] == "api"

    # past retention the gateway's turns go, with their sentences; other runs' turns never do
    flagged = Verdict(CONTRADICTED, 0, len(CONTRADICTED), Label.CONTRADICTED, 0.9, "stub")
    other = VerificationResult(CONTRADICTED, [flagged], CONTRADICTED, Mode.ANNOTATE)
    for run in ("an-audit-run", None):  # None: the API's own run "api"
        review.store.record_verification(run, "t.jsonl", f"old-{run}", 0, None, CONTRADICTED, "sample", other)
    assert traffic.prune(now=datetime.now(UTC) + timedelta(days=31)) >= 1
    assert turns(kept) == [] and review.count(QueueFilter(run=GATEWAY_RUN)) == 0
    assert review.store.query("SELECT * FROM conversations WHERE conversation_id = ?", (kept,)) == []
    assert review.count(QueueFilter(run="an-audit-run")) == review.count(QueueFilter(run="api")) == 1

    # and at start-up
    kept = streamed(KEY_A)
    assert eventually(lambda: turns(kept))
    time.sleep(0.1)
    TrafficStore(traffic.store.path, retention_days=0.05 / 86400).close()
    assert turns(kept) == []
    review.close()
