"""Streaming parsers for item uploads: JSON, JSONL and CSV, row by row.

The request body is read in chunks through ``BoundedBody`` (which also hashes
it and enforces the size limit), so an upload of any size is parsed in
constant memory and handed row by row to ``items_import``, which streams the rows
into PostgreSQL with COPY.

A row that cannot even be parsed is passed on as an ``Unparsable`` marker: the
import then counts it as a bad row (so numbering stays right and nothing is
imported) and ``rows_errors_merge`` puts the parser's reason in the report.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ijson

from qianbiao.projects.items import MAX_REPORTED_ERRORS, RowError

JSON = "json"
JSONL = "jsonl"
CSV = "csv"

MEDIA_TYPES = {
    "application/json": JSON,
    "application/x-ndjson": JSONL,
    "application/jsonl": JSONL,
    "application/x-jsonlines": JSONL,
    "text/csv": CSV,
}

MAX_ROW_BYTES = 1 << 20  # one JSONL line or CSV record
READ_CHUNK = 1 << 16
CSV_COLUMNS = ("external_id", "is_gold", "gold_answer")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"", "false", "0", "no", "n", "f"}


class BodyTooLarge(Exception):
    pass


class BoundedBody(io.RawIOBase):
    """A raw, read-only view of a request body that counts (and optionally
    hashes) what passes through it and stops past ``limit`` bytes."""

    def __init__(self, read: Callable[[int], bytes], *, limit: int, digest: Any = None):
        super().__init__()
        self._read = read
        self.limit = limit
        self.digest = digest
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._read(len(buffer))
        n = len(chunk)
        if not n:
            return 0
        self.total += n
        if self.total > self.limit:
            raise BodyTooLarge(self.total)
        if self.digest is not None:
            self.digest.update(chunk)
        buffer[:n] = chunk
        return n

    def drain(self) -> int:
        """Read (and hash) the rest of the body without keeping it."""
        buffer = bytearray(READ_CHUNK)
        while self.readinto(buffer):
            pass
        return self.total


@dataclass(frozen=True)
class Unparsable:
    field: str
    message: str


@dataclass
class ParseReport:
    """Reasons for rows the parser could not read, by row number (bounded)."""

    bad: dict[int, Unparsable] = field(default_factory=dict)

    def mark(self, row: int, field_name: str, message: str) -> Unparsable:
        marker = Unparsable(field_name, message)
        if len(self.bad) < MAX_REPORTED_ERRORS:
            self.bad[row] = marker
        return marker


def rows_errors_merge(errors: list[RowError], report: ParseReport) -> list[dict[str, Any]]:
    """The import's row errors with each unparsable row's own reason."""
    merged: list[dict[str, Any]] = []
    for error in errors:
        marker = report.bad.get(error.row)
        if marker is not None and error.field == "row":
            merged.append({"row": error.row, "field": marker.field, "message": marker.message})
        else:
            merged.append(error.as_dict())
    return merged


def rows_parse(*, body: io.RawIOBase, fmt: str, report: ParseReport) -> Iterator[Any]:
    reader = io.BufferedReader(body, buffer_size=READ_CHUNK)
    if fmt == JSONL:
        return _jsonl_rows(reader, report)
    if fmt == CSV:
        return _csv_rows(reader, report)
    if fmt == JSON:
        return _json_rows(reader, report)
    raise ValueError(f"unknown format {fmt!r}")


def _jsonl_rows(reader: io.BufferedReader, report: ParseReport) -> Iterator[Any]:
    row = 0
    while True:
        line = reader.readline(MAX_ROW_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
            row += 1
            yield report.mark(row, "row", f"longer than {MAX_ROW_BYTES} bytes")
            while line and not line.endswith(b"\n"):  # skip the rest of it
                line = reader.readline(READ_CHUNK)
            continue
        if not line.strip():
            continue  # blank lines carry no row
        row += 1
        try:
            yield json.loads(line, parse_constant=_not_json)
        except (ValueError, UnicodeDecodeError) as exc:
            yield report.mark(row, "row", f"not valid JSON: {exc}")


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


class _Prepended:
    """A reader that yields ``head`` before the rest of ``reader``."""

    def __init__(self, head: bytes, reader: io.BufferedReader):
        self._head = head
        self._reader = reader

    def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson probes with read(0) for bytes or text
            return b""
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._reader.read(n)


def _json_rows(reader: io.BufferedReader, report: ParseReport) -> Iterator[Any]:
    first = reader.read(1)
    if first == b"\xef":  # UTF-8 byte-order mark
        reader.read(2)
        first = reader.read(1)
    while first and first in b" \t\r\n":
        first = reader.read(1)
    if first == b"[":
        prefix = "item"
    elif first == b"{":
        prefix = "items.item"
    else:
        yield report.mark(1, "body", "expected a JSON array of items or an object with an 'items' array")
        return
    row = 0
    try:
        for item in ijson.items(_Prepended(first, reader), prefix, use_float=True):
            row += 1
            yield item
    except ijson.JSONError as exc:
        yield report.mark(row + 1, "body", f"not valid JSON after row {row}: {exc}")
    except UnicodeDecodeError as exc:
        yield report.mark(row + 1, "body", f"not valid UTF-8 after row {row}: {exc}")


def _csv_bool(value: str) -> Any:
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    return value  # the import reports it as "must be true or false"


def _csv_rows(reader: io.BufferedReader, report: ParseReport) -> Iterator[Any]:
    text = io.TextIOWrapper(reader, encoding="utf-8-sig", newline="")
    records = csv.reader(text)
    row = 0
    try:
        header = next(records, None)
        if header is None:
            return
        header = [name.strip() for name in header]
        if "external_id" not in header:
            yield report.mark(1, "body", "the CSV header must name an external_id column")
            return
        if len(set(header)) != len(header) or "" in header:
            yield report.mark(1, "body", "the CSV header has empty or repeated column names")
            return
        width = len(header)
        for record in records:
            if not record:
                continue
            row += 1
            if len(record) != width:
                yield report.mark(row, "row", f"has {len(record)} fields, the header has {width}")
                continue
            values = dict(zip(header, record, strict=True))
            item: dict[str, Any] = {"external_id": values.pop("external_id")}
            if "is_gold" in values:
                item["is_gold"] = _csv_bool(values.pop("is_gold"))
            if "gold_answer" in values:
                answer = values.pop("gold_answer")
                if answer.strip():
                    try:
                        item["gold_answer"] = json.loads(answer)
                    except ValueError:
                        yield report.mark(row, "gold_answer", "not valid JSON")
                        continue
            item["data"] = values
            yield item
    except csv.Error as exc:
        yield report.mark(row + 1, "body", f"not valid CSV after row {row}: {exc}")
    except UnicodeDecodeError as exc:
        yield report.mark(row + 1, "body", f"not valid UTF-8 after row {row}: {exc}")
