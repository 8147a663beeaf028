"""The engine run once per labelled answer, and the verdict thresholds swept over what it recorded.

`record` scores every evidence window of every fact (`Engine.assess(score_all=True)`), so the verdict
rules (`rules.decide`, pure over a fact's checks and scores) give, for any thresholds, the verdict
the engine would give with them; the sweep never runs a model again. Slot-check vetoes stay as they
are: no threshold here can overrule one.

What each threshold moves (so the sweep goes in three steps, each over a grid):
- `entail` and the learned decision's `decision` decide supported against flagged;
- `contradict` moves flagged sentences between contradicted and unsupported;
- `review_band` moves them between unsupported and unchecked ("needs review").
A flag is contradicted, unsupported or unchecked; hard flags leave out unchecked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pipeline.calibration.labels import ERROR_LABELS, LabelledAnswer, LabelledSentence
from pipeline.calibration.metrics import prf, wilson
from pipeline.schema import BY_SEVERITY, FLAGGED, Claim, ErrorKind, Label, Verdict
from pipeline.settings import Thresholds
from pipeline.verification.decision import SupportModel, learned_p
from pipeline.verification.engine import Engine
from pipeline.verification.facts import Fact
from pipeline.verification.rules import combine, decide

ENTAIL_GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))  # 0.30 .. 0.90
DECISION_GRID = tuple(round(0.2 + 0.05 * i, 2) for i in range(13))  # 0.20 .. 0.80
CONTRADICT_GRID = tuple(round(0.4 + 0.05 * i, 2) for i in range(12))  # 0.40 .. 0.95
BAND_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
MIN_CLASS = 50  # fewer labelled sentences than this in a class: the figures are rough
SWEPT = ("entail", "contradict", "decision", "review_band")


@dataclass
class Recorded:
    """A labelled sentence with the engine's claims over it, their facts (scored on every window)
    and each fact's learned-decision p; `failure` when the engine could not assess the answer."""

    sentence: LabelledSentence
    claims: list[tuple[Claim, list[Fact], list[float | None]]] = field(default_factory=list)
    failure: str = ""


def record(
    engine: Engine,
    answers: list[LabelledAnswer],
    corpus: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Recorded], dict[str, str]]:
    """Run the engine once on every answer (all windows scored) and align its claims with the
    labelled sentences by character offsets; also the engine's versions."""
    out: list[Recorded] = []
    versions: dict[str, str] = {}
    for i, a in enumerate(answers):
        try:
            assessed = engine.assess(
                a.answer, corpus=corpus, question=a.question, doc_ids=a.doc_ids, score_all=True
            )
        except Exception as exc:  # noqa: BLE001 - the answer's sentences count as unchecked, never as supported
            out += [Recorded(s, failure=f"{type(exc).__name__}: {exc}") for s in a.sentences]
            continue
        versions = assessed.versions
        claims = [
            (c, facts, [_learned(f, engine.support) for f in facts])
            for c, facts in zip(assessed.claims, assessed.facts, strict=True)
        ]
        for s in a.sentences:
            out.append(Recorded(s, [c for c in claims if c[0].start < s.end and s.start < c[0].end]))
        if progress:
            progress(i + 1, len(answers))
    return out, versions


def _learned(fact: Fact, support: SupportModel | None) -> float | None:
    if support is None or fact.error or fact.no_evidence or not fact.windows:
        return None
    return learned_p(fact, support)


def verdict_at(rec: Recorded, th: Thresholds, support: SupportModel | None) -> Verdict:
    """The sentence's verdict under `th`: the worst of the engine sentences over it."""
    s = rec.sentence
    if rec.failure:
        return Verdict(s.text, s.start, s.end, Label.UNCHECKED, 0.0, rec.failure)
    found = []
    for claim, facts, learned in rec.claims:
        if not facts:
            found.append(Verdict(claim.text, claim.start, claim.end, Label.NOT_A_CLAIM, 1.0, ""))
            continue
        parts = [decide(f, th, support, p) for f, p in zip(facts, learned, strict=True)]
        found.append(combine(claim.text, claim.start, claim.end, parts))
    if not found:
        return Verdict(s.text, s.start, s.end, Label.NOT_A_CLAIM, 1.0, "")
    return max(found, key=lambda v: v.verdict.severity)


@dataclass(frozen=True)
class Point:
    """The labelled sentences' outcome under one set of thresholds."""

    thresholds: Thresholds
    tp: int  # real errors flagged
    fp: int  # flags on sentences that were right
    fn: int  # real errors let through
    tn: int
    hard_tp: int  # the same for contradicted + unsupported only
    hard_fp: int
    unchecked: int

    @property
    def flags(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float:
        return prf(self.tp, self.fp, self.fn)["p"]

    @property
    def recall(self) -> float:
        return prf(self.tp, self.fp, self.fn)["r"]

    @property
    def f1(self) -> float:
        return prf(self.tp, self.fp, self.fn)["f1"]

    @property
    def hard(self) -> dict[str, float]:
        return prf(self.hard_tp, self.hard_fp, self.tp + self.fn - self.hard_tp)

    @property
    def review_share(self) -> float:
        n = self.tp + self.fp + self.fn + self.tn
        return self.unchecked / n if n else 0.0

    def values(self, support: SupportModel | None) -> dict[str, float]:
        """The swept thresholds as they would be written to the corpus TOML."""
        th = self.thresholds
        out = {"entail": th.entail, "contradict": th.contradict, "review_band": th.review_band}
        if support is not None:
            out["decision"] = th.decision if th.decision is not None else support.threshold
        return out


def point(records: list[Recorded], verdicts: list[Verdict], th: Thresholds) -> Point:
    c = dict.fromkeys(("tp", "fp", "fn", "tn", "hard_tp", "hard_fp", "unchecked"), 0)
    for rec, v in zip(records, verdicts, strict=True):
        flagged, err = v.verdict in FLAGGED, rec.sentence.error
        c[("t" if flagged == err else "f") + ("p" if flagged else "n")] += 1
        if flagged and v.verdict != Label.UNCHECKED:
            c["hard_tp" if err else "hard_fp"] += 1
        c["unchecked"] += v.verdict == Label.UNCHECKED
    return Point(th, **c)


def evaluate(
    records: list[Recorded], th: Thresholds, support: SupportModel | None
) -> tuple[Point, list[Verdict]]:
    verdicts = [verdict_at(r, th, support) for r in records]
    return point(records, verdicts, th), verdicts


@dataclass
class Outcome:
    """Figures of one set of thresholds for the report: the point, its confusion matrix and per kind."""

    point: Point
    confusion: dict[str, dict[str, int]]  # gold (file label or review decision) -> verdict -> n
    kinds: list[dict]  # per ErrorKind: errors caught (recall) and flags right (precision), with intervals


def outcome(records: list[Recorded], th: Thresholds, support: SupportModel | None) -> Outcome:
    p, verdicts = evaluate(records, th, support)
    confusion: dict[str, dict[str, int]] = {}
    for rec, v in zip(records, verdicts, strict=True):
        row = confusion.setdefault(rec.sentence.gold, {str(label): 0 for label in BY_SEVERITY})
        row[str(v.verdict)] += 1
    kinds = []
    for kind in ErrorKind:
        errors = [
            v for r, v in zip(records, verdicts, strict=True) if r.sentence.error and r.sentence.kind == kind
        ]
        flags = [
            r for r, v in zip(records, verdicts, strict=True) if v.verdict in FLAGGED and v.error_kind == kind
        ]
        if not errors and not flags:
            continue
        caught = sum(v.verdict in FLAGGED for v in errors)
        right = sum(r.sentence.error for r in flags)
        kinds.append(
            {
                "kind": str(kind),
                "label": kind.label,
                "errors": len(errors),
                "caught": caught,
                "recall": caught / len(errors) if errors else None,
                "recall_ci": wilson(caught, len(errors)),
                "flags": len(flags),
                "right": right,
                "precision": right / len(flags) if flags else None,
                "precision_ci": wilson(right, len(flags)),
            }
        )
    return Outcome(p, confusion, kinds)


@dataclass
class Calibration:
    """The sweep's result: every point of the entail x decision grid, the current and chosen
    thresholds, and whether the target precision was reached."""

    current: Point
    chosen: Point
    grid: list[Point]
    target_precision: float | None
    reached: bool
    n_sentences: int
    n_errors: int

    def frontier(self) -> list[Point]:
        """The grid points no other point beats on both precision and recall, by recall."""
        best: dict[float, Point] = {}
        for p in self.grid:
            if p.flags and (p.recall not in best or p.precision > best[p.recall].precision):
                best[p.recall] = p
        out, top = [], -1.0
        for r in sorted(best, reverse=True):
            if best[r].precision > top + 1e-12:
                out.append(best[r])
                top = best[r].precision
        return sorted(out, key=lambda p: p.recall)


def _grid(values: Iterable[float], current: float | None) -> list[float]:
    return sorted(set(values) | ({current} if current is not None else set()))


def calibrate(
    records: list[Recorded],
    current: Thresholds,
    support: SupportModel | None,
    target_precision: float | None = None,
) -> Calibration:
    """Choose thresholds for the labelled sentences: the flags with the best F1, or with
    `target_precision` the most recall at that precision or above; then contradict (best 3-way
    agreement of contradicted/unsupported with the labels, when they say which) and review_band
    (with a target: the narrowest band at which hard flags reach it; else the best hard-flag F1).
    Ties keep the thresholds closest to the current ones."""
    if not records:
        raise ValueError("no labelled sentences to calibrate on")
    now, _ = evaluate(records, current, support)
    shipped = support.threshold if support is not None else None
    cur_decision = current.decision if current.decision is not None else shipped

    def distance(th: Thresholds) -> float:
        d = abs(th.entail - current.entail) + abs(th.contradict - current.contradict)
        d += abs(th.review_band - current.review_band)
        if support is not None:
            d += abs((th.decision if th.decision is not None else shipped) - cur_decision)
        return d

    grid = []
    for e in _grid(ENTAIL_GRID, current.entail):
        for d in _grid(DECISION_GRID, cur_decision) if support is not None else [None]:
            th = dataclasses.replace(current, entail=e, decision=current.decision if d == cur_decision else d)
            grid.append(evaluate(records, th, support)[0])
    if target_precision is None:
        reached = True
        best = max(grid, key=lambda p: (round(p.f1, 9), -distance(p.thresholds)))
    else:
        ok = [p for p in grid if p.flags and p.precision >= target_precision - 1e-12]
        reached = bool(ok)
        pool = ok or grid
        best = max(
            pool,
            key=lambda p: (
                (round(p.recall, 9), round(p.f1, 9), -distance(p.thresholds))
                if reached
                else (round(p.precision, 9), round(p.recall, 9), -distance(p.thresholds))
            ),
        )
    th = best.thresholds
    three_way = any(r.sentence.gold in ERROR_LABELS for r in records)
    if three_way:
        th = max(
            (dataclasses.replace(th, contradict=c) for c in _grid(CONTRADICT_GRID, current.contradict)),
            key=lambda t: (_agreement(records, t, support), -distance(t)),
        )
    bands = [
        evaluate(records, dataclasses.replace(th, review_band=b), support)[0]
        for b in _grid(BAND_GRID, current.review_band)
    ]
    hard_ok = [p for p in bands if target_precision is not None and p.hard["p"] >= target_precision - 1e-12]
    chosen = (
        min(hard_ok, key=lambda p: (p.thresholds.review_band, distance(p.thresholds)))
        if hard_ok
        else max(bands, key=lambda p: (round(p.hard["f1"], 9), -distance(p.thresholds)))
    )
    return Calibration(
        now, chosen, grid, target_precision, reached, len(records), sum(r.sentence.error for r in records)
    )


def _agreement(records: list[Recorded], th: Thresholds, support: SupportModel | None) -> int:
    """How many labelled errors get their own label (contradicted or unsupported/unchecked)."""
    n = 0
    for r in records:
        if r.sentence.gold in ERROR_LABELS:
            v = verdict_at(r, th, support).verdict
            n += (v == Label.CONTRADICTED) == (r.sentence.gold == Label.CONTRADICTED) and v in FLAGGED
    return n
