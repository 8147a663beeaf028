"""Build the training / held-out data for the trained entailment verifier (issue 4).

Usage:  .venv/bin/python scripts/verifier_data.py [--data DIR] [--out DIR] [--seed 13]
                                                   [--mix base|round2|round3] [--split-seed 13]

Writes JSONL files ({"premise", "hypothesis", "label", "source"}; label 0=entailment,
1=neutral, 2=contradiction, 3=not entailment for two-way sources) to <out> (default
runs/verifier/data/):

  train.jsonl                 the shuffled training mix
  eval_mnli.jsonl             held-out MNLI dev premises (never trained on)
  eval_lingnli.jsonl          LingNLI val (no licence stated: evaluation only)
  eval_breaking.jsonl         held-out Breaking NLI premises (all categories)
  eval_domain.jsonl           generated pairs from held-out contracts / drug labels
  eval_cad.jsonl, eval_conjnli.jsonl   the sets' own dev splits
  eval_fever_2way.jsonl, eval_rte_2way.jsonl, eval_snli_test.jsonl
                              held-out FEVER-NLI claims (held out from the round-3 mix on), RTE
                              dev, held-out SNLI test premises
  stats.json                  pair counts per source and label

Everything is deterministic for a given seed: files are read in sorted order and every random
choice goes through one seeded `random.Random`. Domain pairs are split by source document
(hash of the document id) so the domain eval is on documents never seen in training.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path
from random import Random

E, N, C = 0, 1, 2
# Two-way sources (FEVER-NLI, RTE) only say "not entailment": neutral or contradiction. Their pairs
# carry this label and the trainer scores them by p(neutral) + p(contradiction), so a refuted
# claim is never taught as neutral.
NOT_E = 3
LABELS = {"entailment": E, "neutral": N, "contradiction": C, "e": E, "n": N, "c": C}
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"

csv.field_size_limit(sys.maxsize)

# How many training pairs to draw from each source (upper bounds), per mix. "base" trains from
# all-MiniLM-L6-v2; "round2" continues from the round-1 model with the whole MNLI training side,
# more of every other permissive set, SciTail for scientific text, and fresh domain pairs.
MIXES = {
    "base": {
        "mnli": 15500,
        "snli": 4000,
        "cad": 4000,
        "conjnli": 3500,
        "breaking": 3000,
        "docnli_fever": 3000,
        "semi_auto": 3500,
        "scitail": 0,
        "domain": 25000,
    },
    "round2": {
        "mnli": 17000,
        "snli": 6000,
        "cad": 6000,
        "conjnli": 6000,
        "breaking": 5000,
        "docnli_fever": 3000,
        "semi_auto": 6000,
        "scitail": 2200,
        "domain": 30000,
    },
    # round 3 continues from round 2 with the permissive sets rounds 1-2 left unused: SNLI test
    # (e-SNLI copy), RTE and all of FEVER-NLI with their two-way labels kept as such, and fewer
    # fresh domain pairs (rounds 1-2 saw 46k).
    "round3": {
        "mnli": 17000,
        "snli": 4000,
        "snli_test": 8000,
        "cad": 4000,
        "conjnli": 4000,
        "breaking": 4000,
        "fever_2way": 9000,
        "rte_2way": 2490,
        "semi_auto": 4000,
        "scitail": 2200,
        "domain": 16000,
    },
}
DOMAIN_EVAL_PAIRS = 3000
HELDOUT_DOC_PERCENT = 10


def _h(text: str, salt: str = "") -> int:
    return int(hashlib.sha1((salt + text).encode("utf-8")).hexdigest()[:8], 16)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


CON_WEIGHT = {
    "number": 4.0,
    "unit": 3.0,
    "duration": 3.0,
    "date": 3.0,
    "party": 3.0,
    "drug": 2.0,
    "population": 3.0,
    "negation": 1.5,
    "antonym": 1.0,
}


def _pair(p: str, h: str, label: int, source: str) -> dict:
    return {"premise": _clean(p), "hypothesis": _clean(h), "label": label, "source": source}


# ----------------------------------------------------------------------------- general NLI


def _salvatore(data: Path, name: str) -> list[dict]:
    """Rows of one CSV of the NLI_datasets collection (premise, hypothesis, label)."""
    with open(data / "nli/nli_datasets-salvatore" / f"nli_datasets_{name}.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_mnli(data: Path) -> tuple[list[dict], list[dict]]:
    train, held = [], []
    for r in _salvatore(data, "mnli_dev"):
        if r["label"] not in LABELS or not r["premise"].strip():
            continue
        p = _pair(r["premise"], r["hypothesis"], LABELS[r["label"]], "mnli")
        # hold out by premise so no held-out premise is ever seen in training (~16%)
        (held if _h(p["premise"], "mnli") % 100 < 16 else train).append(p)
    return train, held


def load_snli(data: Path) -> list[dict]:
    return [
        _pair(r["premise"], r["hypothesis"], LABELS[r["label"]], "snli")
        for r in _salvatore(data, "snli_dev")
        if r["label"] in LABELS
    ]


def _tsv(path: Path, src: str) -> list[dict]:
    out = []
    with open(path, encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            if len(row) >= 3 and row[2].strip() in LABELS:
                out.append(_pair(row[0], row[1], LABELS[row[2].strip()], src))
    return out


def load_cad_train(data: Path) -> list[dict]:
    return _tsv(data / "nli/snli-counterfactual-cad/NLI_all_combined_train.tsv", "cad")


def load_breaking(data: Path) -> tuple[list[dict], list[dict]]:
    train, held = [], []
    for line in open(data / "nli/breaking-nli/dataset.jsonl", encoding="utf-8"):
        d = json.loads(line)
        if d["gold_label"] not in LABELS:
            continue
        p = _pair(d["sentence1"], d["sentence2"], LABELS[d["gold_label"]], "breaking:" + d["category"])
        # held out by premise: ~30% of premises (so all their swaps) in every category
        (held if _h(p["premise"], "breaking") % 100 < 30 else train).append(p)
    return train, held


def _fever_nli(data: Path) -> list[tuple[bool, str, str]]:
    """DocNLI's FEVER-NLI pairs with a premise of at most 120 words: (entailed, premise, claim)."""
    out = []
    for name in ("Data_binary-FEVER-NLI_dev.txt", "Data_binary-FEVER-NLI_test.txt"):
        with open(data / "nli/docnli-binary" / name, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and parts[0] in ("entailment", "not_entailment"):
                    if len(parts[1].split()) <= 120:
                        out.append((parts[0] == "entailment", parts[1], parts[2]))
    return out


def load_docnli_fever(data: Path) -> list[dict]:
    """Rounds 1-2: "not entailment" read as neutral (round 3 keeps the two-way label instead)."""
    return [_pair(prem, hyp, E if ent else N, "docnli_fever") for ent, prem, hyp in _fever_nli(data)]


def load_fever_2way(data: Path) -> tuple[list[dict], list[dict]]:
    """FEVER-NLI with its two-way labels; ~10% of claims held out."""
    train, held = [], []
    for ent, prem, hyp in _fever_nli(data):
        p = _pair(prem, hyp, E if ent else NOT_E, "fever_2way")
        (held if _h(p["hypothesis"], "fever") % 100 < 10 else train).append(p)
    return train, held


def load_rte(data: Path, split: str) -> list[dict]:
    return [
        _pair(r["premise"], r["hypothesis"], E if r["label"] == "entailment" else NOT_E, "rte_2way")
        for r in _salvatore(data, f"rte_{split}")
        if r["label"] in ("entailment", "not_entailment")
    ]


def load_snli_test(data: Path) -> tuple[list[dict], list[dict]]:
    """SNLI test from the e-SNLI copy (line-aligned files); ~10% of premises held out."""
    base = data / "nli/snli-esnli"
    cols = [
        (base / f"dataset_eSNLI_{k}.test").read_text(encoding="utf-8").splitlines()
        for k in ("s1", "s2", "labels")
    ]
    train, held = [], []
    for prem, hyp, lab in zip(*cols, strict=True):
        if lab.strip() in LABELS:
            p = _pair(prem, hyp, LABELS[lab.strip()], "snli_test")
            (held if _h(p["premise"], "snli_test") % 100 < 10 else train).append(p)
    return train, held


def load_scitail(data: Path) -> list[dict]:
    # two-way; SciTail's not_entailment pairs are topical non-entailments, i.e. neutral
    return [
        _pair(r["premise"], r["hypothesis"], E if r["label"] == "entailment" else N, "scitail")
        for r in _salvatore(data, "scitail_dev")
        if r["label"] in ("entailment", "not_entailment")
    ]


def load_semi_auto(data: Path) -> list[dict]:
    out = []
    for name in (
        "data_base_wiki_train.jsonl",
        "data_sim_wiki_train.jsonl",
        "data_translate_wiki_train.jsonl",
    ):
        for line in open(data / "nli/semi-automatic-nli-vania2020" / name, encoding="utf-8"):
            d = json.loads(line)
            if d.get("label") in LABELS:
                out.append(_pair(d["premise"], d["hypothesis"], LABELS[d["label"]], "semi_auto"))
    return out


def load_lingnli_val(data: Path) -> list[dict]:
    out = []
    for path in sorted((data / "nli/lingnli").glob("*_val_*.jsonl")):
        for line in open(path, encoding="utf-8"):
            d = json.loads(line)
            if d.get("label") in LABELS:
                out.append(_pair(d["premise"], d["hypothesis"], LABELS[d["label"]], "lingnli"))
    return out


def _sample(rows: list[dict], k: int, rng: Random) -> list[dict]:
    rows = list(rows)
    rng.shuffle(rows)
    return rows[:k]


def _dedupe(rows: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in rows:
        key = (r["premise"], r["hypothesis"])
        if key not in seen and r["premise"] and r["hypothesis"]:
            seen.add(key)
            out.append(r)
    return out


# ----------------------------------------------------------------------------- domain documents


def _xml_text(path: Path) -> str:
    root = ET.parse(path).getroot()
    parts = []
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("paragraph", "title", "item", "td", "caption"):
            t = _clean("".join(el.itertext()))
            if t:
                parts.append(t if t.endswith((".", ":", ";")) else t + ".")
    return "\n".join(parts)


def load_documents(data: Path) -> list[tuple[str, str, str]]:
    """(doc_id, domain, text) for every domain document."""
    docs = []
    for path in sorted((data / "contracts/cuad/full_contract_txt").glob("*.txt")):
        docs.append(("cuad:" + path.stem, "contract", path.read_text(encoding="utf-8", errors="replace")))
    tac: dict[str, list[str]] = defaultdict(list)
    for name in ("demner-fushman-train-labels.json", "demner-fushman-test-labels.json"):
        for rec in json.load(open(data / "drug_labels/tac2017_adr" / name, encoding="utf-8")):
            tac[rec["label_id"]].append(rec["section_text"])
    for label_id in sorted(tac):
        docs.append(("tac:" + label_id, "drug", "\n".join(tac[label_id])))
    for path in sorted((data / "drug_labels/spl_xml").glob("*.xml")):
        docs.append(("spl:" + path.stem, "drug", _xml_text(path)))
    docs.append(("veklury:letter", "drug", _xml_text(data / "drug_labels/veklury/veklury-2020-10.xml")))
    try:
        import logging

        from pypdf import PdfReader

        logging.getLogger("pypdf").setLevel(logging.ERROR)

        reader = PdfReader(str(data / "drug_labels/veklury/veklury-2020-10.pdf"))
        docs.append(("veklury:pi", "drug", "\n".join(p.extract_text() or "" for p in reader.pages)))
    except Exception as exc:  # pypdf missing or unreadable PDF: skip the label
        print(f"skipping veklury pdf: {exc}", file=sys.stderr)
    recs = json.load(
        open(data / "drug_labels/openfda_json/openfda_label_5_otc_records_2019.json", encoding="utf-8")
    )
    for rec in recs["results"]:
        texts = [
            v for k, vals in sorted(rec.items()) if isinstance(vals, list) for v in vals if isinstance(v, str)
        ]
        docs.append(("openfda:" + rec.get("id", str(len(docs))), "drug", "\n".join(texts)))
    return docs


_SENT_SPLIT = re.compile(r"(?<=[.;!?])\s+(?=[\"(A-Z0-9•])")
_INTEREST = re.compile(
    r"\d|\b(shall|must|may|will|should|not|days?|weeks?|months?|years?|hours?|mg|mcg|g|mL|patients?|pediatric|"
    r"children|adults?|elderly|pregnan\w*|contraindicated|recommended|Licensee|Licensor|Company|Distributor|"
    r"Supplier|Customer|terminat\w+|dose|dosage|increase\w*|decrease\w*)\b",
    re.I,
)


def split_sentences(text: str) -> list[str]:
    sents = []
    for block in re.split(r"\n\s*\n|\n(?=\s*[•\-\d]+[.)]?\s)", text):
        block = _clean(block)
        if not block:
            continue
        for s in _SENT_SPLIT.split(block):
            s = s.strip()
            if s:
                sents.append(s)
    return sents


def _good(s: str) -> bool:
    if not (40 <= len(s) <= 380):
        return False
    letters = sum(ch.isalpha() for ch in s)
    if letters < 0.6 * len(s) or sum(ch.isupper() for ch in s) > 0.5 * letters:
        return False
    if "[*" in s or "* * *" in s or "___" in s:
        return False
    toks = s.split()
    if len(toks) < 8 or sum(any(ch.isdigit() for ch in t) for t in toks) > 0.25 * len(toks):
        return False  # headings and table rows
    return True


# ----------------------------------------------------------------------------- perturbations

NUM_WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
WORD2NUM = {w: i for i, w in enumerate(NUM_WORDS)} | TENS
NUM2WORD = {v: k for k, v in WORD2NUM.items()}
_WORDNUM_PAREN = re.compile(r"\b([A-Za-z\-]+(?: [a-z\-]+)?) \((\d+)\)")
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w]|\.\d|,\d)")
_NUMWORD = re.compile(r"\b(" + "|".join(sorted(WORD2NUM, key=len, reverse=True)) + r")\b", re.I)
UNITS = ["mg", "g", "mcg", "mL", "L", "kg", "%"]
UNIT_SWAP = {
    "mg": ["g", "mcg"],
    "g": ["mg", "kg"],
    "mcg": ["mg"],
    "mL": ["L"],
    "L": ["mL"],
    "kg": ["g", "lb"],
}
TIME_SWAP = {
    "day": ["week", "month", "hour"],
    "week": ["day", "month"],
    "month": ["year", "week", "day"],
    "year": ["month", "day"],
    "hour": ["day", "minute"],
    "minute": ["hour", "second"],
    "business day": ["week", "month"],
}
MONTHS = "January February March April May June July August September October November December".split()

NEG_FLIPS = [  # (pattern, replacement) contradiction by negation / modality flips
    (r"\bshall not\b", "shall"),
    (r"\bmust not\b", "must"),
    (r"\bmay not\b", "may"),
    (r"\bwill not\b", "will"),
    (r"\bshould not\b", "should"),
    (r"\bcannot\b", "can"),
    (r"\bis not\b", "is"),
    (r"\bare not\b", "are"),
    (r"\bdoes not\b", "does"),
    (r"\bdo not\b", "do"),
    (r"\bshall\b", "shall not"),
    (r"\bmust\b", "must not"),
    (r"\bmay\b", "must not"),
    (r"\bwill\b", "will not"),
    (r"\bshould\b", "should not"),
    (r"\bcan\b", "cannot"),
    (r"\bis\b", "is not"),
    (r"\bare\b", "are not"),
    (r"\bhas been\b", "has not been"),
    (r"\bhave been\b", "have not been"),
]
ANTONYMS = [
    ("contraindicated", "recommended"),
    ("increase", "decrease"),
    ("increased", "decreased"),
    ("increases", "decreases"),
    ("higher", "lower"),
    ("more", "less"),
    ("before", "after"),
    ("prior to", "after"),
    ("minimum", "maximum"),
    ("at least", "at most"),
    ("exclusive", "non-exclusive"),
    ("greater", "smaller"),
    ("above", "below"),
    ("exceed", "fall below"),
    ("required", "prohibited"),
    ("permitted", "prohibited"),
    ("approved", "not approved"),
    ("safe", "unsafe"),
    ("common", "rare"),
    ("within", "after"),
    ("all", "none of the"),
    ("written", "oral"),
    ("renew", "expire"),
    ("effective", "ineffective"),
    ("include", "exclude"),
    ("includes", "excludes"),
    ("rise", "fall"),
    ("mild", "severe"),
    ("first", "last"),
    ("upon", "without"),
    ("with food", "on an empty stomach"),
    ("orally", "intravenously"),
    ("intravenous", "oral"),
    ("daily", "weekly"),
    ("once", "twice"),
]
POPULATIONS = [
    ("pediatric patients", "adult patients"),
    ("children", "adults"),
    ("pediatric", "adult"),
    ("elderly patients", "younger patients"),
    ("geriatric", "pediatric"),
    ("women", "men"),
    ("female", "male"),
    ("pregnant women", "nursing mothers"),
    ("renal impairment", "hepatic impairment"),
    ("hepatic impairment", "renal impairment"),
    ("adolescents", "infants"),
    ("neonates", "adolescents"),
]
PARTY_WORDS = [
    "Company",
    "Licensee",
    "Licensor",
    "Distributor",
    "Supplier",
    "Customer",
    "Consultant",
    "Client",
    "Manufacturer",
    "Seller",
    "Buyer",
    "Franchisee",
    "Franchisor",
    "Provider",
    "Contractor",
    "Reseller",
    "Agent",
    "Purchaser",
    "Vendor",
    "Sponsor",
    "Recipient",
    "Developer",
    "Publisher",
    "Owner",
    "Operator",
    "Member",
    "Investor",
    "Bank",
    "Partner",
    "Affiliate",
    "Service Provider",
    "Producer",
]
ENTAIL_SWAPS = [  # meaning-preserving rewrites (both directions)
    ("every other week", "every 2 weeks"),
    ("every other day", "every 2 days"),
    ("twice daily", "two times a day"),
    ("once daily", "once a day"),
    ("twice a day", "two times daily"),
    ("three times daily", "three times a day"),
    ("once weekly", "once a week"),
    ("shall", "will"),
    ("must", "is required to"),
    ("prior to", "before"),
    ("in the event that", "if"),
    ("pursuant to", "under"),
    ("terminate", "end"),
    ("commence", "begin"),
    ("approximately", "about"),
    ("administered", "given"),
    ("utilize", "use"),
    ("obtain", "get"),
    ("in accordance with", "according to"),
    ("upon", "on"),
    ("a minimum of", "at least"),
    ("not exceed", "be no more than"),
    ("hereunder", "under this Agreement"),
    ("physician", "doctor"),
    ("twelve (12) months", "one year"),
    ("1 year", "12 months"),
    ("one (1) year", "12 months"),
    ("24 hours", "1 day"),
    ("48 hours", "2 days"),
    ("7 days", "1 week"),
    ("14 days", "2 weeks"),
    ("seven (7) days", "one week"),
    ("fourteen (14) days", "two weeks"),
]
ADDED_DETAIL = {
    "contract": [
        ", unless otherwise agreed in writing by both parties",
        " within five (5) business days",
        " at its sole cost and expense",
        ", subject to the prior written consent of the other party",
        " on an exclusive basis",
        " for a period of three (3) years",
        " in the State of Delaware",
        ", including any renewal term",
        " without any further notice",
        ", and such obligation survives termination",
        " at the end of each calendar quarter",
        " with interest at 1.5% per month",
        " in the United States only",
    ],
    "drug": [
        " in patients over 65 years of age",
        " for up to 14 days",
        ", and the effect is dose-dependent",
        " in patients with renal impairment",
        ", and no dose adjustment is needed in hepatic impairment",
        " when taken with food",
        " within 2 hours of the first dose",
        " in about 12% of patients",
        ", which resolved after discontinuation",
        " in pediatric patients weighing at least 40 kg",
        " more often than with placebo",
        ", and this was confirmed in a second trial",
        " at doses above 40 mg",
    ],
}


def _fmt_num(v: float, like: str) -> str:
    if "," in like and v >= 1000 and float(v).is_integer():
        return f"{int(v):,}"
    if "." in like:
        decimals = len(like.split(".")[1])
        return f"{v:.{decimals}f}"
    return str(int(round(v)))


def _other_number(s: str, rng: Random) -> str:
    v = float(s.replace(",", ""))
    if "." not in s and v >= 1900 and v <= 2100:  # a year
        return str(int(v) + rng.choice([-3, -2, -1, 1, 2, 5]))
    choices = [v * 2, v / 2, v + 1, v * 10, v + 5, v * 3, max(v - 1, 0)]
    if v == 0:
        choices = [1, 2, 5, 10]
    for _ in range(10):
        nv = rng.choice(choices)
        if "." not in s:
            nv = round(nv)
        out = _fmt_num(nv, s)
        if out != s and float(out.replace(",", "")) != v:
            return out
    return str(int(v) + 7)


def ent_transforms(s: str, rng: Random) -> list[tuple[str, str]]:
    """Meaning-preserving rewrites of s: (name, new sentence)."""
    out = []
    m = _WORDNUM_PAREN.search(s)
    if m:
        out.append(("digits", s[: m.start()] + m.group(2) + s[m.end() :]))
        out.append(("words", s[: m.start()] + m.group(1) + s[m.end() :]))
    for a, b in ENTAIL_SWAPS:
        for x, y in ((a, b), (b, a)):
            if re.search(r"\b" + re.escape(x) + r"\b", s):
                out.append(("paraphrase", re.sub(r"\b" + re.escape(x) + r"\b", y, s, count=1)))
    m = re.search(r"\b(\d+(?:\.\d+)?) ?(g|mg|mcg|kg)\b", s)
    if m:
        v, u = float(m.group(1)), m.group(2)
        conv = {"g": ("mg", 1000), "mg": ("mcg", 1000), "kg": ("g", 1000), "mcg": ("mg", 0.001)}
        if u == "mg" and v >= 1000 and v % 1000 == 0:
            new = f"{int(v // 1000)} g"
        else:
            nu, f = conv[u]
            nv = v * f
            new = f"{int(nv) if float(nv).is_integer() else round(nv, 4)} {nu}"
        out.append(("unit", s[: m.start()] + new + s[m.end() :]))
    m = _NUMBER.search(s)
    if (
        m
        and m.group(1).isdigit()
        and int(m.group(1)) in NUM2WORD
        and not _WORDNUM_PAREN.search(s)
        and re.match(r" [a-z]", s[m.end() : m.end() + 2])
        and not _is_ref(s, m.start())
    ):
        out.append(("num2word", s[: m.start()] + NUM2WORD[int(m.group(1))] + s[m.end() :]))
    # drop a parenthetical or a trailing clause
    no_paren = re.sub(r"\s*\([^()]{3,80}\)", "", s, count=1)
    if no_paren != s and len(no_paren) > 30:
        out.append(("drop", no_paren))
    parts = re.split(r";\s+|,\s+(?=(?:and|but|which|including|provided|except|unless|as)\b)", s)
    if len(parts) > 1 and len(parts[0]) > 40 and not re.match(r"(?:except|unless|provided)", parts[1]):
        out.append(("drop", parts[0].rstrip(",;") + "."))
    m = re.match(
        r"^((?:In|For|During|After|Before|Upon|Within|At|On|Under)\s[^,]{3,60}),\s+(.+?)([.;:]?)$", s
    )
    if m:
        body = m.group(2)
        out.append(
            ("reorder", body[0].upper() + body[1:] + " " + m.group(1)[0].lower() + m.group(1)[1:] + ".")
        )
    return out


def _is_ref(s: str, pos: int) -> bool:
    """A section / exhibit / clause reference number (changing it is not a contradiction)."""
    before = s[max(0, pos - 12) : pos].lower()
    return bool(
        re.search(r"(section|article|exhibit|schedule|paragraph|clause|§|\(|table|figure|\d\.)\s*$", before)
    )


def con_transforms(s: str, domain: str, ctx: dict, rng: Random) -> list[tuple[str, str]]:
    """Rewrites of s that the original contradicts."""
    out = []
    m = _WORDNUM_PAREN.search(s)
    if m and m.group(1).lower() in WORD2NUM:
        nv = int(_other_number(m.group(2), rng))
        word = NUM2WORD.get(nv, str(nv))
        out.append(("number", s[: m.start()] + f"{word} ({nv})" + s[m.end() :]))
    nums = [m for m in _NUMBER.finditer(s) if m.start() > 3 and not _is_ref(s, m.start())]
    if nums:
        m = rng.choice(nums)
        out.append(("number", s[: m.start()] + _other_number(m.group(1), rng) + s[m.end() :]))
    wm = list(_NUMWORD.finditer(s))
    if wm and not _WORDNUM_PAREN.search(s):
        m = rng.choice(wm)
        v = WORD2NUM[m.group(1).lower()]
        alts = [w for w, x in WORD2NUM.items() if x != v and x > 0 and x <= max(12, v * 3)]
        w = rng.choice(alts)
        out.append(
            ("number", s[: m.start()] + (w.capitalize() if m.group(1)[0].isupper() else w) + s[m.end() :])
        )
    m = re.search(r"\b(\d+(?:\.\d+)?) ?(mg|g|mcg|mL|L|kg)\b", s)
    if m:
        nu = rng.choice(UNIT_SWAP[m.group(2)])
        out.append(("unit", s[: m.start()] + f"{m.group(1)} {nu}" + s[m.end() :]))
    m = re.search(r"\b(business day|day|week|month|year|hour|minute)(s?)\b", s)
    if m and (_NUMBER.search(s[: m.start()][-25:]) or _NUMWORD.search(s[: m.start()][-25:])):
        out.append(
            ("duration", s[: m.start()] + rng.choice(TIME_SWAP[m.group(1)]) + m.group(2) + s[m.end() :])
        )
    m = re.search(r"\b(" + "|".join(MONTHS) + r")\b", s)
    if m:
        other = rng.choice([x for x in MONTHS if x != m.group(1)])
        out.append(("date", s[: m.start()] + other + s[m.end() :]))
    for pat, rep in NEG_FLIPS:
        if re.search(pat, s):
            out.append(("negation", re.sub(pat, rep, s, count=1)))
            break
    for a, b in ANTONYMS:
        for x, y in ((a, b), (b, a)):
            if re.search(r"\b" + re.escape(x) + r"\b", s):
                out.append(("antonym", re.sub(r"\b" + re.escape(x) + r"\b", y, s, count=1)))
                break
    for a, b in POPULATIONS:
        for x, y in ((a, b), (b, a)):
            if re.search(r"\b" + re.escape(x) + r"\b", s, re.I):
                out.append(("population", re.sub(r"\b" + re.escape(x) + r"\b", y, s, count=1, flags=re.I)))
                break
    parties = ctx.get("parties", [])
    present = [p for p in parties if re.search(r"\b" + re.escape(p) + r"\b", s)]
    if len(present) >= 2:
        a, b = present[0], present[1]
        swapped = re.sub(
            r"\b(" + re.escape(a) + "|" + re.escape(b) + r")\b", lambda mm: b if mm.group(1) == a else a, s
        )
        out.append(("party", swapped))
    elif len(present) == 1 and len(parties) >= 2:
        other = next(p for p in parties if p != present[0])
        out.append(("party", re.sub(r"\b" + re.escape(present[0]) + r"\b", other, s, count=1)))
    drug = ctx.get("drug")
    if drug and re.search(r"\b" + re.escape(drug) + r"\b", s, re.I) and ctx.get("other_drugs"):
        other = rng.choice(ctx["other_drugs"])
        out.append(("drug", re.sub(r"\b" + re.escape(drug) + r"\b", other, s, flags=re.I)))
    return [(k, t) for k, t in out if t != s]


def find_parties(text: str) -> list[str]:
    head = text[:20000]
    counts = Counter()
    for p in PARTY_WORDS:
        n = len(re.findall(r"\b" + re.escape(p) + r"\b", head))
        if n >= 3:
            counts[p] = n
    return [p for p, _ in counts.most_common(3)]


def _content_words(s: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z]{6,}", s)]


def generate_domain_pairs(docs, doc_ids: set[str], n_pairs: int, rng: Random, tag: str) -> list[dict]:
    """FactCC-style pairs from documents in doc_ids (entail / neutral / contradict ~ 34/30/36)."""
    by_doc = {}
    drugs = sorted({d.split(":", 1)[1].upper() for d, dom, _ in docs if d.startswith("tac:")})
    for doc_id, domain, text in docs:
        if doc_id not in doc_ids:
            continue
        sents = split_sentences(text)
        if len(sents) < 5:
            continue
        ctx = {"parties": find_parties(text) if domain == "contract" else []}
        if doc_id.startswith("tac:"):
            ctx["drug"] = doc_id.split(":", 1)[1]
            ctx["other_drugs"] = [x for x in drugs if x != ctx["drug"]]
        by_doc[doc_id] = (domain, sents, ctx)
    # inverted index for topical neutral sentences from other documents in the same pool
    index: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for doc_id, (domain, sents, _) in by_doc.items():
        for i, s in enumerate(sents):
            if _good(s):
                for w in set(_content_words(s)):
                    index[(domain, w)].append((doc_id, i))
    # candidate target sentences, balanced between contracts and drug labels
    cands = {"contract": [], "drug": []}
    for doc_id, (domain, sents, _) in by_doc.items():
        for i, s in enumerate(sents):
            if _good(s) and _INTEREST.search(s):
                cands[domain].append((doc_id, i))
    for k in cands:
        rng.shuffle(cands[k])
    share = {"contract": 0.55, "drug": 0.45}
    out = []
    for domain, frac in share.items():
        want = int(n_pairs * frac)
        pool = cands[domain]
        made, j = 0, 0
        per_sentence_cap = 3 if len(pool) * 2 < want else 2
        while made < want and pool:
            doc_id, i = pool[j % len(pool)]
            j += 1
            if j > len(pool) * per_sentence_cap:
                break
            _, sents, ctx = by_doc[doc_id]
            target = sents[i]
            # premise: the target, often with 1-2 neighbouring sentences
            lo, hi = i, i + 1
            r = rng.random()
            if r < 0.35:
                lo = max(0, i - rng.randint(1, 2))
            elif r < 0.7:
                hi = min(len(sents), i + 1 + rng.randint(1, 2))
            premise = " ".join(sents[lo:hi])
            if len(premise) > 900:
                premise, lo, hi = target, i, i + 1
            roll = rng.random()
            pair = None
            if roll < 0.34:
                opts = ent_transforms(target, rng)
                if rng.random() < 0.15 or not opts:
                    pair = _pair(premise, target, E, f"{tag}:{domain}:copy")
                else:
                    kind, hyp = rng.choice(opts)
                    # chain a second paraphrase now and then
                    more = ent_transforms(hyp, rng) if rng.random() < 0.3 else []
                    if more:
                        hyp = rng.choice(more)[1]
                    pair = _pair(premise, hyp, E, f"{tag}:{domain}:{kind}")
            elif roll < 0.70:
                opts = con_transforms(target, domain, ctx, rng)
                if opts:
                    weights = [CON_WEIGHT.get(k, 1.0) for k, _ in opts]
                    kind, hyp = rng.choices(opts, weights=weights)[0]
                    if rng.random() < 0.3:  # a contradiction in a paraphrased sentence
                        para = [
                            t for k, t in ent_transforms(hyp, rng) if k in ("paraphrase", "drop", "reorder")
                        ]
                        if para:
                            hyp2 = rng.choice(para)
                            # keep only if the perturbed bit survived
                            if len(hyp2) > 30:
                                hyp = hyp2
                    pair = _pair(premise, hyp, C, f"{tag}:{domain}:{kind}")
            else:
                r2 = rng.random()
                if r2 < 0.4:  # a topical sentence from another document
                    words = sorted(set(_content_words(target)), key=lambda w: (-len(w), w))[:6]
                    rng.shuffle(words)
                    for w in words[:3]:
                        hits = [h for h in index.get((domain, w), []) if h[0] != doc_id]
                        if hits:
                            d2, i2 = rng.choice(hits)
                            pair = _pair(premise, by_doc[d2][1][i2], N, f"{tag}:{domain}:other_doc")
                            break
                elif r2 < 0.7:  # a sentence from far away in the same document
                    far = [k for k in range(len(sents)) if abs(k - i) > 15 and _good(sents[k])]
                    if far:
                        pair = _pair(premise, sents[rng.choice(far)], N, f"{tag}:{domain}:same_doc")
                else:  # the claim adds a detail the evidence lacks
                    base = target.rstrip(" .;:")
                    opts = [
                        t for k, t in ent_transforms(target, rng) if k in ("paraphrase", "digits", "words")
                    ]
                    if opts and rng.random() < 0.4:
                        base = rng.choice(opts).rstrip(" .;:")
                    detail = rng.choice(ADDED_DETAIL[domain])
                    if detail.strip(" ,").lower() not in premise.lower():
                        pair = _pair(premise, base + detail + ".", N, f"{tag}:{domain}:added_detail")
            if pair is not None:
                out.append(pair)
                made += 1
    return out


# ----------------------------------------------------------------------------- main


def build(data: Path, out: Path, seed: int, mix: str = "base", split_seed: int | None = None) -> dict:
    """Write the mix; held-out documents depend only on split_seed (default: seed), so a later
    round with another sampling seed never trains on an earlier round's held-out documents."""
    budget = MIXES[mix]
    split_seed = seed if split_seed is None else split_seed
    rng = Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    mnli_train, mnli_held = load_mnli(data)
    brk_train, brk_held = load_breaking(data)
    fever_train, fever_held = load_fever_2way(data)
    snli_test_train, snli_test_held = load_snli_test(data)
    loaders = {
        "mnli": lambda: mnli_train,
        "snli": lambda: load_snli(data),
        "cad": lambda: load_cad_train(data),
        "conjnli": lambda: _tsv(data / "nli/conjnli/data_NLI_adversarial_train_15k.tsv", "conjnli"),
        "docnli_fever": lambda: load_docnli_fever(data),
        "semi_auto": lambda: load_semi_auto(data),
        "scitail": lambda: load_scitail(data),
        "snli_test": lambda: snli_test_train,
        "fever_2way": lambda: fever_train,
        "rte_2way": lambda: load_rte(data, "train"),
    }
    train: list[dict] = []
    # only the mix's own sources, in sorted order: each draw consumes the shared generator, so a
    # mix's output must not depend on sources added for later mixes
    for name in sorted(k for k in budget if k not in ("breaking", "domain")):
        train += _sample(_dedupe(loaders[name]()), budget[name], rng)
    # Breaking NLI: all training-side number and antonym swaps, a sample of the rest
    focus = [
        r
        for r in brk_train
        if r["source"] in ("breaking:cardinals", "breaking:antonyms", "breaking:synonyms")
    ]
    rest = [r for r in brk_train if r not in focus]
    train += _sample(focus, budget["breaking"], rng)
    train += _sample(rest, max(0, budget["breaking"] - len(focus)), rng)

    docs = load_documents(data)
    held_docs = {d for d, _, _ in docs if _h(d, f"doc{split_seed}") % 100 < HELDOUT_DOC_PERCENT}
    train_docs = {d for d, _, _ in docs} - held_docs
    dom_train = generate_domain_pairs(docs, train_docs, budget["domain"], rng, "domain")
    dom_eval = generate_domain_pairs(docs, held_docs, DOMAIN_EVAL_PAIRS, rng, "domain")
    train += _dedupe(dom_train)
    train = _dedupe(train)
    rng.shuffle(train)

    evals = {
        "mnli": mnli_held,
        "lingnli": load_lingnli_val(data),
        "breaking": brk_held,
        "domain": _dedupe(dom_eval),
        "cad": _tsv(data / "nli/snli-counterfactual-cad/NLI_all_combined_dev.tsv", "cad"),
        "conjnli": _tsv(data / "nli/conjnli/data_NLI_conj_dev.tsv", "conjnli"),
        "fever_2way": fever_held,
        "rte_2way": load_rte(data, "dev"),
        "snli_test": snli_test_held,
    }

    def dump(path: Path, rows: list[dict]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    dump(out / "train.jsonl", train)
    for k, rows in evals.items():
        dump(out / f"eval_{k}.jsonl", rows)

    def by_source(rows):
        c = Counter()
        for r in rows:
            parts = r["source"].split(":")
            c[":".join(parts[:2]) if parts[0] == "domain" else parts[0]] += 1
        return dict(sorted(c.items()))

    stats = {
        "seed": seed,
        "mix": mix,
        "split_seed": split_seed,
        "train_total": len(train),
        "train_by_source": by_source(train),
        "train_by_label": dict(sorted(Counter(r["label"] for r in train).items())),
        "domain_train_by_kind": dict(
            sorted(Counter(r["source"].split(":", 1)[1] for r in dom_train).items())
        ),
        "domain_docs": {"train": len(train_docs), "held_out": len(held_docs)},
        "held_out_docs": sorted(held_docs),
        "eval_sizes": {k: len(v) for k, v in evals.items()},
        "eval_domain_by_label": dict(sorted(Counter(r["label"] for r in evals["domain"]).items())),
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=1))
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "runs/verifier/data")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--mix", choices=sorted(MIXES), default="base")
    ap.add_argument(
        "--split-seed", type=int, default=None, help="seed of the held-out document split (default: --seed)"
    )
    args = ap.parse_args(argv)
    stats = build(args.data, args.out, args.seed, args.mix, args.split_seed)
    print(json.dumps({k: v for k, v in stats.items() if k != "held_out_docs"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
