"""`veracity calibrate` on the sample corpus with a hand-labelled fixture (labels written before any
Veracity output was seen): the engine runs once, the sweep reproduces the engine's verdicts under
any thresholds, the target precision is met, --write edits the definition and keeps a history,
refuses without labels, and the API shows the calibration."""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
from pathlib import Path

import pytest
from api_support import KEY_A, KEYS, h, make_settings
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiSettings
from pipeline.calibration.apply import read_history, set_thresholds
from pipeline.calibration.labels import read_labels
from pipeline.calibration.sweep import calibrate, evaluate, record, verdict_at
from pipeline.retrieval.windows import Window
from pipeline.schema import CheckKind, Citation, SlotCheck
from pipeline.settings import Settings, Thresholds
from pipeline.verification.engine import Engine
from pipeline.verification.facts import Fact
from pipeline.verification.judges.base import JudgeScores

LABELS = Path(__file__).resolve().parent / "data" / "sample_labels.jsonl"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A private home with corpora/ (sample) indexed, its engine, and the fixture recorded once."""
    api = make_settings(tmp_path_factory.mktemp("calib") / "home", auth_disabled=True, api_keys={})
    settings = Settings(home=api.home, corpora_dir=api.corpora_dir)
    engine = Engine(settings)
    answers = read_labels(LABELS, "sample")
    records, _ = record(engine, answers, "sample")
    return settings, engine, answers, records


def _args(**kw) -> argparse.Namespace:
    base = dict(
        name="sample",
        labels=None,
        from_reviews=False,
        run=[],
        target_precision=None,
        report=None,
        write=False,
    )
    return argparse.Namespace(**(base | kw))


def test_fixture_counts():
    answers = read_labels(LABELS, "sample")
    sentences = [s for a in answers for s in a.sentences]
    assert len(answers) == 8 and len(sentences) == 53
    assert sum(s.error for s in sentences) == 22


def test_sweep_gives_the_engines_verdicts_under_any_thresholds(env):
    """The recorded scores decide as the engine does with those thresholds in the corpus's
    definition: for the defaults and two other settings, every labelled sentence's verdict from the
    sweep equals the worst verdict engine.verify gives the sentences over it."""
    settings, engine, answers, records = env
    fresh = Engine(settings)
    for th in (
        Thresholds(),
        Thresholds(entail=0.8, contradict=0.45, review_band=0.3, decision=0.4),
        Thresholds(entail=0.35, contradict=0.9, review_band=0.0, decision=0.85),
    ):
        opened = fresh._open("sample")
        fresh._corpora["sample"] = dataclasses.replace(opened, thresholds=th)
        swept = iter(verdict_at(r, th, engine.support).verdict for r in records)
        for a in answers:
            result = fresh.verify(a.answer, corpus="sample", question=a.question, doc_ids=a.doc_ids)
            for s in a.sentences:
                over = [v.verdict for v in result.sentences if v.start < s.end and s.start < v.end]
                assert next(swept) == max(over, key=lambda label: label.severity), (th, s.text)


def test_target_precision_is_respected(env):
    _, engine, _, records = env
    current = evaluate(records, Thresholds(), engine.support)[0]
    target = round(current.precision + 0.05, 2)  # above what the defaults give on the fixture
    cal = calibrate(records, Thresholds(), engine.support, target)
    assert cal.reached and cal.chosen.precision >= target
    # fewer false alarms than with the defaults, and no grid point at the target has more recall
    assert cal.chosen.fp < current.fp
    assert cal.chosen.recall == max(p.recall for p in cal.grid if p.flags and p.precision >= target)
    best = calibrate(records, Thresholds(), engine.support)
    assert best.chosen.f1 == max(p.f1 for p in best.grid) and best.chosen.f1 >= current.f1


def _fact(entail: float, contradict: float = 0.05) -> Fact:
    quote = "The licence fee is payable annually."
    w = Window(Citation("d", "D", None, "", 0, len(quote), quote), 0.9, 0.9)
    return Fact(
        "The fee is paid each year.",
        windows=[w],
        checks=[[SlotCheck(CheckKind.NUMBER, True, "")]],
        scores={0: JudgeScores(entail, 1 - entail - contradict, contradict)},
    )


def _records(pairs):
    from pipeline.calibration.labels import LabelledSentence
    from pipeline.calibration.sweep import Recorded
    from pipeline.schema import Claim

    out = []
    for entail, error in pairs:
        f = _fact(entail)
        claim = Claim(f.text, 0, len(f.text))
        out.append(Recorded(LabelledSentence(f.text, 0, len(f.text), error, "x"), [(claim, [f], [None])]))
    return out


def test_thresholds_move_in_the_expected_direction():
    """Right sentences the judge scores 0.40-0.45 (flagged at the default 0.5) pull entail down;
    errors it scores 0.55-0.7 (let through) push it up."""
    shy = _records([(0.4, False), (0.42, False), (0.45, False), (0.1, True), (0.15, True), (0.9, False)])
    cal = calibrate(shy, Thresholds(), None)
    assert cal.chosen.thresholds.entail < 0.5 and cal.chosen.thresholds.entail <= 0.4
    assert cal.chosen.f1 == 1.0 and cal.current.fp == 3
    bold = _records([(0.55, True), (0.6, True), (0.7, True), (0.9, False), (0.95, False), (0.2, True)])
    cal = calibrate(bold, Thresholds(), None)
    assert cal.chosen.thresholds.entail > 0.7 and cal.chosen.recall == 1.0 and cal.current.fn == 3


def test_set_thresholds_keeps_the_rest():
    text = (
        '# my corpus\nname = "x"\n\n[thresholds]\nentail = 0.5  # hand-set\nmin_retrieval = 0.2\n\n'
        "[chunking]\nchunk_size = 900\n"
    )
    out = set_thresholds(text, {"entail": 0.65, "review_band": 0.1})
    assert out.startswith('# my corpus\nname = "x"\n')
    assert "entail = 0.65  # hand-set" in out and "min_retrieval = 0.2" in out
    data = tomllib.loads(out)
    assert data["thresholds"] == {"entail": 0.65, "min_retrieval": 0.2, "review_band": 0.1}
    assert data["chunking"] == {"chunk_size": 900}
    added = tomllib.loads(set_thresholds('name = "y"\n', {"entail": 0.6}))
    assert added == {"name": "y", "thresholds": {"entail": 0.6}}


def test_write_history_and_api(env, tmp_path, capsys):
    from pipeline.calibration.cli import run_calibrate

    settings, engine, _, _ = env
    definition = settings.corpora_dir / "sample.toml"
    before = definition.read_text(encoding="utf-8")
    report = tmp_path / "report.html"
    rc = run_calibrate(_args(labels=str(LABELS), write=True, report=str(report)), settings, engine)
    out = capsys.readouterr().out
    assert rc == 0 and "chosen" in out and "current" in out and "wrote" in out
    after = definition.read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n"))  # comments and every other key kept, thresholds appended
    written = tomllib.loads(after)["thresholds"]
    assert set(written) == {"entail", "contradict", "review_band", "decision"}
    history = read_history(definition)
    assert len(history) == 1 and history[0]["labels"] == 53 and history[0]["errors"] == 22
    assert history[0]["previous"]["entail"] == 0.5 and history[0]["values"] == written
    assert "<svg" in report.read_text(encoding="utf-8")
    # a second calibration appends; the first stays with the values it replaced
    rc = run_calibrate(
        _args(labels=str(LABELS), write=True, target_precision=0.8, report=str(report)), settings, engine
    )
    history = read_history(definition)
    assert rc == 0 and len(history) == 2 and history[1]["previous"] == written
    # the engine reads the written thresholds: a fresh one verifies with them
    assert (
        dataclasses.asdict(Engine(settings).retriever("sample")[1])["entail"]
        == history[1]["values"]["entail"]
    )
    # the API shows the thresholds in force and the latest calibration
    app = create_app(make_api(settings))
    with TestClient(app) as client:
        info = client.get("/v1/corpora/sample", headers=h(KEY_A)).json()
    assert info["thresholds"]["entail"] == history[1]["values"]["entail"]
    assert info["thresholds"]["min_retrieval"] == 0.25
    assert info["calibration"]["labels"] == 53 and info["calibration"]["calibrations"] == 2
    assert info["calibration"]["calibrated_at"] == history[1]["calibrated_at"]
    assert info["calibration"]["target_precision"] == 0.8


def make_api(settings: Settings) -> ApiSettings:
    return ApiSettings(
        home=settings.home, corpora_dir=settings.corpora_dir, api_keys=KEYS, serve_corpora=["sample"]
    )


def test_uncalibrated_corpus_in_api(tmp_path):
    api = make_settings(tmp_path / "home")
    with TestClient(create_app(api)) as client:
        info = client.get("/v1/corpora/sample", headers=h(KEY_A)).json()
    assert info["calibration"] is None and info["thresholds"]["entail"] == 0.5
    assert info["thresholds"]["decision"] > 0  # the shipped learned decision's own threshold


def test_write_without_labels_refuses(env, tmp_path, cli):
    settings, _, _, _ = env
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    (corpora / "sample.toml").write_text((settings.corpora_dir / "sample.toml").read_text(encoding="utf-8"))
    (corpora / "sample").symlink_to(settings.corpora_dir / "sample")
    before = (corpora / "sample.toml").read_text(encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    other = json.loads(LABELS.read_text(encoding="utf-8").splitlines()[0]) | {"corpus": "cuad"}
    empty.write_text(json.dumps(other) + "\n", encoding="utf-8")  # labels, but for another corpus
    r = cli.run(settings.home, "calibrate", "sample", "--labels", empty, "--write", corpora_dir=corpora)
    assert r.returncode != 0
    assert "no labelled sentences for corpus 'sample'" in r.stderr and "nothing was written" in r.stderr
    r = cli.run(settings.home, "calibrate", "sample", "--from-reviews", "--write", corpora_dir=corpora)
    assert r.returncode != 0 and "nothing was written" in r.stderr
    assert (corpora / "sample.toml").read_text(encoding="utf-8") == before
    assert not (corpora / "sample.calibration.jsonl").exists()
    r = cli.run(settings.home, "calibrate", "nosuch", "--labels", LABELS, corpora_dir=corpora)
    assert r.returncode == 2 and "unknown corpus 'nosuch'" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\nnot json\n', encoding="utf-8")
    r = cli.run(settings.home, "calibrate", "sample", "--labels", bad, corpora_dir=corpora)
    assert r.returncode == 2 and f"{bad}:1: not a labelled answer" in r.stderr
