"""The `veracity` command: search and corpora as JSON, verify as JSON, and clear failures without
tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import home_settings

from pipeline.models.embedders import embedder_id
from pipeline.store.builder import index_corpus
from pipeline.store.corpora import corpus_config
from pipeline.store.index_files import CURRENT, CorpusIndex


@pytest.mark.timeout(600)
def test_cli_search_json_scoped_to_a_document(labels, cli):
    settings, report = labels
    run = cli.run(
        settings.home,
        "search",
        "labels",
        "recommended dose for adults",
        "--json",
        "-k",
        "4",
        "--doc",
        "lipitor-orig.xml",
        corpora_dir=settings.corpora_dir,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert out["corpus"] == "labels" and out["query"] == "recommended dose for adults"
    assert len(out["hits"]) == 4
    assert {h["doc_id"] for h in out["hits"]} == {"lipitor-orig.xml"}
    for h in out["hits"]:
        assert h["title"].startswith("LIPITOR") and h["section"] and h["text"] and h["end"] > h["start"]

    run = cli.run(settings.home, "corpora", "--json", corpora_dir=settings.corpora_dir)
    assert run.returncode == 0, run.stderr
    row = next(r for r in json.loads(run.stdout) if r["name"] == "labels")
    assert row["indexed"] is True and row["documents"] == 6 and row["chunks"] == report.chunks
    assert row["model"] == embedder_id() and row["index_type"] == "flat" and row["domain"] == "drug_labels"


def test_cli_unknown_corpus_and_missing_path_fail_clearly(tmp_path, cli):
    settings = home_settings(tmp_path)
    run = cli.run(settings.home, "search", "nosuch", "anything", corpora_dir=settings.corpora_dir)
    assert run.returncode != 0 and run.stdout == ""
    assert "unknown corpus 'nosuch'" in run.stderr and "veracity index nosuch" in run.stderr
    assert "Traceback" not in run.stderr
    run = cli.run(
        settings.home, "index", "fresh", tmp_path / "does-not-exist", corpora_dir=settings.corpora_dir
    )
    assert run.returncode != 0 and "no such file or directory" in run.stderr and "Traceback" not in run.stderr
    assert not (settings.indexes_dir / "fresh" / CURRENT).exists()


def test_cli_verify_json_and_errors(sample_home, cli):
    home, corpora = sample_home.home, sample_home.corpora_dir
    out = cli.run(
        home,
        "verify",
        "sample",
        "--answer",
        "Customer shall pay each undisputed invoice within thirty (30) days.",
        "--json",
        corpora_dir=corpora,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"sentences", "summary", "output"}
    assert set(data["sentences"][0]) >= {
        "text",
        "start",
        "end",
        "verdict",
        "confidence",
        "reason",
        "citations",
    }
    bad = cli.run(home, "verify", "nosuchcorpus", "--answer", "x", corpora_dir=corpora, timeout=300)
    assert bad.returncode != 0 and "unknown corpus" in bad.stderr
    missing = cli.run(
        home, "verify", "sample", "--answer-file", Path(home) / "nope.txt", corpora_dir=corpora, timeout=300
    )
    assert missing.returncode != 0 and "cannot read" in missing.stderr


MSA = (
    "# Master Services Agreement\n\n## 1. Fees\n\nCustomer shall pay each invoice within thirty (30) days. "
    "Late payments bear interest at 1.5% per month.\n\n## 2. Termination\n\nEither party may terminate "
    "this Agreement for convenience on ninety (90) days' written notice.\n"
)


@pytest.mark.timeout(600)
def test_cli_search_shows_the_section_where_the_match_stands(tmp_path, embedder, cli):
    """One chunk spans three headings; a search for the termination clause names its section, not
    the section the chunk starts in."""
    settings = home_settings(tmp_path)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "msa.md").write_text(MSA, encoding="utf-8")
    (settings.corpora_dir / "msa.toml").write_text(
        f'name = "msa"\ndomain = "contracts"\npaths = [{json.dumps(str(folder))}]\n', encoding="utf-8"
    )
    index_corpus(corpus_config("msa", settings), settings, embedder=embedder)
    chunk = CorpusIndex.load(settings.indexes_dir, "msa").chunks([0])[0]
    assert chunk.section == "Master Services Agreement" and "2. Termination" in chunk.text  # one chunk

    query = "terminate for convenience on notice"
    run = cli.run(settings.home, "search", "msa", query, "--json", corpora_dir=settings.corpora_dir)
    assert run.returncode == 0, run.stderr[-2000:]
    hit = json.loads(run.stdout)["hits"][0]
    assert hit["section"] == "2. Termination" and hit["page"] is None and hit["ocr"] is False
    at = MSA.index("Either party")
    assert hit["match"]["start"] == at and hit["match"]["text"].startswith("Either party may terminate")
    assert hit["start"] == 0 and hit["text"] == MSA.strip()  # the whole chunk is still there

    run = cli.run(settings.home, "search", "msa", query, corpora_dir=settings.corpora_dir)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"1. msa.md [2. Termination] chars {at}-" in run.stdout
    assert "Either party may terminate this Agreement for convenience" in run.stdout
