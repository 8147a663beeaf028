"""openFDA /drug/label JSON: one document per record, each text field a section."""

from __future__ import annotations

import json

from pipeline.ingest.base import IngestError
from pipeline.schema import Document, Span

# identifiers and codes, not label text
_SKIP = {
    "openfda",
    "set_id",
    "id",
    "version",
    "effective_time",
    "spl_product_data_elements",
    "package_label_principal_display_panel",
}


def load_openfda(data: bytes, file_id: str) -> list[Document]:
    """Records of `{"results": [...]}`, a list of records, or one record; doc_id = file_id#index."""

    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"malformed JSON: {exc}") from exc
    records = obj.get("results", [obj]) if isinstance(obj, dict) else obj
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise IngestError("JSON is not openFDA drug-label records")
    docs = []
    for i, rec in enumerate(records):
        parts, spans, pos = [], [], 0
        for field, value in rec.items():
            if field in _SKIP or field.endswith("_table"):
                continue
            values = value if isinstance(value, list) else [value]
            body = "\n".join(v.strip() for v in values if isinstance(v, str) and v.strip())
            if not body:
                continue
            title = field.replace("_", " ").upper()
            block = f"{title}\n{body}"
            if parts:
                parts.append("\n\n")
                pos += 2
            spans.append(Span(pos, pos + len(block), title, field))
            parts.append(block)
            pos += len(block)
        if not parts:
            raise IngestError(f"record {i} has no label text fields")
        docs.append(
            Document(
                doc_id=f"{file_id}#{i}",
                title=_title(rec, file_id, i),
                domain="",
                source="",
                sha256="",
                text="".join(parts),
                sections=spans,
            )
        )
    if not docs:
        raise IngestError("JSON holds no records")
    return docs


def _title(rec: dict, file_id: str, i: int) -> str:
    of = rec.get("openfda") or {}
    for key in ("brand_name", "generic_name"):
        names = of.get(key)
        if isinstance(names, list) and names:
            return str(names[0])
    panel = rec.get("package_label_principal_display_panel") or rec.get("spl_product_data_elements")
    if isinstance(panel, list) and panel:
        return str(panel[0])[:120]
    return f"{file_id} record {i}"
