"""What the browser tests share (holds no tests): the stored answers, Chromium's flags, signing in."""

from __future__ import annotations

from pathlib import Path

from pipeline.settings import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PROJECT = PROJECT_ROOT
PASSWORD = "review-pass-2026"
XSS_ANSWER = (
    "Late payments bear interest at 1.5% per month. <img src=x onerror=window.__xss=1> "
    "<script>window.__xss=1</script> The initial term is five (5) years."
)
ANSWERS = [  # (run, conversation, question, answer)
    (
        "audit-1",
        "conv-1",
        "What does the Northwind MSA say about uptime and fees?",
        "The Northwind platform must be available 99.9% of the time in each calendar month. "
        "Customer pays a monthly fee of USD 12,500. Late payments bear interest at 2% per month.",
    ),
    (
        "audit-1",
        "conv-2",
        "Summarise the Helios license.",
        "Under the Helios license, Licensee may use the software for up to 500 named users. "
        "Licensor must respond to critical support requests within four (4) hours.",
    ),
    ("audit-1", "conv-3", "Late fees? <b>bold</b>", XSS_ANSWER),
    (None, None, None, "Each Calmora tablet contains 500 mg of calcium carbonate."),  # an API verification
]
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def flagged_id(turn: dict, startswith: str) -> int:
    return next(s["id"] for s in turn["sentences"] if s["flagged"] and s["text"].startswith(startswith))


def sign_in(page, base: str, target: str = "/ui/queue") -> None:
    page.goto(base + target)
    assert "/ui/login" in page.url
    page.fill("input[name=name]", "rita")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/ui/login" not in page.url
