"""The small text corpus indexed in a fresh home, for the index store's tests."""

from __future__ import annotations

import pytest
from helpers import home_settings, write_texts

from pipeline.store.builder import index_corpus


@pytest.fixture
def indexed_texts(tmp_path, embedder, config_for):
    """`indexed_texts(name="crash", **settings)` -> (src, settings, config, report): the texts of
    helpers.TEXTS in tmp_path/src, indexed as corpus `name` in a home under tmp_path."""

    def build(name: str = "crash", **kw):
        src = tmp_path / "src"
        write_texts(src)
        settings = home_settings(tmp_path, **kw)
        config = config_for(name, src)
        report = index_corpus(config, settings, embedder=embedder)
        return src, settings, config, report

    return build
