"""Headcount on a day, by scope, from a hand-made employment history."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qianbiao.programme.models import HeadcountTarget, TargetKind, TargetScope
from qianbiao.workforce.headcount import headcount_by_scope
from qianbiao.workforce.services import annotator_leave, annotator_rehire, annotator_transfer
from tests.factories import AnnotatorFactory, FacilityFactory, ParkFactory, RegionFactory

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
D = dt.date


@pytest.fixture
def history(db):
    """Three facilities, two of them in parks, and this history:

    - A: hired at f1 on 01-05, transferred to f2 on 03-01 (f1 spell ends 02-28),
      left after 06-30, rehired at f1 on 09-01 (all 2026);
    - B: hired at f2 on 02-01, still there;
    - C: hired at f3 on 01-05 and left the same day.
    Prefecture 520200 and park "empty" have no one at all."""
    guiyang = RegionFactory(code="520100", name="贵阳市")
    qiandongnan = RegionFactory(code="522600", name="黔东南苗族侗族自治州")
    RegionFactory(code="520200", name="六盘水市")
    p1 = ParkFactory(code="p1", region=guiyang)
    p2 = ParkFactory(code="p2", region=qiandongnan)
    ParkFactory(code="empty", region=guiyang)
    f1 = FacilityFactory(code="f1", park=p1)
    f2 = FacilityFactory(code="f2", park=p2)
    f3 = FacilityFactory(code="f3", park=None, region=guiyang)

    a = AnnotatorFactory(facility=f1, started_on=D(2026, 1, 5))
    annotator_transfer(annotator=a, facility=f2, employer=f2.operator, on=D(2026, 3, 1))
    annotator_leave(annotator=a, last_day=D(2026, 6, 30))
    annotator_rehire(annotator=a, facility=f1, employer=f1.operator, started_on=D(2026, 9, 1))
    AnnotatorFactory(facility=f2, started_on=D(2026, 2, 1))
    c = AnnotatorFactory(facility=f3, started_on=D(2026, 1, 5))
    annotator_leave(annotator=c, last_day=D(2026, 1, 5))
    return {"guiyang": guiyang, "qiandongnan": qiandongnan, "p1": p1, "f1": f1}


# day -> headcount at f1, f2, f3
FACILITY_COUNTS = {
    D(2026, 1, 4): (0, 0, 0),  # day before the first start
    D(2026, 1, 5): (1, 0, 1),  # start day; C's only (and last) day
    D(2026, 1, 6): (1, 0, 0),  # day after C's last day
    D(2026, 1, 31): (1, 0, 0),
    D(2026, 2, 1): (1, 1, 0),  # B starts
    D(2026, 2, 28): (1, 1, 0),  # A's last day at f1
    D(2026, 3, 1): (0, 2, 0),  # A's first day at f2
    D(2026, 6, 30): (0, 2, 0),  # A's last day
    D(2026, 7, 1): (0, 1, 0),  # day after
    D(2026, 8, 31): (0, 1, 0),
    D(2026, 9, 1): (1, 1, 0),  # rehired
    D(2027, 1, 1): (1, 1, 0),  # open spells run on
}


def counts(rows) -> dict[str, int]:
    return {row.code: row.headcount for row in rows}


@pytest.mark.parametrize("day", list(FACILITY_COUNTS))
def test_headcount_on_boundary_days(history, day):
    f1, f2, f3 = FACILITY_COUNTS[day]
    assert counts(headcount_by_scope(day=day, scope="facility")) == {"f1": f1, "f2": f2, "f3": f3}
    assert counts(headcount_by_scope(day=day, scope="park")) == {"p1": f1, "p2": f2, "empty": 0}
    assert counts(headcount_by_scope(day=day, scope="region")) == {
        "520100": f1 + f3,
        "520200": 0,
        "522600": f2,
    }
    assert counts(headcount_by_scope(day=day, scope="province")) == {"520000": f1 + f2 + f3}


def test_rows_carry_the_target_of_the_days_year_only(history):
    HeadcountTarget.objects.create(scope=TargetScope.PROVINCE, year=2026, number=8)
    HeadcountTarget.objects.create(scope=TargetScope.REGION, region=history["guiyang"], year=2026, number=3)
    # A baseline is not a target.
    HeadcountTarget.objects.create(
        scope=TargetScope.REGION,
        region=history["qiandongnan"],
        year=2026,
        kind=TargetKind.BASELINE,
        number=5,
    )
    HeadcountTarget.objects.create(scope=TargetScope.PARK, park=history["p1"], year=2026, number=4)
    HeadcountTarget.objects.create(scope=TargetScope.FACILITY, facility=history["f1"], year=2027, number=2)

    (province,) = headcount_by_scope(day=D(2026, 3, 1), scope="province")
    assert (province.code, province.name, province.headcount) == ("520000", "贵州省", 2)
    assert (province.target, province.percentage) == (8, 25.0)

    regions = {row.code: row for row in headcount_by_scope(day=D(2026, 2, 1), scope="region")}
    assert (regions["520100"].headcount, regions["520100"].target, regions["520100"].percentage) == (
        1,
        3,
        33.3,
    )
    assert (regions["522600"].headcount, regions["522600"].target, regions["522600"].percentage) == (
        1,
        None,
        None,
    )
    assert (regions["520200"].headcount, regions["520200"].target) == (0, None)
    assert regions["522600"].name == "黔东南苗族侗族自治州"

    parks = {row.code: row for row in headcount_by_scope(day=D(2026, 2, 1), scope="park")}
    assert (parks["p1"].target, parks["p1"].percentage) == (4, 25.0)

    facilities = {row.code: row for row in headcount_by_scope(day=D(2027, 1, 1), scope="facility")}
    assert (facilities["f1"].target, facilities["f1"].percentage) == (2, 50.0)
    assert facilities["f2"].target is None
    # The 2026 targets do not apply to a day in 2025 or 2027.
    assert headcount_by_scope(day=D(2025, 12, 31), scope="province")[0].target is None
    assert headcount_by_scope(day=D(2027, 1, 1), scope="region")[0].target is None


@pytest.mark.parametrize(("scope", "queries"), [("province", 2), ("region", 1), ("park", 1), ("facility", 1)])
def test_one_aggregate_query_per_scope_whatever_the_headcount(
    history, scope, queries, django_assert_num_queries
):
    for _ in range(5):
        AnnotatorFactory(facility=history["f1"], started_on=D(2026, 1, 10))
    with django_assert_num_queries(queries):
        headcount_by_scope(day=D(2026, 3, 1), scope=scope)


def test_unknown_scope_is_refused(db):
    with pytest.raises(ValueError, match="county"):
        headcount_by_scope(day=D(2026, 1, 1), scope="county")


def test_command_json(history):
    out = StringIO()
    call_command("headcount", "--date", "2026-03-01", "--scope", "facility", "--json", stdout=out)
    rows = json.loads(out.getvalue())
    # Ordered by prefecture, then code.
    assert [(r["code"], r["headcount"]) for r in rows] == [("f1", 0), ("f3", 0), ("f2", 2)]
    assert all(r["scope"] == "facility" and r["date"] == "2026-03-01" for r in rows)
    assert all({"name", "target", "percentage"} <= set(r) for r in rows)


def test_command_table(history):
    HeadcountTarget.objects.create(scope=TargetScope.REGION, region=history["guiyang"], year=2026, number=4)
    out = StringIO()
    call_command("headcount", "--date", "2026-09-01", "--scope", "region", stdout=out)
    lines = out.getvalue().splitlines()
    assert "2026-09-01" in lines[0]
    guiyang = next(line for line in lines if line.startswith("520100"))
    assert guiyang.split()[1:] == ["贵阳市", "1", "4", "25.0%"]
    liupanshui = next(line for line in lines if line.startswith("520200"))
    assert liupanshui.split()[1:] == ["六盘水市", "0", "—", "—"]
    total = lines[-1].split()
    assert total[-3] == "2"  # 1 in 贵阳 + 1 in 黔东南


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--date", "2026-02-30"], "YYYY-MM-DD"),
        (["--date", "31/12/2026"], "YYYY-MM-DD"),
        (["--date", "2026-12-31", "--scope", "county"], "province, region, park, facility"),
    ],
)
def test_command_refuses_bad_input(db, argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("headcount", *argv, stdout=StringIO())


def test_command_exits_non_zero_on_a_bad_date():
    result = subprocess.run(
        [sys.executable, "manage.py", "headcount", "--date", "tomorrow"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert result.returncode != 0
    assert "YYYY-MM-DD" in result.stderr
