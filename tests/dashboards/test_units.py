"""The forecast arithmetic (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from qianbiao.dashboards.forecast import forecast

TODAY = dt.date(2026, 10, 2)  # 90 days to 31 December


def test_forecast_extends_the_window_rate_to_year_end():
    f = forecast(today=TODAY, headcount=1000, earlier=(TODAY - dt.timedelta(days=90), 820), target=1200)
    assert f.window_days == 90
    assert f.net_per_day == pytest.approx(2.0)
    assert f.net_per_month == 60.0
    assert f.year_end == 1000 + 2 * 90
    assert f.on_track is False  # 1180 < 1200
    assert f.reach_on == TODAY + dt.timedelta(days=100)
    assert not f.reached


def test_forecast_on_track_reached_and_falling():
    on = forecast(today=TODAY, headcount=1000, earlier=(TODAY - dt.timedelta(days=90), 730), target=1200)
    assert on.on_track is True and on.year_end == 1270
    reached = forecast(
        today=TODAY, headcount=1300, earlier=(TODAY - dt.timedelta(days=90), 1300), target=1200
    )
    assert reached.reached and reached.on_track and reached.reach_on is None
    falling = forecast(today=TODAY, headcount=50, earlier=(TODAY - dt.timedelta(days=10), 60), target=100)
    assert falling.reach_on is None and falling.on_track is False
    assert falling.year_end == 0  # never below nobody


def test_forecast_without_history_or_target():
    f = forecast(today=TODAY, headcount=10, earlier=None, target=None)
    assert f.window_days == 0 and f.net_per_day is None and f.year_end == 10
    assert f.on_track is None and f.reach_on is None
