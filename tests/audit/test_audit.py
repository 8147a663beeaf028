"""Batch audit of past transcripts: readers, the store, the report, and a real killed-and-resumed run."""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.audit.cli import run_audit, run_report
from pipeline.audit.readers import Conversation, InputProblem, read_transcripts
from pipeline.audit.store import SCHEMA_VERSION, AuditStore, AuditStoreError, store_path
from pipeline.schema import CheckKind, Citation, ErrorKind, Label, Verdict, VerificationResult
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.store.builder import index_corpus
from pipeline.store.corpora import corpus_config

# (question, correct answer, wrong answer) about the sample corpus (corpora/sample)
FACTS = [
    (
        "What is the monthly fee under the Northwind MSA?",
        "Customer pays Provider a monthly fee of USD 12,500 for the Services.",
        "Customer pays Provider a monthly fee of USD 15,000 for the Services.",
    ),
    (
        "How much notice does Bluebell need to end the Northwind agreement for convenience?",
        "Customer may terminate the Agreement for convenience upon ninety (90) days' prior written notice.",
        "Customer may terminate the Agreement for convenience upon sixty (60) days' prior written notice.",
    ),
    (
        "When are Northwind invoices due?",
        "Customer shall pay each undisputed invoice within thirty (30) days of receipt.",
        "Customer shall pay each undisputed invoice within forty-five (45) days of receipt.",
    ),
    (
        "Can Northwind end the MSA for convenience?",
        "Provider may not terminate this Agreement for convenience.",
        "Provider may terminate this Agreement for convenience at any time.",
    ),
    (
        "What uptime does Northwind promise?",
        "Provider shall make the hosted platform available 99.5% of the time in each calendar month.",
        "Provider shall make the hosted platform available 99.9% of the time in each calendar month.",
    ),
    (
        "How long is the initial term of the Northwind MSA?",
        "The Agreement continues for an initial term of three (3) years.",
        "The Agreement continues for an initial term of five (5) years.",
    ),
    (
        "Which law governs the Northwind MSA?",
        "The Agreement is governed by the laws of the State of New York.",
        "The Agreement is governed by the laws of the State of Delaware.",
    ),
    (
        "How many users may use Helios Route Planner?",
        "The license covers up to 250 named users.",
        "The license covers up to 500 named users.",
    ),
    (
        "What is the Helios license fee?",
        "Licensee shall pay an annual license fee of EUR 48,000.",
        "Licensee shall pay an annual license fee of EUR 84,000.",
    ),
    (
        "How fast must Helios answer critical support requests?",
        "Licensor shall respond to critical support requests within four (4) hours.",
        "Licensor shall respond to critical support requests within twelve (12) hours.",
    ),
    (
        "What is the starting dose of ZENTRAVIL?",
        "The recommended starting dose of ZENTRAVIL is 25 mg orally once daily.",
        "The recommended starting dose of ZENTRAVIL is 50 mg orally once daily.",
    ),
    (
        "What is the maximum ZENTRAVIL dose?",
        "The dose may be increased to a maximum of 100 mg once daily.",
        "The dose may be increased to a maximum of 200 mg once daily.",
    ),
    (
        "How many CALMORA tablets can I take in a day?",
        "Do not take more than 10 tablets in 24 hours.",
        "Do not take more than 16 tablets in 24 hours.",
    ),
]
CLOSING = "Let me know if you need anything else!"
XSS = "<script>alert(1)</script>"
BAD_JSON_LINE = '{"id": "broken-001", "messages": [{"role": "user"'


def _answer(i: int) -> str:
    """The right answer to FACTS[i], or for i % 5 in (1, 3) the wrong one."""
    q, right, wrong = FACTS[i % len(FACTS)]
    return wrong if i % 5 in (1, 3) else right


def write_transcripts(root: Path) -> dict:
    """A directory with a JSONL and a CSV export (plus an ignored note); returns what they hold."""
    root.mkdir(parents=True, exist_ok=True)
    lines: list[bytes] = []

    def add(obj) -> None:
        lines.append(json.dumps(obj).encode())

    n = 0
    for c in range(12):  # 12 conversations x 2 assistant turns
        i, j = 2 * c, 2 * c + 1
        msgs = [
            {"role": "system", "content": "You answer questions about our contracts and labels."},
            {"role": "user", "content": FACTS[i % len(FACTS)][0]},
            {"role": "assistant", "content": _answer(i)},
            {"role": "user", "content": [{"type": "text", "text": FACTS[j % len(FACTS)][0]}]},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": _answer(j)}, {"type": "text", "text": CLOSING}],
            },
        ]
        conv = {"id": f"chat-{c:03d}", "messages": msgs}
        if c % 4 == 1:
            conv["metadata"] = {"corpus": "sample", "channel": "web"}
        add(conv)
        n += 2
    add(
        {
            "id": "xss-001",
            "messages": [
                {"role": "user", "content": "Show me a script tag."},
                {"role": "assistant", "content": f"{XSS} {FACTS[5][2]}"},
            ],
        }
    )
    lines.append(BAD_JSON_LINE.encode())  # line 14
    add(
        {
            "id": "roles-001",
            "messages": [
                {"content": "Who am I?"},  # line 15: missing role
                {"role": "user", "content": FACTS[6][0]},
                {"role": "assistant", "content": FACTS[6][1]},
            ],
        }
    )
    add(
        {
            "id": "empty-001",
            "messages": [
                {"role": "user", "content": FACTS[7][0]},  # line 16: empty content
                {"role": "assistant", "content": "   "},
            ],
        }
    )
    lines.append(
        b'{"id": "latin1-001", "messages": [{"role": "assistant", "content": "Caf' + b'\xe9 au lait."}]}'
    )  # line 17: not UTF-8
    lines.append(b"")  # line 18: blank, ignored
    add(
        {
            "id": "tool-001",
            "messages": [  # line 19: a tool call is no answer
                {"role": "user", "content": FACTS[9][0]},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function"}]},
                {"role": "tool", "content": '{"dose": "25 mg"}'},
                {"role": "assistant", "content": FACTS[9][1]},
            ],
        }
    )
    add(
        {
            "id": "nocorpus-001",
            "metadata": {"corpus": "no_such_corpus"},  # line 20: an error turn
            "messages": [
                {"role": "user", "content": "Anything?"},
                {"role": "assistant", "content": FACTS[0][1]},
            ],
        }
    )
    n += 4  # xss, roles, tool, nocorpus
    (root / "chats.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    rows = [["conversation_id", "turn", "role", "content"]]
    for c in range(6):  # 6 conversations x 2 assistant turns
        k = 3 * c
        rows += [
            [f"csv-{c:03d}", "0", "user", FACTS[k % len(FACTS)][0]],
            [f"csv-{c:03d}", "1", "assistant", _answer(k)],
            [f"csv-{c:03d}", "2", "user", FACTS[(k + 1) % len(FACTS)][0]],
            [f"csv-{c:03d}", "3", "assistant", _answer(k + 1) + "\n\n" + CLOSING],
        ]
        n += 2
    rows += [
        ["csv-bad", "0", "user", FACTS[4][0]],
        ["csv-bad", "1", "", FACTS[4][1]],  # missing role
        ["csv-bad", "2", "assistant", ""],  # empty content
        ["csv-bad", "3", "assistant", "LATIN1"],
    ]  # replaced by non-UTF-8 bytes below
    with open(root / "export.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    data = (root / "export.csv").read_bytes().replace(b"LATIN1", b"Cr\xe8me br\xfbl\xe9e.")
    (root / "export.csv").write_bytes(data)
    (root / "README.txt").write_text("not a transcript")
    return {"turns": n, "jsonl": root / "chats.jsonl", "csv": root / "export.csv"}


def csv_line(path: Path, conversation_id: str, turn: int) -> int:
    for lineno, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if line.startswith(f"{conversation_id},{turn},".encode()):
            return lineno
    raise AssertionError((conversation_id, turn))


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("audit_home"), corpora_dir=PROJECT_ROOT / "corpora")
    index_corpus(corpus_config("sample", settings), settings)
    return settings


@pytest.fixture(scope="module")
def engine(home):
    """One engine for the module (its models are the process's, loaded once)."""
    from pipeline.verification.engine import Engine

    return Engine(home)


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory) -> dict:
    info = write_transcripts(tmp_path_factory.mktemp("transcripts") / "exports")
    info["dir"] = info["jsonl"].parent
    return info


@pytest.fixture(scope="module")
def clean_run(home, engine, transcripts, tmp_path_factory) -> dict:
    """A clean in-process audit of the transcript directory (run id "clean")."""
    out = tmp_path_factory.mktemp("clean_out")
    os.environ.pop("VERACITY_AUDIT_DB", None)
    args = argparse.Namespace(
        name="sample",
        transcripts=[str(transcripts["dir"])],
        out=str(out),
        workers=1,
        run_id="clean",
        no_progress=True,
    )
    assert run_audit(args, home, engine=engine) == 0
    return {"db": store_path(home), "out": out}


def counts(db: Path, run_id: str) -> dict:
    conn = sqlite3.connect(db)
    try:
        q = lambda sql: conn.execute(sql, (run_id,)).fetchall()  # noqa: E731
        return {
            "turns": q("SELECT COUNT(*) FROM turns WHERE run_id = ?")[0][0],
            "status": dict(q("SELECT status, COUNT(*) FROM turns WHERE run_id = ? GROUP BY status")),
            "verdicts": dict(
                q(
                    "SELECT s.verdict, COUNT(*) FROM sentences s JOIN turns t ON t.id = s.turn_id "
                    "WHERE t.run_id = ? GROUP BY s.verdict"
                )
            ),
            "citations": q(
                "SELECT COUNT(*) FROM citations c JOIN sentences s ON s.id = c.sentence_id "
                "JOIN turns t ON t.id = s.turn_id WHERE t.run_id = ?"
            )[0][0],
            "per_turn": sorted(
                q("SELECT conversation_id, turn, status, n_sentences, n_flagged FROM turns WHERE run_id = ?")
            ),
            "problems": q("SELECT COUNT(*) FROM problems WHERE run_id = ?")[0][0],
            "conversations": q("SELECT COUNT(*) FROM conversations WHERE run_id = ?")[0][0],
        }
    finally:
        conn.close()


# --- readers -----------------------------------------------------------------------------------


def test_reads_jsonl_csv_and_directory(transcripts):
    items = list(read_transcripts([transcripts["dir"]]))
    convs = [i for i in items if isinstance(i, Conversation)]
    turns = [t for c in convs for t in c.turns]
    assert len(turns) == transcripts["turns"]
    assert {Path(c.source).name for c in convs} == {"chats.jsonl", "export.csv"}  # README.txt ignored

    first = next(c for c in convs if c.conversation_id == "chat-000")
    assert [t.turn for t in first.turns] == [2, 4]  # index in `messages`
    assert first.turns[0].question == FACTS[0][0]
    assert first.turns[1].question == FACTS[1][0]  # list-of-parts content
    assert first.turns[1].answer == FACTS[1][2] + "\n" + CLOSING  # parts joined
    assert first.line == 1 and first.turns[0].corpus is None
    assert next(c for c in convs if c.conversation_id == "chat-001").turns[0].corpus == "sample"
    tool = next(c for c in convs if c.conversation_id == "tool-001")
    assert [(t.turn, t.question) for t in tool.turns] == [(3, FACTS[9][0])]
    assert next(c for c in convs if c.conversation_id == "nocorpus-001").turns[0].corpus == "no_such_corpus"

    csv_conv = next(c for c in convs if c.conversation_id == "csv-001")
    assert [t.turn for t in csv_conv.turns] == [1, 3]
    assert csv_conv.turns[1].answer.endswith("\n\n" + CLOSING)  # quoted multi-line field
    assert csv_conv.turns[1].question == FACTS[4][0]
    assert csv_conv.turns[1].line == csv_line(transcripts["csv"], "csv-001", 3)
    # the same conversations from the single files, and from a gzipped copy
    single = [i for p in (transcripts["jsonl"], transcripts["csv"]) for i in read_transcripts([p])]
    assert [(i.conversation_id, len(i.turns)) for i in single if isinstance(i, Conversation)] == [
        (c.conversation_id, len(c.turns)) for c in convs
    ]


def test_gzip_and_metadata_doc_ids(tmp_path):
    path = tmp_path / "chats.jsonl.gz"
    conv = {
        "id": 7,
        "metadata": {"corpus": "sample", "doc_ids": ["northwind-msa.md"]},
        "messages": [{"role": "user", "content": "Fee?"}, {"role": "assistant", "content": FACTS[0][1]}],
    }
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(conv) + "\n")
    (c,) = read_transcripts([path])
    assert c.conversation_id == "7" and c.turns[0].doc_ids == ["northwind-msa.md"]
    assert c.turns[0].corpus == "sample" and c.turns[0].question == "Fee?"


def test_bad_lines_reported_with_file_and_line(transcripts):
    problems = [i for i in read_transcripts([transcripts["dir"]]) if isinstance(i, InputProblem)]
    got = {(Path(p.source).name, p.line): p.message for p in problems}
    csv_path = transcripts["csv"]
    expected = {
        ("chats.jsonl", 14): "malformed JSON",
        ("chats.jsonl", 15): "message 0: missing role",
        ("chats.jsonl", 16): "message 1: empty assistant content",
        ("chats.jsonl", 17): "not valid UTF-8",
        ("export.csv", csv_line(csv_path, "csv-bad", 1)): "missing role",
        ("export.csv", csv_line(csv_path, "csv-bad", 2)): "empty assistant content",
        ("export.csv", csv_line(csv_path, "csv-bad", 3)): "not valid UTF-8",
    }
    for key, fragment in expected.items():
        assert key in got, (key, got)
        assert fragment in got[key], (key, got[key])
    assert len(problems) == len(expected)
    assert all(Path(p.source).is_absolute() for p in problems)


# --- kinds and store ---------------------------------------------------------------------------


def test_error_kind_from_the_verdicts_data():
    def kind(label: Label, failed: list[CheckKind] = ()) -> ErrorKind | None:
        return Verdict("x", 0, 1, label, 0.9, "reason text is not read", [], list(failed)).error_kind

    assert kind(Label.CONTRADICTED, [CheckKind.NUMBER]) == "number"
    assert kind(Label.CONTRADICTED, [CheckKind.UNIT]) == "number"
    assert kind(Label.CONTRADICTED, [CheckKind.DATE, CheckKind.PARTY]) == "number"  # the first failure
    assert kind(Label.CONTRADICTED, [CheckKind.NEGATION]) == "negation"
    assert kind(Label.CONTRADICTED, [CheckKind.MODALITY]) == "negation"
    assert kind(Label.CONTRADICTED, [CheckKind.PARTY]) == "entity"
    assert kind(Label.CONTRADICTED, [CheckKind.POPULATION]) == "entity"
    assert kind(Label.CONTRADICTED) == "model"  # no slot check failed: the judge contradicted it
    assert kind(Label.UNSUPPORTED) == "not_in_documents"
    assert kind(Label.UNCHECKED) == "unchecked"
    assert kind(Label.SUPPORTED) is None and kind(Label.NOT_A_CLAIM) is None
    assert ErrorKind.label_of("number") == "number/unit mismatch" and ErrorKind.label_of("legacy") == "legacy"


def _result(answer: str, verdicts: list[tuple[str, Label, str]]) -> VerificationResult:
    """Verdicts as the engine makes them; a contradiction here is a number check's."""
    sentences, pos = [], 0
    for text, label, reason in verdicts:
        start = answer.index(text, pos)
        pos = start + len(text)
        cites = [
            Citation(
                "northwind-msa.md",
                "MASTER SERVICES AGREEMENT",
                None,
                "ARTICLE III",
                10,
                60,
                "Customer may terminate ... ninety (90) days' prior written notice",
            )
        ]
        sentences.append(
            Verdict(
                text,
                start,
                pos,
                label,
                0.9,
                reason,
                cites if label != Label.NOT_A_CLAIM else [],
                [CheckKind.NUMBER] if label == Label.CONTRADICTED else [],
            )
        )
    return VerificationResult(answer, sentences, answer, "annotate", {"total": 12.5}, {"verifier": "test"})


def test_store_api_for_ui_and_rest(tmp_path):
    db = tmp_path / "audit.sqlite"
    answer = "Customer may terminate on sixty (60) days' notice. The fee is USD 12,500. Thanks!"
    result = _result(
        answer,
        [
            (
                "Customer may terminate on sixty (60) days' notice.",
                Label.CONTRADICTED,
                "answer says sixty (60) days; evidence says ninety (90) days (MSA)",
            ),
            ("The fee is USD 12,500.", Label.SUPPORTED, "stated in MSA"),
            ("Thanks!", Label.NOT_A_CLAIM, "states no checkable fact"),
        ],
    )
    with AuditStore(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        tid = store.record_verification(None, "api", None, None, "Notice?", answer, "sample", result)
        (flag,) = store.flagged()
        assert flag["run_id"] == "api" and flag["turn_id"] == tid and flag["kind"] == "number"
        assert flag["citations"][0]["doc_id"] == "northwind-msa.md"
        assert store.sentence(flag["id"])["text"].startswith("Customer may terminate")
        # idempotent: the same key again keeps the stored turn and its sentence ids
        cid = flag["conversation_id"]
        assert store.record_verification("api", "api", cid, 0, "Notice?", answer, "sample", result) == tid
        assert [f["id"] for f in store.flagged(run_id="api")] == [flag["id"]]
        t = store.turn(tid)
        assert t["question"] == "Notice?" and t["status"] == "done" and t["n_flagged"] == 1
        assert [s["verdict"] for s in t["sentences"]] == ["contradicted", "supported", "not_a_claim"]
        assert (
            answer[t["sentences"][1]["start_char"] : t["sentences"][1]["end_char"]]
            == "The fee is USD 12,500."
        )
        assert store.turn(10_000) is None
        # filters
        assert (
            store.count_flagged(verdict="contradicted", doc_id="northwind-msa.md", kind=["number", "entity"])
            == 1
        )
        assert store.flagged(verdict="unsupported") == [] and store.flagged(run_id="other") == []
        assert store.flagged(text="sixty")[0]["id"] == flag["id"] and store.flagged(text="%") == []
        # an error turn is replaced by the later result, in place
        eid = store.record_error("nightly", "f.jsonl", "c9", 1, None, "x", "sample", "index missing")
        assert store.turn(eid)["status"] == "error"
        assert store.record_verification("nightly", "f.jsonl", "c9", 1, None, answer, "sample", result) == eid
        assert store.turn(eid)["status"] == "done" and store.count_flagged(run_id="nightly") == 1
        runs = {r["run_id"]: r for r in store.runs()}
        assert runs["api"]["kind"] == "api" and runs["api"]["flagged_sentences"] == 1
        assert runs["nightly"]["done"] == 1 and runs["nightly"]["errors"] == 0
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("INSERT INTO schema_version VALUES (?, 'future')", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(AuditStoreError, match="newer"):
        AuditStore(db)


# --- a real audit ------------------------------------------------------------------------------


def test_audit_run_store_and_report(clean_run, transcripts, home):
    db, out = clean_run["db"], clean_run["out"]
    c = counts(db, "clean")
    assert c["turns"] == transcripts["turns"]
    assert c["status"] == {"done": transcripts["turns"] - 1, "error": 1}  # nocorpus-001: unknown corpus
    assert c["problems"] == 7
    assert c["verdicts"].get("contradicted", 0) >= 8  # the wrong numbers are caught
    with AuditStore(db) as store:
        run = store.run("clean")
        assert run["status"] == "finished" and run["out_dir"] == str(out)
        n_flagged = store.count_flagged(run_id="clean")
        assert n_flagged == run["flagged_sentences"] > 0
        err = store.query("SELECT error FROM turns WHERE run_id = 'clean' AND status = 'error'")[0]["error"]
        assert "no_such_corpus" in err

    with open(out / "flagged.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_flagged
    assert {r["verdict"] for r in rows} <= {"contradicted", "unsupported", "unchecked"}
    notice = next(r for r in rows if "sixty (60) days" in r["sentence"])
    assert notice["verdict"] == "contradicted" and notice["doc_id"] == "northwind-msa.md"
    assert "ninety (90) days" in notice["quote"] and notice["kind"] == "number/unit mismatch"

    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == c["turns"]
    records = [json.loads(line) for line in lines]
    assert sum(r["summary"]["n_flagged"] for r in records) == n_flagged
    assert sum(len(r["sentences"]) for r in records) == sum(c["verdicts"].values())
    assert {(r["conversation_id"], r["turn"]) for r in records} == {(k[0], k[1]) for k in c["per_turn"]}

    html = (out / "report.html").read_text(encoding="utf-8")
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<svg" in html and "<script" not in html.lower()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert 'chats.jsonl</code></td><td class="num">14</td>' in html  # input problem with file and line
    assert "negation/modality" in html or "number/unit mismatch" in html

    # `veracity report RUN_ID` writes the same files again from the store
    before = {n: (out / n).read_bytes() for n in ("flagged.csv", "results.jsonl")}
    for n in before:
        (out / n).unlink()
    assert run_report(argparse.Namespace(run_id="clean", out=None), home) == 0
    assert {n: (out / n).read_bytes() for n in before} == before
    assert (out / "report.html").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


KILL_AFTER = 4  # turns stored before the kill


def test_resume_after_kill_9(clean_run, transcripts, home, tmp_path):
    """kill -9 a real `veracity audit` (2 workers) mid-run, re-run the same run id: every turn is stored
    exactly once and the counts equal the clean run's."""
    db = tmp_path / "resume.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "VERACITY_AUDIT_DB"} | {"VERACITY_AUDIT_DB": str(db)}
    cmd = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "--home",
        str(home.home),
        "audit",
        "sample",
        str(transcripts["dir"]),
        "--run-id",
        "resume-1",
        "--no-progress",
        "--out",
        str(tmp_path / "out"),
    ]
    log = open(tmp_path / "first.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([*cmd, "--workers", "2"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    stored, workers, cmdlines = 0, [], []
    try:
        deadline = time.monotonic() + 900  # generous: the machine may be shared with training runs
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if db.exists():
                try:
                    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                    stored = conn.execute("SELECT COUNT(*) FROM turns WHERE status = 'done'").fetchone()[0]
                    conn.close()
                except sqlite3.OperationalError:
                    continue
            if stored >= KILL_AFTER:
                workers = _children(proc.pid)
                cmdlines = [_cmdline(w) for w in workers]
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        if proc.poll() is None and not workers:
            proc.kill()  # never reached KILL_AFTER turns: fails below
        proc.wait(timeout=60)
        log.close()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()
    conn = sqlite3.connect(db)
    before = conn.execute("SELECT COUNT(*) FROM turns WHERE run_id = 'resume-1'").fetchone()[0]
    kept = conn.execute("SELECT id, turn_id, text FROM sentences ORDER BY id").fetchall()
    status = conn.execute("SELECT status FROM runs WHERE run_id = 'resume-1'").fetchone()[0]
    conn.close()
    assert KILL_AFTER <= before < transcripts["turns"] and status == "running"
    assert sum(b"spawn_main" in c for c in cmdlines) == 2  # the workers (beside multiprocessing's tracker)
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)  # no orphan outlives its parent

    done = subprocess.run(
        [*cmd, "--workers", "1"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "already done" in done.stdout

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    dupes = conn.execute(
        "SELECT conversation_id, turn, COUNT(*) FROM turns GROUP BY run_id, conversation_id, turn "
        "HAVING COUNT(*) > 1"
    ).fetchall()
    assert dupes == []
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM sentences s LEFT JOIN turns t ON t.id = s.turn_id WHERE t.id IS NULL"
        ).fetchone()[0]
        == 0
    )
    # sentences stored before the kill keep their ids (stable ids for the review UI)
    ids = {r[0]: r[1:] for r in conn.execute("SELECT id, turn_id, text FROM sentences")}
    assert all(ids.get(k[0]) == tuple(k[1:]) for k in kept)
    conn.close()
    resumed, clean = counts(db, "resume-1"), counts(clean_run["db"], "clean")
    assert resumed == clean
    assert resumed["turns"] == transcripts["turns"]
    assert (tmp_path / "out" / "report.html").exists()
    with open(tmp_path / "out" / "flagged.csv", newline="", encoding="utf-8") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == sum(n for *_, n in resumed["per_turn"])
