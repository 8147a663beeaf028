"""Test inputs several areas share: real files in ../shared/data, a small text corpus and a fresh home."""

from __future__ import annotations

from pathlib import Path

from pipeline.settings import Settings

# a 4-page CUAD contract (numbered clauses "1. Net Investment Income Maintenance." ...)
CUAD_SMALL = (
    "contracts/cuad/full_contract_pdf/Part_III/Maintenance/"
    "SECURIANFUNDSTRUST_05_01_2012-EX-99.28.H.9-NET INVESTMENT INCOME MAINTENANCE AGREEMENT.PDF"
)
HUMIRA = "drug_labels/spl_xml/humira.xml"
VEKLURY = "drug_labels/veklury/veklury-2020-10.pdf"
OPENFDA = "drug_labels/openfda_json/openfda_label_5_otc_records_2019.json"
COUGH = "drug_labels/spl_xml/cough.xml"

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
