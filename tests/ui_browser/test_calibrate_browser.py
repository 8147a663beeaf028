"""Calibrating from reviews made in the real UI: a reviewer confirms one flag, dismisses another and
marks a supported sentence as a missed error in Chromium; `calibrate --from-reviews` reads exactly
those decisions; its report renders offline in Chromium; the runs page shows the week's share."""

from __future__ import annotations

import argparse

import pytest
from browser_support import ARTIFACTS, sign_in

from pipeline.audit.store import AuditStore, store_path
from pipeline.calibration.cli import run_calibrate
from pipeline.calibration.labels import review_labels
from pipeline.review.trail import ReviewStore

pytestmark = pytest.mark.browser


def _decide(page, base: str, sentence_id: int, key: str, status: str) -> None:
    page.goto(f"{base}/ui/items/{sentence_id}")
    with page.expect_navigation():
        page.keyboard.press(key)
    assert page.locator("#current-status").inner_text() == status


def test_decide_three_calibrate_and_see_the_report(page, served, tmp_path, capsys):
    base, turns = served.base, served.turns
    audit = [s for conv in ("conv-1", "conv-2") for s in turns[conv]["sentences"]]
    flagged = [s for s in audit if s["flagged"]]
    supported = [s for s in audit if s["verdict"] == "supported"]
    assert len(flagged) >= 2 and supported
    confirm, dismiss, missed = flagged[0]["id"], flagged[1]["id"], supported[0]["id"]

    sign_in(page, base)
    _decide(page, base, confirm, "c", "confirmed")
    _decide(page, base, dismiss, "d", "dismissed")
    # a supported sentence offers only "missed error"
    page.goto(f"{base}/ui/items/{missed}")
    assert page.locator("button[value=confirmed]").count() == 0
    assert page.locator("#current-status").inner_text() == "not reviewed"
    with page.expect_navigation():
        page.click("button[value=missed]")
    assert page.locator("#current-status").inner_text() == "missed"

    # the runs page: this week's share of flags confirmed and the missed error
    page.goto(base + "/ui/runs")
    week = page.locator("#weekly tbody tr").first.inner_text()
    assert "50%" in week  # one confirmed of two reviewed flags
    assert (
        page.locator("tr", has_text="audit-1").locator("td[title^='supported sentences']").inner_text() == "1"
    )

    with ReviewStore(AuditStore(store_path(served.settings))) as review:
        answers = review_labels(review, "sample", ["audit-1"])
        review.store.close()
    got = {s.sentence_id: (s.gold, s.error) for a in answers for s in a.sentences}
    assert got == {confirm: ("confirmed", True), dismiss: ("dismissed", False), missed: ("missed", True)}

    report = tmp_path / "calibration.html"
    args = argparse.Namespace(
        name="sample",
        labels=None,
        from_reviews=True,
        run=["audit-1"],
        target_precision=None,
        report=str(report),
        write=False,
    )
    assert run_calibrate(args, served.settings, served.engine) == 0
    out = capsys.readouterr().out
    assert "on 3 labelled sentences" in out and "chosen" in out

    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    assert page.locator("h1").inner_text() == "Veracity calibration sample"
    assert (
        page.locator("#few-labels").is_visible()
        and "fewer than 50" in page.locator("#few-labels").inner_text()
    )
    assert page.locator("#pr-curve circle.point-chosen").count() == 1
    assert page.locator("#pr-curve").bounding_box()["width"] > 200
    rows = page.locator("#confusion tr th:first-child").all_inner_texts()
    assert set(rows) == {"label ↓ / verdict →", "confirmed", "dismissed", "missed"}
    assert page.locator("#thresholds tr").count() == 3  # header, current, chosen
    assert all(u.startswith("file://") for u in requests), requests  # nothing fetched
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "calibration_report.png"), full_page=True)
    assert page.errors == []
