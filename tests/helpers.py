"""Test inputs several areas share: real files in ../shared/data, a small text corpus and a fresh home."""

from __future__ import annotations

import copy
import io
import zipfile
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pytest
from docx.oxml.ns import qn
from PIL import Image, ImageDraw, ImageFont

from pipeline.ingest.docx import MAX_UNCOMPRESSED
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.store.builder import index_corpus
from pipeline.store.corpora import corpus_config

# a 4-page CUAD contract (numbered clauses "1. Net Investment Income Maintenance." ...)
CUAD_SMALL = (
    "contracts/cuad/full_contract_pdf/Part_III/Maintenance/"
    "SECURIANFUNDSTRUST_05_01_2012-EX-99.28.H.9-NET INVESTMENT INCOME MAINTENANCE AGREEMENT.PDF"
)
HUMIRA = "drug_labels/spl_xml/humira.xml"
VEKLURY = "drug_labels/veklury/veklury-2020-10.pdf"
OPENFDA = "drug_labels/openfda_json/openfda_label_5_otc_records_2019.json"
COUGH = "drug_labels/spl_xml/cough.xml"
# two pages of a bilingual (Simplified Chinese and English) contract, for the Chinese OCR tests
ZH_PAGES = [
    [
        "服务协议 SERVICE AGREEMENT",
        "第一条 定义",
        "本协议由北方科技有限公司（甲方）与南方咨询有限公司（乙方）于2024年3月1日签订。",
        "第二条 付款",
        "甲方应在收到发票后三十日内支付全部服务费用。",
        "Customer shall pay all fees within thirty (30) days of each invoice.",
    ],
    [
        "第三条 终止",
        "任何一方可提前九十天书面通知对方终止本协议。",
        "Either party may terminate this Agreement on ninety (90) days' written notice.",
        "第四条 违约责任",
        "违约方应赔偿守约方因此遭受的全部损失。",
    ],
]
# a small CJK font (Debian fonts-wqy-microhei, installed by scripts/test.sh) for rendering Chinese pages
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

TEXTS = {
    "alpha.txt": "SUPPLY AGREEMENT\n\n1. Supply. Acme Widgets Ltd shall deliver five hundred (500) blue widgets "
    "to Borealis Corp each calendar month.\n\n2. Price. Borealis Corp shall pay USD 12.50 per widget "
    "within thirty (30) days of each invoice.\n",
    "beta.txt": "SOFTWARE LICENSE\n\n1. Grant. Licensor grants Licensee a non-exclusive licence to install the "
    "Orbit accounting software on ten workstations.\n\n2. Term. The licence lasts three years.\n",
    "gamma.md": "# Office Lease\n\nThe Landlord leases the third floor of 12 Harbour Street to the Tenant. "
    "Monthly rent is EUR 8,000, payable in advance on the first business day of each month.\n",
}
# a fourth text, added to the corpus once it is indexed
DELTA = (
    "CATERING CONTRACT\n\n1. Services. Caterer shall provide vegetarian lunches for forty employees "
    "every Friday.\n\n2. Fees. Client pays EUR 15 per meal.\n"
)


def write_texts(folder: Path, texts: dict[str, str] = TEXTS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")


def home_settings(root: Path, **kw) -> Settings:
    (root / "corpora").mkdir(parents=True, exist_ok=True)
    return Settings(home=root / "home", corpora_dir=root / "corpora", **kw)


def _track(paragraph, inserted: str, deleted: str) -> None:
    """Add a tracked insertion and a tracked deletion to a python-docx paragraph."""
    p = paragraph._p
    ins = p.makeelement(qn("w:ins"), {qn("w:id"): "1", qn("w:author"): "Reviewer"})
    run = copy.deepcopy(p.r_lst[0])
    run.find(qn("w:t")).text = inserted
    ins.append(run)
    dele = p.makeelement(qn("w:del"), {qn("w:id"): "2", qn("w:author"): "Reviewer"})
    gone = copy.deepcopy(p.r_lst[0])
    t = gone.find(qn("w:t"))
    t.tag = qn("w:delText")
    t.text = deleted
    dele.append(gone)
    p.append(dele)
    p.append(ins)


def make_docx(path: Path) -> Path:
    d = docx.Document()
    d.core_properties.title = "Harbour Supply Agreement"
    d.sections[0].header.paragraphs[0].text = "CONFIDENTIAL DRAFT HEADER"
    d.sections[0].footer.paragraphs[0].text = "Page footer text"
    d.add_heading("ARTICLE I. SUPPLY", level=1)
    d.add_paragraph("1.1 Products. Supplier shall deliver the products listed in the table below.")
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [
            ("Product", "Quantity", "Price"),
            ("Blue widget", "500", "USD 12.50"),
            ("Red widget", "200", "USD 14.00"),
        ]
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_heading("ARTICLE II. TERM AND TERMINATION", level=1)
    d.add_paragraph("2.1 Term. This Agreement lasts three (3) years.")
    tracked = d.add_paragraph("2.2 Termination. Either party may terminate on ")
    _track(tracked, "ninety (90) days' notice.", "thirty (30) days' notice.")
    d.add_paragraph("List item in a numbered list", style="List Number")
    d.save(path)
    return path


def zip_bomb() -> bytes:
    """A small .docx-looking zip whose one part expands past the limit (never written out)."""
    buf = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            for _ in range(MAX_UNCOMPRESSED // len(chunk) + 1):
                fh.write(chunk)
    return buf.getvalue()


def scan_pdf(source: Path, out: Path, pages: int, dpi: int = 200) -> Path:
    """An image-only PDF (no text layer) of the first `pages` pages of a text PDF, as a scanner makes."""
    pdf = pdfium.PdfDocument(source)
    images = [pdf[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for i in range(pages)]
    return image_pdf(images, out, dpi)


def image_pdf(images: list[Image.Image], out: Path, dpi: int = 200) -> Path:
    """An image-only PDF with one page per image, at `dpi`."""
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out


# Pieces of answers that exercise every rule of the sentence splitter: abbreviations and initials,
# openers and non-openers after them, decimals, closing quotes and brackets, "..." / "?!", CJK stops,
# line breaks that continue a line or start a list item, paragraph breaks, headings.
ANSWER_PIECES = [
    "Acme", "Inc.", "Dr.", "e.g.", "Sec.", "No.", "Ex.", "U.S.", "J.", "etc.", "approx.", "mg.", "The",
    "Thermo", "the", "fee", "is", "5.0", "12", "days", "A", "AB", "weekly.The", "pumps", "Yes", "b", "Note",
    "However", ".", "!", "?", "...", "…", "?!", '"', "'", ")", "(", "”", "」", ",", ";", ":", "-", "–", "/",
    "a)", "(1)", "合同期限为两年", "。", "！", "；", "\n", "\n\n", "\n- ", "\n1. ", "\n(a) ", "\na) ", "\n# ",
    "\n> ", "\n12) ", "\n(3) ", "\n一、", "\n3、", " ", "  ", "\t",
]  # fmt: skip


def random_answer(rng, pieces: int = 25) -> str:
    """An answer of up to `pieces` random ANSWER_PIECES, most followed by a space."""
    out = []
    for _ in range(rng.randint(1, pieces)):
        out.append(rng.choice(ANSWER_PIECES))
        if rng.random() < 0.6:
            out.append(" ")
    return "".join(out)


def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    """WenQuanYi Micro Hei, the CJK font the Chinese OCR tests render their pages with."""
    if not CJK_FONT.exists():
        pytest.fail(f"{CJK_FONT} is missing: apt-get install fonts-wqy-microhei (scripts/test.sh does)")
    return ImageFont.truetype(str(CJK_FONT), size)


def text_page(
    lines: list[str], font: ImageFont.FreeTypeFont, size: tuple[int, int] = (1700, 2200)
) -> Image.Image:
    """A white page (letter size at 200 dpi) with `lines` in black, one and a half lines apart."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    step = int(font.size * 1.5)
    for i, line in enumerate(lines):
        draw.text((150, 150 + i * step), line, font=font, fill=0)
    return page


def indexed_sample_home(home: Path) -> Settings:
    """Settings for `home` with the project's sample corpus (corpora/sample) indexed there."""
    settings = Settings(home=home, corpora_dir=PROJECT_ROOT / "corpora")
    index_corpus(corpus_config("sample", settings), settings)
    return settings
