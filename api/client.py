"""A small synchronous client for the Veracity REST API.

from api.client import VeracityClient

with VeracityClient("http://127.0.0.1:8000", api_key="...") as vc:
    result = vc.verify("Customer may terminate on 60 days' notice.", corpus="sample")
    for s in result.sentences:
        print(s.verdict, s.text, [c.doc_id for c in s.citations])
    job = vc.wait(vc.upload("sample", ["nda.pdf"]).id)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from api.models import BatchResponse, CorpusDetail, CorpusInfo, JobInfo, VerifyResponse
from pipeline.schema import Mode

__all__ = ["VeracityAPIError", "VeracityClient"]


class VeracityAPIError(Exception):
    """An error response: HTTP status plus the API's error code, message and field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class VeracityClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> VeracityClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- verify -----------------------------------------------------------------------------------
    def verify(
        self,
        answer: str,
        corpus: str | None = None,
        *,
        contexts: Sequence[str] | None = None,
        question: str | None = None,
        doc_ids: Sequence[str] | None = None,
        domains: Sequence[str] | None = None,
        mode: Mode = Mode.ANNOTATE,
        language: str | None = None,
        judge: str | None = None,
    ) -> VerifyResponse:
        """Verdicts for every sentence of `answer`, against `corpus` or the given `contexts`;
        `judge` names a registered judge (default: the corpus's, else the server's)."""
        body = _request(answer, corpus, contexts, question, doc_ids, domains, mode, language, judge)
        return VerifyResponse.model_validate(self._call("POST", "/v1/verify", json=body))

    def verify_batch(self, items: Iterable[dict[str, Any]]) -> list[VerifyResponse]:
        """Each item is a /v1/verify body ({"answer", "corpus" | "contexts", ...}); results in order."""
        data = self._call("POST", "/v1/verify/batch", json={"items": list(items)})
        return BatchResponse.model_validate(data).results

    # --- corpora and documents ----------------------------------------------------------------------
    def corpora(self) -> list[CorpusInfo]:
        return [CorpusInfo.model_validate(c) for c in self._call("GET", "/v1/corpora")["corpora"]]

    def corpus(self, name: str) -> CorpusDetail:
        return CorpusDetail.model_validate(self._call("GET", f"/v1/corpora/{quote(name, safe='')}"))

    def upload(self, corpus: str, paths: Sequence[str | Path], domain: str | None = None) -> JobInfo:
        """Upload files (streamed from disk); returns the indexing job (poll it with `job` or `wait`)."""
        with ExitStack() as stack:
            files = [("files", (Path(p).name, stack.enter_context(open(p, "rb")))) for p in paths]
            data = {"domain": domain} if domain else None
            return JobInfo.model_validate(
                self._call("POST", f"/v1/corpora/{quote(corpus, safe='')}/documents", files=files, data=data)
            )

    def delete_document(self, corpus: str, doc_id: str) -> JobInfo:
        path = f"/v1/corpora/{quote(corpus, safe='')}/documents/{quote(doc_id, safe='/')}"
        return JobInfo.model_validate(self._call("DELETE", path))

    def job(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(self._call("GET", f"/v1/jobs/{quote(job_id, safe='')}"))

    def wait(self, job_id: str, timeout: float = 300.0, poll: float = 0.5) -> JobInfo:
        """Poll a job until it succeeds or fails (TimeoutError after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.status in ("succeeded", "failed"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout:g} s")
            time.sleep(poll)

    # --- operations -----------------------------------------------------------------------------------
    def healthy(self) -> bool:
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def ready(self) -> bool:
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._http.request(method, path, **kwargs)
        if resp.status_code >= 400:
            try:
                err = resp.json()["error"]
                raise VeracityAPIError(
                    resp.status_code, err.get("code", "error"), err.get("message", ""), err.get("field")
                )
            except (ValueError, KeyError, TypeError):
                raise VeracityAPIError(resp.status_code, "http_error", resp.text[:500]) from None
        return resp.json()


def _request(
    answer: str,
    corpus: str | None,
    contexts: Sequence[str] | None,
    question: str | None,
    doc_ids: Sequence[str] | None,
    domains: Sequence[str] | None,
    mode: Mode,
    language: str | None,
    judge: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"answer": answer, "mode": str(mode)}
    for key, value in (("corpus", corpus), ("question", question), ("language", language), ("judge", judge)):
        if value is not None:
            body[key] = value
    for key, seq in (("contexts", contexts), ("doc_ids", doc_ids), ("domains", domains)):
        if seq is not None:
            body[key] = list(seq)
    return body
