"""What a chat request is checked against: its `veracity` options, else the API key's defaults.

The official clients send the options as an extra body field (`extra_body={"veracity": {...}}`);
`X-Veracity-Corpus`, `-Mode`, `-Release`, `-Evidence` and `-Cascade` headers do the same for clients
that can only set headers. With `"evidence": "messages"` the passages are those the app put in its
prompt: the text inside <context>/<document>/<source>/<passage> tags when there are any, else each
paragraph of the system and user messages before the last user message (the question).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from api.gateway.config import EvidenceSource, GatewayConfig, Release
from pipeline.schema import Mode

_TAGGED = re.compile(r"<(context|document|source|passage)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_PARAGRAPH = re.compile(r"\n\s*\n")


class VeracityOptions(BaseModel):
    """The `veracity` object of a chat request."""

    model_config = ConfigDict(extra="forbid")

    corpus: str | None = None
    doc_ids: list[str] | None = None
    evidence: EvidenceSource | None = None
    mode: Mode | None = None
    release: Release | None = None
    judge: str | None = Field(None, description="a registered judge, else the corpus's")
    cascade: bool | None = Field(
        None,
        description="ask the server's LLM judge about the facts the local judge is unsure of; by "
        "default the key's setting, else the corpus's, else the server's (off)",
    )


@dataclass(frozen=True)
class Evidence:
    """Resolved per request: exactly one of corpus or contexts."""

    corpus: str | None
    contexts: list[str] | None
    doc_ids: list[str] | None
    question: str | None
    mode: Mode
    release: Release
    judge: str | None
    cascade: bool | None = None  # None: the corpus's [cascade] setting, else the server's

    @property
    def label(self) -> str:
        return self.corpus or "(messages)"


def message_text(message: dict) -> str:
    """A message's text: a string, or the text parts of a content list."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def passages_from_messages(messages: list[dict], limit: int) -> tuple[list[str], str | None]:
    """(passages, question) from the prompt."""
    texts = [(m.get("role"), message_text(m)) for m in messages if m.get("role") in ("system", "user")]
    question = next((t for r, t in reversed(texts) if r == "user"), None)
    tagged = [m.group(2).strip() for _, t in texts for m in _TAGGED.finditer(t)]
    if question is not None:
        question = _TAGGED.sub(" ", question).strip() or None
    if tagged:
        passages = tagged
    else:
        last_user = max((i for i, (r, _) in enumerate(texts) if r == "user"), default=len(texts))
        passages = [p.strip() for _, t in texts[:last_user] for p in _PARAGRAPH.split(t)]
    passages = [p for p in passages if p]
    if not passages:
        raise ApiError(
            422,
            "no_evidence",
            "`evidence: messages` needs passages in the prompt: system/user messages before the "
            "question, or text inside <context>...</context> tags",
            "veracity.evidence",
        )
    if len(passages) > limit:
        raise ApiError(
            413, "too_many_passages", f"{len(passages)} passages; the limit is {limit}", "messages"
        )
    return passages, question


def resolve(
    options: VeracityOptions,
    headers: dict[str, str],
    key_id: str,
    config: GatewayConfig,
    messages: list[dict],
) -> Evidence:
    """The request's options over its headers over the key's defaults; 422 when no evidence is named."""
    defaults = config.keys.get(key_id)
    header = {
        "corpus": headers.get("x-veracity-corpus"),
        "evidence": headers.get("x-veracity-evidence"),
        "mode": headers.get("x-veracity-mode"),
        "release": headers.get("x-veracity-release"),
        "cascade": headers.get("x-veracity-cascade"),
    }
    merged = (defaults.model_dump(exclude_none=True) if defaults else {}) | {
        k: v for k, v in header.items() if v
    }
    merged |= options.model_dump(exclude_none=True)
    try:
        opts = VeracityOptions(**{k: merged.get(k) for k in VeracityOptions.model_fields})
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"veracity: {exc}", "veracity") from None
    question = next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), None)
    contexts = None
    corpus = opts.corpus
    if opts.evidence == EvidenceSource.MESSAGES:
        contexts, question = passages_from_messages(messages, config.max_passages)
        corpus = None
    elif corpus is None:
        raise ApiError(
            422,
            "no_evidence",
            'name the evidence: "veracity": {"corpus": "..."} or {"evidence": "messages"} in the body '
            "(extra_body with the openai client), or a default for this API key",
            "veracity",
        )
    return Evidence(
        corpus=corpus,
        contexts=contexts,
        doc_ids=opts.doc_ids,
        question=question,
        mode=opts.mode or Mode.ANNOTATE,
        release=opts.release or Release.VERIFIED,
        judge=opts.judge,
        cascade=opts.cascade,
    )
