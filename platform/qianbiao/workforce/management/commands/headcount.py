"""``manage.py headcount --date 2026-12-31 [--scope region] [--json]``"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from qianbiao.programme.models import TargetScope
from qianbiao.workforce.headcount import SCOPES, HeadcountRow, attainment, headcount_by_scope


def _width(text: str) -> int:
    # Chinese characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(width - _width(text), 0)
    return fill + text if right else text + fill


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def render_table(rows: list[HeadcountRow], *, day: dt.date, scope: str) -> str:
    header = [_("Code"), _("Name"), _("Headcount"), _("Target"), _("Attainment")]
    body = [[r.code, r.name, _number(r.headcount), _number(r.target), _percent(r.percentage)] for r in rows]
    if scope != TargetScope.PROVINCE and rows:
        # Units without a target count toward the headcount total but not the
        # target total, so the total's attainment is only shown when all have one.
        headcount = sum(r.headcount for r in rows)
        targets = [r.target for r in rows if r.target]
        target = sum(targets) if len(targets) == len(rows) else None
        body.append(
            [
                "",
                _("Total"),
                _number(headcount),
                _number(target),
                _percent(attainment(headcount=headcount, target=target)),
            ]
        )
    widths = [max(_width(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = {2, 3, 4}

    def line(cells: list[str]) -> str:
        return "  ".join(_pad(c, widths[i], right=i in numeric) for i, c in enumerate(cells)).rstrip()

    title = _("Headcount on %(day)s by %(scope)s") % {
        "day": day.isoformat(),
        "scope": TargetScope(scope).label,
    }
    rule = "-" * _width(line(header))
    return "\n".join([title, line(header), rule, *(line(cells) for cells in body)])


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]
        # Translated when the parser is built: argparse cannot handle a lazy string.
        return _("Headcount of annotators on a day, against the year's target.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date", dest="day", metavar="YYYY-MM-DD", help=_("Day to count (default: today).")
        )
        # Validated in handle() rather than with argparse choices, so that a bad
        # value gives the same clear CommandError from call_command and the shell.
        parser.add_argument(
            "--scope",
            default=TargetScope.PROVINCE.value,
            help=_("One of: %(scopes)s (default: province).") % {"scopes": ", ".join(SCOPES)},
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help=_("Print JSON instead of a table.")
        )

    def handle(self, *args, day: str | None, scope: str, as_json: bool, **options) -> None:
        parsed = self._parse_day(day)
        if scope not in SCOPES:
            raise CommandError(
                _("Unknown scope %(scope)r: use one of %(scopes)s.")
                % {"scope": scope, "scopes": ", ".join(SCOPES)}
            )
        rows = headcount_by_scope(day=parsed, scope=scope)
        if as_json:
            data = [{"date": parsed.isoformat(), **row.as_dict()} for row in rows]
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(render_table(rows, day=parsed, scope=scope))

    @staticmethod
    def _parse_day(value: str | None) -> dt.date:
        if value is None:
            return timezone.localdate()
        try:
            return dt.datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            raise CommandError(
                _("Invalid date %(value)r: use YYYY-MM-DD, e.g. 2026-12-31.") % {"value": value}
            ) from None
