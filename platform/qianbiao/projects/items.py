"""Bulk import of a project's items: atomic, row-checked, at close to COPY speed.

Rows stream into a temporary staging table with COPY so that memory
stays flat whatever the upload size; duplicates are found by set-based SQL; and
one INSERT … SELECT moves the batch into place. Any bad row rolls back the whole
transaction, so a batch is either imported whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .models import DatasetProject, Item, ItemState

MAX_EXTERNAL_ID = 200
MAX_REPORTED_ERRORS = 1000


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


class ItemImportRejected(Exception):
    def __init__(self, errors: list[RowError], *, truncated: bool = False):
        self.errors = errors
        self.truncated = truncated
        super().__init__(f"{len(errors)} bad row(s); nothing imported")


@dataclass(frozen=True)
class CleanRow:
    row: int
    external_id: str
    data_json: str
    is_gold: bool
    gold_answer_json: str | None


def item_row_clean(*, row: int, raw: Any) -> tuple[CleanRow | None, list[RowError]]:
    """Check one row; rows are numbered from 1 in the order the client sent them."""
    if not isinstance(raw, Mapping):
        return None, [RowError(row, "row", "must be an object")]
    errors: list[RowError] = []
    external_id = raw.get("external_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip():
        errors.append(RowError(row, "external_id", "required, a non-empty string"))
    elif len(external_id) > MAX_EXTERNAL_ID:
        errors.append(RowError(row, "external_id", f"at most {MAX_EXTERNAL_ID} characters"))
    data = raw.get("data")
    if not isinstance(data, Mapping) or not data:
        errors.append(RowError(row, "data", "required, a non-empty object"))
    is_gold = raw.get("is_gold", False)
    if not isinstance(is_gold, bool):
        errors.append(RowError(row, "is_gold", "must be true or false"))
    gold_answer = raw.get("gold_answer")
    if is_gold is True and gold_answer is None:
        errors.append(RowError(row, "gold_answer", "required for a gold item"))
    unknown = set(raw) - {"external_id", "data", "is_gold", "gold_answer"}
    if unknown:
        errors.append(RowError(row, sorted(unknown)[0], "unknown field"))
    if errors:
        return None, errors
    return (
        CleanRow(
            row=row,
            external_id=external_id.strip(),
            data_json=json.dumps(data, ensure_ascii=False),
            is_gold=bool(is_gold),
            gold_answer_json=None if gold_answer is None else json.dumps(gold_answer, ensure_ascii=False),
        ),
        [],
    )


def _clean_rows(rows: Iterable[Any], errors: list[RowError]) -> Iterator[CleanRow]:
    for number, raw in enumerate(rows, start=1):
        clean, row_errors = item_row_clean(row=number, raw=raw)
        if row_errors:
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.extend(row_errors)
            continue
        assert clean is not None
        yield clean


@transaction.atomic
def items_import(*, project: DatasetProject, rows: Iterable[Any]) -> int:
    """Import rows (mappings with external_id, data, is_gold, gold_answer) into
    ``project``. Returns the number imported; raises ItemImportRejected naming
    every bad row (up to a limit) and imports nothing if any row is bad."""
    errors: list[RowError] = []
    count = _import_postgresql(project, _clean_rows(rows, errors), errors)
    if errors:
        transaction.set_rollback(True)
        errors.sort(key=lambda e: e.row)
        raise ItemImportRejected(errors[:MAX_REPORTED_ERRORS], truncated=len(errors) > MAX_REPORTED_ERRORS)
    return count


def _import_postgresql(project: DatasetProject, rows: Iterator[CleanRow], errors: list[RowError]) -> int:
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        # ON COMMIT DROP alone is not enough when several imports share one outer transaction.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.item_staging")
        cursor.execute(
            "CREATE TEMP TABLE item_staging (row_no integer, external_id text, data jsonb, "
            "is_gold boolean, gold_answer jsonb) ON COMMIT DROP"
        )
        raw_cursor = cursor.cursor  # psycopg 3 cursor: COPY needs it directly
        with raw_cursor.copy(
            "COPY item_staging (row_no, external_id, data, is_gold, gold_answer) FROM STDIN"
        ) as copy:
            for r in rows:
                copy.write_row((r.row, r.external_id, r.data_json, r.is_gold, r.gold_answer_json))
        cursor.execute(
            "SELECT s.row_no, s.external_id FROM item_staging s JOIN ("
            "  SELECT external_id, min(row_no) AS first_row FROM item_staging"
            "  GROUP BY external_id HAVING count(*) > 1"
            ") d USING (external_id) WHERE s.row_no <> d.first_row ORDER BY s.row_no LIMIT %s",
            [MAX_REPORTED_ERRORS],
        )
        for row_no, external_id in cursor.fetchall():
            errors.append(RowError(row_no, "external_id", f"{external_id!r} repeats an earlier row"))
        cursor.execute(
            f"SELECT s.row_no, s.external_id FROM item_staging s JOIN {table} i "
            "ON i.project_id = %s AND i.external_id = s.external_id ORDER BY s.row_no LIMIT %s",
            [project.pk, MAX_REPORTED_ERRORS],
        )
        for row_no, external_id in cursor.fetchall():
            errors.append(RowError(row_no, "external_id", f"{external_id!r} was imported before"))
        if errors:
            return 0
        cursor.execute(
            f"INSERT INTO {table} (project_id, external_id, data, is_gold, gold_answer, state, created_at) "
            "SELECT %s, external_id, data, is_gold, gold_answer, %s, %s FROM item_staging ORDER BY row_no",
            [project.pk, ItemState.PENDING, timezone.now()],
        )
        return cursor.rowcount
