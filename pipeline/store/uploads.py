"""Documents uploaded to a corpus: stored under HOME/uploads/NAME/, indexed beside the defined sources.

An upload is written to a staging file first (HOME/uploads/.incoming/NAME/...), checked by parsing it,
then moved into HOME/uploads/NAME/ with `os.replace`, so the indexer never sees a half-written file.
The uploads directory is one more source of the corpus: `indexing_config` adds it to the corpus
definition (or, for a name with no definition, is the whole corpus), and `reindex` runs the
incremental indexer over it. A document that comes from the definition cannot be deleted here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.files import atomic_write, fsync_dir
from pipeline.ingest import SUPPORTED_SUFFIXES, IngestError, IngestOptions, SourceFile, load_file
from pipeline.schema import Document, VeracityError
from pipeline.settings import Settings
from pipeline.store.corpora import (
    CorpusConfig,
    CorpusError,
    Source,
    UnknownCorpus,
    check_name,
    corpus_config,
    resolve_sources,
)

MAX_FILENAME = 120  # UTF-8 bytes of the stored name (file systems allow 255)
INCOMING = ".incoming"
NAMES = ".names"  # HOME/uploads/.names/NAME.json: stored file name -> the client's file name
# letters and digits of any script, and `._+-`; everything else becomes `_`
_UNSAFE = re.compile(r"(?:[^\w.+-]|_)+")


class DocumentError(VeracityError):
    """A bad upload or delete request; the message says why."""


class UnsupportedFileType(DocumentError):
    pass


class DocumentNotFound(DocumentError):
    pass


class DocumentConflict(DocumentError):
    """The document belongs to the corpus definition (or an upload would shadow one)."""


class UploadTooLarge(DocumentError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"file is larger than the upload limit of {limit} bytes")
        self.limit = limit


def uploads_dir(settings: Settings, corpus: str) -> Path:
    return settings.home / "uploads" / check_name(corpus)


def incoming_dir(settings: Settings, corpus: str) -> Path:
    """Staging area on the same file system as the uploads (so os.replace is atomic), but outside
    the corpus's uploads directory (so the indexer never lists a staged file)."""
    return settings.home / "uploads" / INCOMING / check_name(corpus)


def sanitize_filename(name: str) -> str:
    """A safe flat file name from a client-supplied one: no directories, no leading dots, only
    letters and digits (of any script, NFKC-normalised) and `._+-`; the suffix must be a supported type."""
    base = client_basename(name)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.lower() if dot else ""
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileType(
            f"unsupported file type {suffix or '(no extension)'} for {name!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    stem = _UNSAFE.sub("_", stem).strip("._-+")
    stem = stem.encode("utf-8")[: MAX_FILENAME - len(suffix)].decode("utf-8", "ignore")
    if not stem:
        stem = "document"
    return stem + suffix


def client_basename(name: str) -> str:
    """The last path component of a client's file name, NFKC-normalised, without NULs or lone
    surrogates."""
    base = unicodedata.normalize("NFKC", name or "").replace("\\", "/").split("/")[-1]
    return base.encode("utf-8", "replace").decode("utf-8").replace("\x00", "").strip()


@dataclass
class StagedFile:
    """A file received for a corpus, complete on disk but not yet part of it."""

    filename: str  # sanitised; becomes the doc_id (or the prefix of openFDA record ids)
    path: Path
    size: int
    original_name: str = ""


class UploadWriter:
    """Receives one file in pieces with a running byte count; `commit` makes it a StagedFile.

    Raises UploadTooLarge as soon as the limit is passed (the partial file is removed)."""

    def __init__(self, settings: Settings, corpus: str, filename: str, max_bytes: int, batch: str) -> None:
        self.original_name = filename
        self.filename = sanitize_filename(filename)
        self.max_bytes = max_bytes
        self.dir = incoming_dir(settings, corpus) / batch
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".part-", dir=self.dir)
        self._fh = os.fdopen(fd, "wb")
        self._tmp = Path(tmp)
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            self.abort()
            raise UploadTooLarge(self.max_bytes)
        self._fh.write(data)

    def commit(self) -> StagedFile:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        final = self.dir / self.filename
        os.replace(self._tmp, final)
        return StagedFile(self.filename, final, self.size, self.original_name)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


def new_batch_id() -> str:
    return uuid.uuid4().hex


def discard_batch(settings: Settings, corpus: str, batch: str) -> None:
    shutil.rmtree(incoming_dir(settings, corpus) / batch, ignore_errors=True)


# --- corpus configuration ----------------------------------------------------------------------


def base_config(corpus: str, settings: Settings) -> CorpusConfig | None:
    """The corpus's own definition without the uploads directory; None for an upload-only corpus."""
    try:
        config = corpus_config(corpus, settings)
    except UnknownCorpus:
        return None
    up = str(uploads_dir(settings, corpus).resolve())
    config.sources = [s for s in config.sources if _abs(s.path, config.base_dir) != up]
    return config if config.sources else None


def corpus_exists(corpus: str, settings: Settings) -> bool:
    try:
        corpus_config(corpus, settings)
        return True
    except UnknownCorpus:
        return uploads_dir(settings, corpus).is_dir()


def indexing_config(corpus: str, settings: Settings, domain: str | None = None) -> CorpusConfig:
    """The corpus definition plus its uploads directory as one more source. For a name with neither a
    definition nor an index, the uploads directory alone is the corpus."""
    up = uploads_dir(settings, corpus)
    up.mkdir(parents=True, exist_ok=True)
    try:
        config = corpus_config(corpus, settings)
    except UnknownCorpus:
        config = CorpusConfig(name=corpus, domain=domain or "general", base_dir=up.parent)
    target = str(up.resolve())
    if not any(_abs(s.path, config.base_dir) == target for s in config.sources):
        config.sources = [*config.sources, Source(target, domain or config.domain)]
    return config


def _abs(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str((p if p.is_absolute() else base / p).resolve())


def defined_files(corpus: str, settings: Settings) -> set[str]:
    """File doc_ids that come from the corpus definition (not from uploads)."""
    config = base_config(corpus, settings)
    if config is None:
        return set()
    files, _problems = resolve_sources(config.sources, config.base_dir)
    return {src.doc_id for src, _ in files}


def uploaded_files(corpus: str, settings: Settings) -> list[str]:
    up = uploads_dir(settings, corpus)
    if not up.is_dir():
        return []
    return sorted(p.name for p in up.iterdir() if p.is_file() and not p.name.startswith("."))


# --- ingest and delete ----------------------------------------------------------------------------


@dataclass
class AcceptResult:
    accepted: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)  # {"file", "error"}
    renamed: dict[str, str] = field(default_factory=dict)  # client file name -> stored name
    # stored file (resolved path) -> its documents as parsed when accepted, so indexing does not
    # parse (or OCR) it again
    parsed: dict[str, list[Document]] = field(default_factory=dict)


def _names_path(settings: Settings, corpus: str) -> Path:
    return settings.home / "uploads" / NAMES / f"{check_name(corpus)}.json"


def client_names(corpus: str, settings: Settings) -> dict[str, str]:
    """Stored file name -> the client file name it was uploaded as (files stored before this was
    kept are absent: their stored name stands for the client's)."""
    try:
        return json.loads(_names_path(settings, corpus).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_names(corpus: str, settings: Settings, names: dict[str, str]) -> None:
    path = _names_path(settings, corpus)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(names, ensure_ascii=False, sort_keys=True)
    atomic_write(path, lambda fh: fh.write(text))


def _stored_name(up: Path, sf: StagedFile, names: dict[str, str], taken: set[str]) -> str:
    """sf's name in the uploads directory: its cleaned name, unless that already holds a file
    uploaded under another client name (then `stem-2.ext`, `stem-3.ext`, ...), so cleaning never
    makes one document overwrite another. The same client name again replaces its file."""
    original = client_basename(sf.original_name) or sf.filename
    stem, suffix = sf.filename[: -len(Path(sf.filename).suffix)], Path(sf.filename).suffix
    candidate, n = sf.filename, 1
    while candidate in taken or ((up / candidate).exists() and names.get(candidate, candidate) != original):
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    return candidate


def accept_staged(
    corpus: str,
    settings: Settings,
    staged: list[StagedFile],
    domain: str | None = None,
    reserved: set[str] | None = None,
) -> AcceptResult:
    """Parse each staged file (a file that cannot be read is refused here, with the reason, rather
    than left to fail on every later re-index) and move the good ones into the uploads directory."""
    out = AcceptResult()
    up = uploads_dir(settings, corpus)
    up.mkdir(parents=True, exist_ok=True)
    reserved = defined_files(corpus, settings) if reserved is None else reserved
    names = client_names(corpus, settings)
    try:
        options = indexing_config(corpus, settings, domain).ingest  # the corpus's OCR choice
    except CorpusError:
        options = IngestOptions()
    for sf in staged:
        if sf.filename in reserved:
            out.failures.append(
                {
                    "file": sf.filename,
                    "error": "a document with this name comes from the corpus definition; rename the file",
                }
            )
            sf.path.unlink(missing_ok=True)
            continue
        try:
            check_size(sf.path, settings)
            loaded = load_file(SourceFile(sf.path, sf.filename), domain or "general", options)
            chars = sum(len(d.text) for d in loaded)
            if chars > settings.max_file_chars:
                raise IngestError(
                    f"the file has {chars} characters of text; the limit is {settings.max_file_chars} "
                    "(VERACITY_MAX_FILE_CHARS): split it"
                )
        except IngestError as exc:
            out.failures.append({"file": sf.filename, "error": str(exc)})
            sf.path.unlink(missing_ok=True)
            continue
        except Exception as exc:  # noqa: BLE001 - a broken file must not stop the others
            out.failures.append({"file": sf.filename, "error": f"unexpected {type(exc).__name__}: {exc}"})
            sf.path.unlink(missing_ok=True)
            continue
        stored = _stored_name(up, sf, names, reserved | set(out.accepted))
        os.replace(sf.path, up / stored)
        if stored == sf.filename:  # the doc_ids it was parsed under are the ones it is indexed under
            out.parsed[str((up / stored).resolve())] = loaded
        names[stored] = client_basename(sf.original_name) or sf.filename
        if stored != sf.filename:
            out.renamed[sf.original_name] = stored
        out.accepted.append(stored)
    fsync_dir(up)
    if out.accepted:
        _save_names(corpus, settings, names)
    return out


def check_size(path: Path, settings: Settings) -> None:
    """IngestError for a PDF with more pages than settings.max_file_pages, found before any text is
    extracted (a small file can repeat one page thousands of times and take hours to read)."""
    if path.suffix.lower() != ".pdf":
        return
    from pipeline.ingest.pdfium_doc import page_count

    try:
        pages = page_count(path)
    except IngestError:  # an unreadable PDF is reported by its loader
        return
    if pages > settings.max_file_pages:
        raise IngestError(
            f"the PDF has {pages} pages; the limit is {settings.max_file_pages} (VERACITY_MAX_FILE_PAGES): split it"
        )


def reindex(
    corpus: str,
    settings: Settings,
    domain: str | None = None,
    embedder=None,
    parsed: dict[str, list[Document]] | None = None,
):
    """Incremental index of the corpus definition plus its uploads (serialised per corpus by the
    indexer's writer lock); returns the IndexReport. `parsed`: files already parsed on acceptance."""
    from pipeline.store.builder import index_corpus

    return index_corpus(indexing_config(corpus, settings, domain), settings, embedder=embedder, parsed=parsed)


def resolve_upload(corpus: str, doc_id: str, settings: Settings) -> tuple[str, list[str]]:
    """The uploaded file holding `doc_id` (a file name, or an openFDA record `FILE#i`) and every
    indexed doc_id that file produced. DocumentConflict for a defined document, DocumentNotFound
    for anything else."""
    from pipeline.store.index_files import corpus_dir, current_version, read_manifest

    up = uploads_dir(settings, corpus)
    vdir = current_version(corpus_dir(settings.indexes_dir, corpus))
    meta = read_manifest(vdir).documents if vdir else {}
    file = meta.get(doc_id, {}).get("file") or doc_id
    # longer than any stored name: no file of ours, and the OS would refuse to look (ENAMETOOLONG)
    ours = "/" not in file and "\\" not in file and not file.startswith(".") and len(file.encode()) <= 255
    if ours and (up / file).is_file():
        produced = sorted(d for d, m in meta.items() if m.get("file") == file) or [file]
        return file, produced
    if doc_id in meta or file in defined_files(corpus, settings):
        raise DocumentConflict(
            f"document {doc_id!r} comes from the definition of corpus {corpus!r}, not from "
            "an upload; remove it from the corpus's sources instead"
        )
    raise DocumentNotFound(f"no document {doc_id!r} in corpus {corpus!r}")


def delete_upload(corpus: str, file: str, settings: Settings) -> None:
    path = uploads_dir(settings, corpus) / file
    try:
        path.unlink()
    except FileNotFoundError as exc:
        raise DocumentNotFound(f"no uploaded document {file!r} in corpus {corpus!r}") from exc
    fsync_dir(path.parent)
    names = client_names(corpus, settings)
    if names.pop(file, None) is not None:
        _save_names(corpus, settings, names)
