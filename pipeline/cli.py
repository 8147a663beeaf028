"""The `veracity` command."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable

from pipeline.schema import Label, Mode, VeracityError
from pipeline.settings import Settings, get_settings
from pipeline.store.corpora import CorpusError

COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn

    return register


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


@command("index")
def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.store.builder import index_corpus
    from pipeline.store.corpora import corpus_config

    config = corpus_config(args.name, settings, args.paths or None)
    if args.ocr:
        config.ingest = dataclasses.replace(config.ingest, ocr=True)
    report = index_corpus(config, settings, rebuild=args.rebuild, progress=not args.json)
    if args.json:
        _print_json(report.to_dict())
        return 0
    print(
        f"corpus {report.corpus}: {report.documents} documents, {report.chunks} chunks "
        f"({report.index_type} index) in {report.seconds:.1f} s"
    )
    print(
        f"  added {len(report.added)}, changed {len(report.changed)}, removed {len(report.removed)}, "
        f"unchanged {report.unchanged}; embedded {report.embedded_chunks} chunks"
    )
    for suffix, n in sorted(report.formats.items()):
        print(f"  {suffix:<6} read {n['read']}, OCR'd {n['ocr']}, failed {n['failed']}")
    if report.low_confidence:
        print(f"  {len(report.low_confidence)} OCR'd page(s) read with low confidence (check their quotes):")
        for p in report.low_confidence:
            print(f"    {p['doc_id']} p. {p['page']}: {p['confidence']:.2f}")
    if report.failures:
        print(f"  {len(report.failures)} file(s) failed and were skipped:")
        for f in report.failures:
            print(f"    {f['path']}: {f['error']}")
    if report.skipped:
        print(f"  {len(report.skipped)} file(s) of types not read were skipped:")
        for path in report.skipped:
            print(f"    {path}")
    return 0


@command("search")
def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.models.embedders import get_embedder
    from pipeline.retrieval.hybrid import Retriever, Scope
    from pipeline.retrieval.windows import locate_hits
    from pipeline.store.corpora import corpus_config, open_index

    config = corpus_config(args.name, settings)
    index = open_index(args.name, settings, config)
    embedder = get_embedder(config.embedder)
    retriever = Retriever(index, embedder, settings.rrf_k, settings.retrieval_depth)
    scope = Scope(doc_ids=tuple(args.doc) if args.doc else None)
    t0 = time.perf_counter()
    hits = retriever.search(args.query, k=args.k, scope=scope)
    locate_hits(args.query, hits, index.place_of)
    ms = (time.perf_counter() - t0) * 1000
    if args.json:
        _print_json(
            {
                "query": args.query,
                "corpus": args.name,
                "took_ms": round(ms, 1),
                "hits": [h.to_dict() for h in hits],
            }
        )
        return 0
    if not hits:
        print("no results")
    for rank, h in enumerate(hits, 1):
        m = h.match
        place = f" p. {m.page}{' (OCR text)' if m.ocr else ''}" if m.page else ""
        print(
            f"{rank}. {m.doc_id}{place} [{m.section or '-'}] chars {m.start}-{m.end} "
            f"score {h.score:.4f} (cosine {h.dense:.3f})"
        )
        print(f"   {h.title}")
        snippet = " ".join(m.quote.split())
        print(f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}")
    print(f"({ms:.0f} ms)")
    return 0


@command("corpora")
def cmd_corpora(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.store.corpora import list_corpora

    rows = list_corpora(settings)
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'name':<14} {'domain':<12} {'docs':>6} {'chunks':>8}  {'index':<6} {'updated':<26} model")
    for r in rows:
        if r["indexed"]:
            print(
                f"{r['name']:<14} {r['domain']:<12} {r['documents']:>6} {r['chunks']:>8}  "
                f"{r['index_type']:<6} {r['updated']:<26} {r['model']}"
            )
        else:
            print(f"{r['name']:<14} {r['domain']:<12} {'-':>6} {'-':>8}  {'-':<6} {'(not indexed)':<26} -")
    return 0


COLOURS = {
    Label.SUPPORTED: "32",
    Label.CONTRADICTED: "31",
    Label.UNSUPPORTED: "33",
    Label.UNCHECKED: "35",
    Label.NOT_A_CLAIM: "2",
}


def _read_answer(args: argparse.Namespace) -> str:
    if args.answer is not None:
        return args.answer
    if args.answer_file == "-" or args.stdin:
        return sys.stdin.read()
    try:
        with open(args.answer_file, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read answer file {args.answer_file}: {exc}") from exc


@command("verify")
def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.verification.engine import Engine

    answer = _read_answer(args)
    contexts = None
    if args.context:
        contexts = []
        for path in args.context:
            try:
                with open(path, encoding="utf-8") as fh:
                    contexts.append(fh.read())
            except (OSError, UnicodeDecodeError) as exc:
                raise CorpusError(f"cannot read context file {path}: {exc}") from exc
    elif not args.name:
        raise CorpusError("give a corpus NAME or --context FILE")
    engine = Engine(settings)
    result = engine.verify(
        answer,
        corpus=None if contexts is not None else args.name,
        contexts=contexts,
        question=args.question,
        doc_ids=args.doc,
        domains=args.domain,
        mode=args.mode,
        cascade=args.cascade,
    )
    if args.json:
        _print_json(result.to_dict())
        return 0
    colour = sys.stdout.isatty() and not args.no_color
    for v in result.sentences:
        label = str(v.verdict)
        head = f"[{label} {v.confidence:.2f}]"
        if colour:
            head = f"\x1b[{COLOURS[v.verdict]}m{head}\x1b[0m"
        print(f"{head} {v.text.strip()}")
        if v.verdict != Label.NOT_A_CLAIM:
            print(f"    reason: {v.reason}")
        for c in v.citations[:2]:
            where = c.where
            print(
                f"    evidence: {c.doc_id}{' (' + where + ')' if where else ''} chars {c.start}-{c.end}: "
                f"“{' '.join(c.quote.split())[:240]}”"
            )
    s = result.summary
    counts = ", ".join(f"{k} {n}" for k, n in s["counts"].items() if n)
    print(f"\n{s['n_sentences']} sentences: {counts or 'none'}; flagged: {'yes' if s['flagged'] else 'no'}")
    print(f"--- output ({args.mode}) ---\n{result.output}")
    return 0


@command("serve")
@command("gateway")
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.server import serve

    return serve(args, settings)


@command("audit")
def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.audit.cli import run_audit

    return run_audit(args, settings)


@command("report")
def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.audit.cli import run_report

    return run_report(args, settings)


@command("calibrate")
def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.calibration.cli import run_calibrate

    return run_calibrate(args, settings)


@command("train-verifier")
def cmd_train_verifier(args: argparse.Namespace, settings: Settings) -> int:
    import subprocess

    from pipeline.settings import PROJECT_ROOT

    script = PROJECT_ROOT / "scripts" / "train_verifier.py"
    return subprocess.call([sys.executable, str(script), *args.train_args])


def _add_cascade_flag(parser: argparse.ArgumentParser) -> None:
    """--cascade / --no-cascade: the request's choice over the corpus's [cascade] and the settings'."""
    parser.add_argument(
        "--cascade",
        action=argparse.BooleanOptionalAction,
        help="ask the LLM judge (VERACITY_CASCADE__*) about uncertain facts; default: the corpus's setting",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="veracity", description=__doc__)
    p.add_argument("--home", help="directory holding indexes/ (default: $VERACITY_HOME or the project)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("index", help="build or update a corpus index")
    s.add_argument("name")
    s.add_argument("paths", nargs="*", help="files, directories or globs (default: corpora/NAME.toml)")
    s.add_argument("--rebuild", action="store_true", help="re-embed everything")
    s.add_argument("--ocr", action="store_true", help="OCR PDF pages without a text layer (as `ocr = true`)")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("search", help="search a corpus")
    s.add_argument("name")
    s.add_argument("query")
    s.add_argument("-k", type=int, default=5)
    s.add_argument("--doc", action="append", help="restrict to this doc_id (repeatable)")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("verify", help="check every sentence of an answer against a corpus")
    s.add_argument("name", nargs="?", help="corpus (omit with --context)")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--answer", help="the answer text")
    src.add_argument("--answer-file", help="file holding the answer ('-' for stdin)")
    src.add_argument("-", dest="stdin", action="store_true", help="read the answer from stdin")
    s.add_argument("--question", help="the user's question (can name the document)")
    s.add_argument("--doc", action="append", help="restrict evidence to this doc_id (repeatable)")
    s.add_argument("--domain", action="append", help="restrict evidence to documents of this domain")
    s.add_argument("--context", action="append", help="verify against this passage file instead of a corpus")
    s.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.ANNOTATE.value)
    _add_cascade_flag(s)
    s.add_argument("--json", action="store_true")
    s.add_argument("--no-color", action="store_true")

    s = sub.add_parser("serve", help="run the REST API (and review UI) with uvicorn")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--corpus", action="append", help="corpora to load at start-up (default: sample)")
    s.add_argument("--no-auth", action="store_true", help="disable API keys (refused off loopback)")
    s.add_argument(
        "--gateway", metavar="TOML", help="also serve the OpenAI-compatible gateway over these upstreams"
    )

    s = sub.add_parser("gateway", help="serve with the OpenAI-compatible gateway (serve --gateway TOML)")
    s.add_argument("gateway", metavar="TOML", help="upstream LLMs (api/gateway/README.md)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--corpus", action="append", help="corpora to load at start-up (default: sample)")
    s.add_argument("--no-auth", action="store_true", help="disable API keys (refused off loopback)")

    s = sub.add_parser("audit", help="verify every assistant turn of past chat transcripts")
    s.add_argument("name", help="corpus")
    s.add_argument("transcripts", nargs="+", help="JSONL / CSV files or directories")
    s.add_argument("--out", help="directory for report.html, flagged.csv, results.jsonl")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--run-id", help="resume or name this run")
    _add_cascade_flag(s)
    s.add_argument("--no-progress", action="store_true")
    s.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="verify on Ray: --workers actors on a local Ray, or on the cluster at ADDRESS "
        "(host:port, ray://host:port, auto); put it after the transcripts",
    )

    s = sub.add_parser("report", help="regenerate an audit run's report from the store")
    s.add_argument("run_id")
    s.add_argument("--out", help="output directory (default: the run's)")

    s = sub.add_parser("calibrate", help="choose a corpus's thresholds from labelled answers or reviews")
    s.add_argument("name", help="corpus")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--labels", help="labelled answers (JSONL, the format of bench/data/dev_answers.jsonl)")
    src.add_argument("--from-reviews", action="store_true", help="the review trail's latest decisions")
    s.add_argument(
        "--run", action="append", default=[], metavar="RUN_ID", help="with --from-reviews: only these runs"
    )
    s.add_argument("--target-precision", type=float, help="flag precision to reach (default: best F1)")
    s.add_argument("--report", help="the HTML report (default: calibration-CORPUS.html here)")
    s.add_argument(
        "--write", action="store_true", help="write the chosen thresholds into corpora/CORPUS.toml"
    )

    s = sub.add_parser("train-verifier", help="rebuild the verifier model from ../shared/data")
    s.add_argument("train_args", nargs=argparse.REMAINDER, help="passed to scripts/train_verifier.py")

    s = sub.add_parser("corpora", help="list corpora with sizes and models")
    s.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings(args.home)
    try:
        return COMMANDS[args.command](args, settings)
    except VeracityError as exc:
        print(f"veracity: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("veracity: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
