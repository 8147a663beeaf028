"""The real documents of the ingestion tests, parsed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import CUAD_SMALL, HUMIRA, OPENFDA, VEKLURY

from pipeline.ingest import SourceFile, load_file
from pipeline.schema import Document


def ingest(path: Path, doc_id: str, domain: str = "test") -> list[Document]:
    return load_file(SourceFile(path, doc_id), domain)


@pytest.fixture(scope="session")
def real_docs(shared) -> dict[str, list[Document]]:
    """The real documents of the ingestion tests, parsed once."""
    return {
        "cuad": ingest(shared / CUAD_SMALL, "Part_III/Maintenance/" + Path(CUAD_SMALL).name, "contracts"),
        "humira": ingest(shared / HUMIRA, "humira.xml", "drug_labels"),
        "veklury": ingest(shared / VEKLURY, "veklury/veklury-2020-10.pdf", "drug_labels"),
        "openfda": ingest(shared / OPENFDA, "openfda_json/" + Path(OPENFDA).name, "drug_labels"),
    }
