"""The default embedder runs all-MiniLM-L6-v2 on ONNX Runtime and gives sentence-transformers' vectors:
indexes built by either backend stay valid under the one model id, and the query path imports no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pipeline.models.embedders import DEFAULT_EMBEDDER, embedder_id, get_embedder
from pipeline.models.embedders.minilm import load_tokenizer, max_seq_length
from pipeline.settings import PROJECT_ROOT

CLAUSE = (
    "The Supplier may terminate this Agreement for convenience upon thirty (30) days' prior written "
    "notice to the Customer, provided that all undisputed invoices have been paid in full. "
)
TEXTS = [
    "Either party may terminate for convenience.",
    CLAUSE * 12,  # ~400 tokens: cut at max_seq_length
    " ".join(f"w{i}" for i in range(400)),  # many short tokens
    "",
    "   \n\t ",
    "...",
    "a",
    "Le Fournisseur peut résilier le présent contrat moyennant un préavis écrit de trente jours.",
    "供应商可在提前三十天书面通知后终止本协议。",
    "Der Lieferant haftet nicht für mittelbare Schäden. Максимальная доза — 40 мг. 🙂",
    "Take 40 mg once daily; do not exceed 100 mg/day (see 2.1 Recommended Dosage).",
    "  leading and trailing whitespace  ",
]


@pytest.fixture(scope="module")
def torch_embedder():
    return get_embedder("minilm-torch")


def test_default_embedder_is_onnx_and_shares_the_torch_backends_id(embedder, torch_embedder):
    assert DEFAULT_EMBEDDER == "minilm" and type(embedder).__name__ == "MiniLMEmbedder"
    assert embedder.id == torch_embedder.id == embedder_id("minilm") == embedder_id("minilm-torch")
    assert embedder.dim == torch_embedder.dim == 384


def test_onnx_vectors_equal_sentence_transformers_vectors(embedder, torch_embedder):
    ours = embedder.encode(TEXTS)
    theirs = torch_embedder.encode(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_vector_does_not_depend_on_its_batch(embedder):
    together = embedder.encode(TEXTS, batch_size=64)
    alone = np.vstack([embedder.encode([t]) for t in TEXTS])
    assert np.abs(together - alone).max() < 1e-5
    assert embedder.encode([]).shape == (0, 384)


def test_tokens_are_cut_where_sentence_transformers_cuts_them(torch_embedder):
    assert max_seq_length() == torch_embedder.model.max_seq_length == 256
    ours = [e.ids for e in load_tokenizer().encode_batch(TEXTS)]
    hf = torch_embedder.model.tokenizer(
        TEXTS, truncation=True, max_length=torch_embedder.model.max_seq_length
    )
    assert ours == hf["input_ids"]
    assert max(len(ids) for ids in ours) == 256


FORBIDDEN = ("torch", "transformers", "sentence_transformers", "sklearn")

# One process does what `veracity search` and `veracity verify` do, then lists what it imported.
_RUN = """
import json, sys
from pipeline.cli import main
home = sys.argv[1]
assert main(["--home", home, "search", "sample", "termination for convenience", "--json"]) == 0
assert main(["--home", home, "verify", "sample", "--json", "--answer",
             "Either party may terminate for convenience. The maximum daily dose is 40 mg."]) == 0
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def test_search_and_verify_import_no_torch(sample_home, cli):
    run = subprocess.run(
        [sys.executable, "-c", _RUN, str(sample_home.home)],
        capture_output=True,
        text=True,
        env=cli.env(PROJECT_ROOT / "corpora"),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    modules = set(json.loads(run.stderr.strip().splitlines()[-1]))
    assert {"onnxruntime", "tokenizers"} <= modules
    assert modules.isdisjoint(FORBIDDEN), sorted(modules & set(FORBIDDEN))
    # the search printed its JSON hits, the verification its verdicts
    first, _, rest = run.stdout.partition("\n}\n")
    assert json.loads(first + "\n}")["hits"]
    verdicts = [s["verdict"] for s in json.loads(rest)["sentences"]]
    assert verdicts == ["supported", "contradicted"]


def test_an_answers_few_sentences_embed_as_in_bulk(embedder):
    """A few texts run one per call side by side (query time), many in padded batches (indexing):
    the same vectors either way, also with calls from several threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    few = embedder.encode(TEXTS)
    assert 1 < len(TEXTS) <= embedder.FEW
    bulk = embedder.encode(TEXTS * (embedder.FEW // len(TEXTS) + 1))[: len(TEXTS)]
    assert np.abs(few - bulk).max() < 1e-5
    with ThreadPoolExecutor(4) as pool:
        for vecs in pool.map(lambda _: embedder.encode(TEXTS), range(8)):
            assert np.array_equal(vecs, few)


def test_lanes_work_in_a_forked_child(embedder):
    """A child forked after the lanes started (a pre-fork server) starts its own worker threads."""
    import multiprocessing as mp

    few = embedder.encode(TEXTS)
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=lambda: send.send(embedder.encode(TEXTS).tobytes()))
    child.start()
    assert receive.poll(120), "the forked child never answered (its lanes hung)"
    got = np.frombuffer(receive.recv(), dtype=np.float32).reshape(few.shape)
    child.join(30)
    assert np.array_equal(got, few)
