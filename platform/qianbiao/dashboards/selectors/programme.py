"""Programme views: firms crossing the reward policy's headcount thresholds, and
candidates for the 数据标注工匠 (annotation craftsman) honour."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Min

from qianbiao.enterprises.models import Enterprise

from ..models import HeadcountSnapshot, SnapshotScope

# 免申即享: firm rewards by headcount (DOMAIN.md). Settings may override them.
REWARD_HEADCOUNT_THRESHOLDS: tuple[int, ...] = tuple(
    getattr(settings, "QIANBIAO_REWARD_HEADCOUNT_THRESHOLDS", (300, 1000, 5000))
)


@dataclass(frozen=True)
class EnterpriseThreshold:
    name: str
    credit_code: str
    headcount: int
    threshold: int | None  # highest threshold reached
    crossed_on: dt.date | None  # first snapshot day at or above it
    next_threshold: int | None

    @property
    def to_next(self) -> int | None:
        return None if self.next_threshold is None else self.next_threshold - self.headcount

    @property
    def eligible(self) -> bool:
        return self.threshold is not None


def enterprise_thresholds(
    *, day: dt.date, thresholds: tuple[int, ...] = REWARD_HEADCOUNT_THRESHOLDS
) -> list[EnterpriseThreshold]:
    """Every employer with staff on ``day``, largest first, with the highest
    reward threshold it has reached and the first day it stood at or above it."""
    headcounts = dict(
        HeadcountSnapshot.objects.filter(
            scope=SnapshotScope.ENTERPRISE, day=day, headcount__gt=0
        ).values_list("code", "headcount")
    )
    names = dict(Enterprise.objects.filter(credit_code__in=headcounts).values_list("credit_code", "name"))
    crossed: dict[tuple[str, int], dt.date] = {}
    for threshold in thresholds:
        for code, first in (
            HeadcountSnapshot.objects.filter(
                scope=SnapshotScope.ENTERPRISE, code__in=headcounts, headcount__gte=threshold, day__lte=day
            )
            .values("code")
            .order_by()
            .annotate(first=Min("day"))
            .values_list("code", "first")
        ):
            crossed[(code, threshold)] = first
    rows = []
    for code, headcount in headcounts.items():
        reached = [t for t in thresholds if headcount >= t]
        above = [t for t in thresholds if headcount < t]
        top = max(reached) if reached else None
        rows.append(
            EnterpriseThreshold(
                name=names.get(code, code),
                credit_code=code,
                headcount=headcount,
                threshold=top,
                crossed_on=crossed.get((code, top)) if top else None,
                next_threshold=min(above) if above else None,
            )
        )
    return sorted(rows, key=lambda r: (-r.headcount, r.name))
