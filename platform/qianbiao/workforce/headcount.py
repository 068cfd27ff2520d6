"""Headcount (在岗人数) on a given day, against the year's target.

Headcount on a day is the number of employment spells covering that day
(``started_on <= day`` and the spell still open or ``ended_on >= day``, the end
day being inclusive). An annotator has at most one spell on any day, so this is
also the number of people. It is counted in the database, one aggregate query
per scope, so that it costs the same for 20 people as for 20,000.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery

from qianbiao.programme.models import (
    PROVINCE_CODE,
    PROVINCE_NAME,
    Facility,
    HeadcountTarget,
    Park,
    Region,
    TargetKind,
    TargetScope,
)

from .models import Employment

SCOPES: tuple[str, ...] = tuple(TargetScope.values)


@dataclass(frozen=True)
class HeadcountRow:
    scope: str
    code: str
    name: str
    headcount: int
    target: int | None
    percentage: float | None  # headcount as a percentage of the target, one decimal

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def covering_day_q(*, day: dt.date, prefix: str = "") -> Q:
    """Spells (reached through ``prefix``) that cover ``day``."""
    return Q(**{f"{prefix}started_on__lte": day}) & (
        Q(**{f"{prefix}ended_on__isnull": True}) | Q(**{f"{prefix}ended_on__gte": day})
    )


def attainment(*, headcount: int, target: int | None) -> float | None:
    if not target:
        return None
    return round(headcount * 100 / target, 1)


def _row(*, scope: str, code: str, name: str, headcount: int, target: int | None) -> HeadcountRow:
    return HeadcountRow(
        scope=scope,
        code=code,
        name=name,
        headcount=headcount,
        target=target,
        percentage=attainment(headcount=headcount, target=target),
    )


# scope -> (unit model, path from the unit to its employment spells, order)
_UNITS = {
    TargetScope.REGION: (Region, "facilities__employment", ["code"]),
    TargetScope.PARK: (Park, "facilities__employment", ["region__code", "code"]),
    TargetScope.FACILITY: (Facility, "employment", ["region__code", "code"]),
}


def headcount_by_scope(*, day: dt.date, scope: str) -> list[HeadcountRow]:
    """One row per unit of ``scope`` — every unit, also those nobody works at —
    with its headcount on ``day`` and its target for ``day.year`` (``None`` if
    it has none; a reported baseline is not a target)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
    targets = HeadcountTarget.objects.filter(scope=scope, year=day.year, kind=TargetKind.TARGET)

    if scope == TargetScope.PROVINCE:
        headcount = Employment.objects.filter(covering_day_q(day=day)).count()
        target = targets.values_list("number", flat=True).first()
        return [_row(scope=scope, code=PROVINCE_CODE, name=PROVINCE_NAME, headcount=headcount, target=target)]

    model, path, order = _UNITS[TargetScope(scope)]
    units = (
        model._default_manager.annotate(
            headcount=Count(path, filter=covering_day_q(day=day, prefix=f"{path}__")),
            target=Subquery(
                targets.filter(**{scope: OuterRef("pk")}).values("number")[:1],
                output_field=IntegerField(),
            ),
        )
        .order_by(*order)
        .values_list("code", "name", "headcount", "target")
    )
    return [
        _row(scope=scope, code=code, name=name, headcount=headcount, target=target)
        for code, name, headcount, target in units
    ]
