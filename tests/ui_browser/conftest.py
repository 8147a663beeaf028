"""The browser tests' server and browser: real verifications of the sample corpus stored in a tmp
home, the API app (with the review UI) on a real uvicorn on 127.0.0.1, Debian's headless Chromium
driven by Playwright."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import ANSWERS, CHROMIUM, LAUNCH_ARGS, PASSWORD, PROJECT

from pipeline.settings import Settings


@dataclass
class Served:
    base: str  # the server's URL
    turns: dict  # conversation -> stored turn
    settings: Settings  # its home (audit store, indexes) and corpora
    engine: object  # the Engine the server verifies with


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tmp home with the sample corpus indexed and real verifications stored; the API app (with the
    UI) served by uvicorn on a random port."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import uvicorn

    from api.app import create_app
    from api.config import ApiSettings
    from pipeline.audit.store import AuditStore, store_path
    from pipeline.review.trail import ReviewStore
    from pipeline.store.builder import index_corpus
    from pipeline.store.corpora import corpus_config
    from pipeline.verification.engine import Engine

    home = tmp_path_factory.mktemp("ui") / "home"
    settings = Settings(home=home, corpora_dir=PROJECT / "corpora")
    index_corpus(corpus_config("sample", settings), settings)
    engine = Engine(settings)
    store = AuditStore(store_path(settings))
    turns = {}
    for run, conv, question, answer in ANSWERS:
        result = engine.verify(answer, corpus="sample", question=question)
        tid = store.record_verification(
            run, "transcripts.jsonl" if run else None, conv, 1, question, answer, "sample", result
        )
        turns[conv or "api"] = store.turn(tid)
    ReviewStore(store).add_reviewer("rita", PASSWORD)
    store.close()

    api_settings = ApiSettings(
        home=home, corpora_dir=PROJECT / "corpora", auth_disabled=True, serve_corpora=["sample"]
    )
    app = create_app(api_settings, engine=engine)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", turns, settings, engine)
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def server(served):
    """(base_url, {conversation: turn})."""
    return served.base, served.turns


@pytest.fixture(scope="module")
def browser(served):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(120_000)  # the machine may be busy: generous, not slow
    p.errors = []  # console errors and page errors (CSP violations show up here)
    p.on("console", lambda m: p.errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    yield p
    context.close()
