"""PDF text: the PDFium reader Veracity uses against pypdf's, on real CUAD contracts.

Usage: .venv/bin/python bench/bench_pdf.py [--files 40] [--seed 1]

For --files CUAD PDFs drawn with --seed: CPU seconds of each reader (`load_pdf` with its cleaning,
headings and sections; pypdf's `extract_text` per page with the same cleaning and headings), the
words where the two texts differ (difflib over whitespace-separated words), the numbered sections
each finds, lines that start with a clause number glued to its text, and the parse CPU per chunk of
the corpus's chunking (the share of the embedder's time the indexer's parser takes).
"""

from __future__ import annotations

import argparse
import difflib
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED  # noqa: E402

from pipeline.ingest.chunk import ChunkSettings, chunk_document  # noqa: E402
from pipeline.ingest.headings import heading_sections  # noqa: E402
from pipeline.ingest.pdf import _GLUED_CLAUSE_NUMBER as GLUED  # noqa: E402
from pipeline.ingest.pdf import PAGE_SEP, _clean, load_pdf  # noqa: E402

CUAD_PDF = SHARED / "contracts" / "cuad" / "full_contract_pdf"


def pypdf_text(data: bytes) -> str:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    return PAGE_SEP.join(_clean(p.extract_text() or "") for p in PdfReader(io.BytesIO(data)).pages)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    files = sorted(CUAD_PDF.rglob("*.pdf"))
    random.Random(args.seed).shuffle(files)
    files = files[: args.files]
    cpu = {"pdfium": 0.0, "pypdf": 0.0}
    words = differ = chunks = 0
    sections = {"pdfium": 0, "pypdf": 0}
    glued = {"pdfium": 0, "pypdf": 0}
    chunking = ChunkSettings(chunk_size=900, chunk_overlap=120)
    for path in files:
        data = path.read_bytes()
        t = time.process_time()
        doc = load_pdf(data, path.name)
        cpu["pdfium"] += time.process_time() - t
        t = time.process_time()
        old = pypdf_text(data)
        old_sections = heading_sections(old)
        cpu["pypdf"] += time.process_time() - t
        chunks += len(chunk_document(doc, chunking))
        sections["pdfium"] += len(doc.sections)
        sections["pypdf"] += len(old_sections)
        glued["pdfium"] += len(GLUED.findall(doc.text))
        glued["pypdf"] += len(GLUED.findall(old))
        a, b = old.split(), doc.text.split()
        words += len(a)
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if op != "equal":
                differ += max(i2 - i1, j2 - j1)
    print(f"{len(files)} CUAD PDFs (seed {args.seed}), {words:,} words (pypdf), {chunks:,} chunks (900/120)")
    print("reader  CPU s   ms/chunk  sections  glued clause numbers")
    for name in ("pdfium", "pypdf"):
        print(
            f"{name:<7} {cpu[name]:>5.2f}  {1000 * cpu[name] / max(1, chunks):>8.2f}  {sections[name]:>8}  "
            f"{glued[name]:>20}"
        )
    print(f"pypdf / pdfium CPU: {cpu['pypdf'] / max(cpu['pdfium'], 1e-9):.1f}x")
    print(f"words that differ: {differ:,} of {words:,} ({100 * differ / max(1, words):.3f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
