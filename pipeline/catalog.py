"""Find corpora (definitions in corpora/, built indexes in indexes/) and open their indexes."""

from __future__ import annotations

from pathlib import Path

from pipeline.corpus import (
    CorpusConfig,
    CorpusError,
    Source,
    check_name,
    config_from_dict,
    list_configs,
    load_config,
)
from pipeline.embed import model_id
from pipeline.index import CorpusIndex, corpus_dir, current_version, read_manifest
from pipeline.settings import Settings


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
        raise CorpusError(
            f"unknown corpus {name!r}: no {settings.corpora_dir / (name + '.toml')} and no index; "
            f"give paths: `veracity index {name} PATH ...`"
        )
    return config


def open_index(name: str, settings: Settings) -> CorpusIndex:
    """The live index of corpus NAME, checked against this installation's model and the chunking
    its definition asks for."""
    config = corpus_config(name, settings)
    return CorpusIndex.load(
        settings.indexes_dir, name, expect_model=model_id(), expect_chunking=config.chunking.to_dict()
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
