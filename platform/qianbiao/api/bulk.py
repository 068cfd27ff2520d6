"""The fast path for JSONL uploads on PostgreSQL: the body goes to the database
as it arrives, and the database parses, checks and inserts it.

1. Each chunk of complete lines is COPYed as-is (only COPY's own escapes added)
   into a temporary table, one line per row — no per-row Python at all.
2. One ``INSERT … SELECT`` parses each line as jsonb, checks it against a
   *conservative* version of ``item_row_clean`` and inserts it. A row that fails
   the check yields a NULL ``external_id``, so the NOT NULL constraint (or the
   unique one, for a repeated or existing id; or the jsonb cast, for bad JSON)
   stops the statement, and its savepoint rolls back.
3. Then — and whenever a chunk cannot go to COPY as-is (a NUL byte, invalid
   UTF-8, a very long line) — the upload goes through ``items_import`` after all:
   the lines already staged are read back (spooled to a temporary file), the rest
   of the body follows, and the ordinary checks name every bad row exactly.

So a clean upload costs about two COPYs' worth of database work and almost no
Python, and a bad one gets the same answer as from the ordinary path. The check
in step 2 may refuse more than ``item_row_clean`` (it then only costs the slow
path), never less, and what it accepts is stored exactly as ``items_import``
would store it.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from qianbiao.projects.items import MAX_EXTERNAL_ID, items_import
from qianbiao.projects.models import DatasetProject, Item, ItemState

from .ingest import JSONL, ParseReport, rows_parse

CHUNK = 1 << 18  # a line longer than this takes the ordinary path
LINES_TABLE = "item_upload_lines"
# Exactly the characters Python's str.strip() removes (str.isspace()), and those
# bytes.strip() removes (a line of nothing else is blank and skipped).
STRIP_CHARS = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
BLANK_CHARS = " \t\n\r\x0b\x0c"

# The subquery is fenced (OFFSET 0) so that each line is parsed once, not once
# per mention of ``doc``; ``seq`` keeps the upload's order in the new ids.
_INSERT = f"""
INSERT INTO {{items}} (project_id, external_id, data, is_gold, gold_answer, state, created_at)
SELECT %(project)s,
       CASE WHEN jsonb_typeof(doc) = 'object'
             AND doc - 'external_id' - 'data' - 'is_gold' - 'gold_answer' = '{{{{}}}}'::jsonb
             AND jsonb_typeof(doc -> 'external_id') = 'string'
             AND char_length(doc ->> 'external_id') BETWEEN 1 AND {MAX_EXTERNAL_ID}
             AND btrim(doc ->> 'external_id', %(strip)s) = (doc ->> 'external_id')
             AND jsonb_typeof(doc -> 'data') = 'object' AND doc -> 'data' <> '{{{{}}}}'::jsonb
             AND coalesce(jsonb_typeof(doc -> 'is_gold'), 'boolean') = 'boolean'
             AND (coalesce((doc ->> 'is_gold')::boolean, false) = false
                  OR coalesce(jsonb_typeof(doc -> 'gold_answer'), 'null') <> 'null')
            THEN doc ->> 'external_id' END,
       doc -> 'data',
       coalesce((doc ->> 'is_gold')::boolean, false),
       CASE WHEN jsonb_typeof(doc -> 'gold_answer') = 'null' THEN NULL ELSE doc -> 'gold_answer' END,
       %(state)s, %(now)s
FROM (SELECT seq, line::jsonb AS doc FROM {LINES_TABLE}
      WHERE btrim(line, %(blank)s) <> '' ORDER BY seq OFFSET 0) AS parsed
"""


def _escaped(lines: bytes) -> bytes:
    """Lines as COPY text format reads them back unchanged (one column)."""
    return lines.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\r", b"\\r")


def _copy_safe(lines: bytes) -> bool:
    if b"\x00" in lines:
        return False
    if lines.isascii():
        return True
    try:
        lines.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Chain(io.RawIOBase):
    """Several readers as one raw stream."""

    def __init__(self, *readers: Any):
        super().__init__()
        self.readers = list(readers)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.readers:
            data = self.readers[0].read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self.readers.pop(0)
        return 0


def _spool_staged() -> Any:
    """The staged lines, in order, as a temporary file of JSONL."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    with connection.connection.cursor(name="item_upload_lines_read") as lines:
        lines.itersize = 5000
        lines.execute(f"SELECT line FROM {LINES_TABLE} ORDER BY seq")
        for (line,) in lines:
            spool.write(line.encode() + b"\n")
    spool.seek(0)
    return spool


@transaction.atomic
def jsonl_import_postgresql(*, project: DatasetProject, body: io.RawIOBase, report: ParseReport) -> int:
    """Import a JSONL body (a BoundedBody); same contract as ``items_import``."""
    reader = io.BufferedReader(body, buffer_size=CHUNK)
    pending = b""  # what COPY could not take as-is: the ordinary path takes it
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{LINES_TABLE}")
        cursor.execute(
            f"CREATE TEMP TABLE {LINES_TABLE} (seq bigint GENERATED ALWAYS AS IDENTITY, line text) "
            "ON COMMIT DROP"
        )
        carry = b""
        with cursor.cursor.copy(f"COPY {LINES_TABLE} (line) FROM STDIN") as copy:
            while True:
                chunk = reader.read(CHUNK)
                if not chunk:
                    if carry and _copy_safe(carry):
                        copy.write(_escaped(carry) + b"\n")
                    elif carry:
                        pending = carry
                    break
                block = carry + chunk
                cut = block.rfind(b"\n") + 1
                lines, carry = block[:cut], block[cut:]
                if len(carry) > CHUNK or not _copy_safe(lines):
                    pending = lines + carry
                    break
                copy.write(_escaped(lines))

        if not pending:
            try:
                with transaction.atomic():
                    cursor.execute(
                        _INSERT.format(items=Item._meta.db_table),
                        {
                            "project": project.pk,
                            "state": ItemState.PENDING,
                            "now": timezone.now(),
                            "strip": STRIP_CHARS,
                            "blank": BLANK_CHARS,
                        },
                    )
                    imported = cursor.rowcount
                cursor.execute(f"DROP TABLE pg_temp.{LINES_TABLE}")
                return imported
            except DatabaseError:
                pass  # a row the check refused, bad JSON, or a repeated id: see which below

        spool = _spool_staged()
        cursor.execute(f"DROP TABLE pg_temp.{LINES_TABLE}")
    with spool:
        rest = _Chain(spool, io.BytesIO(pending), reader)
        return items_import(project=project, rows=_rows(rest, report))


def _rows(stream: io.RawIOBase, report: ParseReport) -> Iterator[Any]:
    return rows_parse(body=stream, fmt=JSONL, report=report)
