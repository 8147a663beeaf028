"""Gateway parts without a server: incremental sentences, speculative verification, the circuit
breaker, config, evidence, routing."""

from __future__ import annotations

import asyncio
import json
import random
import time
from types import SimpleNamespace

import pytest
from helpers import random_answer

from api.config import ConfigError
from api.errors import ApiError
from api.gateway.config import GatewayConfig, Release, load_gateway_config
from api.gateway.evidence import Evidence, VeracityOptions, passages_from_messages, resolve
from api.gateway.fake_upstream import tokens
from api.gateway.sentences import SentenceStream, Span
from api.gateway.stream import StreamSession
from api.gateway.upstreams import CircuitBreaker, UpstreamPool
from api.gateway.verifier import Checked
from pipeline.schema import Label, Mode, Verdict
from pipeline.verification.claims import split_sentences

TEXTS = [
    "Here is a summary. Acme Inc. Thermo makes pumps. The fee is 5.0 dollars per unit. See Sec. 2 for "
    "details.\n\n- Item one is here.\n- Item two. Done",
    "The dose is 25 mg. daily with food! Is it safe? Yes… mostly. Call Dr. Smith at 9 a.m. tomorrow.",
    "合同期限为两年。付款期限为三十天！\n1. First item\n2. Second item, continued\nacross lines. End",
]


def stream_in_tokens(text: str, rng: random.Random, longest: int = 6) -> list[tuple[int, list[Span]]]:
    """Feed `text` in random pieces: (text length so far, sentences handed out) per feed, then finish."""
    stream, out, i = SentenceStream(), [], 0
    while i < len(text):
        n = rng.randint(1, longest)
        out.append((min(i + n, len(text)), stream.feed(text[i : i + n])))
        i += n
    out.append((len(text), stream.finish()))
    return out


@pytest.mark.parametrize("text", TEXTS)
def test_sentences_found_while_streaming_equal_the_splitter(text):
    rng = random.Random(7)
    for _ in range(100):
        got = [s for _, spans in stream_in_tokens(text, rng) for s in spans]
        assert [(s.start, s.end) for s in got] == split_sentences(text)
        assert all(text[s.start : s.end] == s.text for s in got)


@pytest.mark.parametrize("seed", range(3))
def test_random_answers_at_random_token_boundaries_give_the_batch_sentences(seed):
    """Many answers, each streamed in random pieces: exactly the batch splitter's sentences come out,
    in order, and a sentence handed out is never cut again (it is a sentence of every longer text)."""
    rng = random.Random(seed)
    for _ in range(150):
        answer = random_answer(rng, pieces=30)
        whole = split_sentences(answer)
        *feeds, (_, flushed) = stream_in_tokens(answer, rng, longest=rng.choice([1, 3, 8]))
        released: list[tuple[int, int]] = []
        for seen, spans in feeds:
            released += [(s.start, s.end) for s in spans]
            assert released == whole[: len(released)], (answer[:seen], answer[seen:])
            for other in ("x", " the", ".\n", "rmo. B"):  # other ways the answer could have gone on
                assert split_sentences(answer[:seen] + other)[: len(released)] == released
        assert released + [(s.start, s.end) for s in flushed] == whole


def test_a_sentence_is_released_once_its_end_is_final():
    stream = SentenceStream()

    def feed(delta: str) -> list[str]:
        return [s.text for s in stream.feed(delta)]

    assert feed("Acme makes pumps.") == []  # "..." or '."' may follow
    assert feed(" T") == ["Acme makes pumps."]  # a capital after a period that ends no abbreviation
    assert feed("hat is all. Acme Inc. Th") == ["That is all."]
    assert feed("e") == []  # "Acme Inc. The": "The" or "Thermo"?
    assert feed(" fee") == ["Acme Inc."]
    assert feed(" is due? ") == ["The fee is due?"]  # "?" and a space
    assert feed("Yes.\n\n") == ["Yes."]  # a paragraph break
    assert feed("- Net 30") == [] and [s.text for s in stream.finish()] == ["Net 30"]


def test_candidates_are_sentences_that_could_already_be_complete():
    stream = SentenceStream()
    assert stream.feed("Acme Inc.") == []
    assert [c.text for c in stream.candidates()] == ["Acme Inc."]
    assert stream.feed(" The") == [] and [c.text for c in stream.candidates()] == ["Acme Inc."]
    assert stream.feed("rmo makes") == [] and stream.candidates() == []  # the boundary moved
    assert stream.feed(" pumps") == [] and stream.candidates() == []  # mid-sentence: no candidate
    stream.feed(".")
    assert [c.text for c in stream.candidates()] == ["Acme Inc. Thermo makes pumps."]
    assert [s.text for s in stream.feed(" The fee")] == ["Acme Inc. Thermo makes pumps."]
    assert stream.candidates() == []
    stream.feed(" is\n")  # a line break may end a list item without punctuation
    assert [c.text for c in stream.candidates()] == ["The fee is"]


class _Upstream:
    """An opened upstream stream that sends the given tokens, each after `before(i)` returns."""

    def __init__(self, pieces, before) -> None:
        self.pieces, self.before = pieces, before
        self.first, self.attempts, self.upstream = [], [], SimpleNamespace(name="stub")

    async def chunks(self):
        for i, piece in enumerate(self.pieces):
            await self.before(i)
            yield {"choices": [{"delta": {"content": piece}, "finish_reason": None}]}
        yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}

    async def aclose(self) -> None:
        pass


class _Verifier:
    """Contradicts exactly the sentence "Acme Inc." (true only of the wrong boundary); `slow` makes
    that verification outlast the boundary, so it must be cancelled, not awaited."""

    def __init__(self, slow: bool) -> None:
        self.slow, self.calls, self.cancelled = slow, [], []
        self.stale_done = asyncio.Event()

    async def sentence(self, span: Span, ev) -> Checked:
        self.calls.append(span.text)
        label = Label.CONTRADICTED if span.text == "Acme Inc." else Label.SUPPORTED
        try:
            if label == Label.CONTRADICTED and self.slow:
                await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.append(span.text)
            raise
        if label == Label.CONTRADICTED:
            self.stale_done.set()
        return Checked(span, [Verdict(span.text, span.start, span.end, label, 0.9, "stub")], {}, 1.0)


@pytest.mark.parametrize("slow", [False, True], ids=["stale-verdict-ready", "stale-verdict-pending"])
def test_a_moved_boundary_never_releases_a_stale_verdict(slow):
    """"Acme Inc." is verified speculatively (it could end there), then "The" + "rmo" moves the
    boundary: in block mode its contradicted verdict would end the stream if it were ever used."""
    pieces = ["Acme", " Inc.", " The", "rmo", " makes", " pumps.", " The", " fee", " is", " high."]
    text = "".join(pieces)

    async def run() -> tuple[list[dict], _Verifier]:
        verifier = _Verifier(slow)

        async def before(i: int) -> None:
            if i == 3 and not slow:  # let the stale verification finish before the boundary moves
                await asyncio.wait_for(verifier.stale_done.wait(), 5)
            await asyncio.sleep(0.01)

        ev = Evidence("c", None, None, None, Mode.BLOCK, Release.VERIFIED, None)
        session = StreamSession(_Upstream(pieces, before), ev, verifier, report=lambda *_: None, extra={})
        events = [json.loads(e[6:]) async for e in session.events() if e.startswith("data: {")]
        return events, verifier

    events, verifier = asyncio.run(asyncio.wait_for(run(), 20))
    assert "Acme Inc." in verifier.calls  # the speculation happened
    assert verifier.cancelled == (["Acme Inc."] if slow else [])
    content = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
    assert content == text and events[-1]["choices"][0]["finish_reason"] == "stop"
    released = [s for e in events[:-1] for s in (e.get("veracity") or {}).get("sentences", [])]
    expected = [(s, e, text[s:e]) for s, e in split_sentences(text)]
    assert [(v["start"], v["end"], v["text"]) for v in released] == expected
    assert all(v["verdict"] == "supported" for v in released)
    assert [(v["start"], v["end"]) for v in events[-1]["veracity"]["sentences"]] == split_sentences(text)


def test_fake_tokens_join_back():
    text = "  Two  spaces.\nNew line "
    assert "".join(tokens(text)) == text


def test_circuit_breaker_opens_cools_down_and_half_opens():
    b = CircuitBreaker(threshold=2, cooldown_s=0.2)
    assert b.allow()
    b.failure()
    assert b.state == "closed" and b.allow()
    b.failure()
    assert b.state == "open" and not b.allow()
    time.sleep(0.25)
    assert b.state == "half_open" and b.allow() and not b.allow()  # one trial at a time
    b.failure()  # the trial failed: open again for a full cool-down
    assert b.state == "open" and not b.allow()
    time.sleep(0.25)
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow() and b.allow()


def test_config_from_toml_names_the_key_variable(tmp_path, monkeypatch):
    path = tmp_path / "gateway.toml"
    path.write_text(
        """
[gateway]
failure_threshold = 5
cooldown_s = 10

[[upstreams]]
name = "deepseek"
base_url = "https://api.deepseek.com/v1/"
api_key_env = "DEEPSEEK_API_KEY"
models = ["deepseek-chat"]

[[upstreams]]
name = "ollama"
base_url = "http://127.0.0.1:11434/v1"
models = ["deepseek-chat", "qwen2.5:7b"]
read_timeout_s = 120

[keys.tenant-a]
corpus = "sample"
"""
    )
    config = load_gateway_config(path)
    assert config.failure_threshold == 5 and config.upstreams[0].base_url == "https://api.deepseek.com/v1"
    assert [u.name for u in config.route("deepseek-chat")] == ["deepseek", "ollama"]
    assert config.models() == {"deepseek-chat": "deepseek", "qwen2.5:7b": "ollama"}
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-from-env")
    assert config.upstreams[0].api_key() == "sk-from-env" and config.upstreams[1].api_key() is None
    assert "sk-from-env" not in config.model_dump_json()
    with pytest.raises(ApiError) as exc:
        UpstreamPool(config).candidates("gpt-unknown")
    assert exc.value.status == 404 and exc.value.code == "model_not_found"

    path.write_text('[[upstreams]]\nname = "x"\nbase_url = "ftp://x"\nmodels = ["m"]\n')
    with pytest.raises(ConfigError, match="base_url"):
        load_gateway_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_gateway_config(tmp_path / "missing.toml")


def test_passages_from_the_prompt():
    plain = [
        {"role": "system", "content": "Use these documents.\n\nRefunds take 14 days.\n\nShipping is free."},
        {"role": "user", "content": [{"type": "text", "text": "How long do refunds take?"}]},
    ]
    assert passages_from_messages(plain, 10) == (
        ["Use these documents.", "Refunds take 14 days.", "Shipping is free."],
        "How long do refunds take?",
    )
    tagged = [
        {"role": "system", "content": "Answer from the context only."},
        {
            "role": "user",
            "content": "<context>Refunds take 14 days.</context>\n<document id=2>Fees: none.</document>"
            "\nHow long?",
        },
    ]
    assert passages_from_messages(tagged, 10) == (["Refunds take 14 days.", "Fees: none."], "How long?")
    with pytest.raises(ApiError) as exc:
        passages_from_messages([{"role": "user", "content": "Just a question?"}], 10)
    assert exc.value.code == "no_evidence"
    with pytest.raises(ApiError) as exc:
        passages_from_messages(plain, 2)
    assert exc.value.status == 413


def test_request_options_override_headers_and_key_defaults():
    config = GatewayConfig(
        upstreams=[{"name": "u", "base_url": "http://127.0.0.1:1/v1", "models": ["*"]}],
        keys={"team": {"corpus": "sample", "mode": "redact", "cascade": True}},
    )
    msgs = [{"role": "user", "content": "Q?"}]
    ev = resolve(VeracityOptions(), {}, "team", config, msgs)
    assert (ev.corpus, ev.mode, ev.release, ev.question, ev.cascade) == ("sample", "redact", "verified", "Q?", True)
    assert resolve(VeracityOptions(), {"x-veracity-cascade": "false"}, "team", config, msgs).cascade is False
    assert resolve(VeracityOptions(cascade=False), {}, "team", config, msgs).cascade is False
    assert resolve(VeracityOptions(corpus="c"), {}, "other", config, msgs).cascade is None  # the corpus's
    ev = resolve(
        VeracityOptions(), {"x-veracity-mode": "block", "x-veracity-corpus": "beta"}, "team", config, msgs
    )
    assert (ev.corpus, ev.mode) == ("beta", "block")
    ev = resolve(
        VeracityOptions(corpus="c", release="immediate"), {"x-veracity-corpus": "beta"}, "team", config, msgs
    )
    assert (ev.corpus, ev.release) == ("c", "immediate")
    with pytest.raises(ApiError) as exc:
        resolve(VeracityOptions(), {"x-veracity-mode": "shout"}, "other", config, msgs)
    assert exc.value.status == 422


def test_serve_mounts_the_gateway_named_in_settings(tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.config import ApiSettings

    toml = tmp_path / "gateway.toml"
    toml.write_text('[[upstreams]]\nname = "local"\nbase_url = "http://127.0.0.1:9/v1"\nmodels = ["qwen-7b"]\n')
    plain = create_app(ApiSettings(home=tmp_path, auth_disabled=True, serve_corpora=[]), engine_factory=lambda s: None)
    with_gateway = create_app(
        ApiSettings(home=tmp_path, auth_disabled=True, serve_corpora=[], gateway_config=toml),
        engine_factory=lambda s: None,
    )
    with TestClient(plain, base_url="http://127.0.0.1") as client:
        assert client.get("/v1/models").status_code == 404
    with TestClient(with_gateway, base_url="http://127.0.0.1") as client:
        models = client.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["qwen-7b"]
