"""What the audit tests share: transcripts about the sample corpus (with every kind of bad line), the
stored counts of a run, and the processes of a run."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
from pathlib import Path

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


def answer_for(i: int) -> str:
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
            {"role": "assistant", "content": answer_for(i)},
            {"role": "user", "content": [{"type": "text", "text": FACTS[j % len(FACTS)][0]}]},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": answer_for(j)}, {"type": "text", "text": CLOSING}],
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
            [f"csv-{c:03d}", "1", "assistant", answer_for(k)],
            [f"csv-{c:03d}", "2", "user", FACTS[(k + 1) % len(FACTS)][0]],
            [f"csv-{c:03d}", "3", "assistant", answer_for(k + 1) + "\n\n" + CLOSING],
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


def audit_args(
    transcripts: list, run_id: str | None, out=None, workers: int = 1, **more
) -> argparse.Namespace:
    """The arguments of `veracity audit sample TRANSCRIPTS... --no-progress` as the command parses them."""
    return argparse.Namespace(
        name="sample",
        transcripts=[str(t) for t in transcripts],
        out=None if out is None else str(out),
        workers=workers,
        run_id=run_id,
        no_progress=True,
        **more,
    )


def csv_line(path: Path, conversation_id: str, turn: int) -> int:
    for lineno, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if line.startswith(f"{conversation_id},{turn},".encode()):
            return lineno
    raise AssertionError((conversation_id, turn))


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


def turn_verdicts(db: Path, run_id: str) -> list[tuple]:
    """(conversation, turn, sentence index, sentence, verdict) of every stored sentence of the run."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT t.conversation_id, t.turn, s.idx, s.text, s.verdict FROM sentences s "
            "JOIN turns t ON t.id = s.turn_id WHERE t.run_id = ? ORDER BY 1, 2, 3",
            (run_id,),
        ).fetchall()
    finally:
        conn.close()


def children(pid: int) -> list[int]:
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


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
