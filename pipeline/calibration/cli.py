"""`veracity calibrate CORPUS (--labels FILE | --from-reviews [--run ID ...])`: run the engine once over
the labelled answers, sweep the thresholds, print the trade-off, write the report and, with
--write, the chosen thresholds into corpora/CORPUS.toml (the earlier ones kept in the history)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from pipeline.audit.store import AuditStore, store_path
from pipeline.calibration.apply import write_calibration
from pipeline.calibration.labels import CalibrationError, LabelledAnswer, read_labels, review_labels
from pipeline.calibration.report import context, write_report
from pipeline.calibration.sweep import MIN_CLASS, Calibration, Point, calibrate, outcome, record
from pipeline.review.trail import ReviewStore
from pipeline.settings import Settings
from pipeline.store.corpora import corpus_config
from pipeline.verification.decision import SupportModel
from pipeline.verification.engine import Engine


def load_answers(args: argparse.Namespace, settings: Settings) -> tuple[list[LabelledAnswer], str]:
    if args.labels:
        return read_labels(Path(args.labels), args.name), f"file {args.labels}"
    path = store_path(settings)
    if not path.exists():
        return [], f"reviews (no audit store at {path})"
    with ReviewStore(AuditStore(path)) as review:
        answers = review_labels(review, args.name, args.run)
        review.store.close()
    runs = f" of runs {', '.join(args.run)}" if args.run else ""
    return answers, f"review decisions{runs} in {path}"


def run_calibrate(args: argparse.Namespace, settings: Settings, engine: Engine | None = None) -> int:
    config = corpus_config(args.name, settings)  # an unknown corpus stops here, with what to do
    if args.target_precision is not None and not 0 < args.target_precision <= 1:
        raise CalibrationError("--target-precision must be in (0, 1]")
    answers, source = load_answers(args, settings)
    n_labels = sum(len(a.sentences) for a in answers)
    if n_labels == 0:
        what = "no labelled sentences for corpus " + repr(args.name) + f" in {source}"
        if args.write:
            raise CalibrationError(what + ": nothing to calibrate on, so nothing was written")
        print(f"veracity: {what}; nothing to calibrate", file=sys.stderr)
        return 1
    engine = engine or Engine(settings)
    print(f"calibrating {args.name} on {n_labels} labelled sentences of {len(answers)} answers ({source})")
    records, versions = record(engine, answers, args.name, _progress)
    current = config.thresholds
    cal = calibrate(records, current, engine.support, args.target_precision)
    support = engine.support
    print_table(cal, support)
    outcomes = {
        "current": outcome(records, current, support),
        "chosen": outcome(records, cal.chosen.thresholds, support),
    }
    report = Path(args.report) if args.report else Path(f"calibration-{args.name}.html")
    meta = {
        "corpus": args.name,
        "source": source,
        "n_answers": len(answers),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": versions,
    }
    write_report(report, context(cal, outcomes, support, meta))
    print(f"report: {report}")
    if cal.n_sentences - cal.n_errors < MIN_CLASS or cal.n_errors < MIN_CLASS:
        print(f"warning: fewer than {MIN_CLASS} labelled sentences in a class; the figures are rough")
    if not cal.reached:
        print(f"no thresholds in the sweep reach flag precision {args.target_precision}")
        if args.write:
            raise CalibrationError("the target precision is not reached; nothing was written")
        return 1
    if args.write:
        definition = settings.corpora_dir / f"{args.name}.toml"
        values = cal.chosen.values(support)
        entry = write_calibration(
            definition,
            values,
            cal.current.values(support),
            {
                "labels": cal.n_sentences,
                "errors": cal.n_errors,
                "source": source,
                "target_precision": args.target_precision,
                "precision": round(cal.chosen.precision, 4),
                "recall": round(cal.chosen.recall, 4),
            },
        )
        print(
            f"wrote {values} to {definition}; history: {definition.stem}.calibration.jsonl ({entry['calibrated_at']})"
        )
    else:
        print("not written (add --write to set them in the corpus definition)")
    return 0


def _progress(done: int, total: int) -> None:
    print(
        f"\r  engine: {done}/{total} answers", end="\n" if done == total else "", file=sys.stderr, flush=True
    )


def print_table(cal: Calibration, support: SupportModel | None) -> None:
    """The trade-off: the best precision at each recall over the sweep, with current and chosen."""
    keys = list(cal.current.values(support))
    head = " ".join(f"{k:>11}" for k in keys)
    print(
        f"\n{'':8} {head} {'flags':>6} {'precision':>9} {'recall':>7} {'F1':>6} {'hard P':>7} {'review':>7}"
    )
    rows: list[tuple[str, Point]] = [("", p) for p in cal.frontier()]
    rows += [("current", cal.current), ("chosen", cal.chosen)]
    for name, p in rows:
        vals = " ".join(f"{v:>11.2f}" for v in p.values(support).values())
        print(
            f"{name:8} {vals} {p.flags:>6} {p.precision:>9.3f} {p.recall:>7.3f} {p.f1:>6.3f} "
            f"{p.hard['p']:>7.3f} {p.review_share:>7.1%}"
        )
    target = f"flag precision >= {cal.target_precision}" if cal.target_precision is not None else "best F1"
    print(f"({cal.n_sentences} labelled sentences, {cal.n_errors} real errors; target: {target})\n")
