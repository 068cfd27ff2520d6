"""Headcount against target, trends and forecasts, from the daily snapshots."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max, Min, Q
from django.urls import reverse
from django.utils import timezone

from qianbiao.enterprises.models import Enterprise
from qianbiao.programme.models import (
    PROVINCE_CODE,
    PROVINCE_NAME,
    Facility,
    Grade,
    HeadcountTarget,
    Park,
    Region,
    TargetKind,
)
from qianbiao.workforce.headcount import attainment
from qianbiao.workforce.models import Language, TaskType

from ..forecast import DEFAULT_WINDOW_DAYS, Forecast, forecast
from ..models import HeadcountSnapshot, SnapshotScope

# Scopes that can carry a HeadcountTarget, and how a target reaches its unit's code.
_TARGET_CODE_FIELD = {
    SnapshotScope.PROVINCE: None,
    SnapshotScope.REGION: "region__code",
    SnapshotScope.PARK: "park__code",
    SnapshotScope.FACILITY: "facility__code",
}


@dataclass(frozen=True)
class SnapshotWindow:
    """The days a dashboard reads: the latest snapshot ("today"), the first of
    the year (or of the snapshots, if they start later), and the start of the
    forecast window."""

    today: dt.date
    first_day: dt.date
    year_start: dt.date
    window_start: dt.date
    taken_at: dt.datetime
    is_current: bool  # the latest snapshot is of the real today

    @property
    def window_days(self) -> int:
        return (self.today - self.window_start).days


def snapshot_window(
    *, on: dt.date | None = None, window_days: int = DEFAULT_WINDOW_DAYS
) -> SnapshotWindow | None:
    """One aggregate over the province's rows (a year is ~366 of them): every
    run rewrites today's row, so the latest ``taken_at`` is the latest run."""
    on = on or timezone.localdate()
    span = HeadcountSnapshot.objects.filter(
        scope=SnapshotScope.PROVINCE, code=PROVINCE_CODE, day__lte=on
    ).aggregate(first=Min("day"), last=Max("day"), taken_at=Max("taken_at"))
    if span["last"] is None:
        return None
    today, first_day = span["last"], span["first"]
    return SnapshotWindow(
        today=today,
        first_day=first_day,
        year_start=max(dt.date(today.year, 1, 1), first_day),
        window_start=max(today - dt.timedelta(days=window_days), first_day),
        taken_at=span["taken_at"],
        is_current=today == on,
    )


@dataclass(frozen=True)
class Unit:
    scope: str
    code: str
    name: str
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _url(name: str, code: str) -> str:
    return reverse(f"dashboards:{name}", kwargs={"code": code})


def units_of(scope: str, *, region: str | None = None, park: str | None = None) -> list[Unit]:
    """Every unit of ``scope`` (within a prefecture or park if given), in display order."""
    if scope == SnapshotScope.PROVINCE:
        return [Unit(scope, PROVINCE_CODE, PROVINCE_NAME, reverse("dashboards:province"))]
    if scope == SnapshotScope.REGION:
        regions = Region.objects.order_by("code").values_list("code", "name", "short_name")
        return [
            Unit(scope, code, name, _url("region", code), {"short_name": short or name})
            for code, name, short in regions
        ]
    if scope == SnapshotScope.PARK:
        parks = Park.objects.order_by("region__code", "code")
        if region:
            parks = parks.filter(region__code=region)
        return [
            Unit(scope, code, name, _url("park", code), {"region": region_name})
            for code, name, region_name in parks.values_list("code", "name", "region__name")
        ]
    if scope == SnapshotScope.FACILITY:
        facilities = Facility.objects.order_by("region__code", "code")
        if region:
            facilities = facilities.filter(region__code=region)
        if park:
            facilities = facilities.filter(park__code=park)
        return [
            Unit(
                scope,
                code,
                name,
                _url("facility", code),
                {"grade": grade, "seats": seats, "region": region_name, "park": park_name},
            )
            for code, name, grade, seats, region_name, park_name in facilities.values_list(
                "code", "name", "grade", "seats", "region__name", "park__name"
            )
        ]
    if scope == SnapshotScope.GRADE:
        return [Unit(scope, grade, grade) for grade in Grade.values]
    if scope == SnapshotScope.SKILL:
        return [Unit(scope, value, str(label)) for value, label in TaskType.choices]
    if scope == SnapshotScope.LANGUAGE:
        return [
            Unit(scope, code, f"{name} ({code})")
            for code, name in Language.objects.order_by("code").values_list("code", "name")
        ]
    if scope == SnapshotScope.ENTERPRISE:
        return [
            Unit(scope, code, name)
            for code, name in Enterprise.objects.order_by("name").values_list("credit_code", "name")
        ]
    raise ValueError(f"unknown scope {scope!r}")


def targets_for(*, scopes: list[str], year: int) -> dict[tuple[str, str], int]:
    """(scope, code) -> this year's target, in one query; scopes without targets
    (grade, skill, …) have none."""
    scopes = [s for s in scopes if s in _TARGET_CODE_FIELD]
    if not scopes:
        return {}
    rows = HeadcountTarget.objects.filter(scope__in=scopes, year=year, kind=TargetKind.TARGET).values_list(
        "scope", "region__code", "park__code", "facility__code", "number"
    )
    targets = {}
    for scope, region, park, facility, number in rows:
        code = {"province": PROVINCE_CODE, "region": region, "park": park, "facility": facility}[scope]
        targets[(scope, code)] = number
    return targets


@dataclass(frozen=True)
class UnitFigure:
    unit: Unit
    headcount: int
    target: int | None
    year_start_headcount: int | None
    forecast: Forecast

    @property
    def code(self) -> str:
        return self.unit.code

    @property
    def name(self) -> str:
        return self.unit.name

    @property
    def gap(self) -> int | None:
        """People still to hire (negative: above target)."""
        return None if self.target is None else self.target - self.headcount

    @property
    def attainment(self) -> float | None:
        return attainment(headcount=self.headcount, target=self.target)

    @property
    def change(self) -> int | None:
        return None if self.year_start_headcount is None else self.headcount - self.year_start_headcount

    @property
    def utilisation(self) -> float | None:
        seats = self.unit.extra.get("seats")
        return round(self.headcount * 100 / seats, 1) if seats else None

    def as_row(self) -> dict[str, Any]:
        f = self.forecast
        return {
            "code": self.code,
            "name": self.name,
            "url": self.unit.url,
            **self.unit.extra,
            "headcount": self.headcount,
            "target": self.target,
            "gap": self.gap,
            "attainment": self.attainment,
            "year_start": self.year_start_headcount,
            "change": self.change,
            "net_per_month": f.net_per_month,
            "year_end": f.year_end,
            "on_track": f.on_track,
            "reach_on": f.reach_on,
            "reached": f.reached,
            "utilisation": self.utilisation,
        }


def figures_by_scope(*, window: SnapshotWindow, units: dict[str, list[Unit]]) -> dict[str, list[UnitFigure]]:
    """Today's headcount, target, change since the year started and forecast of
    every unit given, for several scopes at once: one query for the snapshots
    (three days), one for the targets."""
    scopes = [scope for scope, of_scope in units.items() if of_scope]
    if not scopes:
        return {scope: [] for scope in units}
    days = {window.today, window.year_start, window.window_start}
    snapshots = HeadcountSnapshot.objects.filter(scope__in=scopes, day__in=days)
    all_units = [u for scope in scopes for u in units[scope]]
    if len(all_units) < 50:
        snapshots = snapshots.filter(code__in={u.code for u in all_units})
    seen: dict[tuple[str, str], dict[dt.date, int]] = defaultdict(dict)
    for scope, code, day, headcount in snapshots.values_list("scope", "code", "day", "headcount"):
        seen[(scope, code)][day] = headcount
    targets = targets_for(scopes=scopes, year=window.today.year)
    earlier = window.window_start
    out: dict[str, list[UnitFigure]] = {scope: [] for scope in units}
    for unit in all_units:
        values = seen.get((unit.scope, unit.code), {})
        headcount = values.get(window.today, 0)
        target = targets.get((unit.scope, unit.code))
        out[unit.scope].append(
            UnitFigure(
                unit=unit,
                headcount=headcount,
                target=target,
                year_start_headcount=values.get(window.year_start),
                forecast=forecast(
                    today=window.today,
                    headcount=headcount,
                    earlier=(earlier, values[earlier]) if earlier in values else None,
                    target=target,
                ),
            )
        )
    return out


def unit_figures(*, window: SnapshotWindow, units: list[Unit]) -> list[UnitFigure]:
    """``figures_by_scope`` for units of one scope."""
    if not units:
        return []
    return figures_by_scope(window=window, units={units[0].scope: units})[units[0].scope]


def unit_trend(*, window: SnapshotWindow, scope: str, code: str) -> list[tuple[dt.date, int]]:
    """Daily headcount of one unit from the start of the year to today."""
    return list(
        HeadcountSnapshot.objects.filter(
            scope=scope, code=code, day__gte=window.year_start, day__lte=window.today
        )
        .order_by("day")
        .values_list("day", "headcount")
    )


def sampled_days(window: SnapshotWindow, *, every: int = 7) -> list[dt.date]:
    """Every ``every``-th day from the start of the year, and today: enough
    points for a trend of many lines at once."""
    days = []
    day = window.year_start
    while day < window.today:
        days.append(day)
        day += dt.timedelta(days=every)
    return [*days, window.today]


def breakdown_trends(
    *, window: SnapshotWindow, scopes: list[str], every: int = 7, daily: tuple[str, str] | None = None
) -> dict[str, dict[str, list[tuple[dt.date, int]]]]:
    """scope -> code -> (day, headcount) on the sampled days, for every unit of
    the given scopes — and, if ``daily`` is a (scope, code), that unit's every
    day since the start of the year — in one query."""
    wanted = Q(scope__in=scopes, day__in=sampled_days(window, every=every))
    if daily:
        wanted |= Q(scope=daily[0], code=daily[1], day__gte=window.year_start, day__lte=window.today)
    trends: dict[str, dict[str, list[tuple[dt.date, int]]]] = defaultdict(lambda: defaultdict(list))
    for scope, code, day, headcount in (
        HeadcountSnapshot.objects.filter(wanted)
        .order_by("scope", "code", "day")
        .values_list("scope", "code", "day", "headcount")
    ):
        trends[scope][code].append((day, headcount))
    return {scope: dict(trends[scope]) for scope in [*scopes, *([daily[0]] if daily else [])]}
