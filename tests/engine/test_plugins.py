"""Plug-in points: judges and embedders are picked by name from registries, per corpus or per request."""

from __future__ import annotations

import shutil

import pytest

from pipeline.models.embedders import EMBEDDERS, UnknownEmbedder, embedder_id, get_embedder
from pipeline.schema import CheckKind, Label
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.store.builder import index_corpus
from pipeline.store.corpora import CorpusError, corpus_config
from pipeline.verification.engine import Engine
from pipeline.verification.judges import JUDGES, UnknownJudge, make_judge

CONTRADICTING = "Customer may terminate the Agreement for convenience upon sixty (60) days' prior written notice."


def test_registries_name_their_entries_and_refuse_unknown_names():
    assert {"auto", "trained", "lexical"} <= set(JUDGES) and "minilm" in EMBEDDERS
    assert make_judge("lexical").name == "lexical-overlap"
    assert make_judge("auto").name.startswith("veracity-verifier-minilm-l6@")
    with pytest.raises(UnknownJudge, match="unknown judge 'gpt-judge'.*lexical"):
        make_judge("gpt-judge")
    with pytest.raises(UnknownEmbedder, match="unknown embedder 'e5'"):
        embedder_id("e5")
    assert embedder_id() == get_embedder().id  # an index's model is checked without loading one


@pytest.fixture(scope="module")
def lexical_home(tmp_path_factory, embedder) -> Settings:
    """The sample corpus, defined with `judge = "lexical"` in its TOML."""
    corpora = tmp_path_factory.mktemp("corpora")
    shutil.copytree(PROJECT_ROOT / "corpora" / "sample", corpora / "sample")
    text = (PROJECT_ROOT / "corpora" / "sample.toml").read_text()
    (corpora / "sample.toml").write_text('judge = "lexical"\nembedder = "minilm"\n' + text)
    settings = Settings(home=tmp_path_factory.mktemp("home"), corpora_dir=corpora)
    index_corpus(corpus_config("sample", settings), settings, embedder=embedder)
    return settings


def test_corpus_toml_names_the_judge_and_a_request_overrides_it(lexical_home, embedder):
    engine = Engine(lexical_home, embedder=embedder)
    by_corpus = engine.verify(CONTRADICTING, corpus="sample")
    assert by_corpus.versions["verifier"] == "lexical-overlap"
    by_request = engine.verify(CONTRADICTING, corpus="sample", judge="trained")
    assert by_request.versions["verifier"].startswith("veracity-verifier-minilm-l6@")
    # the slot check decides this one whichever judge runs, and says which check failed
    for result in (by_corpus, by_request):
        (sentence,) = result.sentences
        assert sentence.verdict == Label.CONTRADICTED
        assert CheckKind.NUMBER in sentence.failed_checks
        assert result.to_dict()["sentences"][0]["failed_checks"] == [str(k) for k in sentence.failed_checks]
    with pytest.raises(UnknownJudge):
        engine.verify(CONTRADICTING, corpus="sample", judge="nope")


def test_unknown_embedder_in_a_corpus_definition_is_refused(tmp_path):
    (tmp_path / "odd.toml").write_text('embedder = "e5-large"\npaths = ["docs"]\n')
    with pytest.raises(CorpusError, match="unknown embedder 'e5-large'"):
        corpus_config("odd", Settings(home=tmp_path, corpora_dir=tmp_path))
