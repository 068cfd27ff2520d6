"""Who may open the dashboards, the CSV behind each table, the language switch,
and the pages' figures (without a browser)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.test import Client

from qianbiao.dashboards.selectors import programme as programme_selectors
from tests.dashboards.conftest import count_employed

pytestmark = pytest.mark.django_db

PAGES = [
    "/dashboards/",
    "/dashboards/region/520100/",
    "/dashboards/park/gy-park/",
    "/dashboards/facility/gy1/",
    "/dashboards/work/",
    "/dashboards/programme/",
    "/dashboards/about/",
]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def kpi_value(html: str, key: str) -> str:
    match = re.search(rf'data-kpi="{re.escape(key)}" data-value="([^"]*)"', html)
    assert match, key
    return match.group(1)


def read_csv(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content if response.streaming else [response.content]).decode(
        "utf-8-sig"
    )
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_goes_to_login(client, snapshots, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("path", PAGES)
def test_a_user_without_the_role_gets_403(snapshots, outsider, path):
    assert client_for(outsider).get(path).status_code == 403
    assert client_for(outsider).get(path + "?csv=regions").status_code == 403


def test_staff_without_the_role_gets_403_too(snapshots):
    from tests.factories import UserFactory

    clerk = UserFactory(username="clerk", is_staff=True)
    assert client_for(clerk).get("/dashboards/").status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_project_manager_and_superuser_open_every_page(snapshots, project_manager, admin_user, path):
    assert client_for(project_manager).get(path).status_code == 200
    assert client_for(admin_user).get(path).status_code == 200


def test_unknown_units_and_tables_are_404(snapshots, project_manager):
    pm = client_for(project_manager)
    assert pm.get("/dashboards/region/999999/").status_code == 404
    assert pm.get("/dashboards/facility/nope/").status_code == 404
    assert pm.get("/dashboards/?csv=nope").status_code == 404


def test_province_csv_equals_counted_headcount(snapshots, project_manager):
    today = snapshots.today
    response = client_for(project_manager).get("/dashboards/?csv=regions")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = read_csv(response)
    assert len(rows) == 4
    by_name = {row[next(iter(row))]: row for row in rows}  # first column is the name
    for region in snapshots.regions.values():
        values = list(by_name[region.name].values())
        assert values[1] == str(count_employed(today, facility__region=region))


def test_trend_csv_has_every_day_since_new_year(snapshots, project_manager):
    today = snapshots.today
    rows = read_csv(client_for(project_manager).get("/dashboards/?csv=trend"))
    days = [list(r.values())[0] for r in rows]
    assert days[0] == today.replace(month=1, day=1).isoformat()
    assert days[-1] == today.isoformat()
    assert list(rows[-1].values())[1] == str(count_employed(today))


def test_headcount_kpis_and_forecast(snapshots, project_manager):
    today = snapshots.today
    html = client_for(project_manager).get("/dashboards/").content.decode()
    headcount = count_employed(today)
    assert kpi_value(html, "headcount") == str(headcount)
    assert kpi_value(html, "target") == "60"
    earlier = count_employed(today - dt.timedelta(days=90))
    rate = (headcount - earlier) / 90
    assert kpi_value(html, "net_per_month") == str(round(rate * 30, 1))
    expected = round(headcount + rate * (dt.date(today.year, 12, 31) - today).days)
    assert kpi_value(html, "year_end") == str(expected)
    assert kpi_value(html, "on_track") == str(expected >= 60)


def test_facility_page_has_seats_and_utilisation(snapshots, project_manager):
    html = client_for(project_manager).get("/dashboards/facility/gy1/").content.decode()
    staff = count_employed(snapshots.today, facility__code="gy1")
    assert kpi_value(html, "headcount") == str(staff)
    assert kpi_value(html, "utilisation") == str(round(staff * 100 / 40, 1))
    assert kpi_value(html, "target") == "16"


def test_english_is_available_and_chinese_is_the_default(snapshots, project_manager):
    pm = client_for(project_manager)
    zh = pm.get("/dashboards/").content.decode()
    en = pm.get("/en/dashboards/").content.decode()
    assert '<html lang="zh-hans">' in zh
    assert '<html lang="en">' in en
    assert "Headcount today" in en
    assert "Headcount today" not in zh  # the zh-hans catalog translates it


def test_language_links_keep_the_page(snapshots, project_manager):
    pm = client_for(project_manager)
    zh = pm.get("/dashboards/region/520100/?x=1").content.decode()
    assert 'href="/en/dashboards/region/520100/?x=1" hreflang="en"' in zh
    en = pm.get("/en/dashboards/region/520100/").content.decode()
    assert 'href="/dashboards/region/520100/" hreflang="zh-hans"' in en


def test_cached_pages_follow_targets_and_snapshots(snapshots, project_manager):
    from qianbiao.dashboards.snapshots import headcount_snapshots_take
    from qianbiao.programme.models import HeadcountTarget
    from qianbiao.workforce.models import Annotator
    from qianbiao.workforce.services import annotator_leave

    pm = client_for(project_manager)
    assert kpi_value(pm.get("/dashboards/").content.decode(), "target") == "60"
    assert kpi_value(pm.get("/dashboards/").content.decode(), "target") == "60"  # served from the cache
    target = HeadcountTarget.objects.get(scope="province", kind="target")
    target.number = 75
    target.save()
    assert kpi_value(pm.get("/dashboards/").content.decode(), "target") == "75"

    today = snapshots.today
    before = count_employed(today)
    yesterday = today - dt.timedelta(days=1)
    leaver = Annotator.objects.filter(
        status="active", employment__ended_on__isnull=True, employment__started_on__lt=yesterday
    ).first()
    annotator_leave(annotator=leaver, last_day=yesterday)
    assert kpi_value(pm.get("/dashboards/").content.decode(), "headcount") == str(
        before
    )  # not yet snapshotted
    headcount_snapshots_take(first_day=today, last_day=today)
    assert kpi_value(pm.get("/dashboards/").content.decode(), "headcount") == str(before - 1)


def test_no_snapshots_yet_says_how_to_fill_them(programme, project_manager):
    response = client_for(project_manager).get("/dashboards/")
    assert response.status_code == 200
    assert "backfill_snapshots" in response.content.decode()


def test_work_page_figures(snapshots, project_manager):
    pm = client_for(project_manager)
    html = pm.get("/dashboards/work/?days=7").content.decode()
    from qianbiao.labelling.models import Annotation

    assert kpi_value(html, "items") == str(Annotation.objects.count())
    assert kpi_value(html, "starved") == "1"
    rows = read_csv(pm.get("/dashboards/work/?days=7&csv=utilisation"))
    gy1 = next(r for r in rows if list(r.values())[0] == "科创城一号厂房")
    assert list(gy1.values())[3] == str(count_employed(snapshots.today, facility__code="gy1"))
    assert pm.get("/dashboards/work/?days=banana").status_code == 200


def test_programme_thresholds_and_candidates(snapshots, project_manager, monkeypatch, settings):
    monkeypatch.setattr(programme_selectors, "REWARD_HEADCOUNT_THRESHOLDS", (5, 10, 50))
    pm = client_for(project_manager)
    rows = read_csv(pm.get("/dashboards/programme/?csv=thresholds"))
    today = snapshots.today
    for operator in (snapshots.operator_big, snapshots.operator_small):
        row = next(r for r in rows if list(r.values())[1] == operator.credit_code)
        staff = count_employed(today, employer=operator)
        assert list(row.values())[2] == str(staff)
        assert list(row.values())[3] == str(max(t for t in (5, 10, 50) if staff >= t))


def test_programme_shows_quality_controls_craftsman_candidates(snapshots, project_manager, settings):
    from qianbiao.quality.models import AnnotatorQuality

    boxes = snapshots.projects["boxes"]
    good, weak = snapshots.projects["working"][0], snapshots.projects["working"][2]
    for annotator, score in ((good, 0.97), (weak, 0.6)):
        AnnotatorQuality.objects.create(
            project=boxes,
            annotator=annotator,
            task_type="bounding_box",
            gold_answered=200,
            gold_correct=196,
            consensus_answered=50,
            score=score,
        )
    settings.QIANBIAO_CRAFTSMAN_CRITERIA = {"min_annotations": 1}
    candidates = read_csv(client_for(project_manager).get("/dashboards/programme/?csv=craftsmen"))
    assert [list(r.values())[0] for r in candidates] == [good.code]
    assert list(candidates[0].values())[2] == "97.0"


def test_admin_index_links_to_the_dashboards_for_project_managers_only(snapshots, project_manager):
    from tests.factories import UserFactory

    html = client_for(project_manager).get("/admin/").content.decode()
    assert 'id="dashboards-link"' in html and 'href="/dashboards/"' in html
    assert 'href="/admin/programme/facility/"' in html  # the admin's own app list is still there
    clerk = UserFactory(username="clerk", is_staff=True)
    assert 'id="dashboards-link"' not in client_for(clerk).get("/admin/").content.decode()


@pytest.mark.parametrize("path", [p for p in PAGES if not p.endswith("/about/")])
def test_every_table_is_one_click_from_its_numbers(snapshots, project_manager, path):
    """Each table on a page has a CSV with the same rows; each folded table opens."""
    pm = client_for(project_manager)
    html = pm.get(path).content.decode()
    keys = re.findall(r'data-csv="([^"]+)"', html)
    assert keys, path
    folded = set(re.findall(r'<details class="numbers" data-fragment="[^"]*" data-for="([^"]+)"', html))
    for key in keys:
        rows = read_csv(pm.get(f"{path}?csv={key}"))
        if key in folded:
            fragment = pm.get(f"{path}?table={key}")
            assert fragment.status_code == 200
            shown = fragment.content.decode()
        else:
            shown = html
        table = re.search(rf'<table class="numbers" id="table-{re.escape(key)}".*?</table>', shown, re.S)
        assert table, (path, key)
        assert table.group(0).count("<tr data-code=") == len(rows), (path, key)
