"""The index store: incremental re-indexing, bad files reported and skipped, HNSW above the
threshold, and indexes refused for another model or chunking. Real files, FAISS and embedder."""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest
from helpers import COUGH, CUAD_SMALL, DELTA, OPENFDA, TEXTS, home_settings, write_texts, zip_bomb
from pypdf import PdfWriter

from pipeline.ingest.chunk import ChunkSettings
from pipeline.models.embedders import embedder_id
from pipeline.retrieval.hybrid import Retriever
from pipeline.settings import Settings
from pipeline.store.builder import index_corpus
from pipeline.store.corpora import open_index
from pipeline.store.index_files import CorpusIndex, IndexMismatch, build_faiss, current_version

BETA_V2 = TEXTS["beta.txt"].replace("ten workstations", "twenty-five workstations and two servers")


class SpyEmbedder:
    """The real embedder, recording every text it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.id, self.dim = inner, inner.id, inner.dim
        self.texts: list[str] = []

    def encode(self, texts, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.texts += list(texts)
        return self.inner.encode(texts, batch_size=batch_size)


def doc_vectors(index: CorpusIndex, doc_id: str) -> tuple[list[str], np.ndarray]:
    ids = index.chunk_ids_for([doc_id])
    return [c.text for c in index.chunks(ids)], np.array(index.vectors[ids])


def test_incremental_reindex_touches_only_changed_files(tmp_path, shared, embedder, config_for):
    src = tmp_path / "src"
    write_texts(src)
    (src / "labels").mkdir()
    shutil.copy(shared / COUGH, src / "labels" / "cough.xml")
    shutil.copy(shared / OPENFDA, src / "labels" / "otc.json")
    shutil.copy(shared / CUAD_SMALL, src / "securian.pdf")
    settings = home_settings(tmp_path)
    config = config_for("mixed", src, domain="mixed")
    spy = SpyEmbedder(embedder)

    first = index_corpus(config, settings, embedder=spy)
    ids = sorted(
        ["alpha.txt", "beta.txt", "gamma.md", "labels/cough.xml", "securian.pdf"]
        + [f"labels/otc.json#{i}" for i in range(5)]
    )
    assert sorted(first.added) == ids and first.changed == [] and first.removed == []
    assert first.failures == [] and first.documents == len(ids) and first.index_type == "flat"
    assert first.embedded_chunks == first.chunks == len(spy.texts)
    idx1 = CorpusIndex.load(
        settings.indexes_dir, "mixed", expect_model=embedder.id, expect_chunking=config.chunking.to_dict()
    )
    assert idx1.vectors.shape == (first.chunks, embedder.dim) and idx1.faiss.ntotal == first.chunks
    before = {d: doc_vectors(idx1, d) for d in ids}
    for d in ids:  # what the index stores about each document, and its chunks' offsets
        doc = idx1.document(d)
        assert (
            doc.doc_id == d
            and doc.title
            and doc.domain == "mixed"
            and re.fullmatch(r"[0-9a-f]{64}", doc.sha256)
        )
        assert Path(doc.source) == src / d.split("#")[0]
        for c in idx1.chunks(idx1.chunk_ids_for([d])):
            assert doc.text[c.start : c.end] == c.text
        assert idx1.opening(d, 300) == doc.text[:300]
    assert idx1.document("securian.pdf").pages and idx1.chunks([0])[0].id == 0
    assert idx1.opening("no-such.txt", 300) == "" and idx1.chunks([first.chunks]) == []

    spy.texts.clear()
    os.utime(src / "alpha.txt")  # a newer mtime alone is no change
    same = index_corpus(config, settings, embedder=spy)
    assert (same.added, same.changed, same.removed, same.embedded_chunks) == ([], [], [], 0)
    assert same.unchanged == len(ids) and spy.texts == []

    (src / "beta.txt").write_text(BETA_V2, encoding="utf-8")
    (src / "delta.txt").write_text(DELTA, encoding="utf-8")
    (src / "gamma.md").unlink()
    spy.texts.clear()
    second = index_corpus(config, settings, embedder=spy)
    assert second.changed == ["beta.txt"] and second.added == ["delta.txt"] and second.removed == ["gamma.md"]
    assert second.unchanged == len(ids) - 2 and second.failures == []
    idx2 = CorpusIndex.load(settings.indexes_dir, "mixed", expect_model=embedder.id)
    meta = idx2.manifest.documents
    assert (
        second.embedded_chunks == meta["beta.txt"]["chunks"] + meta["delta.txt"]["chunks"] == len(spy.texts)
    )
    fresh = idx2.chunks(idx2.chunk_ids_for(["beta.txt", "delta.txt"]))
    assert sorted(spy.texts) == sorted(c.text for c in fresh)
    assert "gamma.md" not in meta and idx2.document("gamma.md") is None
    assert len(idx2.chunk_ids_for(["gamma.md"])) == 0
    assert idx2.vectors.shape[0] == idx2.faiss.ntotal == idx2.manifest.n_chunks == second.chunks
    for d in set(ids) - {"beta.txt", "gamma.md"}:
        texts, vecs = doc_vectors(idx2, d)
        assert texts == before[d][0]
        assert np.array_equal(vecs, before[d][1]), d  # reused, not re-embedded
    # FAISS rows still match vectors.npy after the ids were renumbered
    some = idx2.chunk_ids_for(["securian.pdf"])
    assert np.allclose(idx2.faiss.reconstruct_n(0, idx2.faiss.ntotal)[some], idx2.vectors[some])

    retriever = Retriever(idx2, embedder)
    for query, doc_id in [
        ("Acme Widgets delivers five hundred blue widgets every month", "alpha.txt"),
        (
            "antihistamine cough suppressant for children, diphenhydramine and phenylephrine",
            "labels/cough.xml",
        ),
        ("net investment income maintenance agreement of the money market fund", "securian.pdf"),
        ("Ilex aquifolium drops to relieve the symptoms of diarrhea", "labels/otc.json#2"),
        ("vegetarian lunches every Friday", "delta.txt"),
    ]:
        assert retriever.search(query, k=3)[0].chunk.doc_id == doc_id, query
    hit = retriever.search("Orbit accounting software workstations", k=1)[0]
    assert hit.chunk.doc_id == "beta.txt" and "twenty-five workstations" in hit.chunk.text


def test_hnsw_index_is_used_above_the_threshold(embedder, indexed_texts):
    _src, settings, _config, report = indexed_texts(name="approx", approx_threshold=2)
    assert report.index_type == "hnsw" and report.chunks > 2
    idx = CorpusIndex.load(settings.indexes_dir, "approx")
    assert idx.manifest.index_type == "hnsw" and isinstance(idx.faiss, faiss.IndexHNSWFlat)
    assert idx.faiss.hnsw.efSearch == settings.hnsw_ef_search
    hit = Retriever(idx, embedder).search("software licence for workstations", k=1)[0]
    assert hit.chunk.doc_id == "beta.txt"


def test_hnsw_recall_against_flat():
    rng = np.random.default_rng(0)
    dim, n = 384, 5000
    centres = rng.standard_normal((50, dim))

    def sample(m: int) -> np.ndarray:  # topical clusters, as real embeddings have
        x = centres[rng.integers(0, len(centres), m)] + rng.standard_normal((m, dim))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    vectors, queries = sample(n), sample(200)
    settings = Settings()
    hnsw, kind = build_faiss(vectors, n - 1, settings.hnsw_m, settings.hnsw_ef_construction)
    flat, flat_kind = build_faiss(vectors, n, settings.hnsw_m, settings.hnsw_ef_construction)
    assert (kind, flat_kind) == ("hnsw", "flat") and hnsw.ntotal == flat.ntotal == n
    assert hnsw.metric_type == faiss.METRIC_INNER_PRODUCT
    hnsw.hnsw.efSearch = settings.hnsw_ef_search  # as CorpusIndex does
    _, truth = flat.search(queries, 10)
    scores, found = hnsw.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95, recall
    assert np.allclose(scores[:, 0], np.einsum("ij,ij->i", queries, vectors[found[:, 0]]), atol=1e-4)


def make_bad_files(folder: Path, shared: Path) -> dict[str, str]:
    """Broken inputs beside good ones; file name -> expected words of its failure message."""
    folder.mkdir(parents=True)
    write_texts(folder, {"good.txt": TEXTS["alpha.txt"]})
    real = (shared / CUAD_SMALL).read_bytes()
    (folder / "contract.pdf").write_bytes(real)
    (folder / "random.pdf").write_bytes(random.Random(7).randbytes(20_000))
    (folder / "truncated.pdf").write_bytes(real[: len(real) // 2])
    blank = PdfWriter()
    blank.add_blank_page(612, 792)
    blank.write(folder / "blank.pdf")
    locked = PdfWriter(clone_from=io.BytesIO(real))
    locked.encrypt(user_password="s3cret", owner_password="owner", algorithm="RC4-128")
    locked.write(folder / "encrypted.pdf")
    (folder / "empty.txt").write_text("  \n\n ")
    (folder / "notes.xml").write_text("<?xml version='1.0'?><notes><note>hello</note></notes>")
    (folder / "corrupt.docx").write_bytes(b"PK\x03\x04 not a Word package")
    (folder / "bomb.docx").write_bytes(zip_bomb())
    (folder / "slides.pptx").write_bytes(b"a type no loader reads")
    return {
        "corrupt.docx": "corrupt DOCX",
        "bomb.docx": "zip bomb",
        "random.pdf": "corrupt or unreadable PDF",
        "truncated.pdf": "corrupt or unreadable PDF",
        "blank.pdf": "no text layer",
        "encrypted.pdf": "password",
        "empty.txt": "no extractable text",
        "notes.xml": "not a DailyMed SPL document",
    }


@pytest.mark.timeout(600)
def test_bad_files_are_reported_and_the_rest_indexed(tmp_path, shared, embedder, config_for, cli):
    folder = tmp_path / "docs"
    expected = make_bad_files(folder, shared)
    settings = home_settings(tmp_path)
    report = index_corpus(config_for("broken", folder), settings, embedder=embedder)
    failures = {Path(f["path"]).name: f["error"] for f in report.failures}
    assert set(failures) == set(expected)
    for name, words in expected.items():
        assert words in failures[name], (name, failures[name])
    assert sorted(report.added) == ["contract.pdf", "good.txt"] and report.documents == 2
    assert report.skipped == [str(folder / "slides.pptx")]
    assert report.formats[".pdf"] == {"read": 1, "ocr": 0, "failed": 4}
    assert report.formats[".docx"] == {"read": 0, "ocr": 0, "failed": 2}
    idx = CorpusIndex.load(settings.indexes_dir, "broken")
    assert {Path(f["path"]).name for f in idx.manifest.failures} == set(expected)
    assert (
        Retriever(idx, embedder).search("net investment income maintenance", k=1)[0].chunk.doc_id
        == "contract.pdf"
    )

    # the command-line summary names every failure, and a partial success still exits 0
    run = cli.run(settings.home, "index", "broken", folder, corpora_dir=settings.corpora_dir)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "corpus broken: 2 documents" in run.stdout
    assert f"{len(expected)} file(s) failed and were skipped" in run.stdout
    for name, words in expected.items():
        line = next(
            (ln for ln in run.stdout.splitlines() if ln.strip().startswith(str(folder / name) + ":")), None
        )
        assert line is not None and words in line, (name, run.stdout)
    assert "  .docx  read 0, OCR'd 0, failed 2" in run.stdout
    assert (
        "1 file(s) of types not read were skipped" in run.stdout and str(folder / "slides.pptx") in run.stdout
    )


def test_load_refuses_other_model_or_chunking(labels, tmp_path):
    settings, _ = labels
    with pytest.raises(IndexMismatch, match="rebuild"):
        CorpusIndex.load(
            settings.indexes_dir,
            "labels",
            expect_model=embedder_id(),
            expect_chunking=ChunkSettings(chunk_size=500, chunk_overlap=50).to_dict(),
        )
    copy = tmp_path / "indexes"
    shutil.copytree(settings.indexes_dir / "labels", copy / "labels")
    manifest = current_version(copy / "labels") / "manifest.json"
    raw = json.loads(manifest.read_text())
    raw["model"] = "some-other-model@1.0"
    manifest.write_text(json.dumps(raw))
    with pytest.raises(IndexMismatch, match="rebuild") as err:
        CorpusIndex.load(copy, "labels", expect_model=embedder_id())
    assert "some-other-model@1.0" in str(err.value)
    # the catalog checks the definition's chunking too
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    (corpora / "labels.toml").write_text('paths = ["x"]\n[chunking]\nchunk_size = 600\n')
    with pytest.raises(IndexMismatch, match="rebuild"):
        open_index("labels", Settings(home=settings.home, corpora_dir=corpora))
    assert (
        CorpusIndex.load(
            settings.indexes_dir,
            "labels",
            expect_model=embedder_id(),
            expect_chunking=ChunkSettings().to_dict(),
        ).manifest.n_documents
        == 6
    )
