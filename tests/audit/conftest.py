"""Fixtures of the audit tests: a home with the sample corpus indexed, one engine, the transcripts and
a clean in-process audit of them (each built once per test module)."""

from __future__ import annotations

import os

import pytest
from audit_support import audit_args, write_transcripts
from helpers import indexed_sample_home

from pipeline.audit.cli import run_audit
from pipeline.audit.store import store_path
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Settings:
    """A home of this module's own (its audit store starts empty) with the sample corpus indexed."""
    return indexed_sample_home(tmp_path_factory.mktemp("audit_home"))


@pytest.fixture(scope="module")
def engine(home):
    """One engine for the module (its models are the process's, loaded once)."""
    from pipeline.verification.engine import Engine

    return Engine(home)


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory) -> dict:
    info = write_transcripts(tmp_path_factory.mktemp("transcripts") / "exports")
    info["dir"] = info["jsonl"].parent
    return info


@pytest.fixture(scope="module")
def clean_run(home, engine, transcripts, tmp_path_factory) -> dict:
    """A clean in-process audit of the transcript directory (run id "clean")."""
    out = tmp_path_factory.mktemp("clean_out")
    os.environ.pop("VERACITY_AUDIT_DB", None)
    assert run_audit(audit_args([transcripts["dir"]], "clean", out), home, engine=engine) == 0
    return {"db": store_path(home), "out": out}
