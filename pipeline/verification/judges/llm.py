"""The LLM judge: asks an OpenAI-compatible chat model whether quoted evidence supports, contradicts or
does not address each fact, all facts of one answer in one call, JSON only, validated against a schema.

Anything short of a complete, valid reply (a timeout, an HTTP error, a refusal, malformed JSON, a
fact left out or cited against a passage it was not given) leaves those facts without a verdict and
says why: the cascade reports them `unchecked`, never `supported`. The API key is read from the
environment variable the settings name and goes only into the Authorization header; no reason or
log line carries it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger("veracity.cascade")

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_REASON_CHARS = 300

SYSTEM_PROMPT = (
    "You check facts against quoted evidence. Judge each fact from its own numbered passages alone, "
    'without outside knowledge: "supported" when a passage states it, "contradicted" when a passage '
    'states something incompatible with it, "not_addressed" otherwise. Reply with JSON only, no other '
    'text: {"facts": [{"id": <the fact\'s id>, "verdict": "supported" | "contradicted" | "not_addressed", '
    '"passage": <the number of the passage the verdict rests on, null for not_addressed>, '
    '"reason": "<at most 25 words>"}]}, one entry for every fact.'
)


class LLMVerdict(StrEnum):
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    NOT_ADDRESSED = "not_addressed"


@dataclass(frozen=True)
class Question:
    """One fact and the passages quoted to the LLM as its evidence."""

    fact: str
    passages: list[str]


@dataclass(frozen=True)
class Judgement:
    """The LLM's verdict on one fact; `verdict` None when it gave no usable one (`reason` says why)."""

    verdict: LLMVerdict | None
    reason: str
    passage: int | None = None  # index into the question's passages


class _FactReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    verdict: LLMVerdict
    passage: int | None = None
    reason: str = ""


class _Reply(BaseModel):
    facts: list[_FactReply]


class _Failure(Exception):
    """The call gave no usable reply; the message (never holding the key) is every fact's reason."""


class LLMJudge:
    """Client of one OpenAI-compatible chat-completions endpoint; safe to share between threads."""

    def __init__(
        self, base_url: str, model: str, api_key_env: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions" if base_url else ""
        self.model = model
        self.name = model or "none configured"  # in every reason and in versions["cascade"]
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        import httpx  # here, not at module top: only a cascade needs it, and it costs ~0.15 s to import

        self._client = httpx.Client()

    def judge(self, questions: Sequence[Question], timeout_s: float | None = None) -> list[Judgement]:
        """One judgement per question, from one call; `timeout_s` caps the settings' timeout."""
        if not questions:
            return []
        timeout = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
        try:
            if not (self.url and self.model):
                raise _Failure("no LLM is configured (VERACITY_CASCADE__BASE_URL, VERACITY_CASCADE__MODEL)")
            if timeout <= 0:
                raise _Failure("no time was left for it")
            content = self._ask(questions, timeout)
            reply = _parse(content)
        except _Failure as exc:
            log.warning("LLM judge %s: %s", self.name, exc)
            return [Judgement(None, str(exc))] * len(questions)
        return _match(reply, questions)

    def _ask(self, questions: Sequence[Question], timeout: float) -> str:
        headers = {}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise _Failure(f"the environment variable {self.api_key_env} holding its API key is not set")
            headers["Authorization"] = f"Bearer {key}"
        facts = [
            {"id": i, "fact": q.fact, "passages": {str(n + 1): p for n, p in enumerate(q.passages)}}
            for i, q in enumerate(questions, start=1)
        ]
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps({"facts": facts}, ensure_ascii=False)},
            ],
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "stream": False,
        }
        import httpx

        try:
            r = self._client.post(self.url, json=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            raise _Failure(f"no reply within {timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise _Failure(f"the request failed ({type(exc).__name__})") from None
        if r.status_code != 200:
            raise _Failure(f"the upstream answered HTTP {r.status_code}")
        try:
            choice = r.json()["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Failure("the upstream's response is not a chat completion") from None
        if message.get("refusal") or choice.get("finish_reason") == "content_filter":
            raise _Failure("the model refused to answer")
        if choice.get("finish_reason") == "length":
            raise _Failure("the reply was cut off at the model's length limit")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise _Failure("the reply is empty")
        return content


def _parse(content: str) -> _Reply:
    fenced = _FENCE.match(content.strip())
    try:
        return _Reply.model_validate_json(fenced.group(1) if fenced else content)
    except ValidationError as exc:
        kind = (
            "is not JSON"
            if any(e["type"] == "json_invalid" for e in exc.errors())
            else "does not fit the schema"
        )
        raise _Failure(f"the reply {kind}") from None


def _match(reply: _Reply, questions: Sequence[Question]) -> list[Judgement]:
    """Each question's entry of the reply, checked: exactly one per fact, citing a passage it was given."""
    entries: dict[int, list[_FactReply]] = {}
    for e in reply.facts:
        entries.setdefault(e.id, []).append(e)
    out = []
    for i, q in enumerate(questions, start=1):
        found = entries.get(i, [])
        e = found[0] if len(found) == 1 else None
        if e is None:
            out.append(Judgement(None, f"the reply has {len(found) or 'no'} verdicts for this fact"))
        elif e.passage is not None and not 1 <= e.passage <= len(q.passages):
            out.append(Judgement(None, f"the reply cites passage {e.passage}, which it was not given"))
        elif e.passage is None and e.verdict == LLMVerdict.SUPPORTED:
            out.append(Judgement(None, "the reply calls it supported without naming the passage"))
        else:
            passage = e.passage - 1 if e.passage is not None else None
            out.append(Judgement(e.verdict, e.reason.strip()[:_REASON_CHARS], passage))
    return out
