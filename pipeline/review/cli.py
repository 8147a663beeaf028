"""`python -m pipeline.review`: reviewers' accounts and the decision trail's export, from the shell
(no `veracity` install needed).

    python -m pipeline.review add-reviewer NAME [--db PATH | --home DIR]   # password read from stdin
    python -m pipeline.review set-password NAME | disable-reviewer NAME | list-reviewers
    python -m pipeline.review export [--run RUN] [--corpus C] [--latest] [-o FILE]
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from pipeline.audit.store import store_path
from pipeline.files import atomic_write
from pipeline.review.accounts import ReviewError, check_reviewer_name
from pipeline.review.export import write_csv
from pipeline.review.trail import ReviewStore
from pipeline.schema import VeracityError


def _db_path(args: argparse.Namespace) -> str | Path:
    if args.db:
        return args.db
    from pipeline.settings import Settings

    settings = Settings(home=Path(args.home)) if args.home else Settings()
    return store_path(settings)


def _read_password(stdin: IO[str]) -> str:
    if stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ReviewError("the passwords differ")
        return first
    line = stdin.readline()
    return line.rstrip("\r\n")


def main(
    argv: Iterable[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None
) -> int:
    """Run one command; returns the exit status (2 with a message on stderr when it cannot be done)."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.review", description="Review UI accounts and the decision trail."
    )
    parser.add_argument(
        "--db",
        help="audit store: a SQLite file or a postgresql:// URL (default: VERACITY_DATABASE_URL, else "
        "VERACITY_AUDIT_DB or HOME/audit.sqlite)",
    )
    parser.add_argument("--home", help="Veracity home (default: VERACITY_HOME or the project directory)")
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd, help_text in (
        ("add-reviewer", "create a reviewer; the password is read from stdin"),
        ("set-password", "set a reviewer's password (read from stdin) and re-activate it"),
        ("disable-reviewer", "stop a reviewer from signing in (decisions are kept)"),
    ):
        p = sub.add_parser(cmd, help=help_text)
        p.add_argument("name")
    sub.add_parser("list-reviewers", help="reviewers and whether they may sign in")
    p = sub.add_parser("export", help="the decision trail as CSV")
    p.add_argument("--run")
    p.add_argument("--corpus")
    p.add_argument("--latest", action="store_true", help="only each sentence's current decision")
    p.add_argument("-o", "--out", help="file to write (default: stdout)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        with ReviewStore(_db_path(args)) as rs:
            if args.command in ("add-reviewer", "set-password"):
                check_reviewer_name(args.name)
                rs.add_reviewer(args.name, _read_password(stdin), replace=args.command == "set-password")
                print(
                    f"reviewer {args.name} can sign in at /ui/login ({rs.store.db.describe()})", file=stdout
                )
            elif args.command == "disable-reviewer":
                rs.set_active(args.name, False)
                print(f"reviewer {args.name} disabled", file=stdout)
            elif args.command == "list-reviewers":
                for r in rs.reviewers():
                    print(
                        f"{r['name']}\t{'active' if r['active'] else 'disabled'}\tcreated {r['created_at']}",
                        file=stdout,
                    )
            elif args.command == "export":
                filters = {"run": args.run, "corpus": args.corpus, "latest_only": args.latest}
                if args.out:
                    atomic_write(args.out, lambda fp: write_csv(rs, fp, **filters), newline="")
                else:
                    write_csv(rs, stdout, **filters)
    except VeracityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
