"""The results stream: JSON array, JSON lines or CSV, in chunks of about 64 KB,
never the whole export in memory. On PostgreSQL the database encodes each row
and streams it with COPY; elsewhere (SQLite) Python encodes ORM rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from qianbiao.projects.models import DatasetProject

from .ingest import CSV, JSON, JSONL
from .selectors import ACCEPTED, RESULT_FIELDS, results_copy, results_rows

CONTENT_TYPES = {
    JSON: "application/json",
    JSONL: "application/x-ndjson",
    CSV: "text/csv; charset=utf-8",
}
BATCH = 500
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
    if connection.vendor == "postgresql":
        lines = results_copy(project=project, since=since, until=until, as_json=fmt != CSV, status=status)
        return _copied(lines, fmt)
    return results_encode(results_rows(project=project, since=since, until=until, status=status), fmt)


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


_encode = DjangoJSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _objects(batch: list[tuple[Any, ...]]) -> Iterator[str]:
    for row in batch:
        yield _encode(dict(zip(RESULT_FIELDS, row, strict=True)))


def results_encode(rows: Iterable[tuple[Any, ...]], fmt: str) -> Iterator[bytes]:
    if fmt == JSONL:
        for batch in _batches(rows):
            yield ("\n".join(_objects(batch)) + "\n").encode()
    elif fmt == JSON:
        yield b"["
        first = True
        for batch in _batches(rows):
            yield (("" if first else ",") + ",".join(_objects(batch))).encode()
            first = False
        yield b"]\n"
    elif fmt == CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(RESULT_FIELDS)
        for batch in _batches(rows):
            for row in batch:
                external_id, label, method, agreement, used, decided_at, updated_at, confidence, status = row
                writer.writerow(
                    (
                        external_id,
                        json.dumps(label, ensure_ascii=False),
                        method,
                        "" if agreement is None else agreement,
                        used,
                        decided_at.isoformat(),
                        updated_at.isoformat(),
                        "" if confidence is None else confidence,
                        status,
                    )
                )
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()
    else:
        raise ValueError(fmt)
