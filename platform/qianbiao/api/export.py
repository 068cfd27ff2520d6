"""The results stream: JSON array, JSON lines or CSV, in chunks of about 64 KB,
never the whole export in memory. The database encodes each row and streams it
with COPY; Python only frames the lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from qianbiao.projects.models import DatasetProject

from .ingest import CSV, JSON, JSONL
from .selectors import ACCEPTED, RESULT_FIELDS, results_copy

CONTENT_TYPES = {
    JSON: "application/json",
    JSONL: "application/x-ndjson",
    CSV: "text/csv; charset=utf-8",
}
CHUNK_BYTES = 1 << 16
CSV_HEADER = (",".join(RESULT_FIELDS) + "\r\n").encode()


def results_stream(
    *,
    project: DatasetProject,
    since: dt.datetime | None,
    until: dt.datetime,
    fmt: str,
    status: str = ACCEPTED,
) -> Iterator[bytes]:
    if fmt not in CONTENT_TYPES:
        raise ValueError(fmt)
    lines = results_copy(project=project, since=since, until=until, as_json=fmt != CSV, status=status)
    return _copied(lines, fmt)


def _copied(lines: Iterator[bytes], fmt: str) -> Iterator[bytes]:
    """Lines from COPY (each ending in a newline) framed as ``fmt``, in chunks."""
    buffer = bytearray(b"[" if fmt == JSON else CSV_HEADER if fmt == CSV else b"")
    separator = b"," if fmt == JSON else b""
    first = True
    for line in lines:
        if not first:
            buffer += separator
        buffer += line
        first = False
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if fmt == JSON:
        buffer += b"]\n"
    if buffer:
        yield bytes(buffer)
