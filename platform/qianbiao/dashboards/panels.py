"""Building blocks of the dashboard pages: a panel is a chart (data for
``dashboards.js``) with the table of its numbers under it; KPI tiles are the
large figures read from across a room."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from .forecast import Forecast
from .selectors.headcount import SnapshotWindow, UnitFigure
from .tables import Column, Table

# 贵安新区 has no polygon of its own in the prefecture GeoJSON (it lies across
# 贵阳 and 安顺): it is drawn as a marker at roughly its centre.
MAP_POINTS: dict[str, tuple[float, float]] = {"520900": (106.26, 26.40)}


@dataclass
class Panel:
    key: str
    title: str
    chart: dict[str, Any] | None = None
    tables: list[Table] = field(default_factory=list)
    wide: bool = False
    note: str = ""
    # Filled by the view: (table, html) pairs.
    rendered: list[Any] = field(default_factory=list)

    @property
    def chart_id(self) -> str:
        return f"chart-{self.key}"


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: Any  # raw value, for data-value (and the tests)
    display: str
    css: str = ""
    hint: str = ""


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _gap_kpis(figure: UnitFigure) -> list[Kpi]:
    gap = figure.gap or 0
    return [
        Kpi(
            "gap",
            _("Still to hire") if gap > 0 else _("Above target by"),
            gap,
            _number(abs(gap)),
            "warn" if gap > 0 else "good",
        ),
        Kpi(
            "attainment",
            _("Attainment"),
            figure.attainment,
            "—" if figure.attainment is None else f"{figure.attainment:.1f}%",
        ),
    ]


def _seat_kpis(figure: UnitFigure) -> list[Kpi]:
    return [
        Kpi("seats", _("Seats"), figure.unit.extra["seats"], _number(figure.unit.extra["seats"])),
        Kpi(
            "utilisation",
            _("Seat utilisation"),
            figure.utilisation,
            "—" if figure.utilisation is None else f"{figure.utilisation:.1f}%",
        ),
    ]


def _year_end_kpi(f: Forecast) -> Kpi:
    return Kpi(
        "year_end",
        _("Expected on 31 Dec"),
        f.year_end,
        _number(f.year_end),
        hint=_("at the net hiring rate of the last %(days)d days") % {"days": f.window_days}
        if f.window_days
        else _("no history yet to measure a hiring rate"),
    )


def _status_kpis(f: Forecast) -> list[Kpi]:
    if f.reached:
        status, css = _("Target reached"), "good"
    elif f.on_track:
        status, css = _("On track"), "good"
    else:
        status, css = _("Behind"), "bad"
    return [
        Kpi("on_track", _("Status"), f.on_track, status, f"{css} text"),
        Kpi(
            "reach_on",
            _("Target reached on"),
            f.reach_on.isoformat() if f.reach_on else None,
            f.reach_on.isoformat()
            if f.reach_on
            else (_("already reached") if f.reached else _("not at the current rate")),
            "text",
        ),
    ]


def _net_per_month_kpi(f: Forecast) -> Kpi:
    return Kpi(
        "net_per_month",
        _("Net hires per 30 days"),
        f.net_per_month,
        f"{f.net_per_month:+,.1f}",
        hint=_("over the last %(days)d days") % {"days": f.window_days},
    )


def unit_kpis(figure: UnitFigure, window: SnapshotWindow) -> list[Kpi]:
    """The tiles of a unit's page, in reading order; the target's tiles only
    where the unit has a target, the seats' only where it has seats."""
    f = figure.forecast
    kpis = [
        Kpi("headcount", _("Headcount today"), figure.headcount, _number(figure.headcount), "lead"),
        Kpi(
            "target",
            _("Target %(year)d") % {"year": window.today.year},
            figure.target,
            _number(figure.target),
        ),
    ]
    if figure.target is not None:
        kpis += _gap_kpis(figure)
    if "seats" in figure.unit.extra:
        kpis += _seat_kpis(figure)
    kpis.append(_year_end_kpi(f))
    if figure.target is not None:
        kpis += _status_kpis(f)
    if f.net_per_month is not None:
        kpis.append(_net_per_month_kpi(f))
    return kpis


def figure_columns(*, targets: bool = True, seats: bool = False, region: bool = False, grade: bool = False):
    columns = [Column("name", _("Name"))]
    if region:
        columns.append(Column("region", _("Prefecture")))
    if grade:
        columns.append(Column("grade", _("Grade")))
    columns.append(Column("headcount", _("Headcount"), "int"))
    if targets:
        columns += [
            Column("target", _("Target"), "int"),
            Column("gap", _("Gap"), "int"),
            Column("attainment", _("Attainment"), "pct"),
        ]
    if seats:
        columns += [Column("seats", _("Seats"), "int"), Column("utilisation", _("Seat utilisation"), "pct")]
    columns += [
        Column("year_start", _("At start of year"), "int"),
        Column("change", _("Change this year"), "int"),
        Column("net_per_month", _("Net hires per 30 days"), "float"),
        Column("year_end", _("Expected on 31 Dec"), "int"),
    ]
    if targets:
        columns += [
            Column("on_track", _("On track"), "bool"),
            Column("reach_on", _("Target reached on"), "date"),
        ]
    return columns


def figures_table(key: str, title: str, figures: list[UnitFigure], **columns: bool) -> Table:
    return Table(
        key=key,
        title=title,
        columns=figure_columns(**columns),
        rows=[figure.as_row() for figure in figures],
        link_column="name",
    )


def trend_panel(
    key: str, title: str, *, trend: list[tuple[dt.date, int]], figure: UnitFigure, window: SnapshotWindow
) -> Panel:
    """Daily headcount since the start of the year, the target as a line, and
    the forecast as a dashed line to 31 December."""
    f = figure.forecast
    year_end = dt.date(window.today.year, 12, 31)
    chart = {
        "type": "trend",
        "series": [{"name": _("Headcount"), "data": [[d.isoformat(), v] for d, v in trend]}],
        "target": figure.target,
        "targetLabel": _("Target"),
        "forecast": [[window.today.isoformat(), figure.headcount], [year_end.isoformat(), f.year_end]]
        if f.net_per_day is not None
        else None,
        "forecastLabel": _("Forecast"),
        "xMax": year_end.isoformat(),
    }
    table = Table(
        key=key,
        title=title,
        columns=[Column("day", _("Day"), "date"), Column("headcount", _("Headcount"), "int")],
        rows=[{"day": d, "headcount": v} for d, v in trend],
        folded=True,
    )
    return Panel(key=key, title=title, chart=chart, tables=[table], wide=True)


def bars_chart(figures: list[UnitFigure], *, targets: bool = True, seats: bool = False) -> dict[str, Any]:
    series = [{"name": _("Headcount"), "data": [f.headcount for f in figures]}]
    if targets and any(f.target for f in figures):
        series.append({"name": _("Target"), "data": [f.target for f in figures]})
    if seats:
        series.append({"name": _("Seats"), "data": [f.unit.extra.get("seats") for f in figures]})
    return {"type": "bars", "categories": [f.name for f in figures], "series": series}


def lines_chart(
    series: dict[str, list[tuple[dt.date, float | int | None]]],
    *,
    percent: bool = False,
    y_name: str = "",
    stack: bool = False,
) -> dict[str, Any]:
    return {
        "type": "lines",
        "percent": percent,
        "yName": y_name,
        "stack": stack,
        "series": [
            {"name": name, "data": [[d.isoformat(), v] for d, v in points]} for name, points in series.items()
        ],
    }


def map_chart(figures: list[UnitFigure], *, geo_url: str) -> dict[str, Any]:
    regions = []
    for f in figures:
        regions.append(
            {
                "name": f.name,
                "short": f.unit.extra.get("short_name", f.name),
                "code": f.code,
                "value": f.attainment,
                "headcount": f.headcount,
                "target": f.target,
                "url": f.unit.url,
                "coord": MAP_POINTS.get(f.code),
            }
        )
    return {
        "type": "map",
        "geoUrl": geo_url,
        "regions": regions,
        "labels": {
            "attainment": _("Attainment"),
            "headcount": _("Headcount"),
            "target": _("Target"),
            "noTarget": _("no target"),
        },
        "pieces": [
            {"gte": 100, "label": "≥ 100%", "color": "#1a9850"},
            {"gte": 80, "lt": 100, "label": "80–100%", "color": "#a6d96a"},
            {"gte": 50, "lt": 80, "label": "50–80%", "color": "#fdae61"},
            {"lt": 50, "label": "< 50%", "color": "#d73027"},
        ],
    }


def pivot_table(
    key: str,
    title: str,
    *,
    days: list[dt.date],
    series: dict[str, dict[dt.date, Any]],
    kind: str = "int",
    folded: bool = True,
) -> Table:
    """Days down, one column per series: the table under a multi-line chart."""
    names = list(series)
    columns = [Column("day", _("Day"), "date")] + [
        Column(f"s{i}", name, kind) for i, name in enumerate(names)
    ]
    rows = [{"day": d, **{f"s{i}": series[name].get(d) for i, name in enumerate(names)}} for d in days]
    return Table(key=key, title=title, columns=columns, rows=rows, folded=folded)
