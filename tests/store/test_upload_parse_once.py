"""An uploaded file is parsed once: when it is accepted, not again when the corpus is re-indexed."""

from __future__ import annotations

import pipeline.store.builder as builder
from pipeline.settings import Settings
from pipeline.store import uploads
from pipeline.store.index_files import CorpusIndex


def test_accepted_upload_is_indexed_from_its_first_parse(tmp_path, embedder, monkeypatch):
    settings = Settings(home=tmp_path, corpora_dir=tmp_path / "corpora")
    incoming = uploads.incoming_dir(settings, "memos")
    incoming.mkdir(parents=True)
    staged = incoming / "notice.txt"
    staged.write_text("NOTICE\n\nEither party may terminate on ninety (90) days' written notice.\n")
    accepted = uploads.accept_staged(
        "memos", settings, [uploads.StagedFile("notice.txt", staged, staged.stat().st_size)], "contracts"
    )
    assert accepted.accepted == ["notice.txt"] and not accepted.failures

    parsed_again = []
    real_parse = builder._parse
    monkeypatch.setattr(builder, "_parse", lambda item: parsed_again.append(item[0].doc_id) or real_parse(item))
    report = uploads.reindex("memos", settings, "contracts", embedder=embedder, parsed=accepted.parsed)
    assert report.added == ["notice.txt"] and parsed_again == []

    index = CorpusIndex.load(settings.indexes_dir, "memos")
    doc = index.document("notice.txt")
    stored = uploads.uploads_dir(settings, "memos") / "notice.txt"
    assert doc.source == str(stored.resolve()) or doc.source == str(stored)  # not the staging path
    assert doc.domain == "contracts" and "ninety (90) days" in doc.text
