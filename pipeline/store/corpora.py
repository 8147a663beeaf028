"""Corpora: definitions in corpora/NAME.toml (name, domain, sources, chunking, thresholds), lookup of
the built indexes beside them, and opening a corpus's live index."""

from __future__ import annotations

import glob
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest import SUPPORTED_SUFFIXES, IngestOptions, SourceFile
from pipeline.ingest.chunk import ChunkSettings
from pipeline.models.embedders import DEFAULT_EMBEDDER, EMBEDDERS, embedder_id
from pipeline.schema import VeracityError
from pipeline.settings import Settings, Thresholds
from pipeline.store.index_files import CorpusIndex, corpus_dir, current_version, read_manifest

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CorpusError(VeracityError):
    """Unknown corpus, bad definition or bad path; the message says which."""


class UnknownCorpus(CorpusError):
    """No definition and no index under this name."""


@dataclass(frozen=True)
class Source:
    path: str  # a file, a directory or a glob; relative paths are relative to the definition file
    domain: str


@dataclass
class CorpusConfig:
    name: str
    domain: str = "general"
    description: str = ""
    sources: list[Source] = field(default_factory=list)
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    base_dir: Path = Path(".")
    embedder: str = DEFAULT_EMBEDDER  # a name in pipeline.models.embedders.EMBEDDERS
    judge: str | None = None  # a name in pipeline.verification.judges.JUDGES; None: Settings.judge
    cascade: bool | None = None  # [cascade] enabled: ask the LLM judge; None: Settings.cascade.enabled
    ingest: IngestOptions = field(default_factory=IngestOptions)  # OCR and its limits


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise CorpusError(f"invalid corpus name {name!r}: use letters, digits, '-', '_' or '.' (max 64)")
    return name


def load_config(name: str, corpora_dir: Path) -> CorpusConfig | None:
    """The definition in corpora_dir/NAME.toml, or None when there is none."""
    check_name(name)
    path = corpora_dir / f"{name}.toml"
    if not path.exists():
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: {exc}") from exc
    return config_from_dict(raw, name=name, base_dir=path.parent)


def config_from_dict(raw: dict, name: str, base_dir: Path) -> CorpusConfig:
    domain = str(raw.get("domain", "general"))
    sources = [Source(str(p), domain) for p in raw.get("paths", [])]
    for s in raw.get("sources", []):
        sources.append(Source(str(s["path"]), str(s.get("domain", domain))))
    chunk_raw = raw.get("chunking", {})
    th_raw = raw.get("thresholds", {})
    try:
        chunking = ChunkSettings(**{k: int(v) for k, v in chunk_raw.items()})
        thresholds = Thresholds(**{k: float(v) for k, v in th_raw.items()})
    except TypeError as exc:
        raise CorpusError(f"corpus {name}: unknown setting ({exc})") from exc
    cascade_raw = raw.get("cascade", {})
    if (
        not isinstance(cascade_raw, dict)
        or set(cascade_raw) - {"enabled"}
        or not isinstance(cascade_raw.get("enabled", False), bool)
    ):
        raise CorpusError(f"corpus {name}: [cascade] takes one setting, enabled = true or false")
    try:
        ingest = IngestOptions(
            ocr=bool(raw.get("ocr", False)),
            **{k: type(getattr(IngestOptions, k))(raw[k]) for k in _OCR_LIMITS if k in raw},
        )
    except (TypeError, ValueError) as exc:
        raise CorpusError(f"corpus {name}: bad OCR setting ({exc})") from exc
    embedder = str(raw.get("embedder", DEFAULT_EMBEDDER))
    if embedder not in EMBEDDERS:
        raise CorpusError(
            f"corpus {name}: unknown embedder {embedder!r} (choose one of {', '.join(EMBEDDERS)})"
        )
    return CorpusConfig(
        name=name,
        domain=domain,
        description=str(raw.get("description", "")),
        sources=sources,
        chunking=chunking,
        thresholds=thresholds,
        base_dir=base_dir,
        embedder=embedder,
        judge=str(raw["judge"]) if "judge" in raw else None,
        cascade=cascade_raw.get("enabled"),
        ingest=ingest,
    )


_OCR_LIMITS = ("ocr_max_pages", "ocr_timeout_s", "ocr_low_confidence")


def list_configs(corpora_dir: Path) -> list[str]:
    return sorted(p.stem for p in corpora_dir.glob("*.toml"))


def resolve_sources(
    sources: list[Source], base_dir: Path, skipped: list[Path] | None = None
) -> tuple[list[tuple[SourceFile, str]], list[str]]:
    """Files to index with their doc_ids and domains, plus problems with the given paths.

    Files of types no loader reads, found under a directory, are appended to `skipped` when given.

    A file found under a directory gets its path relative to that directory as doc_id; a file
    named directly gets its file name; a glob's files are relative to the glob's fixed prefix.
    """
    found: dict[str, tuple[SourceFile, str]] = {}
    problems: list[str] = []
    for src in sources:
        raw = Path(src.path).expanduser()
        path = raw if raw.is_absolute() else base_dir / raw
        if any(ch in src.path for ch in "*?["):
            root = Path(*[p for p in path.parts[: _first_glob(path.parts)]])
            matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
            pairs = [(m, m.relative_to(root).as_posix()) for m in matches if m.is_file()]
            if not pairs:
                problems.append(f"{src.path}: no files match")
        elif path.is_dir():
            listed = [f for f in sorted(path.rglob("*")) if f.is_file() and not f.name.startswith(".")]
            pairs = [
                (f, f.relative_to(path).as_posix()) for f in listed if f.suffix.lower() in SUPPORTED_SUFFIXES
            ]
            if skipped is not None:
                skipped += [f for f in listed if f.suffix.lower() not in SUPPORTED_SUFFIXES]
            if not pairs:
                problems.append(f"{src.path}: no supported files ({', '.join(SUPPORTED_SUFFIXES)})")
        elif path.is_file():
            pairs = [(path, path.name)]
        else:
            problems.append(f"{src.path}: no such file or directory")
            continue
        for file, doc_id in pairs:
            if doc_id in found and found[doc_id][0].path.resolve() != file.resolve():
                problems.append(f"{file}: doc_id {doc_id!r} already used by {found[doc_id][0].path}; skipped")
                continue
            found[doc_id] = (SourceFile(file, doc_id), src.domain)
    return [found[k] for k in sorted(found)], problems


def _first_glob(parts: tuple[str, ...]) -> int:
    return next(i for i, p in enumerate(parts) if any(ch in p for ch in "*?["))


def corpus_config(name: str, settings: Settings, paths: list[str] | None = None) -> CorpusConfig:
    """The corpus definition: corpora/NAME.toml, or the sources an earlier `index` run recorded.

    With `paths`, those paths replace the defined sources (relative to the working directory).
    """
    check_name(name)
    config = load_config(name, settings.corpora_dir)
    vdir = current_version(corpus_dir(settings.indexes_dir, name))
    if config is None and vdir is not None:
        m = read_manifest(vdir)
        base = m.sources[0]["base_dir"] if m.sources else "."
        config = config_from_dict(
            {
                "sources": [{"path": s["path"], "domain": s["domain"]} for s in m.sources],
                "chunking": {
                    k: v for k, v in m.chunking.items() if not k.startswith("_") and k != "separators"
                },
            },
            name=name,
            base_dir=Path(base),
        )
    if paths:
        domain = config.domain if config else "general"
        config = config or CorpusConfig(name=name, domain=domain)
        config.sources = [Source(str(Path(p).resolve()), domain) for p in paths]
        config.base_dir = Path.cwd()
    if config is None:
        raise UnknownCorpus(
            f"unknown corpus {name!r}: no {settings.corpora_dir / (name + '.toml')} and no index; "
            f"give paths: `veracity index {name} PATH ...`"
        )
    return config


def open_index(name: str, settings: Settings, config: CorpusConfig | None = None) -> CorpusIndex:
    """The live index of corpus NAME, checked against the embedder and chunking its definition
    (`config`, read when not given) asks for."""
    config = config or corpus_config(name, settings)
    return CorpusIndex.load(
        settings.indexes_dir,
        name,
        expect_model=embedder_id(config.embedder),
        expect_chunking=config.chunking.to_dict(),
    )


def list_corpora(settings: Settings) -> list[dict]:
    """Defined and/or indexed corpora with sizes, model and last update."""
    names = set(list_configs(settings.corpora_dir))
    if settings.indexes_dir.exists():
        names |= {p.name for p in settings.indexes_dir.iterdir() if p.is_dir() and (p / "CURRENT").exists()}
    out = []
    for name in sorted(names):
        try:
            config = corpus_config(name, settings)
        except CorpusError:
            continue
        row = {
            "name": name,
            "domain": config.domain,
            "description": config.description,
            "indexed": False,
            "documents": 0,
            "chunks": 0,
            "model": None,
            "index_type": None,
            "updated": None,
            "failures": 0,
        }
        vdir = current_version(corpus_dir(settings.indexes_dir, name))
        if vdir is not None:
            m = read_manifest(vdir)
            row |= {
                "indexed": True,
                "documents": m.n_documents,
                "chunks": m.n_chunks,
                "model": m.model,
                "index_type": m.index_type,
                "updated": m.created,
                "version": m.version,
                "failures": len(m.failures),
            }
        out.append(row)
    return out
