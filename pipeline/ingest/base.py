"""What every format loader is: bytes and a doc_id in, Documents out, IngestError when it cannot."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.schema import Document, VeracityError


class IngestError(VeracityError):
    """A file that cannot be turned into a document; the message says why."""


# (file bytes, doc_id) -> the documents in the file (an openFDA JSON file may hold several)
Loader = Callable[[bytes, str], list[Document]]
