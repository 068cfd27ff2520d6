"""The work page: throughput, lead time, quality, utilisation, idle people, starved work."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from qianbiao.programme.models import Facility

from ..access import project_manager_required
from ..panels import Kpi, Panel, lines_chart, pivot_table
from ..selectors import work as work_selectors
from ..selectors.headcount import snapshot_window
from ..tables import Column, Table
from .common import respond

Series = dict[str, dict[dt.date, Any]]


def _work_days(request: HttpRequest) -> int:
    try:
        days = int(request.GET.get("days", work_selectors.DEFAULT_WORK_DAYS))
    except ValueError:
        days = work_selectors.DEFAULT_WORK_DAYS
    return min(max(days, 7), 366)


def _points(series: dict[str, dict]) -> dict[str, list]:
    return {name: sorted(values.items()) for name, values in series.items()}


@dataclass(frozen=True)
class _Figures:
    """The window's per-day figures, keyed by display name for the charts."""

    by_project: dict[int, dict[dt.date, int]]
    project_name: dict[int, str]
    project_series: Series
    facility_series: Series
    lead_series: Series
    quality_series: Series
    quality_projects: dict[int, Any]


def _quality_series(quality_days: dict[dt.date, Any]) -> Series:
    return {
        _("Agreement"): {
            d: None if q.agreement is None else round(q.agreement * 100, 1) for d, q in quality_days.items()
        },
        _("Gold accuracy"): {
            d: None if q.gold_accuracy is None else round(q.gold_accuracy * 100, 1)
            for d, q in quality_days.items()
        },
    }


def _figures(work: work_selectors.WorkWindow) -> _Figures:
    by_project = work_selectors.items_per_day_by_project(work)
    by_facility = work_selectors.items_per_day_by_facility(work)
    lead = work_selectors.lead_time_by_project(work)
    quality_days = work_selectors.quality_by_day(work)
    quality_projects = work_selectors.quality_by_project(work)
    project_name = work_selectors.project_names([*by_project, *lead, *quality_projects])
    facility_name = dict(Facility.objects.filter(pk__in=by_facility).values_list("pk", "name"))
    return _Figures(
        by_project=by_project,
        project_name=project_name,
        project_series={project_name.get(p, str(p)): d for p, d in by_project.items()},
        facility_series={facility_name.get(f, str(f)): d for f, d in by_facility.items()},
        lead_series={project_name.get(p, str(p)): d for p, d in lead.items()},
        quality_series=_quality_series(quality_days),
        quality_projects=quality_projects,
    )


def _throughput_panels(days: list[dt.date], figures: _Figures) -> list[Panel]:
    project_series, facility_series = figures.project_series, figures.facility_series
    busiest = sorted(facility_series, key=lambda n: -sum(facility_series[n].values()))[:10]
    return [
        Panel(
            key="items-project",
            title=_("Items annotated per day, by project"),
            chart=lines_chart(_points(project_series), y_name=_("Items"), stack=True),
            tables=[
                pivot_table("items-project", _("Items annotated per day"), days=days, series=project_series)
            ],
            wide=True,
        ),
        Panel(
            key="items-facility",
            title=_("Items annotated per day, by facility"),
            chart=lines_chart(_points({n: facility_series[n] for n in busiest}), y_name=_("Items")),
            tables=[
                pivot_table("items-facility", _("Items annotated per day"), days=days, series=facility_series)
            ],
            wide=True,
            note=_("The chart shows the ten busiest facilities; the table has all of them."),
        ),
    ]


def _lead_time_panel(days: list[dt.date], figures: _Figures) -> Panel:
    return Panel(
        key="lead-time",
        title=_("Median lead time per item (seconds)"),
        chart=lines_chart(_points(figures.lead_series), y_name=_("seconds")),
        tables=[
            pivot_table(
                "lead-time", _("Median lead time (s)"), days=days, series=figures.lead_series, kind="float"
            )
        ],
    )


def _quality_projects_table(figures: _Figures) -> Table:
    project_name = figures.project_name
    return Table(
        key="quality-projects",
        title=_("Per project"),
        columns=[
            Column("name", _("Project")),
            Column("results", _("Results decided"), "int"),
            Column("agreement", _("Agreement"), "pct"),
            Column("gold_checked", _("Gold answers checked"), "int"),
            Column("gold_accuracy", _("Gold accuracy"), "pct"),
        ],
        rows=[
            {
                "code": str(pid),
                "name": project_name.get(pid, str(pid)),
                "results": q.results,
                "agreement": None if q.agreement is None else q.agreement * 100,
                "gold_checked": q.gold_checked,
                "gold_accuracy": None if q.gold_accuracy is None else q.gold_accuracy * 100,
            }
            for pid, q in sorted(figures.quality_projects.items(), key=lambda kv: project_name.get(kv[0], ""))
        ],
    )


def _quality_panel(days: list[dt.date], figures: _Figures) -> Panel:
    return Panel(
        key="quality",
        title=_("Agreement and gold accuracy"),
        chart=lines_chart(_points(figures.quality_series), percent=True, y_name="%"),
        tables=[
            pivot_table("quality", _("Per day (%)"), days=days, series=figures.quality_series, kind="pct"),
            _quality_projects_table(figures),
        ],
        note=_("Gold accuracy: answers on gold items that quality control marked right."),
    )


def _utilisation_panel(utilisation: list) -> Panel:
    return Panel(
        key="utilisation",
        title=_("Seat utilisation (headcount / seats)"),
        chart={
            "type": "bars",
            "percent": True,
            "categories": [u.name for u in utilisation],
            "series": [{"name": _("Seat utilisation"), "data": [u.percentage for u in utilisation]}],
        },
        tables=[
            Table(
                key="utilisation",
                title=_("Seat utilisation"),
                columns=[
                    Column("name", _("Facility")),
                    Column("grade", _("Grade")),
                    Column("seats", _("Seats"), "int"),
                    Column("headcount", _("Headcount"), "int"),
                    Column("utilisation", _("Seat utilisation"), "pct"),
                ],
                rows=[
                    {
                        "code": u.code,
                        "name": u.name,
                        "grade": u.grade,
                        "seats": u.seats,
                        "headcount": u.headcount,
                        "utilisation": u.percentage,
                    }
                    for u in utilisation
                ],
                folded=len(utilisation) > 15,
            )
        ],
        wide=True,
    )


def _idle_panel(idle: list) -> Panel:
    return Panel(
        key="idle",
        title=_("Annotators with no open work"),
        tables=[
            Table(
                key="idle",
                title=_("Annotators with no open work"),
                columns=[
                    Column("name", _("Facility")),
                    Column("active", _("Active annotators"), "int"),
                    Column("idle", _("With no open work"), "int"),
                ],
                rows=[
                    {"code": r.code, "name": r.name, "active": r.active, "idle": r.idle}
                    for r in idle
                    if r.idle
                ],
            )
        ],
    )


def _starved_panel(starved: list) -> Panel:
    return Panel(
        key="starved",
        title=_("Work with no eligible annotators"),
        tables=[
            Table(
                key="starved",
                title=_("Projects with pending items but nobody eligible"),
                columns=[
                    Column("name", _("Project")),
                    Column("client", _("Client enterprise")),
                    Column("pending", _("Pending items"), "int"),
                    Column("requirement", _("Requires")),
                ],
                rows=[
                    {
                        "code": str(s.project_id),
                        "name": s.name,
                        "client": s.client,
                        "pending": s.pending_items,
                        "requirement": s.requirement,
                    }
                    for s in starved
                ],
            )
        ],
    )


def _kpis(days: list[dt.date], figures: _Figures, idle: list, starved: list) -> list[Kpi]:
    annotated = sum(sum(d.values()) for d in figures.by_project.values())
    idle_people = sum(r.idle for r in idle)
    return [
        Kpi(
            "items",
            _("Items annotated (%(days)d days)") % {"days": len(days)},
            annotated,
            f"{annotated:,}",
            "lead",
        ),
        Kpi("idle", _("Annotators with no open work"), idle_people, f"{idle_people:,}"),
        Kpi(
            "starved",
            _("Projects nobody can work on"),
            len(starved),
            f"{len(starved):,}",
            "bad" if starved else "",
        ),
    ]


@project_manager_required
def work(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    period = work_selectors.work_window(today=today, days=_work_days(request))
    days = period.days
    figures = _figures(period)

    window = snapshot_window()
    utilisation = work_selectors.seat_utilisation(day=window.today) if window else []
    idle = work_selectors.idle_annotators_by_facility()
    starved = work_selectors.projects_without_annotators()

    panels = [
        *_throughput_panels(days, figures),
        _lead_time_panel(days, figures),
        _quality_panel(days, figures),
        _utilisation_panel(utilisation),
        _idle_panel(idle),
        _starved_panel(starved),
    ]
    context = {
        "section": "work",
        "title": _("Work"),
        "kpis": _kpis(days, figures, idle, starved),
        "panels": panels,
        "days": len(days),
        "day_choices": (7, 30, 90, 365),
    }
    return respond(request, "dashboards/work.html", context, page="work")
