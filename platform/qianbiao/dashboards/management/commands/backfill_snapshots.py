"""``manage.py backfill_snapshots --from 2026-01-01 --to 2026-12-31 [--only headcount|work]``

Recomputes the dashboards' daily snapshots for a range of days from the
employment history (headcount) and the annotations (work). Idempotent: the
rows of those days are replaced. Headcount for a whole year is a handful of
grouped queries, not one per day; work is one grouped query per figure.
"""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from qianbiao.dashboards.snapshots import headcount_snapshots_take, work_snapshots_take


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = "Back-fill the dashboards' daily headcount and work snapshots for a range of days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from", dest="first_day", type=_day, required=True, help="first day (YYYY-MM-DD)"
        )
        parser.add_argument(
            "--to", dest="last_day", type=_day, default=None, help="last day (YYYY-MM-DD); default today"
        )
        parser.add_argument("--only", choices=("headcount", "work"), default=None)

    def handle(
        self, *args, first_day: dt.date, last_day: dt.date | None, only: str | None, **options
    ) -> None:
        last_day = last_day or timezone.localdate()
        if last_day < first_day:
            raise CommandError("--to is before --from")
        days = (last_day - first_day).days + 1
        if only in (None, "headcount"):
            started = time.monotonic()
            rows = headcount_snapshots_take(first_day=first_day, last_day=last_day)
            self.stdout.write(
                f"headcount: {rows} rows for {days} days ({first_day}..{last_day}) "
                f"in {time.monotonic() - started:.1f}s"
            )
        if only in (None, "work"):
            started = time.monotonic()
            rows = work_snapshots_take(first_day=first_day, last_day=last_day)
            self.stdout.write(f"work: {rows} rows for {days} days in {time.monotonic() - started:.1f}s")
