"""`veracity audit` and `veracity report`: batch audit of past transcripts, and its report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.audit.readers import InputProblem, check_paths
from pipeline.audit.report import write_report
from pipeline.audit.runner import MAX_PRINTED_PROBLEMS, AuditError, AuditRunner, new_run_id
from pipeline.audit.store import API_RUNS, AuditStore, AuditStoreError, check_run_id, store_path


def default_out_dir(settings: Any, run_id: str) -> Path:
    return Path(settings.home) / "audits" / run_id


def check_corpus(name: str, settings: Any) -> None:
    """The command's corpus must be defined and indexed (cheap: no index is loaded)."""
    from pipeline.store.corpora import corpus_config
    from pipeline.store.index_files import corpus_dir, current_version

    corpus_config(name, settings)
    if current_version(corpus_dir(settings.indexes_dir, name)) is None:
        raise AuditError(
            f"corpus {name!r} is not indexed under {settings.indexes_dir}; build it with "
            f"`veracity index {name}`"
        )


def run_audit(args: argparse.Namespace, settings: Any, *, engine: Any = None) -> int:
    """veracity audit NAME TRANSCRIPTS... [--out DIR] [--workers N] [--run-id ID] [--[no-]cascade]
    [--no-progress] [--ray [ADDRESS]]"""
    run_id = check_run_id(args.run_id) if args.run_id else new_run_id()
    workers = int(getattr(args, "workers", 1) or 1)
    if workers < 1:
        raise AuditError("--workers must be at least 1")
    make_runner = runner_for(getattr(args, "ray", None))
    check_paths(args.transcripts)
    check_corpus(args.name, settings)
    store = AuditStore(store_path(settings))
    try:
        existing = store.run(run_id)
        if run_id in API_RUNS or (existing and existing["kind"] != "audit"):
            raise AuditStoreError(f"run id {run_id!r} belongs to API verifications; choose another --run-id")
        out = (
            Path(args.out)
            if args.out
            else Path(existing["out_dir"])
            if existing and existing["out_dir"]
            else default_out_dir(settings, run_id)
        )
        progress = not getattr(args, "no_progress", False)
        printed = [0]

        def on_problem(p: InputProblem) -> None:
            printed[0] += 1
            if printed[0] <= MAX_PRINTED_PROBLEMS:
                _err(f"input problem: {p}", progress)
            elif printed[0] == MAX_PRINTED_PROBLEMS + 1:
                _err("more input problems: see the report", progress)

        _err(f"audit run {run_id} ({'resuming' if existing else 'new'}); store {store.db.describe()}", False)
        runner = make_runner(
            store,
            settings,
            run_id=run_id,
            corpus=args.name,
            workers=workers,
            cascade=getattr(args, "cascade", None),
            engine=engine,
            progress=progress,
            on_problem=on_problem,
        )
        try:
            s = runner.run(args.transcripts)
        except KeyboardInterrupt:
            _err(
                f"interrupted: {runner.summary.verified} turns stored in this session; resume with "
                f"`veracity audit {args.name} ... --run-id {run_id}`",
                False,
            )
            raise
        paths = write_report(store, run_id, out)
        store.set_out_dir(run_id, str(out))
        run = store.run(run_id)
        share = run["flagged_turns"] / run["done"] if run["done"] else 0.0
        print(
            f"run {run_id}: {s.verified} turns verified, {s.skipped} already done, {s.errors} errors, "
            f"{s.problems} input problems ({s.conversations} conversations, {s.seconds:.1f} s)"
        )
        print(
            f"  in the run: {run['done']} turns, {run['flagged_turns']} with flags ({100 * share:.1f}%), "
            f"{run['flagged_sentences']} flagged sentences, {run['errors']} errors, {run['problems']} input problems"
        )
        print(f"  report: {paths['html']}")
        print(f"          {paths['flagged_csv']}")
        print(f"          {paths['results_jsonl']}")
        return 0
    finally:
        store.close()


def runner_for(ray_address: str | None) -> Callable[..., AuditRunner]:
    """AuditRunner (local processes), or with --ray the runner over Ray actors at that address."""
    if ray_address is None:
        return AuditRunner
    try:
        from pipeline.audit.ray_runner import RayAuditRunner, check_address
    except ImportError as exc:
        if exc.name != "ray":
            raise
        raise AuditError("--ray needs Ray: pip install 'veracity[ray]'") from exc
    return partial(RayAuditRunner, address=check_address(ray_address))


def run_report(args: argparse.Namespace, settings: Any) -> int:
    """veracity report RUN_ID [--out DIR]: rewrite the run's report files from the store."""
    run_id = check_run_id(args.run_id)
    path = store_path(settings)
    if isinstance(path, Path) and not path.exists():
        raise AuditStoreError(f"no audit store at {path}; run `veracity audit` first")
    store = AuditStore(path)
    try:
        run = store.run(run_id)
        if run is None:
            known = ", ".join(r["run_id"] for r in store.runs()[:10]) or "none"
            raise AuditStoreError(f"unknown audit run {run_id!r} in {store.db.describe()} (runs: {known})")
        out = (
            Path(args.out)
            if getattr(args, "out", None)
            else Path(run["out_dir"])
            if run["out_dir"]
            else default_out_dir(settings, run_id)
        )
        paths = write_report(store, run_id, out)
        if not run["out_dir"]:
            store.set_out_dir(run_id, str(out))
        print(
            f"run {run_id}: {run['done']} turns, {run['flagged_turns']} with flags, "
            f"{run['flagged_sentences']} flagged sentences"
        )
        for p in paths.values():
            print(f"  {p}")
        return 0
    finally:
        store.close()


def _err(message: str, progress: bool) -> None:
    if progress:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)
