"""A real uvicorn on 127.0.0.1 (free port, background thread) driven by api.client; `serve`'s auth rules."""

from __future__ import annotations

import argparse

import pytest
from api_support import ANSWER, KEY_A, KEY_B, ThreadedServer, make_pdf, make_settings

from api.client import VeracityAPIError, VeracityClient
from api.config import ApiSettings, ConfigError
from api.server import build_settings, resolve_auth

PDF_LINES = [
    "ACME SUPPLY AGREEMENT",
    "7. Delivery. Acme shall deliver the Products within fifteen (15) business days of each order.",
    "8. Warranty. Acme warrants the Products for eighteen (18) months from delivery.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from api.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("server") / "home")
    with ThreadedServer(create_app(settings)) as srv:
        yield srv


def test_client_against_real_server(server, tmp_path):
    with VeracityClient(server.url, api_key=KEY_A) as vc:
        assert vc.healthy() and vc.ready()
        result = vc.verify(ANSWER, corpus="sample", question="Northwind notice period?")
        assert [s.verdict for s in result.sentences][0] == "contradicted"
        assert result.sentences[0].citations[0].doc_id == "northwind-msa.md"
        assert result.summary.flagged and result.versions["index"].startswith("sample/")

        ctx = vc.verify(
            "The warranty lasts 12 months.",
            contexts=["Goods are warranted for twelve (12) months."],
            mode="redact",
        )
        assert ctx.versions["index"] == "contexts" and ctx.mode == "redact"

        batch = vc.verify_batch(
            [
                {"answer": ANSWER, "corpus": "sample"},
                {"answer": "Refunds take 30 days.", "contexts": ["Refunds take 30 days."]},
            ]
        )
        assert len(batch) == 2 and batch[1].versions["index"] == "contexts"

        assert [c.name for c in vc.corpora()] == ["sample"]
        assert vc.corpus("sample").documents == 4

        # upload a real PDF, wait for its job, and get a verdict that cites it (with the page)
        pdf = tmp_path / "acme supply.pdf"
        pdf.write_bytes(make_pdf(PDF_LINES))
        job = vc.upload("sample", [pdf])
        assert job.status in ("queued", "running", "succeeded") and job.files == ["acme_supply.pdf"]
        job = vc.wait(job.id, timeout=120, poll=0.2)
        assert job.status == "succeeded", job
        assert job.result["added"] == ["acme_supply.pdf"]
        res = vc.verify("Acme warrants the Products for twelve (12) months from delivery.", corpus="sample")
        cite = res.sentences[0].citations[0]
        assert (
            res.sentences[0].verdict == "contradicted" and cite.doc_id == "acme_supply.pdf" and cite.page == 1
        )
        assert vc.corpus("sample").uploaded_documents == 1

        done = vc.wait(vc.delete_document("sample", "acme_supply.pdf").id, timeout=120, poll=0.2)
        assert done.status == "succeeded" and done.result["removed"] == ["acme_supply.pdf"]

        with pytest.raises(VeracityAPIError) as exc:
            vc.verify(ANSWER, corpus="beta")
        assert (
            exc.value.status == 404 and exc.value.code == "corpus_not_found" and exc.value.field == "corpus"
        )
        with pytest.raises(VeracityAPIError) as exc:
            vc.verify("  ", corpus="sample")
        assert exc.value.status == 422 and exc.value.field == "answer"
        with pytest.raises(VeracityAPIError) as exc:
            vc.delete_document("sample", "northwind-msa.md")
        assert exc.value.status == 409

    with VeracityClient(server.url, api_key=KEY_B) as other:
        assert [c.name for c in other.corpora()] == ["beta"]
        with pytest.raises(VeracityAPIError) as exc:
            other.upload("sample", [pdf])
        assert exc.value.status == 404
        with pytest.raises(VeracityAPIError) as exc:
            other.job(job.id)
        assert exc.value.status == 404
    with VeracityClient(server.url) as anonymous, pytest.raises(VeracityAPIError) as exc:
        anonymous.corpora()
    assert exc.value.status == 401


# --- serve's auth rules (no server started) ----------------------------------------------------------


def _args(host: str, no_auth: bool = False, corpus=None) -> argparse.Namespace:
    return argparse.Namespace(host=host, port=0, corpus=corpus, no_auth=no_auth)


def _settings(tmp_path, **kw) -> ApiSettings:
    return ApiSettings(home=tmp_path, **kw)


def test_auth_default_on_loopback_is_disabled_with_warning(tmp_path):
    s, notice = resolve_auth(_settings(tmp_path), "127.0.0.1", no_auth=False)
    assert s.auth_disabled is True and "authentication DISABLED" in notice
    s, notice = resolve_auth(_settings(tmp_path), "localhost", no_auth=True)
    assert s.auth_disabled is True and "--no-auth" in notice


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.org", "::"])
def test_non_loopback_refuses_without_keys(tmp_path, host):
    with pytest.raises(ConfigError, match="no API keys are configured"):
        resolve_auth(_settings(tmp_path), host, no_auth=False)
    with pytest.raises(ConfigError, match="only be disabled on a loopback"):
        resolve_auth(_settings(tmp_path), host, no_auth=True)
    with pytest.raises(ConfigError, match="only be disabled on a loopback"):
        resolve_auth(
            _settings(tmp_path, auth_disabled=True, api_keys={KEY_A: {"read": ["*"]}}), host, no_auth=False
        )


def test_auth_explicitly_required_without_keys_refuses(tmp_path):
    with pytest.raises(ConfigError, match="no API keys are configured"):
        resolve_auth(_settings(tmp_path, auth_disabled=False), "127.0.0.1", no_auth=False)


def test_keys_enable_auth_and_key_file(tmp_path):
    keyfile = tmp_path / "keys.toml"
    keyfile.write_text(
        '[[keys]]\nname = "ops"\nkey_sha256 = "' + "ab" * 32 + '"\nread = ["*"]\n'
        '[[keys]]\nname = "team"\nkey = "team-key-123456"\nread = ["sample"]\nwrite = []\n'
    )
    s, notice = build_settings(
        _args("0.0.0.0", corpus=["sample", "cuad"]), _settings(tmp_path, api_keys_file=keyfile)
    )
    assert s.auth_disabled is False and notice is None and s.serve_corpora == ["sample", "cuad"]
    assert {p.name for p in s.key_policies().values()} == {"ops", "team"}
    assert (
        resolve_auth(_settings(tmp_path, api_keys_file=keyfile), "::1", no_auth=True)[0].auth_disabled is True
    )


def test_veracity_serve_refuses_public_host_without_keys(tmp_path, monkeypatch, capsys):
    from pipeline.cli import main

    for var in ("VERACITY_API_KEYS", "VERACITY_API_KEYS_FILE", "VERACITY_AUTH_DISABLED"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--home", str(tmp_path), "serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "no API keys are configured" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "serve", "--host", "0.0.0.0", "--no-auth"]) == 2
