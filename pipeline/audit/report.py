"""An audit run's report, written from the store: report.html, flagged.csv, results.jsonl.

report.html is one self-contained file (inline CSS and SVG, no script, nothing fetched) rendered by
jinja2 with autoescape on: every text that comes from transcripts or documents is HTML-escaped.
All three files are streamed from the store and replaced atomically.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.audit.html import HTML
from pipeline.audit.store import AuditStore, AuditStoreError
from pipeline.db import count_if
from pipeline.files import atomic_write, csv_cell
from pipeline.schema import BY_SEVERITY, FLAGGED, ErrorKind, Label
from pipeline.segments import cut

WORST_TURNS = 20
TOP_ROWS = 25
MAX_PROBLEMS = 200
COLOURS = {
    Label.CONTRADICTED: "#c0392b",
    Label.UNSUPPORTED: "#c77c02",
    Label.UNCHECKED: "#8e44ad",
    Label.SUPPORTED: "#2e8b57",
    Label.NOT_A_CLAIM: "#8a8f98",
}
KIND_COLOURS = {
    ErrorKind.NUMBER: "#c0392b",
    ErrorKind.NEGATION: "#d35400",
    ErrorKind.ENTITY: "#b03a2e",
    ErrorKind.MODEL: "#922b21",
    ErrorKind.NOT_IN_DOCUMENTS: "#c77c02",
    ErrorKind.UNCHECKED: "#8e44ad",
    ErrorKind.OTHER: "#7b241c",
}
CSV_COLUMNS = (
    "sentence_id",
    "run_id",
    "turn_id",
    "conversation_id",
    "turn",
    "source",
    "line",
    "corpus",
    "sentence",
    "start",
    "end",
    "verdict",
    "kind",
    "confidence",
    "reason",
    "doc_id",
    "title",
    "page",
    "section",
    "quote",
    "question",
)


def write_report(store: AuditStore, run_id: str, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the three report files of `run_id` into out_dir; returns their paths."""
    if store.run(run_id) is None:
        raise AuditStoreError(
            f"unknown audit run {run_id!r} in {store.path}; `veracity audit` lists none such"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "flagged_csv": out / "flagged.csv",
        "results_jsonl": out / "results.jsonl",
        "html": out / "report.html",
    }
    n_csv = atomic_write(paths["flagged_csv"], lambda fh: write_flagged_csv(store, run_id, fh), newline="")
    n_jsonl = atomic_write(paths["results_jsonl"], lambda fh: write_results_jsonl(store, run_id, fh))
    context = gather(store, run_id)
    context["files"] = {"flagged_csv": n_csv, "results_jsonl": n_jsonl}
    atomic_write(paths["html"], lambda fh: fh.write(render_html(context)))
    return paths


# --- flagged.csv and results.jsonl -------------------------------------------------------------


def flagged_rows(store: AuditStore, run_id: str) -> Iterator[dict]:
    for s in store.iter_flagged(run_id):
        c = s["citations"][0] if s["citations"] else {}
        yield {
            "sentence_id": s["id"],
            "run_id": s["run_id"],
            "turn_id": s["turn_id"],
            "conversation_id": s["conversation_id"],
            "turn": s["turn"],
            "source": s["source"],
            "line": s["line"],
            "corpus": s["corpus"],
            "sentence": s["text"],
            "start": s["start_char"],
            "end": s["end_char"],
            "verdict": s["verdict"],
            "kind": ErrorKind.label_of(s["kind"]),
            "confidence": s["confidence"],
            "reason": s["reason"],
            "doc_id": c.get("doc_id", ""),
            "title": c.get("title", ""),
            "page": c.get("page") if c.get("page") is not None else "",
            "section": c.get("section", ""),
            "quote": c.get("quote", ""),
            "question": s["question"] or "",
        }


def write_flagged_csv(store: AuditStore, run_id: str, fh) -> int:
    """One row per flagged sentence with its best citation; returns the number of rows."""
    writer = csv.writer(fh)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for row in flagged_rows(store, run_id):
        writer.writerow([csv_cell(row[c]) for c in CSV_COLUMNS])
        n += 1
    return n


def turn_record(t: dict) -> dict:
    """The results.jsonl line of a turn (store.iter_turns / store.turn shape)."""
    counts = {str(v): t[f"n_{v}"] for v in BY_SEVERITY}
    sentences = []
    for s in t["sentences"]:
        sentences.append(
            {
                "id": s["id"],
                "text": s["text"],
                "start": s.get("start", s.get("start_char")),
                "end": s.get("end", s.get("end_char")),
                "verdict": s["verdict"],
                "confidence": s["confidence"],
                "reason": s["reason"],
                "flagged": bool(s["flagged"]),
                "kind": s["kind"],
                "citations": [
                    {
                        "doc_id": c["doc_id"],
                        "title": c["title"],
                        "page": c["page"],
                        "section": c["section"],
                        "start": c.get("start", c.get("start_char")),
                        "end": c.get("end", c.get("end_char")),
                        "quote": c["quote"],
                    }
                    for c in s["citations"]
                ],
            }
        )
    return {
        "run_id": t["run_id"],
        "turn_id": t["id"],
        "conversation_id": t["conversation_id"],
        "turn": t["turn"],
        "source": t["source"],
        "line": t["line"],
        "question": t["question"],
        "answer": t["answer"],
        "corpus": t["corpus"],
        "doc_ids": t["doc_ids"],
        "status": t["status"],
        "error": t["error"],
        "summary": {
            "counts": counts,
            "n_sentences": t["n_sentences"],
            "n_flagged": t["n_flagged"],
            "flagged": t["n_flagged"] > 0,
            "worst": t["worst"],
        },
        "sentences": sentences,
        "output": t["output"],
        "mode": t["mode"],
        "versions": t["versions"],
        "timings_ms": t["timings"],
        "verify_ms": t["verify_ms"],
        "verified_at": t["verified_at"],
    }


def write_results_jsonl(store: AuditStore, run_id: str, fh) -> int:
    """One JSON line per stored turn (done or error); returns the number of lines."""
    n = 0
    for t in store.iter_turns(run_id):
        fh.write(json.dumps(turn_record(t), ensure_ascii=False))
        fh.write("\n")
        n += 1
    return n


# --- report.html --------------------------------------------------------------------------------


def _percentile(store: AuditStore, run_id: str, n: int, p: float) -> float | None:
    if n == 0:
        return None
    offset = min(n - 1, int(round(p * (n - 1))))
    rows = store.query(
        "SELECT verify_ms FROM turns WHERE run_id = ? AND status = 'done' AND verify_ms IS NOT NULL "
        "ORDER BY verify_ms LIMIT 1 OFFSET ?",
        (run_id, offset),
    )
    return rows[0]["verify_ms"] if rows else None


def segments(answer: str, sentences: list[dict]) -> list[dict]:
    """The answer cut into plain text and flagged sentences (with their marker number)."""
    marked = (
        (s["start_char"], s["end_char"], s)
        for s in sorted(sentences, key=lambda s: s.get("start_char") or 0)
        if s["flagged"]
        and s.get("start_char") is not None
        and s.get("end_char") is not None
        and s["end_char"] > s["start_char"]
    )
    out: list[dict] = []
    n = 0
    for piece in cut(answer, marked):
        if piece.item is None:
            out.append({"text": piece.text, "verdict": None})
        else:
            n += 1
            out.append({"text": piece.text, "verdict": piece.item["verdict"], "n": n})
    return out


def gather(store: AuditStore, run_id: str) -> dict:
    """Everything report.html shows, computed with SQL (bounded memory whatever the run's size)."""
    run = store.run(run_id)
    q = store.query
    verdicts = {
        r["verdict"]: r["n"]
        for r in q(
            "SELECT s.verdict, COUNT(*) AS n FROM sentences s JOIN turns t ON t.id = s.turn_id WHERE t.run_id = ? "
            "GROUP BY s.verdict",
            (run_id,),
        )
    }
    verdict_rows = [
        {"key": v, "label": v.replace("_", " "), "n": verdicts.get(v, 0), "colour": COLOURS[v]}
        for v in BY_SEVERITY
    ]
    flag_rows = [r for r in verdict_rows if r["key"] in FLAGGED]
    kinds = {
        r["kind"]: r["n"]
        for r in q(
            "SELECT s.kind, COUNT(*) AS n FROM sentences s JOIN turns t ON t.id = s.turn_id "
            "WHERE t.run_id = ? AND s.flagged = 1 GROUP BY s.kind",
            (run_id,),
        )
    }
    kind_rows = sorted(
        (
            {"key": str(k), "label": k.label, "n": kinds.get(k, 0), "colour": KIND_COLOURS[k]}
            for k in ErrorKind
            if kinds.get(k)
        ),
        key=lambda r: -r["n"],
    )
    flag_cols = ", ".join(count_if(f"s.verdict = '{v}'") + f" AS {v}" for v in BY_SEVERITY if v in FLAGGED)
    base = (
        "FROM sentences s JOIN turns t ON t.id = s.turn_id "
        "LEFT JOIN citations c ON c.sentence_id = s.id AND c.rank = 0 WHERE t.run_id = ? AND s.flagged = 1"
    )
    by_doc = q(
        f"SELECT c.doc_id, MAX(c.title) AS title, COUNT(*) AS n, COUNT(DISTINCT s.turn_id) AS turns, "
        f"{flag_cols} {base} GROUP BY c.doc_id ORDER BY n DESC, c.doc_id LIMIT ?",
        (run_id, TOP_ROWS),
    )
    by_section = q(
        f"SELECT c.doc_id, c.section, MIN(c.page) AS page, COUNT(*) AS n, {flag_cols} {base} "
        f"GROUP BY c.doc_id, c.section ORDER BY n DESC, c.doc_id, c.section LIMIT ?",
        (run_id, TOP_ROWS),
    )
    n_docs = q(f"SELECT COUNT(DISTINCT COALESCE(c.doc_id, '')) AS n {base}", (run_id,))[0]["n"]
    n_sections = q(
        f"SELECT COUNT(*) AS n FROM (SELECT 1 AS one {base} GROUP BY c.doc_id, c.section) AS sections",
        (run_id,),
    )[0]["n"]
    corpora = q(
        f"SELECT corpus, COUNT(*) AS turns, {count_if('n_flagged > 0')} AS flagged FROM turns WHERE run_id = ? "
        "GROUP BY corpus ORDER BY turns DESC",
        (run_id,),
    )

    worst_ids = [
        r["id"]
        for r in q(
            "SELECT id FROM turns WHERE run_id = ? AND status = 'done' AND n_flagged > 0 ORDER BY n_contradicted DESC, "
            "n_flagged DESC, CAST(n_flagged AS REAL) / MAX(n_sentences, 1) DESC, id LIMIT ?",
            (run_id, WORST_TURNS),
        )
    ]
    worst = []
    for tid in worst_ids:
        t = store.turn(tid)
        t["segments"] = segments(t["answer"], t["sentences"])
        t["flagged_sentences"] = [s for s in t["sentences"] if s["flagged"]]
        for s in t["flagged_sentences"]:
            s["kind_label"] = ErrorKind.label_of(s["kind"])
        worst.append(t)

    timing = q(
        "SELECT COUNT(*) AS n, AVG(verify_ms) AS avg, MIN(verified_at) AS first, MAX(verified_at) AS last "
        "FROM turns WHERE run_id = ? AND status = 'done'",
        (run_id,),
    )[0]
    n_timed = q(
        "SELECT COUNT(*) AS n FROM turns WHERE run_id = ? AND status = 'done' AND verify_ms IS NOT NULL",
        (run_id,),
    )[0]["n"]
    timing["p50"] = _percentile(store, run_id, n_timed, 0.5)
    timing["p95"] = _percentile(store, run_id, n_timed, 0.95)
    errors = q(
        "SELECT error, COUNT(*) AS n, MIN(conversation_id) AS example FROM turns "
        "WHERE run_id = ? AND status = 'error' GROUP BY error ORDER BY n DESC LIMIT 20",
        (run_id,),
    )
    versions = [
        json.loads(r["versions"] or "{}") | {"turns": r["n"]}
        for r in q(
            "SELECT versions, COUNT(*) AS n FROM turns WHERE run_id = ? AND status = 'done' GROUP BY versions "
            "ORDER BY n DESC LIMIT 3",
            (run_id,),
        )
    ]
    done = run["done"]
    totals = {
        "conversations": run["conversations"],
        "turns": run["turns"],
        "done": done,
        "errors": run["errors"],
        "sentences": run["sentences"],
        "flagged_sentences": run["flagged_sentences"],
        "flagged_turns": run["flagged_turns"],
        "problems": run["problems"],
        "flagged_share": (run["flagged_turns"] / done) if done else 0.0,
        "contradicted_turns": q(
            "SELECT COUNT(*) AS n FROM turns WHERE run_id = ? AND n_contradicted > 0", (run_id,)
        )[0]["n"],
    }
    return {
        "run": run,
        "totals": totals,
        "verdict_rows": verdict_rows,
        "flag_rows": flag_rows,
        "kind_rows": kind_rows,
        "by_doc": by_doc,
        "by_section": by_section,
        "n_docs": n_docs,
        "n_sections": n_sections,
        "corpora": corpora,
        "worst": worst,
        "timing": timing,
        "errors": errors,
        "problems": store.problems(run_id, limit=MAX_PROBLEMS),
        "versions": versions,
        "colours": COLOURS,
        "kind_labels": {str(k): k.label for k in ErrorKind},
    }


def render_html(context: dict) -> str:
    return _TEMPLATE.render(**context)


_TEMPLATE = HTML.from_string("""{% from "charts.html" import bars %}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Veracity audit {{ run.run_id }}</title>
<style>
{% include "style.css" %}
</style>
</head>
<body>
<main>

<h1>Veracity audit <code>{{ run.run_id }}</code></h1>
<div class="muted small">
  corpus <b>{{ run.corpus or '–' }}</b> · status {{ run.status }} · started {{ run.created_at }}
  {% if run.finished_at %} · finished {{ run.finished_at }}{% endif %}
  {% if run.inputs %}<br>input: {{ run.inputs | join(', ') }}{% endif %}
</div>

<div class="cards">
  <div class="card"><div class="n">{{ totals.conversations }}</div><div class="l">conversations</div></div>
  <div class="card"><div class="n">{{ totals.done }}</div><div class="l">turns verified</div></div>
  <div class="card alert"><div class="n">{{ totals.flagged_share | pct }}</div>
    <div class="l">of turns with a flag ({{ totals.flagged_turns }})</div></div>
  <div class="card alert"><div class="n">{{ totals.contradicted_turns }}</div>
    <div class="l">turns contradicting the documents</div></div>
  <div class="card"><div class="n">{{ totals.flagged_sentences }}</div>
    <div class="l">flagged of {{ totals.sentences }} sentences</div></div>
  <div class="card"><div class="n">{{ totals.errors }}</div><div class="l">turns not verified (errors)</div></div>
  <div class="card"><div class="n">{{ totals.problems }}</div><div class="l">input problems (skipped)</div></div>
</div>

<div class="charts">
  <div class="panel"><h2 style="margin-top:0">Sentences by verdict</h2>{{ bars(verdict_rows) }}</div>
  <div class="panel"><h2 style="margin-top:0">Flags by kind of error</h2>
    {% if kind_rows %}{{ bars(kind_rows) }}{% else %}<p class="muted">No flagged sentences.</p>{% endif %}</div>
</div>

<h2>Flags by verdict</h2>
<table>
<tr><th>verdict</th><th class="num">sentences</th><th>meaning</th></tr>
{% for r in flag_rows %}
<tr><td><span class="badge" style="background: {{ r.colour }}">{{ r.label }}</span></td><td class="num">{{ r.n }}</td>
<td class="muted">{% if r.key == 'contradicted' %}the documents say otherwise{% elif r.key == 'unsupported' %}the documents do not state it{% else %}could not be checked (never counted as supported){% endif %}</td></tr>
{% endfor %}
</table>

<h2>Flags by kind of error</h2>
<table>
<tr><th>kind</th><th class="num">sentences</th></tr>
{% for r in kind_rows %}<tr><td>{{ r.label }}</td><td class="num">{{ r.n }}</td></tr>{% else %}
<tr><td colspan="2" class="muted">none</td></tr>{% endfor %}
</table>

<h2>Flags by document</h2>
<p class="muted small">Each flagged sentence is counted under its best evidence (the closest passage when the
documents do not state it).{% if n_docs > by_doc | length %} Top {{ by_doc | length }} of {{ n_docs }}.{% endif %}</p>
<table>
<tr><th>document</th><th class="num">flags</th><th class="num">turns</th><th class="num">contradicted</th>
<th class="num">unsupported</th><th class="num">unchecked</th></tr>
{% for r in by_doc %}
<tr><td>{% if r.doc_id %}<code>{{ r.doc_id }}</code>{% if r.title %}<br><span class="muted small">{{ r.title }}</span>{% endif %}{% else %}<span class="muted">(no evidence retrieved)</span>{% endif %}</td>
<td class="num">{{ r.n }}</td><td class="num">{{ r.turns }}</td><td class="num">{{ r.contradicted }}</td>
<td class="num">{{ r.unsupported }}</td><td class="num">{{ r.unchecked }}</td></tr>
{% else %}<tr><td colspan="6" class="muted">none</td></tr>{% endfor %}
</table>

<h2>Flags by document and section</h2>
{% if n_sections > by_section | length %}<p class="muted small">Top {{ by_section | length }} of {{ n_sections }}.</p>{% endif %}
<table>
<tr><th>document</th><th>section / page</th><th class="num">flags</th><th class="num">contradicted</th>
<th class="num">unsupported</th><th class="num">unchecked</th></tr>
{% for r in by_section %}
<tr><td>{% if r.doc_id %}<code>{{ r.doc_id }}</code>{% else %}<span class="muted">(no evidence retrieved)</span>{% endif %}</td>
<td>{{ r.section or ('p. ' ~ r.page if r.page else '–') }}</td><td class="num">{{ r.n }}</td>
<td class="num">{{ r.contradicted }}</td><td class="num">{{ r.unsupported }}</td><td class="num">{{ r.unchecked }}</td></tr>
{% else %}<tr><td colspan="6" class="muted">none</td></tr>{% endfor %}
</table>

{% if corpora | length > 1 %}
<h2>By corpus</h2>
<table><tr><th>corpus</th><th class="num">turns</th><th class="num">with flags</th></tr>
{% for r in corpora %}<tr><td>{{ r.corpus }}</td><td class="num">{{ r.turns }}</td><td class="num">{{ r.flagged }}</td></tr>{% endfor %}
</table>
{% endif %}

<h2>Worst turns</h2>
<p class="muted small">Ranked by contradicted sentences, then flagged sentences. All {{ totals.flagged_sentences }}
flagged sentences are in <code>flagged.csv</code>; every turn is in <code>results.jsonl</code>.</p>
{% for t in worst %}
<div class="turn" id="turn-{{ t.id }}">
  <h3>{{ loop.index }}. conversation <code>{{ t.conversation_id }}</code>, turn {{ t.turn }}
    <span class="muted small">· {{ t.n_flagged }} of {{ t.n_sentences }} sentences flagged · turn id {{ t.id }}
    · {{ t.source }}{% if t.line %}:{{ t.line }}{% endif %}</span></h3>
  {% if t.question %}<div class="q"><b>Question:</b> {{ t.question }}</div>{% endif %}
  <div class="answer">{% for seg in t.segments %}{% if seg.verdict %}<mark class="{{ seg.verdict }}">{{ seg.text }}</mark><sup class="m">[{{ seg.n }}]</sup>{% else %}{{ seg.text }}{% endif %}{% endfor %}</div>
  {% for s in t.flagged_sentences %}
  <div class="flag">
    <b>[{{ loop.index }}]</b> <span class="badge" style="background: {{ colours[s.verdict] }}">{{ s.verdict }}</span>
    <span class="small muted">{{ s.kind_label }} · confidence {{ '%.2f' | format(s.confidence or 0) }} · sentence id {{ s.id }}</span>
    <div class="small">{{ s.reason }}</div>
    {% for c in s.citations[:2] %}
    <blockquote><span class="muted">{{ c.doc_id }}{% if c.page %}, p. {{ c.page }}{% elif c.section %}, {{ c.section }}{% endif %}:</span> “{{ c.quote }}”</blockquote>
    {% endfor %}
  </div>
  {% endfor %}
</div>
{% else %}<p class="muted">No turn has a flagged sentence.</p>{% endfor %}

{% if errors %}
<h2>Turns that could not be verified</h2>
<p class="muted small">Stored with status “error”; re-running the audit with <code>--run-id {{ run.run_id }}</code> retries them.</p>
<table><tr><th>error</th><th class="num">turns</th><th>example conversation</th></tr>
{% for e in errors %}<tr><td>{{ e.error }}</td><td class="num">{{ e.n }}</td><td><code>{{ e.example }}</code></td></tr>{% endfor %}
</table>
{% endif %}

<h2>Input problems</h2>
{% if problems %}
<p class="muted small">Lines that could not be read were skipped; the run went on.{% if totals.problems > problems | length %} First {{ problems | length }} of {{ totals.problems }}.{% endif %}</p>
<table><tr><th>file</th><th class="num">line</th><th>problem</th></tr>
{% for p in problems %}<tr><td><code>{{ p.source }}</code></td><td class="num">{{ p.line if p.line is not none else '–' }}</td><td>{{ p.message }}</td></tr>{% endfor %}
</table>
{% else %}<p class="muted">None.</p>{% endif %}

<h2>Run</h2>
<table>
<tr><th>verification time per turn</th><td>mean {{ timing.avg | ms }}, median {{ timing.p50 | ms }}, p95 {{ timing.p95 | ms }}</td></tr>
<tr><th>first / last turn stored</th><td>{{ timing.first or '–' }} / {{ timing.last or '–' }}</td></tr>
{% for v in versions %}<tr><th>engine{% if versions | length > 1 %} ({{ v.turns }} turns){% endif %}</th>
<td class="small">{% for k, val in v.items() if k != 'turns' %}{{ k }}: <code>{{ val }}</code>{% if not loop.last %} · {% endif %}{% endfor %}</td></tr>{% endfor %}
<tr><th>files</th><td><code>flagged.csv</code> ({{ files.flagged_csv }} rows) · <code>results.jsonl</code> ({{ files.results_jsonl }} lines)</td></tr>
</table>
<p class="muted small">Generated by <code>veracity report {{ run.run_id }}</code> from the audit store.</p>
</main>
</body>
</html>
""")
