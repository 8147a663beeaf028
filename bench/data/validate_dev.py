"""Validate the hand-labelled dev set (bench/data/dev_answers.jsonl) against the source documents.

Checks, per answer:
  * required fields, unique id, corpus in {drug_labels, cuad}, exactly one doc_id (answers are scoped);
  * 4-7 sentences; `answer` == " ".join(sentence texts); every sentence ends with . ! or ? and has no
    internal sentence break;
  * label in {supported, contradicted, unsupported, not_a_claim};
  * supported / contradicted: non-empty evidence of at most 300 characters that occurs, after collapsing
    whitespace (case-sensitive), in the text of the cited document;
  * unsupported / not_a_claim: empty evidence; contradicted / unsupported: an `error` kind;
    contradicted: a `note` saying what the document says.
Warns (does not fail) when a quote spans two blocks of an SPL label or two fields of an openFDA record
(e.g. a table row's cells, or a section title and its first paragraph), since an extractor that joins
blocks differently may not find it.

Prints label counts overall and per corpus. Exit status 1 on any error.

Usage:  python bench/data/validate_dev.py [path/to/dev_answers.jsonl] [--data-root /work/shared/data]
Needs pypdf for the Veklury PDF.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

LABELS = ("supported", "contradicted", "unsupported", "not_a_claim")
CORPORA = ("drug_labels", "cuad")
MAX_QUOTE = 300
SEP = "\x00"  # block boundary marker

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = os.environ.get("VERACITY_DATA_ROOT", "/work/shared/data")


def ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --------------------------------------------------------------------------- document text
NS = "{urn:hl7-org:v3}"
# Elements that start a new visual block; everything else (content, sup, sub, linkHtml, ...) is inline.
SPL_BLOCKS = {"paragraph", "item", "td", "th", "caption", "title", "list", "table", "tr", "footnote", "text"}


def _spl_walk(el: ET.Element, out: list[str]) -> None:
    tag = el.tag.replace(NS, "")
    if tag == "br":
        out.append(" ")
    block = tag in SPL_BLOCKS
    if block:
        out.append(SEP)
    if el.text:
        out.append(el.text)
    for child in el:
        _spl_walk(child, out)
        if child.tail:
            out.append(child.tail)
    if block:
        out.append(SEP)


def spl_blocks(path: Path) -> list[str]:
    """Visible text of an SPL label: each <section>'s own <title> and <text>, in document order."""
    root = ET.parse(path).getroot()
    out: list[str] = []
    for sec in root.iter(NS + "section"):
        for child in sec:
            if child.tag.replace(NS, "") in ("title", "text"):
                _spl_walk(child, out)
    return [b for b in (ws(x) for x in "".join(out).split(SEP)) if b]


def pdf_blocks(path: Path) -> list[str]:
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        from pypdf import PdfReader
    except ImportError as e:
        raise RuntimeError("pypdf is needed for PDF documents; run with the project's .venv python") from e

    text = "\n".join((page.extract_text() or "") for page in PdfReader(str(path)).pages)
    return [ws(text)]


def openfda_blocks(path: Path, index: int) -> list[str]:
    """All human-readable label fields of one record (HTML *_table duplicates and metadata left out)."""
    rec = json.loads(path.read_text(encoding="utf-8"))["results"][index]
    blocks = []
    for key, value in rec.items():
        if key == "openfda" or key.endswith("_table") or not isinstance(value, list):
            continue
        blocks.extend(ws(v) for v in value if isinstance(v, str))
    return [b for b in blocks if b]


def cuad_txt_path(data: Path, doc_id: str) -> Path:
    pdf = data / "contracts/cuad/full_contract_pdf" / doc_id
    if not pdf.is_file():
        raise FileNotFoundError(f"no such CUAD PDF: {pdf}")
    return data / "contracts/cuad/full_contract_txt" / (Path(doc_id).stem + ".txt")


@cache
def doc_blocks(data: Path, corpus: str, doc_id: str) -> tuple[str, ...]:
    if corpus == "cuad":
        return (ws(cuad_txt_path(data, doc_id).read_text(encoding="utf-8", errors="replace")),)
    labels = data / "drug_labels"
    if doc_id.startswith("openfda_label_5_otc_records_2019.json#"):
        name, idx = doc_id.split("#", 1)
        return tuple(openfda_blocks(labels / "openfda_json" / name, int(idx)))
    if doc_id.endswith(".pdf"):
        return tuple(pdf_blocks(labels / "veklury" / doc_id))
    if doc_id.endswith(".xml"):
        return tuple(spl_blocks(labels / "spl_xml" / doc_id))
    raise ValueError(f"unknown drug_labels doc_id {doc_id!r}")


@cache
def doc_text(data: Path, corpus: str, doc_id: str) -> str:
    return " ".join(doc_blocks(data, corpus, doc_id))


# --------------------------------------------------------------------------- checks
INTERNAL_BREAK = re.compile(r"[.!?][\"')\]]*\s+\S")


def check_record(rec: dict, data: Path, errors: list[str], warnings: list[str]) -> None:
    rid = rec.get("id", "?")

    def err(msg: str) -> None:
        errors.append(f"{rid}: {msg}")

    for key in ("id", "corpus", "doc_ids", "question", "answer", "sentences"):
        if key not in rec:
            err(f"missing field {key!r}")
            return
    if rec["corpus"] not in CORPORA:
        err(f"bad corpus {rec['corpus']!r}")
        return
    if not isinstance(rec["doc_ids"], list) or len(rec["doc_ids"]) != 1:
        err("doc_ids must list exactly one document (answers are scoped to one document)")
        return
    doc_id = rec["doc_ids"][0]
    try:
        text = doc_text(data, rec["corpus"], doc_id)
        blocks = doc_blocks(data, rec["corpus"], doc_id)
    except Exception as e:  # noqa: BLE001 - report any loading problem as a dataset error
        err(f"cannot load {doc_id!r}: {e}")
        return

    sents = rec["sentences"]
    if not 4 <= len(sents) <= 7:
        err(f"{len(sents)} sentences (want 4-7)")
    if rec["answer"] != " ".join(s.get("text", "") for s in sents):
        err("answer != ' '.join(sentence texts)")

    for i, s in enumerate(sents, 1):
        where = f"sentence {i}"
        t, label = s.get("text", ""), s.get("label")
        ev, kind, note = s.get("evidence", ""), s.get("error", ""), s.get("note", "")
        if not t or t != t.strip():
            err(f"{where}: empty text or surrounding whitespace")
            continue
        if t[-1] not in ".!?":
            err(f"{where}: does not end with . ! or ?")
        if INTERNAL_BREAK.search(t[:-1]):
            err(f"{where}: internal sentence break in {t!r}")
        if label not in LABELS:
            err(f"{where}: bad label {label!r}")
            continue
        if label in ("supported", "contradicted"):
            if not ev:
                err(f"{where}: {label} needs an evidence quote")
            elif len(ev) > MAX_QUOTE:
                err(f"{where}: evidence is {len(ev)} chars (max {MAX_QUOTE})")
            else:
                q = ws(ev)
                if q not in text:
                    err(f"{where}: evidence not found in {doc_id}: {ev!r}")
                elif len(blocks) > 1 and not any(q in b for b in blocks):
                    warnings.append(f"{rid} {where}: quote spans two blocks of {doc_id}: {ev!r}")
        elif ev:
            err(f"{where}: {label} must have empty evidence")
        if label in ("contradicted", "unsupported") and not kind:
            err(f"{where}: {label} needs an error kind")
        if label in ("supported", "not_a_claim") and kind:
            err(f"{where}: {label} must have an empty error kind")
        if label == "contradicted" and not note:
            err(f"{where}: contradicted needs a note saying what the document says")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", nargs="?", default=str(HERE / "dev_answers.jsonl"))
    ap.add_argument("--data-root", default=DEFAULT_DATA, help="folder holding drug_labels/ and contracts/")
    args = ap.parse_args(argv)
    data = Path(args.data_root)

    errors: list[str] = []
    warnings: list[str] = []
    records = []
    for n, line in enumerate(Path(args.path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: invalid JSON ({e})")
    ids = Counter(r.get("id") for r in records)
    errors += [f"duplicate id {i!r}" for i, c in ids.items() if c > 1]
    for rec in records:
        check_record(rec, data, errors, warnings)

    # ---- statistics
    by_label: Counter = Counter()
    by_corpus: dict[str, Counter] = defaultdict(Counter)
    answers: Counter = Counter()
    kinds: Counter = Counter()
    for rec in records:
        answers[rec.get("corpus")] += 1
        for s in rec.get("sentences", []):
            by_label[s.get("label")] += 1
            by_corpus[rec.get("corpus")][s.get("label")] += 1
            if s.get("error"):
                kinds[f"{s.get('label')}:{s['error']}"] += 1
    total = sum(by_label.values()) or 1
    print(
        f"{len(records)} answers ({', '.join(f'{c}: {n}' for c, n in sorted(answers.items()))}), {total} sentences"
    )
    print(f"{'label':<14}{'all':>6}{'%':>7}" + "".join(f"{c:>13}" for c in CORPORA))
    for lab in LABELS:
        print(
            f"{lab:<14}{by_label[lab]:>6}{100 * by_label[lab] / total:>6.1f}%"
            + "".join(f"{by_corpus[c][lab]:>13}" for c in CORPORA)
        )
    print("error kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))

    for w in warnings:
        print("WARNING", w)
    for e in errors:
        print("ERROR", e)
    print(f"{'FAIL' if errors else 'OK'}: {len(errors)} errors, {len(warnings)} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
