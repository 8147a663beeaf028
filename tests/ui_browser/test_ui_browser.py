"""The review UI end to end: real verifications of the sample corpus, a real uvicorn on 127.0.0.1 and
Debian's headless Chromium driven by Playwright. Sign in, work the queue with the keyboard, read the
evidence, export CSV, and check that HTML inside an answer stays inert."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, PASSWORD, flagged_id, sign_in

pytestmark = pytest.mark.browser


def test_review_with_keyboard_evidence_and_export(page, server):
    base, turns = server
    sign_in(page, base)
    # the queue: counts at the top, every flagged sentence listed (audit and API)
    open_count = page.locator(".count.status-open .n").inner_text()
    total = sum(t["n_flagged"] for t in turns.values())
    assert int(open_count) == total and total >= 5
    assert page.locator("tr[data-row]").count() == total
    assert page.locator("td.run", has_text="api").count() == 1
    # open the uptime item from the queue
    uptime = flagged_id(turns["conv-1"], "The Northwind platform")
    with page.expect_navigation():
        page.click(f"a[href^='/ui/items/{uptime}']")
    assert page.locator("#current-status").inner_text() == "open"
    # the whole answer with the selected sentence, its reason, the evidence with the quote marked
    assert (
        page.locator(".answer .s.selected")
        .inner_text()
        .startswith("The Northwind platform must be available")
    )
    assert page.locator(".answer .s.v-supported").count() == 1
    assert "99.5%" in page.locator(".selected-card .reason").inner_text()
    mark = page.locator(".cite .context mark").first
    assert "available 99.5% of the time" in mark.inner_text()
    context_text = page.locator(".cite .context").first.inner_text()
    assert "ARTICLE I. SERVICES" in context_text and len(context_text) > len(mark.inner_text()) + 200
    assert "MASTER SERVICES AGREEMENT" in page.locator(".cite .title").first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "item_view.png"), full_page=True)

    # confirm with the keyboard; the decision is stored and survives a reload
    page.fill("textarea[name=comment]", "uptime is 99.5%, not 99.9%")
    page.locator("textarea[name=comment]").press("Escape")
    with page.expect_navigation():
        page.keyboard.press("c")
    assert page.locator("#current-status").inner_text() == "confirmed"
    page.reload()
    assert page.locator("#current-status").inner_text() == "confirmed"
    trail = page.locator(".trail li")
    assert trail.count() == 1 and "rita" in trail.first.inner_text()
    assert "uptime is 99.5%, not 99.9%" in trail.first.inner_text()
    # re-decide: the trail keeps both, the latest is the status
    with page.expect_navigation():
        page.keyboard.press("e")
    assert (
        page.locator("#current-status").inner_text() == "escalated" and page.locator(".trail li").count() == 2
    )

    # j goes to the next item, k comes back
    with page.expect_navigation():
        page.keyboard.press("j")
    assert f"/ui/items/{uptime}" not in page.url
    with page.expect_navigation():
        page.keyboard.press("k")
    assert f"/ui/items/{uptime}?" in page.url or page.url.endswith(f"/ui/items/{uptime}")

    # the document opens at the citation, quote highlighted
    with page.expect_navigation():
        page.click(".cite a.open-doc >> nth=0")
    assert page.url.endswith("#cite")
    cited = page.locator("mark#cite")
    assert "99.5%" in cited.inner_text() and cited.is_visible()
    assert "MASTER SERVICES AGREEMENT" in page.locator(".doc-title").inner_text()

    # progress, then the CSV export as a download
    page.goto(base + "/ui/runs")
    row = page.locator("tr", has_text="audit-1")
    assert "1 / " in row.inner_text()
    with page.expect_download() as info:
        page.click("header nav >> text=Export CSV")
    download = info.value
    assert download.suggested_filename.startswith(
        "veracity-decisions-"
    ) and download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [(r["decision"], r["reviewer"], r["sentence_id"], r["current"]) for r in rows] == [
        ("confirmed", "rita", str(uptime), "0"),
        ("escalated", "rita", str(uptime), "1"),
    ]
    assert rows[0]["comment"] == "uptime is 99.5%, not 99.9%" and rows[0]["run_id"] == "audit-1"
    assert page.errors == []


def test_answer_html_is_inert(page, server):
    base, turns = server
    sid = flagged_id(turns["conv-3"], "Late payments")
    sign_in(page, base, f"/ui/items/{sid}")
    assert f"/ui/items/{sid}" in page.url
    answer = page.locator(".answer")
    text = answer.inner_text()
    assert "<img src=x onerror=window.__xss=1>" in text and "<script>window.__xss=1</script>" in text
    assert answer.locator("img, script").count() == 0
    assert page.locator(".question").inner_text().endswith("Late fees? <b>bold</b>")
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.goto(base + "/ui/queue")
    assert "<script>window.__xss=1</script>" in page.locator("table.queue").inner_text()
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.errors == []


def test_queue_keyboard_and_login_required(page, server):
    base, turns = server
    page.goto(base + "/ui/runs")
    assert "/ui/login?next=%2Fui%2Fruns" in page.url
    page.fill("input[name=name]", "rita")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Unknown reviewer or wrong password" in page.locator(".error").inner_text()
    page.errors.clear()  # the refused sign-in is a 401, which Chromium logs as a console error
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/ui/runs")
    # filter the queue to the API verifications, then open the row with j + Enter
    page.goto(base + "/ui/queue?run=api")
    assert page.locator("tr[data-row]").count() == 1
    page.keyboard.press("j")
    assert page.locator("tr[data-row].current").count() == 1
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/ui/items/" in page.url and "run=api" in page.url
    assert (
        "Calmora" in page.locator(".answer").inner_text() or "calcium" in page.locator(".answer").inner_text()
    )
    assert page.errors == []
