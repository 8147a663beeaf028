"""OCR benchmark: pages of real CUAD contracts (text PDFs from ../shared/data) rendered to images at
the OCR resolution, and a Chinese contract the team wrote (bench/data/zh_contract.txt) drawn on a
page with a CJK font, read by the OCR engine and compared with their text.

    .venv/bin/python bench/bench_ocr.py                 # 3 contracts, first 2 pages each, + Chinese
    .venv/bin/python bench/bench_ocr.py --files 5 --pages 3
    .venv/bin/python bench/bench_ocr.py --files 2 --pages 1 --compare-tesseract

Figures: pages per second (render + recognise, one process, after a warm-up page) and character
accuracy = 1 - edit distance / length of the true text, both with whitespace removed and curly
quotes, dashes and bullets folded (OCR line breaks, spacing and quote shapes are not errors a search
or a quote check cares about). The engine's mean page confidence is printed beside the accuracy, to
judge the low-confidence threshold. Each page is also read by RapidOCR's own one-call API, alternating
with ours (read in steps to check the time limit): the median time ratio of the two, measured in the
same run, shows what the steps cost. The Chinese page needs the font package fonts-wqy-microhei
(scripts/test.sh installs it); without it that page is left out, with a note.

--compare-tesseract also reads every page image with Debian's `tesseract` binary (not installed by
scripts/setup.sh: apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim), `-l eng`
for the CUAD pages and `-l chi_sim+eng` for the Chinese page, the image piped in as PNG and the text
read from stdout. The two engines alternate which reads a page first; per engine it prints the median
recognition time per page (pages/s = its inverse; rendering is shared and left out) and the character
accuracy, English and Chinese apart.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from pipeline.ingest.ocr import RENDER_SCALE, _engine, page_from_boxes, recognise, render_page  # noqa: E402

CUAD = ROOT.parent / "shared" / "data" / "contracts" / "cuad" / "full_contract_pdf"
ZH_TEXT = ROOT / "bench" / "data" / "zh_contract.txt"
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


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


def chinese_page() -> Image.Image | None:
    """ZH_TEXT drawn on a letter-size page at 200 dpi in 11-point type, lines wrapped at the margin."""
    if not CJK_FONT.exists():
        return None
    font = ImageFont.truetype(str(CJK_FONT), round(11 * RENDER_SCALE))
    page = Image.new("L", (1700, 2200), 255)
    draw = ImageDraw.Draw(page)
    y = 150
    for para in ZH_TEXT.read_text(encoding="utf-8").splitlines():
        line = ""
        for ch in para:
            if font.getlength(line + ch) > 1400:
                draw.text((150, y), line, font=font, fill=0)
                y, line = y + round(font.size * 1.6), ""
            line += ch
        draw.text((150, y), line, font=font, fill=0)
        y += round(font.size * 1.6)
    return page


def timed(image) -> tuple:
    """The page read in steps (as indexing reads it) and by the engine's one call, alternating which
    goes first; (page, seconds in steps, seconds in one call)."""
    first_ours = timed.calls % 2 == 0
    timed.calls += 1
    runs = {}
    for ours in (first_ours, not first_ours):
        t0 = time.perf_counter()
        page = recognise(image) if ours else page_from_boxes(_engine()(image)[0] or [])
        runs[ours] = (page, time.perf_counter() - t0)
    # same text; the steps' confidence also counts detected text the recogniser could not read
    assert runs[True][0].text == runs[False][0].text, "the steps read differently from the engine's call"
    assert runs[True][0].confidence <= runs[False][0].confidence
    return runs[True][0], runs[True][1], runs[False][1]


timed.calls = 0


def tesseract_text(image: Image.Image, langs: str, dpi: float) -> str:
    """The page image read by the `tesseract` binary (PNG on stdin, text on stdout)."""
    png = io.BytesIO()
    image.save(png, format="PNG", dpi=(dpi, dpi))
    done = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", langs, "--dpi", str(round(dpi))],
        input=png.getvalue(),
        capture_output=True,
        check=True,
    )
    return done.stdout.decode("utf-8")


def require_tesseract() -> None:
    """Exit with a message unless `tesseract` and its eng and chi_sim models are installed."""
    if shutil.which("tesseract") is None:
        sys.exit(
            "--compare-tesseract: the `tesseract` binary is not installed "
            "(apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim)"
        )
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout.split()
    missing = [lang for lang in ("eng", "chi_sim") if lang not in listed]
    if missing:
        sys.exit(
            f"--compare-tesseract: tesseract lacks the language models {missing} (apt-get install tesseract-ocr-eng tesseract-ocr-chi-sim)"
        )


class Comparison:
    """RapidOCR (read in steps, as indexing reads it) against tesseract on the same page images,
    alternating which engine reads a page first; seconds and accuracies per engine and language."""

    ENGINES = ("RapidOCR", "tesseract")
    LANGS = ("English", "Chinese")

    def __init__(self) -> None:
        self.seconds = {(e, lang): [] for e in self.ENGINES for lang in self.LANGS}
        self.accuracy = {(e, lang): [] for e in self.ENGINES for lang in self.LANGS}
        self.pages = 0

    def read(self, image: Image.Image, truth: str, lang: str, dpi: float) -> tuple:
        """`timed(image)` and tesseract on `image`, in alternating order; timed's result. RapidOCR's
        time is that of the steps (as indexing reads a page)."""
        langs = "chi_sim+eng" if lang == "Chinese" else "eng"
        order = self.ENGINES if self.pages % 2 == 0 else self.ENGINES[::-1]
        self.pages += 1
        for engine in order:
            if engine == "RapidOCR":
                result = timed(image)
                seconds, text = result[1], result[0].text
            else:
                t0 = time.perf_counter()
                text = tesseract_text(image, langs, dpi)
                seconds = time.perf_counter() - t0
            self.seconds[engine, lang].append(seconds)
            self.accuracy[engine, lang].append(accuracy(text, truth))
        return result

    def report(self) -> None:
        print(
            f"\nRapidOCR against tesseract on the same {self.pages} page images (alternating which reads first):"
        )
        for engine in self.ENGINES:
            for lang in self.LANGS:
                if not (accs := self.accuracy[engine, lang]):
                    continue
                median = statistics.median(self.seconds[engine, lang])
                print(
                    f"  {engine:9s}  {lang:7s}  {len(accs)} pages  {1 / median:.2f} pages/s "
                    f"(median {median:.1f} s per page)  character accuracy {statistics.mean(accs):.3f} "
                    f"(min {min(accs):.3f})"
                )


def accuracy(text: str, truth: str) -> float:
    """1 - edit distance / length of the true text, both squeezed; `truth` is squeezed already."""
    return 1 - edit_distance(squeeze(text), truth) / len(truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--pages", type=int, default=2)
    ap.add_argument(
        "--compare-tesseract", action="store_true", help="also read every page with Debian's tesseract"
    )
    args = ap.parse_args()
    compare = None
    if args.compare_tesseract:
        require_tesseract()
        compare = Comparison()
    files = sorted(CUAD.rglob("*.pdf"))[: args.files] + sorted(CUAD.rglob("*.PDF"))[: max(0, args.files - 3)]
    rows, seconds, ratios = [], 0.0, []
    warm = render_page(pdfium.PdfDocument(files[0])[0])
    recognise(warm)  # warm-up
    if compare:
        tesseract_text(warm, "chi_sim+eng", RENDER_SCALE * 72)  # both models in the file cache
    for path in files:
        reader, pdf = PdfReader(path), pdfium.PdfDocument(path)
        for i in range(min(args.pages, len(pdf))):
            truth = squeeze(reader.pages[i].extract_text() or "")
            if len(truth) < 200:
                continue
            t0 = time.perf_counter()
            image = render_page(pdf[i])
            render_s = time.perf_counter() - t0
            if compare:
                dpi = 72 * image.width / pdf.get_page_size(i)[0]
                page, ours, call = compare.read(image, truth, "English", dpi)
            else:
                page, ours, call = timed(image)
            seconds += render_s + ours
            ratios.append(ours / call)
            acc = accuracy(page.text, truth)
            rows.append((path.name[:50], i + 1, len(truth), acc, page.confidence))
            print(
                f"{path.name[:50]:50s} p{i + 1}  {len(truth):5d} chars  accuracy {acc:.3f}  confidence {page.confidence:.3f}"
            )
    print(
        f"\n{len(rows)} pages at {RENDER_SCALE * 72:.0f} dpi: {len(rows) / seconds:.2f} pages/s, "
        f"character accuracy mean {statistics.mean(r[3] for r in rows):.3f} "
        f"(min {min(r[3] for r in rows):.3f}), confidence mean {statistics.mean(r[4] for r in rows):.3f}"
    )
    zh = chinese_page()
    if zh is None:
        print(f"Chinese page left out: {CJK_FONT} is missing (apt-get install fonts-wqy-microhei)")
    else:
        truth = squeeze(ZH_TEXT.read_text(encoding="utf-8"))
        page, ours, call = compare.read(zh, truth, "Chinese", RENDER_SCALE * 72) if compare else timed(zh)
        ratios.append(ours / call)
        acc = accuracy(page.text, truth)
        print(
            f"Chinese page ({len(truth)} characters, 11 pt): {1 / ours:.2f} pages/s, character accuracy "
            f"{acc:.3f}, confidence {page.confidence:.3f}"
        )
    print(
        f"read in steps / one engine call: median time ratio {statistics.median(ratios):.2f} "
        f"over {len(ratios)} pages (same text on every page)"
    )
    if compare:
        compare.report()


if __name__ == "__main__":
    main()
