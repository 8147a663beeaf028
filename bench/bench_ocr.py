"""OCR benchmark: pages of real CUAD contracts (text PDFs from ../shared/data) rendered to images at
the OCR resolution, read by the OCR engine, and compared with the PDF's own text layer.

    .venv/bin/python bench/bench_ocr.py                 # 3 contracts, first 2 pages each
    .venv/bin/python bench/bench_ocr.py --files 5 --pages 3

Figures: pages per second (render + recognise, one process, after a warm-up page) and character
accuracy = 1 - edit distance / length of the text layer, both with whitespace removed and curly
quotes, dashes and bullets folded (OCR line breaks, spacing and quote shapes are not errors a search
or a quote check cares about). The engine's mean page
confidence is printed beside the accuracy, to judge the low-confidence threshold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pypdfium2 as pdfium
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from pipeline.ingest.ocr import RENDER_SCALE, recognise  # noqa: E402

CUAD = ROOT.parent / "shared" / "data" / "contracts" / "cuad" / "full_contract_pdf"


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, two rows at a time."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2022": "\u00b7",
    }
)


def squeeze(text: str) -> str:
    """Whitespace removed; typographic quotes, dashes and bullets folded to one form each."""
    return "".join(text.split()).translate(_FOLD)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--pages", type=int, default=2)
    args = ap.parse_args()
    files = sorted(CUAD.rglob("*.pdf"))[: args.files] + sorted(CUAD.rglob("*.PDF"))[: max(0, args.files - 3)]
    rows, seconds = [], 0.0
    recognise(pdfium.PdfDocument(files[0])[0].render(scale=RENDER_SCALE, grayscale=True).to_pil())  # warm-up
    for path in files:
        reader, pdf = PdfReader(path), pdfium.PdfDocument(path)
        for i in range(min(args.pages, len(pdf))):
            truth = squeeze(reader.pages[i].extract_text() or "")
            if len(truth) < 200:
                continue
            t0 = time.perf_counter()
            page = recognise(pdf[i].render(scale=RENDER_SCALE, grayscale=True).to_pil())
            seconds += time.perf_counter() - t0
            acc = 1 - edit_distance(squeeze(page.text), truth) / len(truth)
            rows.append((path.name[:50], i + 1, len(truth), acc, page.confidence))
            print(
                f"{path.name[:50]:50s} p{i + 1}  {len(truth):5d} chars  accuracy {acc:.3f}  confidence {page.confidence:.3f}"
            )
    print(
        f"\n{len(rows)} pages at {RENDER_SCALE * 72:.0f} dpi: {len(rows) / seconds:.2f} pages/s, "
        f"character accuracy mean {statistics.mean(r[3] for r in rows):.3f} "
        f"(min {min(r[3] for r in rows):.3f}), confidence mean {statistics.mean(r[4] for r in rows):.3f}"
    )


if __name__ == "__main__":
    main()
