"""Shared fixtures: the shared real data, one embedder per test session, corpus configs from paths,
a way to run the `veracity` command in a subprocess, and the two indexed corpora several areas use
(the SPL drug labels and the project's sample corpus), each built once per session.

Inputs several areas share live in tests/helpers.py; each area's own fixtures in its conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import home_settings, indexed_sample_home
from pg_support import PostgresServer, PostgresUnavailable

from pipeline.ingest.chunk import ChunkSettings
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.store.builder import index_corpus
from pipeline.store.corpora import CorpusConfig, Source, corpus_config

# CI clones the repository with ../shared beside it; the data is read-only.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def make_config(
    name: str, *paths: Path | str, domain: str = "general", chunking: ChunkSettings | None = None
) -> CorpusConfig:
    """A corpus definition over files, directories or globs (absolute paths), like a corpora/*.toml."""
    return CorpusConfig(
        name=name,
        domain=domain,
        sources=[Source(str(p), domain) for p in paths],
        chunking=chunking or ChunkSettings(),
        base_dir=Path("/"),
    )


class Cli:
    """The installed `veracity` console script (else `python -m pipeline.cli`), isolated from the
    project's corpora/ and VERACITY_HOME."""

    def argv(self, *args: str | Path) -> list[str]:
        script = Path(sys.executable).parent / "veracity"
        head = [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]
        return head + [str(a) for a in args]

    def env(self, corpora_dir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("VERACITY_HOME", None)
        env.update(
            VERACITY_CORPORA_DIR=str(corpora_dir),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
        )
        return env

    def run(
        self, home: Path, *args: str | Path, corpora_dir: Path, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        Path(home).mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            self.argv("--home", home, *args),
            capture_output=True,
            text=True,
            env=self.env(corpora_dir),
            timeout=timeout,
            cwd=home,
        )


@pytest.fixture(scope="session")
def shared() -> Path:
    """/…/shared/data (real documents, read-only)."""
    if not (SHARED / "README.md").exists():
        pytest.fail(f"shared data not found at {SHARED}: clone it as ../shared beside the repository")
    return SHARED


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 embedder, loaded once per test session."""
    from pipeline.models.embedders import get_embedder

    return get_embedder()


@pytest.fixture(scope="session")
def config_for() -> Callable[..., CorpusConfig]:
    """`config_for(name, *paths, domain=..., chunking=...)` -> CorpusConfig."""
    return make_config


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session")
def labels(tmp_path_factory, shared, embedder):
    """The six SPL drug labels of ../shared indexed from a corpus definition (TOML) in a temporary home."""
    root = tmp_path_factory.mktemp("labels")
    settings = home_settings(root)
    glob = json.dumps(str(shared / "drug_labels" / "spl_xml" / "*.xml"))
    (settings.corpora_dir / "labels.toml").write_text(
        f'name = "labels"\ndomain = "drug_labels"\ndescription = "SPL labels"\npaths = [{glob}]\n'
        "[chunking]\nchunk_size = 900\nchunk_overlap = 120\n",
        encoding="utf-8",
    )
    report = index_corpus(corpus_config("labels", settings), settings, embedder=embedder)
    assert report.failures == [] and report.documents == 6
    return settings, report


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory) -> Settings:
    """A home with the project's sample corpus (corpora/sample) indexed."""
    return indexed_sample_home(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """A throwaway PostgreSQL server for the session (tests/pg_support.py). PostgreSQL is a supported
    store back-end, so a machine that cannot start one fails these tests rather than skipping them."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL is a required test back-end and could not be started: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_location(request, tmp_path: Path):
    """Where a store test keeps its data: HOME/audit.sqlite, then a fresh PostgreSQL database (URL)."""
    if request.param == "sqlite":
        yield tmp_path / "home" / "audit.sqlite"
        return
    server = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)
