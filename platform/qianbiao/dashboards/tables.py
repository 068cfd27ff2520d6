"""The numbers behind every chart: one table object renders as an HTML table
under the chart and as the CSV its download link returns, so the two can never
disagree."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from html import escape
from typing import Any

from django.http import HttpResponse
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # int, float (one decimal), pct (a percentage, one decimal), date, text, bool
    kind: str = "text"

    @property
    def numeric(self) -> bool:
        return self.kind in {"int", "float", "pct"}


@dataclass
class Table:
    key: str  # unique on its page; also the ?csv= value
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    # Column key whose cell links to the row's "url" (drill-down).
    link_column: str | None = None
    # Long tables (daily series) start folded; still one click away.
    folded: bool = False
    note: str = ""


def csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    if kind in {"float", "pct"} and isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table_csv_response(table: Table, *, page: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"{slugify(page) or 'dashboard'}-{table.key}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # a BOM, so that Excel reads the Chinese names as UTF-8
    writer = csv.writer(response)
    writer.writerow([str(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_value(row.get(c.key), c.kind) for c in table.columns])
    return response


def display_value(value: Any, kind: str) -> str:
    """How a cell reads on the page (the CSV keeps full precision)."""
    if value is None:
        return "—"
    if kind == "bool":
        return "✓" if value else "✗"
    if isinstance(value, dt.date):
        return value.isoformat()
    if kind == "int" and isinstance(value, int | float):
        return f"{round(value):,}"
    if kind == "float" and isinstance(value, int | float):
        return f"{value:,.1f}"
    if kind == "pct" and isinstance(value, int | float):
        return f"{value:.1f}%"
    return str(value)


def _cell(table: Table, column: Column, row: dict[str, Any]) -> str:
    value = row.get(column.key)
    text = escape(display_value(value, column.kind))
    if column.key == table.link_column and row.get("url"):
        text = f'<a href="{escape(row["url"])}">{text}</a>'
    css = "num" if column.numeric else "txt"
    if column.kind == "bool" and value is not None:
        css += " yes" if value else " no"
    raw = escape(value if isinstance(value, str) else csv_value(value, column.kind))
    return f'<td class="{css}" data-col="{column.key}" data-value="{raw}">{text}</td>'


def table_grid_html(table: Table, *, empty: str = "—") -> str:
    """The <table> alone. Built in Python with the standard library's escape
    rather than a template loop: a page holds thousands of cells, and this is
    an order of magnitude faster."""
    head = "".join(
        f'<th class="{"num" if c.numeric else "txt"}" scope="col">{escape(str(c.label))}</th>'
        for c in table.columns
    )
    body = "".join(
        f'<tr data-code="{escape(str(row.get("code", "")))}">'
        + "".join(_cell(table, c, row) for c in table.columns)
        + "</tr>"
        for row in table.rows
    )
    if not table.rows:
        body = f'<tr class="none"><td colspan="{len(table.columns)}">{escape(str(empty))}</td></tr>'
    key = escape(table.key)
    return (
        f'<div class="table-scroll"><table class="numbers" id="table-{key}" data-table="{key}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def table_html(
    table: Table, *, csv_url: str, fragment_url: str, show_numbers: str, download: str, empty: str
) -> SafeString:
    """A table with its CSV link. A folded table (a daily series, a long list)
    is fetched from ``fragment_url`` when opened — one click, and pages stay
    light for the projector that reloads them all day."""
    note = f'<p class="note">{escape(str(table.note))}</p>' if table.note else ""
    link = (
        f'<a class="csv" href="{escape(csv_url)}" download data-csv="{escape(table.key)}">'
        f"{escape(str(download))}</a>"
    )
    if table.folded:
        return mark_safe(  # every value is escaped above
            f'<details class="numbers" data-fragment="{escape(fragment_url)}" data-for="{escape(table.key)}">'
            f"<summary>{escape(str(show_numbers))} · {escape(str(table.title))}</summary>"
            f'<div class="fragment"></div>{note}<p>{link}</p></details>'
        )
    return mark_safe(
        f"{table_grid_html(table, empty=empty)}{note}<p>{link}</p>"
    )  # every value is escaped above


def table_fragment_response(table: Table, *, empty: str) -> HttpResponse:
    return HttpResponse(table_grid_html(table, empty=empty), content_type="text/html; charset=utf-8")
