"""Where a unit's headcount is heading at its recent net hiring rate (pure functions).

The rate is the net change (hires minus leavers) over the last ``window`` days
of snapshots, per day, extrapolated in a straight line to 31 December. A
straight line is what a project manager can check by hand; where fewer days of
history exist the window is shorter, and the page says how long it was.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

DEFAULT_WINDOW_DAYS = 90


@dataclass(frozen=True)
class Forecast:
    window_days: int  # days of history the rate is measured over (0: no rate)
    net_per_day: float | None  # net hires per day over the window
    year_end: int | None  # expected headcount on 31 December
    on_track: bool | None  # None where there is no target
    reached: bool  # the target is already met
    reach_on: dt.date | None  # when the target will be met at this rate (None: never / met / no target)

    @property
    def net_per_month(self) -> float | None:
        return None if self.net_per_day is None else round(self.net_per_day * 30, 1)


def forecast(
    *,
    today: dt.date,
    headcount: int,
    earlier: tuple[dt.date, int] | None,
    target: int | None,
) -> Forecast:
    """``earlier`` is (day, headcount) at the start of the window, or None."""
    year_end_day = dt.date(today.year, 12, 31)
    window = (today - earlier[0]).days if earlier else 0
    if window <= 0 or earlier is None:
        rate = None
        expected = headcount
    else:
        rate = (headcount - earlier[1]) / window
        expected = max(0, round(headcount + rate * (year_end_day - today).days))
    reached = bool(target) and headcount >= target  # type: ignore[operator]
    reach_on = None
    if target and not reached and rate and rate > 0:
        reach_on = today + dt.timedelta(days=math.ceil((target - headcount) / rate))
    return Forecast(
        window_days=window,
        net_per_day=rate,
        year_end=expected,
        on_track=None if not target else expected >= target,
        reached=reached,
        reach_on=reach_on,
    )
