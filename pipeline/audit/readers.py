"""Streamed transcript readers: JSONL (OpenAI chat format), CSV, or directories of such files.

JSONL: one conversation per line, `{"id", "messages": [{"role", "content"}], "metadata"?}`; content
is a string or a list of parts (`{"type": "text", "text": ...}`), joined with newlines.
CSV: a header naming `conversation_id, turn, role, content` (optional `corpus`, `doc_ids`), the rows
of one conversation consecutive; they are grouped on the fly.
`.gz` files are read compressed. Files are read line by line, never whole.

Each assistant turn becomes a `TurnTask` with the preceding user turn as its question. Anything that
cannot be used (a malformed line, a missing role, empty content, bytes that are not UTF-8) becomes an
`InputProblem` with the file and line, and is skipped; reading goes on.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.schema import VeracityError

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")
CSV_REQUIRED = ("conversation_id", "turn", "role", "content")
IGNORED_ROLES = frozenset({"system", "developer", "tool", "function"})
_SURROGATE = re.compile("[\udc80-\udcff]")
csv.field_size_limit(1 << 28)


class TranscriptError(VeracityError):
    """A transcript path that does not exist or cannot be opened."""


@dataclass
class TurnTask:
    """One assistant turn to verify. Picklable: sent to worker processes as is."""

    source: str
    line: int
    conversation_id: str
    turn: int  # index of the assistant message in the conversation (JSONL position, CSV `turn`)
    question: str | None
    answer: str
    corpus: str | None = None  # from the conversation's metadata; None = the command's corpus
    doc_ids: list[str] | None = None


@dataclass
class Conversation:
    conversation_id: str
    source: str
    line: int
    metadata: dict | None
    turns: list[TurnTask] = field(default_factory=list)


@dataclass
class InputProblem:
    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.source}{f':{self.line}' if self.line else ''}: {self.message}"


Item = Conversation | InputProblem


# --- files ---------------------------------------------------------------------------------------


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _sniff(path: Path) -> str:
    """For an explicitly named file without a known suffix: JSONL when it starts with '{'."""
    with _open(path) as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "csv"


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115


def transcript_files(paths: Iterable[str | os.PathLike]) -> Iterator[tuple[Path, str] | InputProblem]:
    """(file, "jsonl" | "csv") for every transcript: named files as given, directories walked in
    sorted order (hidden entries skipped). A directory without transcripts is a problem."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = False
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    f = Path(root) / name
                    kind = _kind_of(f)
                    if kind and not name.startswith("."):
                        found = True
                        yield f.resolve(), kind
            if not found:
                yield InputProblem(
                    str(path.resolve()), None, "no .jsonl, .ndjson or .csv files in this directory"
                )
        elif path.is_file():
            yield path.resolve(), _kind_of(path) or _sniff(path)
        else:
            raise TranscriptError(f"transcript path not found: {path}")


def check_paths(paths: Iterable[str | os.PathLike]) -> None:
    """Fail fast on a path that does not exist (before a run starts)."""
    for p in paths:
        if not Path(p).exists():
            raise TranscriptError(f"transcript path not found: {p}")


def read_transcripts(paths: Iterable[str | os.PathLike]) -> Iterator[Item]:
    """Conversations and input problems of every transcript, in file order, streamed."""
    for entry in transcript_files(paths):
        if isinstance(entry, InputProblem):
            yield entry
            continue
        path, kind = entry
        try:
            yield from (read_jsonl(path) if kind == "jsonl" else read_csv(path))
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            yield InputProblem(
                str(path), None, f"cannot read the file ({type(exc).__name__}: {exc}); rest skipped"
            )


def count_turns(paths: Iterable[str | os.PathLike]) -> int:
    """Assistant turns in the transcripts (a quick pass, for the progress bar)."""
    return sum(len(item.turns) for item in read_transcripts(paths) if isinstance(item, Conversation))


# --- content -------------------------------------------------------------------------------------


def content_text(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a list joined with newlines. None when the
    content has a shape that is not text at all."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, dict):  # {"type": "text", "text": {"value": ...}}
                    text = text.get("value")
                if isinstance(text, str) and part.get("type", "text") in (
                    "text",
                    "input_text",
                    "output_text",
                ):
                    parts.append(text)
        return "\n".join(parts)
    return None


def _doc_ids(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        items = [v for v in re.split(r"[;,\s]+", value) if v]
        return items or None
    if isinstance(value, list):
        items = [str(v) for v in value if v not in (None, "")]
        return items or None
    return None


class _Builder:
    """Turns the messages of one conversation into TurnTasks, reporting unusable messages."""

    def __init__(self, source: str, conversation_id: str, metadata: dict | None) -> None:
        self.source = source
        self.conv = Conversation(conversation_id, source, 0, metadata)
        meta = metadata or {}
        corpus = meta.get("corpus")
        self.corpus = corpus if isinstance(corpus, str) and corpus.strip() else None
        self.doc_ids = _doc_ids(meta.get("doc_ids"))
        self.last_user: str | None = None
        self.problems: list[InputProblem] = []

    def message(
        self, line: int, turn: int, role: Any, content: Any, where: str, tool_call: bool = False
    ) -> None:
        if not isinstance(role, str) or not role.strip():
            self.problems.append(InputProblem(self.source, line, f"{where}missing role; skipped"))
            return
        role = role.strip().lower()
        if role in IGNORED_ROLES:
            return
        if role not in ("user", "assistant"):
            self.problems.append(InputProblem(self.source, line, f"{where}unknown role {role!r}; skipped"))
            return
        text = content_text(content)
        if text is None:
            self.problems.append(
                InputProblem(
                    self.source, line, f"{where}content is neither text nor a list of parts; skipped"
                )
            )
            return
        if not text.strip():
            if role == "assistant" and tool_call:
                return  # a tool call, not an answer
            self.problems.append(InputProblem(self.source, line, f"{where}empty {role} content; skipped"))
            return
        if role == "user":
            self.last_user = text
            return
        self.conv.turns.append(
            TurnTask(
                self.source,
                line,
                self.conv.conversation_id,
                turn,
                self.last_user,
                text,
                self.corpus,
                self.doc_ids,
            )
        )


# --- JSONL ---------------------------------------------------------------------------------------


def _decode(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, (
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line); line skipped"
        )


def read_jsonl(path: Path) -> Iterator[Item]:
    source = str(path)
    with _open(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            text, error = _decode(raw)
            if error:
                yield InputProblem(source, lineno, error)
                continue
            if lineno == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield InputProblem(
                    source, lineno, f"malformed JSON ({exc.msg} at column {exc.colno}); line skipped"
                )
                continue
            yield from _jsonl_conversation(obj, source, lineno, path.name)


def _jsonl_conversation(obj: Any, source: str, lineno: int, file_name: str) -> Iterator[Item]:
    if not isinstance(obj, dict):
        yield InputProblem(
            source, lineno, f'expected a JSON object with "messages", got {type(obj).__name__}; line skipped'
        )
        return
    messages = obj.get("messages")
    if not isinstance(messages, list):
        yield InputProblem(source, lineno, 'no "messages" list; line skipped')
        return
    cid = obj.get("id", obj.get("conversation_id"))
    cid = str(cid).strip() if isinstance(cid, str | int) and str(cid).strip() else f"{file_name}#L{lineno}"
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        yield InputProblem(source, lineno, '"metadata" is not an object; ignored')
        metadata = None
    b = _Builder(source, cid, metadata)
    b.conv.line = lineno
    for i, m in enumerate(messages):
        where = f"message {i}: "
        if not isinstance(m, dict):
            b.problems.append(InputProblem(source, lineno, f"{where}not an object; skipped"))
            continue
        b.message(lineno, i, m.get("role"), m.get("content"), where, tool_call=bool(m.get("tool_calls")))
    yield from b.problems
    yield b.conv


# --- CSV -----------------------------------------------------------------------------------------


def _lines(fh: BinaryIO) -> Iterator[str]:
    """Decoded lines; bytes that are not UTF-8 become lone surrogates, found per row later."""
    first = True
    for raw in fh:
        text = raw.decode("utf-8", errors="surrogateescape")
        if first:
            text = text.lstrip("\ufeff")
            first = False
        yield text


def read_csv(path: Path) -> Iterator[Item]:
    source = str(path)
    with _open(path) as fh:
        reader = csv.reader(_lines(fh))
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield InputProblem(source, 1, f"malformed CSV header ({exc}); file skipped")
            return
        names = [h.strip().lower() for h in header]
        missing = [c for c in CSV_REQUIRED if c not in names]
        if missing or any(_SURROGATE.search(h) for h in header):
            yield InputProblem(
                source,
                1,
                f"CSV header must name the columns {', '.join(CSV_REQUIRED)} "
                f"(missing: {', '.join(missing) or 'none; not valid UTF-8'}); file skipped",
            )
            return
        col = {n: names.index(n) for n in (*CSV_REQUIRED, "corpus", "doc_ids") if n in names}
        group: list[tuple[int, list[str]]] = []
        current: str | None = None
        prev_end = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield InputProblem(source, prev_end + 1, f"malformed CSV row ({exc}); skipped")
                prev_end = reader.line_num
                continue
            start, prev_end = prev_end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            bad = next((cell for cell in row if _SURROGATE.search(cell)), None)
            if bad is not None:
                pos = _SURROGATE.search(bad)
                byte = ord(bad[pos.start()]) - 0xDC00
                yield InputProblem(source, start, f"not valid UTF-8 (byte 0x{byte:02x}); row skipped")
                continue
            if len(row) != len(names):
                yield InputProblem(
                    source, start, f"expected {len(names)} fields, found {len(row)}; row skipped"
                )
                continue
            cid = row[col["conversation_id"]].strip()
            if not cid:
                yield InputProblem(source, start, "missing conversation_id; row skipped")
                continue
            if cid != current and group:
                yield from _csv_conversation(source, current, group, col)
                group = []
            current = cid
            group.append((start, row))
        if group:
            yield from _csv_conversation(source, current, group, col)


def _csv_conversation(
    source: str, cid: str, rows: list[tuple[int, list[str]]], col: dict[str, int]
) -> Iterator[Item]:
    problems: list[InputProblem] = []
    numbered: list[tuple[int, int, list[str]]] = []
    seen: set[int] = set()
    for line, row in rows:
        raw_turn = row[col["turn"]].strip()
        try:
            turn = int(float(raw_turn)) if raw_turn else None
        except ValueError:
            turn = None
        if turn is None:
            problems.append(InputProblem(source, line, f"turn {raw_turn!r} is not an integer; row skipped"))
            continue
        if turn in seen:
            problems.append(
                InputProblem(source, line, f"turn {turn} of conversation {cid!r} repeated; row skipped")
            )
            continue
        seen.add(turn)
        numbered.append((turn, line, row))
    numbered.sort(key=lambda t: t[0])
    metadata: dict[str, Any] = {}
    for name in ("corpus", "doc_ids"):
        if name in col:
            value = next((r[col[name]].strip() for _, _, r in numbered if r[col[name]].strip()), "")
            if value:
                metadata[name] = value
    b = _Builder(source, cid, metadata or None)
    b.conv.line = rows[0][0]
    b.problems = problems
    for turn, line, row in numbered:
        b.message(line, turn, row[col["role"]], row[col["content"]], "")
    yield from b.problems
    yield b.conv
