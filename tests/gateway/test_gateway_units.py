"""Gateway parts without a server: incremental sentences, the circuit breaker, config, evidence, routing."""

from __future__ import annotations

import random
import time

import pytest

from api.config import ConfigError
from api.errors import ApiError
from api.gateway.config import GatewayConfig, load_gateway_config
from api.gateway.evidence import VeracityOptions, passages_from_messages, resolve
from api.gateway.fake_upstream import tokens
from api.gateway.sentences import SentenceStream
from api.gateway.upstreams import CircuitBreaker, UpstreamPool
from pipeline.verification.claims import split_sentences

TEXTS = [
    "Here is a summary. Acme Inc. Thermo makes pumps. The fee is 5.0 dollars per unit. See Sec. 2 for "
    "details.\n\n- Item one is here.\n- Item two. Done",
    "The dose is 25 mg. daily with food! Is it safe? Yes… mostly. Call Dr. Smith at 9 a.m. tomorrow.",
    "合同期限为两年。付款期限为三十天！\n1. First item\n2. Second item, continued\nacross lines. End",
]


@pytest.mark.parametrize("text", TEXTS)
def test_sentences_found_while_streaming_equal_the_splitter(text):
    rng = random.Random(7)
    for _ in range(100):
        stream, got, i = SentenceStream(), [], 0
        while i < len(text):
            n = rng.randint(1, 6)
            got += stream.feed(text[i : i + n])
            i += n
        got += stream.finish()
        assert [(s.start, s.end) for s in got] == split_sentences(text)
        assert all(text[s.start : s.end] == s.text for s in got)


def test_a_sentence_is_released_once_the_next_has_a_whole_word():
    stream = SentenceStream()
    assert stream.feed("Acme Inc. Th") == []  # "Inc." may yet be an abbreviation
    assert stream.feed("ermo makes pumps. The") == []
    assert [s.text for s in stream.feed(" fee")] == ["Acme Inc. Thermo makes pumps."]
    assert [s.text for s in stream.finish()] == ["The fee"]


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
        keys={"team": {"corpus": "sample", "mode": "redact"}},
    )
    msgs = [{"role": "user", "content": "Q?"}]
    ev = resolve(VeracityOptions(), {}, "team", config, msgs)
    assert (ev.corpus, ev.mode, ev.release, ev.question) == ("sample", "redact", "verified", "Q?")
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
