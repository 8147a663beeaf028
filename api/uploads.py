"""Streaming multipart/form-data reader for document uploads.

The request body is parsed as it arrives and each file part is written straight to a staging file
with a running byte count, so an oversized file is refused (413) after at most the limit is read,
and nothing is held whole in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

import anyio
from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.requests import Request

from api.errors import ApiError
from pipeline.settings import Settings
from pipeline.store import uploads as docs

MAX_FIELD_BYTES = 1024
TEXT_FIELDS = ("domain",)


@dataclass
class ReceivedUpload:
    staged: list[docs.StagedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


class _Receiver:
    def __init__(self, settings: Settings, corpus: str, batch: str, max_bytes: int, max_files: int) -> None:
        self.settings = settings
        self.corpus = corpus
        self.batch = batch
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.out = ReceivedUpload()
        self._names: set[str] = set()
        self._headers: dict[str, bytes] = {}
        self._hname = b""
        self._hvalue = b""
        self._writer: docs.UploadWriter | None = None
        self._field: str | None = None
        self._value = b""

    # python-multipart callbacks
    def on_part_begin(self) -> None:
        self._headers = {}
        self._writer = None
        self._field = None
        self._value = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._hname.decode("latin-1").strip().lower()] = self._hvalue
        self._hname = b""
        self._hvalue = b""

    def on_headers_finished(self) -> None:
        name, fname = _disposition(self._headers.get("content-disposition", b""))
        if fname is None:
            self._field = name
            return
        if len(self.out.staged) >= self.max_files:
            raise ApiError(413, "too_many_files", f"at most {self.max_files} files per upload", "files")
        writer = docs.UploadWriter(self.settings, self.corpus, fname, self.max_bytes, self.batch)
        if writer.filename in self._names:
            writer.abort()
            raise ApiError(
                422, "duplicate_file", f"two files named {writer.filename!r} in one upload", "files"
            )
        self._names.add(writer.filename)
        self._writer = writer

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._writer is not None:
            self._writer.write(data[start:end])
        elif self._field is not None:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise ApiError(413, "field_too_large", f"form field {self._field!r} is too long", self._field)

    def on_part_end(self) -> None:
        if self._writer is not None:
            self.out.staged.append(self._writer.commit())
            self._writer = None
        elif self._field in TEXT_FIELDS:
            self.out.fields[self._field] = self._value.decode("utf-8", "replace").strip()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


def _disposition(raw: bytes) -> tuple[str, str | None]:
    """The part's field name and file name from its Content-Disposition. Browsers send UTF-8 file
    names raw; RFC 2231/5987 `filename*=UTF-8''...` is decoded too."""
    msg = Message()
    msg["content-disposition"] = raw.decode("utf-8", "replace")
    name = msg.get_param("name", header="content-disposition")
    return (name if isinstance(name, str) else ""), msg.get_filename()


async def receive_upload(request: Request, settings, corpus: str) -> tuple[ReceivedUpload, str]:
    """Stage the files of a multipart upload; returns them and the staging batch id."""
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not opts.get(b"boundary"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "upload documents as multipart/form-data with one or more `files` parts",
        )
    limit = settings.max_upload_bytes * settings.max_upload_files + 1024 * 1024
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise ApiError(
            413,
            "upload_too_large",
            f"request body of {length} bytes exceeds the upload limit "
            f"({settings.max_upload_bytes} bytes per file, {settings.max_upload_files} files)",
            "files",
        )
    batch = docs.new_batch_id()
    rx = _Receiver(settings, corpus, batch, settings.max_upload_bytes, settings.max_upload_files)
    callbacks = {
        name: getattr(rx, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(opts[b"boundary"], callbacks, max_size=limit)
    try:
        async for chunk in request.stream():
            if chunk:
                await anyio.to_thread.run_sync(parser.write, chunk)
        await anyio.to_thread.run_sync(parser.finalize)
    except BaseException as exc:
        rx.abort()
        docs.discard_batch(settings, corpus, batch)
        if isinstance(exc, docs.UploadTooLarge):
            raise ApiError(413, "upload_too_large", str(exc), "files") from exc
        if isinstance(exc, docs.UnsupportedFileType):
            raise ApiError(415, "unsupported_media_type", str(exc), "files") from exc
        if isinstance(exc, MultipartParseError):
            raise ApiError(422, "invalid_multipart", f"malformed multipart body: {exc}", "files") from exc
        raise
    if not rx.out.staged:
        docs.discard_batch(settings, corpus, batch)
        raise ApiError(
            422, "no_files", "the upload holds no file parts (use the form field `files`)", "files"
        )
    return rx.out, batch
