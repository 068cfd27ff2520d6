"""Headcount pages: province, prefecture, park, facility."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import gettext as _

from qianbiao.programme.models import Facility, Park, Region

from ..access import project_manager_required
from ..cache import cached_page
from ..models import SnapshotScope
from ..panels import (
    Panel,
    bars_chart,
    figures_table,
    lines_chart,
    map_chart,
    pivot_table,
    trend_panel,
    unit_kpis,
)
from ..selectors import work as work_selectors
from ..selectors.headcount import (
    SnapshotWindow,
    Unit,
    UnitFigure,
    breakdown_trends,
    figures_by_scope,
    snapshot_window,
    unit_figures,
    unit_trend,
    units_of,
)
from .common import no_snapshots, respond, snapshot_context

GEO_JSON = "dashboards/vendor/guizhou.json"


def _figure(window: SnapshotWindow, unit: Unit) -> UnitFigure:
    return unit_figures(window=window, units=[unit])[0]


def _breakdown_panel(
    scope: str, title: str, figures: list[UnitFigure], trends: dict[str, list], *, only_staffed: bool = False
) -> Panel:
    if only_staffed:
        figures = [f for f in figures if f.headcount or f.year_start_headcount]
    names = {f.code: f.name for f in figures}
    series = {names[code]: points for code, points in trends.items() if code in names}
    days = sorted({d for points in series.values() for d, _v in points})
    return Panel(
        key=scope,
        title=title,
        chart=lines_chart(series, y_name=_("Headcount")),
        tables=[
            figures_table(scope, title, figures, targets=False),
            pivot_table(
                f"{scope}-weekly",
                _("Weekly headcount since the start of the year"),
                days=days,
                series={name: dict(points) for name, points in series.items()},
            ),
        ],
    )


BREAKDOWNS = [SnapshotScope.GRADE, SnapshotScope.SKILL, SnapshotScope.LANGUAGE]
PROVINCE_SCOPES = [SnapshotScope.PROVINCE, SnapshotScope.REGION, SnapshotScope.PARK, SnapshotScope.FACILITY]


def _province_breakdown_panels(figures: dict[str, list[UnitFigure]], trends: dict[str, dict]) -> list[Panel]:
    return [
        _breakdown_panel(
            SnapshotScope.GRADE, _("By facility grade"), figures[SnapshotScope.GRADE], trends["grade"]
        ),
        _breakdown_panel(SnapshotScope.SKILL, _("By skill"), figures[SnapshotScope.SKILL], trends["skill"]),
        _breakdown_panel(
            SnapshotScope.LANGUAGE,
            _("By language"),
            figures[SnapshotScope.LANGUAGE],
            trends["language"],
            only_staffed=True,
        ),
    ]


def _all_facilities_panel(facilities: list[UnitFigure]) -> Panel:
    table = figures_table("facilities", _("All facilities"), facilities, seats=True, region=True, grade=True)
    table.folded = True
    return Panel(key="facilities", title=_("All facilities"), tables=[table], wide=True)


def _province_panels(
    window: SnapshotWindow, figures: dict[str, list[UnitFigure]], trends: dict[str, dict]
) -> list[Panel]:
    figure = figures[SnapshotScope.PROVINCE][0]
    regions, parks = figures[SnapshotScope.REGION], figures[SnapshotScope.PARK]
    return [
        trend_panel(
            "trend",
            _("Headcount since the start of the year"),
            trend=trends[SnapshotScope.PROVINCE].get(figure.code, []),
            figure=figure,
            window=window,
        ),
        Panel(
            key="map",
            title=_("Prefectures: attainment of their targets"),
            chart=map_chart(regions, geo_url=static(GEO_JSON)),
            tables=[figures_table("regions", _("Prefectures"), regions)],
            wide=True,
            note=_("Click a prefecture on the map or in the table to see its parks and facilities."),
        ),
        Panel(
            key="parks",
            title=_("Parks"),
            chart=bars_chart(parks),
            tables=[figures_table("parks", _("Parks"), parks, region=True)],
            wide=True,
        ),
        *_province_breakdown_panels(figures, trends),
        _all_facilities_panel(figures[SnapshotScope.FACILITY]),
    ]


@project_manager_required
@cached_page
def province(request: HttpRequest) -> HttpResponse:
    window = snapshot_window()
    if window is None:
        return no_snapshots(request)
    units = {scope: units_of(scope) for scope in PROVINCE_SCOPES + BREAKDOWNS}
    figures = figures_by_scope(window=window, units=units)
    figure = figures[SnapshotScope.PROVINCE][0]
    trends = breakdown_trends(window=window, scopes=BREAKDOWNS, daily=(figure.unit.scope, figure.code))
    context = {
        **snapshot_context(window),
        "section": "headcount",
        "title": figure.name,
        "crumbs": [],
        "kpis": unit_kpis(figure, window),
        "panels": _province_panels(window, figures, trends),
        "breakdown_note": _(
            "An annotator with several skills or languages counts once for each; "
            "skills, languages and facility grades are today's, also for past days."
        ),
    }
    return respond(request, "dashboards/unit.html", context, page="province")


def _unit_page(
    request: HttpRequest,
    *,
    window: SnapshotWindow,
    unit: Unit,
    crumbs: list[tuple[str, str]],
    panels: list[Panel],
    figure: UnitFigure,
) -> HttpResponse:
    trend = trend_panel(
        "trend",
        _("Headcount since the start of the year"),
        trend=unit_trend(window=window, scope=unit.scope, code=unit.code),
        figure=figure,
        window=window,
    )
    context = {
        **snapshot_context(window),
        "section": "headcount",
        "title": unit.name,
        "crumbs": crumbs,
        "kpis": unit_kpis(figure, window),
        "panels": [trend, *panels],
    }
    return respond(request, "dashboards/unit.html", context, page=f"{unit.scope}-{unit.code}")


def _province_crumb() -> tuple[str, str]:
    unit = units_of(SnapshotScope.PROVINCE)[0]
    return unit.name, unit.url or ""


def _facilities_panel(window: SnapshotWindow, **where: str) -> Panel:
    facilities = unit_figures(window=window, units=units_of(SnapshotScope.FACILITY, **where))
    return Panel(
        key="facilities",
        title=_("Facilities"),
        chart=bars_chart(facilities, seats=True),
        tables=[figures_table("facilities", _("Facilities"), facilities, seats=True, grade=True)],
        wide=True,
    )


@project_manager_required
@cached_page
def region(request: HttpRequest, code: str) -> HttpResponse:
    region = get_object_or_404(Region, code=code)
    window = snapshot_window()
    if window is None:
        return no_snapshots(request)
    unit = next(u for u in units_of(SnapshotScope.REGION) if u.code == region.code)
    parks = unit_figures(window=window, units=units_of(SnapshotScope.PARK, region=region.code))
    panels = []
    if parks:
        panels.append(
            Panel(
                key="parks",
                title=_("Parks"),
                chart=bars_chart(parks),
                tables=[figures_table("parks", _("Parks"), parks)],
                wide=True,
            )
        )
    panels.append(_facilities_panel(window, region=region.code))
    return _unit_page(
        request,
        window=window,
        unit=unit,
        crumbs=[_province_crumb()],
        panels=panels,
        figure=_figure(window, unit),
    )


@project_manager_required
@cached_page
def park(request: HttpRequest, code: str) -> HttpResponse:
    park = get_object_or_404(Park.objects.select_related("region"), code=code)
    window = snapshot_window()
    if window is None:
        return no_snapshots(request)
    unit = next(u for u in units_of(SnapshotScope.PARK, region=park.region.code) if u.code == park.code)
    region_unit = next(u for u in units_of(SnapshotScope.REGION) if u.code == park.region.code)
    return _unit_page(
        request,
        window=window,
        unit=unit,
        crumbs=[_province_crumb(), (region_unit.name, region_unit.url or "")],
        panels=[_facilities_panel(window, park=park.code)],
        figure=_figure(window, unit),
    )


@project_manager_required
@cached_page
def facility(request: HttpRequest, code: str) -> HttpResponse:
    facility = get_object_or_404(Facility.objects.select_related("region", "park"), code=code)
    window = snapshot_window()
    if window is None:
        return no_snapshots(request)
    unit = next(
        u for u in units_of(SnapshotScope.FACILITY, region=facility.region.code) if u.code == facility.code
    )
    crumbs = [_province_crumb()]
    region_unit = next(u for u in units_of(SnapshotScope.REGION) if u.code == facility.region.code)
    crumbs.append((region_unit.name, region_unit.url or ""))
    if facility.park:
        park_unit = next(
            u
            for u in units_of(SnapshotScope.PARK, region=facility.region.code)
            if u.code == facility.park.code
        )
        crumbs.append((park_unit.name, park_unit.url or ""))

    work = work_selectors.work_window(today=timezone.localdate())
    per_project = work_selectors.items_per_facility_by_project(work, facility_id=facility.pk)
    names = work_selectors.project_names(per_project)
    series = {names.get(pid, str(pid)): days for pid, days in per_project.items()}
    work_panel = Panel(
        key="work",
        title=_("Items annotated per day, by project (last %(days)d days)") % {"days": len(work.days)},
        chart=lines_chart({n: sorted(d.items()) for n, d in series.items()}, y_name=_("Items"), stack=True),
        tables=[pivot_table("work", _("Items annotated per day"), days=work.days, series=series)],
        wide=True,
    )
    return _unit_page(
        request, window=window, unit=unit, crumbs=crumbs, panels=[work_panel], figure=_figure(window, unit)
    )
