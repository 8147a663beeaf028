"""The review trail (pipeline.review) and the review UI (api/ui) through TestClient: append-only
decisions, queue filters, progress, CSV export, accounts, sessions, CSRF, escaping and evidence."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.ui import build_ui_router
from api.ui import evidence as ev
from api.ui.session import COOKIE, LoginThrottle, Session, Signer
from pipeline.audit.store import AuditStore, store_path
from pipeline.calibration.labels import review_labels
from pipeline.review.accounts import ReviewError, hash_password, verify_password
from pipeline.review.cli import main
from pipeline.review.export import EXPORT_COLUMNS, iter_csv
from pipeline.review.trail import REVIEW_MIGRATIONS, QueueFilter, ReviewStore
from pipeline.schema import Citation, Document, Label, Span, Verdict, VerificationResult
from pipeline.settings import Settings

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
PASSWORD = "correct horse battery"

# a document of the fake corpus: the quote sits after 600 characters of preamble
PREAMBLE = "Preamble words " * 40
QUOTE = "3.2 Customer may terminate for convenience upon ninety (90) days' prior written notice."
DOC_TEXT = PREAMBLE + QUOTE + " Trailing clause text." * 40 + " " + XSS_IMG
DOC = Document(
    doc_id="msa.md",
    title="MASTER <b>SERVICES</b> AGREEMENT",
    domain="contracts",
    source="msa.md",
    sha256="0",
    text=DOC_TEXT,
    pages=[Span(0, 500, "1"), Span(500, len(DOC_TEXT), "2")],
    sections=[Span(0, len(DOC_TEXT), "ARTICLE III. TERM")],
)


def cite(start: int = len(PREAMBLE), quote: str = QUOTE, doc_id: str = "msa.md") -> Citation:
    return Citation(doc_id, DOC.title, 2, "ARTICLE III. TERM", start, start + len(quote), quote)


def result(answer: str, parts: list[tuple[str, Label, list[Citation]]]) -> VerificationResult:
    sentences, pos = [], 0
    for text, label, cites in parts:
        start = answer.index(text, pos)
        sentences.append(Verdict(text, start, start + len(text), label, 0.9, f"reason for {label}", cites))
        pos = start + len(text)
    return VerificationResult(answer=answer, sentences=sentences, output=answer, mode="annotate")


def seed(store: AuditStore) -> dict[str, int]:
    """Two runs: r1 (corpus sample) with 3 flagged sentences, r2 (corpus other) with 1, plus a supported one."""
    ids: dict[str, int] = {}
    a1 = "Customer may terminate on sixty (60) days' notice. The fee is USD 12,500. Ask your doctor."
    t1 = store.record_verification(
        "r1",
        "t.jsonl",
        "c1",
        1,
        "Notice?",
        a1,
        "sample",
        result(
            a1,
            [
                ("Customer may terminate on sixty (60) days' notice.", Label.CONTRADICTED, [cite()]),
                ("The fee is USD 12,500.", Label.SUPPORTED, [cite()]),
                ("Ask your doctor.", Label.UNSUPPORTED, []),
            ],
        ),
    )
    a2 = f"The term is five years. {XSS_SCRIPT} {XSS_IMG} Support is 24/7."
    t2 = store.record_verification(
        "r1",
        "t.jsonl",
        "c2",
        1,
        None,
        a2,
        "sample",
        result(
            a2,
            [
                ("The term is five years.", Label.CONTRADICTED, [cite(doc_id="other.md")]),
                (f"{XSS_SCRIPT} {XSS_IMG} Support is 24/7.", Label.UNCHECKED, [cite(quote=QUOTE)]),
            ],
        ),
    )
    a3 = "Refunds within 30 days."
    t3 = store.record_verification(
        "r2",
        "u.jsonl",
        "c9",
        0,
        None,
        a3,
        "other",
        result(a3, [("Refunds within 30 days.", Label.UNSUPPORTED, [])]),
    )
    for tid, name in ((t1, "t1"), (t2, "t2"), (t3, "t3")):
        for s in store.turn(tid)["sentences"]:
            ids[f"{name}.{s['idx']}"] = s["id"]
    return ids


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def rs(home: Path, db_location):
    """The review store, on SQLite (HOME/audit.sqlite) and on PostgreSQL (a fresh database)."""
    store = AuditStore(db_location)
    review = ReviewStore(store)
    review.ids = seed(store)
    review.database_url = db_location if isinstance(db_location, str) else None
    yield review
    store.close()


# --- passwords and accounts ---------------------------------------------------------------------


def test_password_hashing():
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$")  # per-user salt
    assert PASSWORD not in a
    assert verify_password(PASSWORD, a) and verify_password(PASSWORD, b)
    assert not verify_password(PASSWORD + "x", a)
    assert not verify_password(PASSWORD, "scrypt$1$2$3$zz$zz")
    assert not verify_password(PASSWORD, "md5$abc")
    assert not verify_password(PASSWORD, "")


def test_reviewer_accounts(rs: ReviewStore):
    assert not rs.has_reviewers()
    rs.add_reviewer("alice", PASSWORD)
    assert rs.has_reviewers() and rs.authenticate("alice", PASSWORD)
    assert not rs.authenticate("alice", "wrong password")
    assert not rs.authenticate("nobody", PASSWORD)
    stored = rs.store.query("SELECT password FROM reviewers WHERE name = 'alice'")[0]["password"]
    assert PASSWORD not in stored
    with pytest.raises(ReviewError, match="exists"):
        rs.add_reviewer("alice", PASSWORD)
    with pytest.raises(ReviewError, match="at least"):
        rs.add_reviewer("bob", "short")
    with pytest.raises(ReviewError, match="invalid reviewer name"):
        rs.add_reviewer("bob smith", PASSWORD)
    rs.set_active("alice", False)
    assert not rs.authenticate("alice", PASSWORD) and not rs.is_active("alice")
    rs.add_reviewer("alice", "another password", replace=True)  # set-password re-activates
    assert rs.authenticate("alice", "another password") and not rs.authenticate("alice", PASSWORD)


def test_cli_add_reviewer_reads_stdin(home: Path):
    db = home / "audit.sqlite"
    out = io.StringIO()
    assert (
        main(["--db", str(db), "add-reviewer", "carol"], stdin=io.StringIO(PASSWORD + "\n"), stdout=out) == 0
    )
    assert "carol" in out.getvalue()
    assert (
        main(["--db", str(db), "add-reviewer", "carol"], stdin=io.StringIO(PASSWORD + "\n"), stdout=out) == 2
    )
    out = io.StringIO()
    main(["--db", str(db), "list-reviewers"], stdout=out)
    assert out.getvalue().startswith("carol\tactive")
    with ReviewStore(db) as rs:
        assert rs.authenticate("carol", PASSWORD)
    # --home finds HOME/audit.sqlite
    assert (
        main(
            ["--home", str(home), "set-password", "carol"],
            stdin=io.StringIO("new password 1\n"),
            stdout=io.StringIO(),
        )
        == 0
    )
    with ReviewStore(db) as rs:
        assert rs.authenticate("carol", "new password 1")


# --- the decision trail -------------------------------------------------------------------------


def test_decisions_append_only_and_latest_wins(rs: ReviewStore):
    sid = rs.ids["t1.0"]
    assert rs.status(sid) == "open" and rs.current(sid) is None
    first = rs.decide(sid, "confirmed", "alice", "wrong notice period")
    second = rs.decide(sid, "dismissed", "bob", "")
    third = rs.decide(sid, "escalated", "alice", "legal should look")
    history = rs.history(sid)
    assert [d["decision"] for d in history] == ["confirmed", "dismissed", "escalated"]
    assert [d["reviewer"] for d in history] == ["alice", "bob", "alice"]
    assert history[0]["comment"] == "wrong notice period" and history[0]["decided_at"].endswith("Z")
    assert history[0]["verdict"] == "contradicted" and history[0]["sentence"].startswith("Customer may")
    assert rs.current(sid)["id"] == third["id"] and rs.status(sid) == "escalated"
    assert first["id"] < second["id"] < third["id"]
    # nothing can be rewritten or removed, not even with SQL
    with rs.store.db.connection(private=True) as conn:
        for sql in ("UPDATE decisions SET decision = 'dismissed'", "DELETE FROM decisions"):
            with pytest.raises(rs.store.db.errors, match="append-only"):
                conn.execute(sql)
    assert len(rs.history(sid)) == 3


def test_decide_refuses(rs: ReviewStore):
    with pytest.raises(ReviewError, match="unknown decision"):
        rs.decide(rs.ids["t1.0"], "approved", "alice")
    with pytest.raises(ReviewError, match="no sentence"):
        rs.decide(999_999, "confirmed", "alice")
    with pytest.raises(ReviewError, match="not flagged"):
        rs.decide(rs.ids["t1.1"], "confirmed", "alice")  # supported
    assert rs.store.query("SELECT COUNT(*) AS n FROM decisions")[0]["n"] == 0


def test_schema_is_idempotent_and_leaves_audit_schema(rs: ReviewStore):
    version = rs.store.schema_version()
    rs.decide(rs.ids["t1.0"], "confirmed", "alice")
    again = ReviewStore(rs.store.path)
    assert again.status(rs.ids["t1.0"]) == "confirmed"
    again.close()
    assert AuditStore(rs.store.path).schema_version() == version
    tables = rs.store.db.tables()
    assert {"decisions", "reviewers", "review_schema", "sentences", "turns"} <= tables


def test_queue_filters_counts_and_neighbours(rs: ReviewStore):
    ids = rs.ids
    flagged = [ids["t1.0"], ids["t1.2"], ids["t2.0"], ids["t2.1"], ids["t3.0"]]
    assert [r["id"] for r in rs.queue()] == flagged
    assert rs.count() == 5
    assert [r["id"] for r in rs.queue(QueueFilter(run="r2"))] == [ids["t3.0"]]
    assert [r["id"] for r in rs.queue(QueueFilter(corpus="sample", verdict="contradicted"))] == [
        ids["t1.0"],
        ids["t2.0"],
    ]
    assert [r["id"] for r in rs.queue(QueueFilter(doc="other.md"))] == [ids["t2.0"]]
    rs.decide(ids["t1.0"], "confirmed", "alice")
    rs.decide(ids["t2.0"], "dismissed", "alice")
    rs.decide(ids["t2.0"], "confirmed", "bob")
    assert [r["id"] for r in rs.queue(QueueFilter(status="open"))] == [ids["t1.2"], ids["t2.1"], ids["t3.0"]]
    assert [r["id"] for r in rs.queue(QueueFilter(status="confirmed"))] == [ids["t1.0"], ids["t2.0"]]
    assert rs.queue(QueueFilter(status="dismissed")) == []  # superseded by the later decision
    assert [r["id"] for r in rs.queue(QueueFilter(status="reviewed"))] == [ids["t1.0"], ids["t2.0"]]
    row = rs.queue(QueueFilter(status="confirmed"))[1]
    assert row["status"] == "confirmed" and row["reviewer"] == "bob" and row["doc_id"] == "other.md"
    c = rs.counts(QueueFilter(run="r1", status="open"))  # the status filter is ignored by counts
    assert c["total"] == 4 and c["status"]["open"] == 2 and c["status"]["confirmed"] == 2
    assert c["status"]["reviewed"] == 2 and c["verdict"] == {
        "contradicted": 2,
        "unsupported": 1,
        "unchecked": 1,
    }
    assert rs.neighbours(ids["t1.2"]) == (ids["t1.0"], ids["t2.0"])
    assert rs.neighbours(ids["t1.0"], QueueFilter(status="open")) == (None, ids["t1.2"])
    assert rs.neighbours(ids["t3.0"]) == (ids["t2.1"], None)
    assert rs.position(ids["t2.0"]) == {"index": 3, "total": 5}
    assert rs.position(ids["t1.0"], QueueFilter(status="open")) == {"index": None, "total": 3}
    assert rs.first(QueueFilter(status="open")) == ids["t1.2"]
    opts = rs.filter_options()
    assert opts["corpus"] == ["other", "sample"] and set(opts["run"]) == {"r1", "r2"}
    assert opts["doc"] == ["msa.md", "other.md"]


def test_progress_per_run(rs: ReviewStore):
    ids = rs.ids
    rs.decide(ids["t1.0"], "confirmed", "alice")
    rs.decide(ids["t1.2"], "dismissed", "alice")
    rs.decide(ids["t2.0"], "escalated", "alice")
    rs.decide(ids["t2.0"], "confirmed", "alice")
    rows = {r["run_id"]: r for r in rs.progress()}
    r1 = rows["r1"]
    assert (r1["flagged"], r1["reviewed"], r1["open"]) == (4, 3, 1)
    assert (r1["confirmed"], r1["dismissed"], r1["escalated"]) == (2, 1, 0)
    assert r1["confirmed_share"] == pytest.approx(2 / 3)
    assert rows["r2"]["reviewed"] == 0 and rows["r2"]["confirmed_share"] is None


def test_export_csv(rs: ReviewStore):
    ids = rs.ids
    rs.decide(ids["t1.0"], "dismissed", "alice", '=HYPERLINK("http://evil")')
    rs.decide(ids["t1.0"], "confirmed", "bob", "wrong period")
    rs.decide(ids["t3.0"], "escalated", "alice")
    rows = list(csv.DictReader(io.StringIO("".join(iter_csv(rs)))))
    assert list(rows[0]) == EXPORT_COLUMNS
    assert [(r["decision"], r["reviewer"], r["current"]) for r in rows] == [
        ("dismissed", "alice", "0"),
        ("confirmed", "bob", "1"),
        ("escalated", "alice", "1"),
    ]
    assert rows[0]["comment"].startswith("'=")  # no spreadsheet formula
    assert (
        rows[1]["run_id"] == "r1"
        and rows[1]["conversation_id"] == "c1"
        and rows[1]["verdict"] == "contradicted"
    )
    assert rows[1]["quote"] == QUOTE and rows[1]["doc_id"] == "msa.md" and rows[1]["page"] == "2"
    latest = list(csv.DictReader(io.StringIO("".join(iter_csv(rs, latest_only=True)))))
    assert [r["decision"] for r in latest] == ["confirmed", "escalated"]
    only_r2 = list(csv.DictReader(io.StringIO("".join(iter_csv(rs, run="r2")))))
    assert [r["sentence_id"] for r in only_r2] == [str(ids["t3.0"])]
    out = io.StringIO()
    assert main(["--db", str(rs.store.path), "export", "--latest"], stdout=out) == 0
    assert out.getvalue().count("\n") == 3


# --- evidence helpers -----------------------------------------------------------------------------


def test_passage_and_document_segments():
    p = ev.passage(DOC, len(PREAMBLE), len(PREAMBLE) + len(QUOTE), QUOTE)
    assert p.quote == QUOTE and not p.located.moved
    assert 350 <= len(p.before) <= 400 and 350 <= len(p.after) <= 400
    assert p.clipped_before and p.clipped_after and p.before[0].isalpha() and p.before[-1] == " "
    moved = ev.passage(DOC, 3, 40, QUOTE)  # offsets stale: found by the quote
    assert moved.quote == QUOTE and moved.located.moved
    assert ev.passage(DOC, 0, 10, "not in the document at all") is None
    loc = ev.locate(DOC.text, len(PREAMBLE), len(PREAMBLE) + len(QUOTE), QUOTE)
    segs = ev.document_segments(DOC, loc)
    assert "".join(s.text for s in segs) == DOC.text
    assert [s.label for s in segs if s.kind == "page"] == ["1", "2"]
    marks = [s for s in segs if s.kind == "mark"]
    assert "".join(s.text for s in marks) == QUOTE and marks[0].anchor == "cite"


def test_session_signing_and_throttle():
    signer = Signer(b"k" * 32, ttl_s=60)
    s = Session.new("alice", 60)
    token = signer.dumps(s)
    assert signer.loads(token) == s
    payload, mac = token.split(".")
    assert signer.loads(payload + "." + mac[:-2] + "AA") is None
    forged = Signer(b"x" * 32).dumps(Session("mallory", "t", s.expires))
    assert signer.loads(forged) is None
    assert signer.loads(signer.dumps(Session("alice", "t", 1))) is None  # expired
    assert signer.loads("garbage") is None and signer.loads(None) is None
    t = LoginThrottle(limit=3, window_s=60)
    for _ in range(3):
        assert not t.blocked("alice", "1.2.3.4")
        t.failed("Alice", "1.2.3.4")
    assert t.blocked("alice", "1.2.3.4") and not t.blocked("alice", "5.6.7.8")


# --- the UI through TestClient ----------------------------------------------------------------------


class FakeIndex:
    def document(self, doc_id: str):
        return DOC if doc_id == "msa.md" else None


class FakeEngine:
    def index(self, corpus: str):
        if corpus != "sample":
            raise KeyError(corpus)
        return FakeIndex()


@pytest.fixture
def ui(home: Path, rs: ReviewStore):
    rs.add_reviewer("alice", PASSWORD)
    settings = Settings(home=home, corpora_dir=home / "corpora", database_url=rs.database_url)
    app = FastAPI()
    app.state.veracity = SimpleNamespace(engine=FakeEngine())
    app.include_router(build_ui_router(settings), prefix="/ui")
    with TestClient(app, base_url="http://testserver") as client:
        client.ids = rs.ids
        client.rs = rs
        yield client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, name: str = "alice", password: str = PASSWORD):
    page = client.get("/ui/login")
    return client.post(
        "/ui/login",
        data={"name": name, "password": password, "csrf": csrf_of(page.text), "next": "/ui/queue"},
        follow_redirects=False,
    )


def test_unauthenticated_redirects_to_login(ui: TestClient):
    sid = ui.ids["t1.0"]
    for path in (
        "/ui/",
        "/ui/queue?run=r1",
        f"/ui/items/{sid}",
        "/ui/runs",
        "/ui/export.csv",
        f"/ui/items/{sid}/evidence/0",
        "/ui/docs/sample/msa.md",
    ):
        r = ui.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/ui/login") or r.headers["location"] == "/ui/queue", path
    r = ui.get("/ui/queue?run=r1", follow_redirects=False)
    assert r.headers["location"] == "/ui/login?next=%2Fui%2Fqueue%3Frun%3Dr1"
    # a forged or tampered cookie is no session
    ui.cookies.set(COOKIE, Signer(b"y" * 32).dumps(Session.new("alice", 60)), path="/ui")
    assert ui.get("/ui/queue", follow_redirects=False).status_code == 303
    # static files need no session, and are the only thing without one
    assert ui.get("/ui/static/review.js").status_code == 200
    assert ui.get("/ui/static/..%2Fsession.py").status_code == 404


def test_login_logout_and_cookie_flags(ui: TestClient):
    r = sign_in(ui, password="wrong password")
    assert r.status_code == 401 and "wrong password" in r.text.lower()
    r = sign_in(ui)
    assert r.status_code == 303 and r.headers["location"] == "/ui/queue"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ui" in cookie
    assert ui.get("/ui/queue").status_code == 200
    # an open redirect through ?next= is refused
    page = ui.get("/ui/login?next=//evil.example/x", follow_redirects=False)
    assert page.headers["location"] == "/ui/queue"
    html = ui.get("/ui/queue").text
    r = ui.post("/ui/logout", data={"csrf": csrf_of(html)}, follow_redirects=False)
    assert r.status_code == 303
    assert ui.get("/ui/queue", follow_redirects=False).status_code == 303
    # a disabled reviewer's session ends at once
    sign_in(ui)
    ui.rs.set_active("alice", False)
    assert ui.get("/ui/queue", follow_redirects=False).status_code == 303


def test_login_throttled(ui: TestClient):
    for _ in range(5):
        assert sign_in(ui, password="nope nope nope").status_code == 401
    assert sign_in(ui).status_code == 429


def test_csrf_rejected(ui: TestClient):
    sid = ui.ids["t1.0"]
    # login itself needs the pre-session token
    ui.get("/ui/login")
    r = ui.post("/ui/login", data={"name": "alice", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    sign_in(ui)
    token = csrf_of(ui.get(f"/ui/items/{sid}").text)
    assert ui.post(f"/ui/items/{sid}/decide", data={"decision": "confirmed"}).status_code == 403
    assert (
        ui.post(f"/ui/items/{sid}/decide", data={"decision": "confirmed", "csrf": "x" * 32}).status_code
        == 403
    )
    r = ui.post(
        f"/ui/items/{sid}/decide",
        data={"decision": "confirmed", "csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    r = ui.post(
        f"/ui/items/{sid}/decide",
        data={"decision": "confirmed", "csrf": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 403
    assert ui.post("/ui/logout").status_code == 403
    assert ui.rs.history(sid) == []
    r = ui.post(
        f"/ui/items/{sid}/decide",
        data={"decision": "confirmed", "csrf": token, "comment": "real"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and ui.rs.status(sid) == "confirmed"


def test_decide_through_the_ui(ui: TestClient):
    sign_in(ui)
    ids = ui.ids
    sid = ids["t1.0"]
    html = ui.get(f"/ui/items/{sid}?status=open").text
    token = csrf_of(html)
    r = ui.post(
        f"/ui/items/{sid}/decide",
        data={"decision": "confirmed", "comment": "wrong", "csrf": token, "status": "open"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/ui/items/{sid}?status=open&saved=")
    page = ui.get(r.headers["location"]).text
    assert 'id="current-status">confirmed' in page and "Decision saved" in page and "wrong" in page
    # re-decide, advancing to the next open item; the trail shows both
    r = ui.post(
        f"/ui/items/{sid}/decide",
        data={"decision": "dismissed", "csrf": token, "advance": "1", "status": "open"},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/ui/items/{ids['t1.2']}?status=open&advance=1"
    page = ui.get(f"/ui/items/{sid}").text
    assert page.count('class="status status-') >= 3 and 'id="current-status">dismissed' in page
    assert [d["decision"] for d in ui.rs.history(sid)] == ["confirmed", "dismissed"]
    # invalid decisions and unflagged sentences
    r = ui.post(f"/ui/items/{sid}/decide", data={"decision": "approve", "csrf": token})
    assert r.status_code == 400 and "unknown decision" in r.text
    r = ui.post(f"/ui/items/{ids['t1.1']}/decide", data={"decision": "confirmed", "csrf": token})
    assert r.status_code == 400 and "not flagged" in r.text
    assert (
        ui.post("/ui/items/424242/decide", data={"decision": "confirmed", "csrf": token}).status_code == 404
    )
    assert ui.get("/ui/items/424242").status_code == 404 and ui.get("/ui/items/abc").status_code == 404
    # the queue shows counts and the status
    q = ui.get("/ui/queue").text
    assert re.search(r'<span class="n">4</span><span class="what">open</span>', q)
    assert re.search(r'<span class="n">1</span><span class="what">dismissed</span>', q)
    # progress and export
    runs = ui.get("/ui/runs").text
    assert "1 / 4" in runs and "0%" in runs
    r = ui.get("/ui/export.csv?run=r1")
    assert (
        r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["decision"], x["reviewer"], x["comment"]) for x in rows] == [
        ("confirmed", "alice", "wrong"),
        ("dismissed", "alice", ""),
    ]


def test_xss_is_escaped_and_headers_set(ui: TestClient):
    sign_in(ui)
    sid = ui.ids["t2.1"]
    for path in (f"/ui/items/{sid}", "/ui/queue", f"/ui/items/{ui.ids['t1.0']}/evidence/0"):
        r = ui.get(path)
        assert r.status_code == 200, path
        html = r.text
        assert XSS_SCRIPT not in html and XSS_IMG not in html, path
        assert "<b>SERVICES</b>" not in html
        # the only script element is the static file
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/ui/static/review.js" defer>']
        assert " style=" not in html and "onerror=" not in html.replace("onerror=alert(1)&gt;", "")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    html = ui.get(f"/ui/items/{sid}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_item_shows_answer_reason_and_evidence(ui: TestClient):
    sign_in(ui)
    sid = ui.ids["t1.0"]
    html = ui.get(f"/ui/items/{sid}").text
    # the whole answer, each sentence coloured by verdict, the selected one marked
    assert 'class="s v-contradicted selected"' in html and 'class="s v-supported"' in html
    assert 'class="s v-unsupported"' in html and "reason for contradicted" in html
    # the quote highlighted inside its surrounding document text, title and place
    m = re.search(r'<div class="context">(.*?)</div>', html, re.S)
    assert f"<mark>{QUOTE.replace(chr(39), '&#39;')}</mark>" in m.group(1)
    assert "Preamble words" in m.group(1) and "Trailing clause text" in m.group(1)
    assert "MASTER &lt;b&gt;SERVICES&lt;/b&gt; AGREEMENT" in html and "p. 2 · ARTICLE III. TERM" in html
    assert f'href="/ui/items/{sid}/evidence/0#cite"' in html
    doc = ui.get(f"/ui/items/{sid}/evidence/0").text
    assert '<mark id="cite">' in doc and 'id="page-2"' in doc and "characters 600–" in doc
    # a cited document the corpus no longer has: the quote alone, with the reason
    other = ui.get(f"/ui/items/{ui.ids['t2.0']}").text
    assert "is no longer in corpus" in other and "<mark>" in other
    # the generic document route
    assert '<mark id="cite">' in ui.get(f"/ui/docs/sample/msa.md?start={len(PREAMBLE)}&end=620").text
    assert ui.get("/ui/docs/sample/missing.md").status_code == 404


def test_mounted_in_the_api_app(tmp_path: Path):
    from api.app import create_app
    from api.config import ApiSettings

    home = tmp_path / "apihome"
    settings = ApiSettings(home=home, corpora_dir=home / "corpora", auth_disabled=True, serve_corpora=[])
    with TestClient(create_app(settings, engine=FakeEngine()), base_url="http://127.0.0.1") as client:
        r = client.get("/ui/queue", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
        assert client.get("/ui/login").status_code == 200
        assert not [p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/ui")]
    assert store_path(settings) == home / "audit.sqlite"


def test_out_of_range_ids_are_not_found(ui: TestClient):
    sign_in(ui)
    huge = "9" * 23
    assert ui.get(f"/ui/items/{huge}").status_code == 404
    assert ui.get(f"/ui/items/{huge}/evidence/0").status_code == 404
    assert ui.get(f"/ui/items/{ui.ids['t1.0']}?saved={huge}").status_code == 200
    assert ui.get(f"/ui/docs/sample/msa.md?start={huge}&end=-{huge}").status_code == 200


def test_throttle_counts_per_account_and_atomically():
    t = LoginThrottle(limit=5, window_s=60, account_limit=8, client_limit=100)
    assert sum(t.attempt("alice", f"10.0.0.{i}") for i in range(20)) == 8  # per account, any client
    assert not t.attempt("ALICE", "10.0.1.1") and t.attempt("bob", "10.0.0.1")
    t = LoginThrottle(limit=5, window_s=60)
    assert t.attempt("carol", "c") and t.attempt("carol", "c")
    t.succeeded("carol", "c")  # a success takes back its own count and clears the pair
    assert sum(t.attempt("carol", "c") for _ in range(9)) == 5


def test_concurrent_and_forwarded_guesses_are_throttled(home: Path, rs: ReviewStore):
    import threading

    import httpx
    from api_support import ThreadedServer

    from api.config import ApiSettings

    rs.add_reviewer("alice", PASSWORD)
    settings = ApiSettings(
        home=home, corpora_dir=home / "corpora", auth_disabled=True, serve_corpora=[], database_url=rs.database_url
    )
    app = FastAPI()
    app.include_router(build_ui_router(settings), prefix="/ui")
    with ThreadedServer(app, settings) as srv:
        clients = [httpx.Client(base_url=srv.url) for _ in range(16)]
        tokens = [csrf_of(c.get("/ui/login").text) for c in clients]
        statuses: list[int] = []
        barrier = threading.Barrier(len(clients))

        def guess(i: int) -> None:
            barrier.wait()
            form = {"name": "alice", "password": f"guess {i}", "csrf": tokens[i]}
            # a fresh forwarded address per guess must not make a fresh client
            r = clients[i].post("/ui/login", data=form, headers={"X-Forwarded-For": f"203.0.113.{i}"})
            statuses.append(r.status_code)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(clients))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for c in clients:
            c.close()
    assert statuses.count(401) == 5 and statuses.count(429) == len(clients) - 5, statuses


def test_logout_revokes_the_session(ui: TestClient):
    page = ui.get("/ui/login")
    max_age = int(re.search(r"Max-Age=(\d+)", page.headers["set-cookie"]).group(1))
    assert max_age <= 3600  # the pre-sign-in cookie lives no longer than its session
    sign_in(ui)
    saved = ui.cookies.get(COOKIE)
    sid = ui.ids["t1.0"]
    token = csrf_of(ui.get(f"/ui/items/{sid}").text)
    assert ui.post("/ui/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    ui.cookies.set(COOKIE, saved, path="/ui")  # the copy an attacker kept
    assert ui.get("/ui/queue", follow_redirects=False).status_code == 303
    r = ui.post(f"/ui/items/{sid}/decide", data={"decision": "confirmed", "csrf": token}, follow_redirects=False)
    assert r.status_code in (303, 403) and ui.rs.current(sid) is None
    assert sign_in(ui).status_code == 303 and ui.get("/ui/queue").status_code == 200  # a new session works


def test_reviewer_errors_name_no_server_paths(home: Path):
    class Broken:
        def index(self, corpus: str):
            raise OSError(f"[Errno 2] No such file or directory: '{home}/indexes/{corpus}/CURRENT'")

    found = ev.DocumentSource(Settings(home=home)).get("sample", "msa.md", engine=Broken())
    assert found.document is None and "cannot be opened" in found.problem and str(home) not in found.problem


# --- missed errors, the v2 migration, weekly shares, decisions as calibration labels -------------


def test_missed_only_on_supported_sentences(rs: ReviewStore):
    ids = rs.ids
    row = rs.decide(ids["t1.1"], "missed", "alice", "the fee is USD 12,000")
    assert row["decision"] == "missed" and row["verdict"] == "supported"
    with pytest.raises(ReviewError, match="only a supported sentence can be a missed error"):
        rs.decide(ids["t1.0"], "missed", "alice")  # contradicted
    with pytest.raises(ReviewError, match="not flagged"):
        rs.decide(ids["t1.1"], "confirmed", "alice")
    # the queue still lists flags only; the run counts the missed error apart
    assert ids["t1.1"] not in {r["id"] for r in rs.queue()}
    r1 = {r["run_id"]: r for r in rs.progress()}["r1"]
    assert r1["missed"] == 1 and r1["reviewed"] == 0


def test_weekly_share_and_labels(rs: ReviewStore):
    ids = rs.ids
    rs.decide(ids["t1.0"], "dismissed", "alice")
    rs.decide(ids["t1.0"], "confirmed", "bob")  # the latest decision counts
    rs.decide(ids["t1.2"], "dismissed", "alice")
    rs.decide(ids["t2.0"], "escalated", "alice")
    rs.decide(ids["t1.1"], "missed", "alice")
    (week,) = rs.weekly()
    assert (week["reviewed"], week["confirmed"], week["dismissed"], week["missed"]) == (3, 1, 1, 1)
    assert week["confirmed_share"] == pytest.approx(1 / 3) and week["week"][4:6] == "-W"
    answers = review_labels(rs, "sample")
    got = [(s.sentence_id, s.gold, s.error) for a in answers for s in a.sentences]
    assert got == [
        (ids["t1.0"], "confirmed", True),
        (ids["t1.1"], "missed", True),
        (ids["t1.2"], "dismissed", False),
    ]
    assert answers[0].answer.startswith("Customer may terminate") and answers[0].question == "Notice?"
    assert review_labels(rs, "sample", ["r2"]) == [] and review_labels(rs, "other") == []


def test_v1_trail_migrates_keeping_decisions(db_location):
    store = AuditStore(db_location)
    ids = seed(store)
    with store.transaction() as conn:  # a store as review schema version 1 left it
        conn.execute(
            "CREATE TABLE IF NOT EXISTS review_schema (version INTEGER PRIMARY KEY, applied_at TEXT)"
        )
        REVIEW_MIGRATIONS[0](conn)
        conn.execute("INSERT INTO review_schema VALUES (1, '2026-01-01T00:00:00Z')")
        conn.execute(
            "INSERT INTO decisions (sentence_id, decision, reviewer, decided_at) VALUES (?, 'confirmed', 'old', "
            "'2026-01-05T10:00:00Z')",
            (ids["t1.0"],),
        )
    rs = ReviewStore(store)
    assert [d["reviewer"] for d in rs.history(ids["t1.0"])] == ["old"]
    rs.decide(ids["t1.1"], "missed", "alice")
    assert rs.store.query("SELECT MAX(version) AS v FROM review_schema")[0]["v"] == 2
    with store.db.connection(private=True) as conn:
        with pytest.raises(store.db.errors, match="append-only"):
            conn.execute("DELETE FROM decisions")
    with store.db.connection(private=True) as conn:
        with pytest.raises(store.db.errors, match="decision"):
            conn.execute(
                "INSERT INTO decisions (sentence_id, decision, reviewer, decided_at) VALUES (?, 'maybe', 'x', 'y')",
                (ids["t1.0"],),
            )
    store.close()
