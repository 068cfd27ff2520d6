"""The dashboards in a real headless Chromium (Debian's, driven by Playwright):
log in, read the numbers off the page and hold them to figures counted here in
Python, click from the province map to a prefecture to a facility, and keep
screenshots under test-artifacts/dashboards/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from qianbiao.core.roles import PROJECT_MANAGER_GROUP
from qianbiao.dashboards.selectors import programme as programme_selectors
from qianbiao.labelling.models import Annotation
from qianbiao.projects.models import Assignment
from qianbiao.workforce.models import Annotator
from tests.dashboards.conftest import count_employed
from tests.factories import UserFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboards"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    # Every asset and data file the pages load must be there (a 403 page is
    # what one test expects; a missing script or map is never).
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and "/static/" in r.url else None,
    )
    yield page
    context.close()
    assert not errors, f"errors on the page: {errors}"


def log_in(page: Page, base: str, username: str, next_path: str = "/dashboards/") -> None:
    page.goto(base + next_path)
    # Anonymous: sent to the login page, and back to the dashboard after it.
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def wait_for_charts(page: Page) -> None:
    page.wait_for_function("document.documentElement.dataset.chartsReady !== undefined", timeout=20_000)
    assert page.evaluate("document.documentElement.dataset.chartsReady") == "true"


def kpi(page: Page, key: str) -> str:
    return page.locator(f'[data-kpi="{key}"]').get_attribute("data-value")


def cell(page: Page, table: str, code: str, column: str) -> str:
    return page.locator(
        f'table[data-table="{table}"] tr[data-code="{code}"] td[data-col="{column}"]'
    ).get_attribute("data-value")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_province_map_prefecture_facility(live_server, snapshots, project_manager, page):
    today = snapshots.today
    log_in(page, live_server.url, project_manager.username)
    wait_for_charts(page)
    shot(page, "01-province")

    assert kpi(page, "headcount") == str(count_employed(today))
    assert kpi(page, "target") == "60"
    assert kpi(page, "gap") == str(60 - count_employed(today))
    for code in ("520100", "520300", "520900", "522600"):
        assert cell(page, "regions", code, "headcount") == str(
            count_employed(today, facility__region__code=code)
        )
    for grade in ("L3", "L4", "L5"):
        assert cell(page, "grade", grade, "headcount") == str(count_employed(today, facility__grade=grade))
    # A person counts once per skill held (today's skills).
    assert cell(page, "skill", "transcription", "headcount") == str(
        count_employed(today, annotator__skills__task_type="transcription")
    )
    # The trend's table has one row per day since the start of the year.
    # The trend's numbers are one click away: a folded table, fetched when opened,
    # with one row per day since the start of the year (the back-fill reaches 400 days back).
    page.locator('details[data-for="trend"] > summary').click()
    rows = page.locator('table[data-table="trend"] tbody tr')
    expect(rows).to_have_count((today - today.replace(month=1, day=1)).days + 1)
    assert rows.last.locator('td[data-col="headcount"]').get_attribute("data-value") == str(
        count_employed(today)
    )

    # Click 遵义市 on the map itself (its label point), not a link.
    page.locator('[data-panel="map"] .chart').scroll_into_view_if_needed()
    x, y = page.evaluate(
        """([lon, lat]) => {
            const chart = window.qbCharts['chart-map'];
            const [x, y] = chart.convertToPixel({seriesIndex: 0}, [lon, lat]);
            const box = chart.getDom().getBoundingClientRect();
            return [box.left + x, box.top + y];
        }""",
        [106.937265, 27.706626],
    )
    page.mouse.click(x, y)
    expect(page).to_have_url(re.compile(r"/dashboards/region/520300/$"))
    wait_for_charts(page)
    expect(page.locator("h1")).to_have_text("遵义市")
    assert kpi(page, "headcount") == str(count_employed(today, facility__region__code="520300"))
    assert kpi(page, "target") == "15"
    assert cell(page, "parks", "zy-park", "headcount") == str(
        count_employed(today, facility__park__code="zy-park")
    )
    assert cell(page, "facilities", "zy1", "headcount") == str(count_employed(today, facility__code="zy1"))
    shot(page, "02-prefecture-zunyi")

    page.locator('table[data-table="facilities"] a', has_text="遵义标注基地").click()
    expect(page).to_have_url(re.compile(r"/dashboards/facility/zy1/$"))
    wait_for_charts(page)
    zy1 = count_employed(today, facility__code="zy1")
    assert kpi(page, "headcount") == str(zy1)
    assert kpi(page, "seats") == "30"
    assert kpi(page, "utilisation") == f"{zy1 * 100 / 30:.1f}"
    shot(page, "03-facility-zy1")

    # Back up through the breadcrumbs to the province.
    page.locator("nav.crumbs a", has_text="贵州省").click()
    expect(page).to_have_url(re.compile(r"/dashboards/$"))


def test_list_drilldown_to_park_and_facility(live_server, snapshots, project_manager, page):
    today = snapshots.today
    log_in(page, live_server.url, project_manager.username)
    page.locator('table[data-table="regions"] a', has_text="贵阳市").click()
    expect(page).to_have_url(re.compile(r"/dashboards/region/520100/$"))
    page.locator('table[data-table="parks"] a', has_text="贵阳大数据科创城").click()
    expect(page).to_have_url(re.compile(r"/dashboards/park/gy-park/$"))
    wait_for_charts(page)
    assert kpi(page, "headcount") == str(count_employed(today, facility__park__code="gy-park"))
    assert kpi(page, "target") == "18"
    shot(page, "04-park")
    page.locator('table[data-table="facilities"] a', has_text="科创城一号厂房").click()
    expect(page).to_have_url(re.compile(r"/dashboards/facility/gy1/$"))
    wait_for_charts(page)
    assert kpi(page, "headcount") == str(count_employed(today, facility__code="gy1"))
    assert kpi(page, "target") == "16"


def test_work_and_programme_pages(live_server, snapshots, project_manager, page, monkeypatch):
    today = snapshots.today
    monkeypatch.setattr(programme_selectors, "REWARD_HEADCOUNT_THRESHOLDS", (5, 10, 50))
    log_in(page, live_server.url, project_manager.username, next_path="/dashboards/work/")
    wait_for_charts(page)
    counted = Annotation.objects.filter(flagged=False, was_cancelled=False, deleted_at__isnull=True).count()
    assert kpi(page, "items") == str(counted)
    active = set(Annotator.objects.filter(status="active").values_list("pk", flat=True))
    busy = {a.annotator_id for a in Assignment.objects.all() if a.state == "open"}
    assert busy  # the fixture gave somebody open work
    assert kpi(page, "idle") == str(len(active - busy))
    assert page.locator('table[data-table="starved"]').get_by_text("苗语语音转写").count() == 1
    shot(page, "05-work")

    page.goto(live_server.url + "/dashboards/programme/")
    wait_for_charts(page)
    for operator in (snapshots.operator_big, snapshots.operator_small):
        staff = count_employed(today, employer=operator)
        assert cell(page, "thresholds", operator.credit_code, "headcount") == str(staff)
        reached = max([t for t in (5, 10, 50) if staff >= t], default=None)
        assert cell(page, "thresholds", operator.credit_code, "threshold") == (
            "" if reached is None else str(reached)
        )
    shot(page, "06-programme")


def test_english_switch(live_server, snapshots, project_manager, page):
    log_in(page, live_server.url, project_manager.username)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.locator("nav.language a[data-language=en]").click()
    expect(page).to_have_url(re.compile(r"/en/dashboards/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("nav.sections")).to_contain_text("Headcount")
    expect(page.locator('[data-kpi="headcount"] .kpi-label')).to_have_text("Headcount today")
    wait_for_charts(page)
    assert kpi(page, "headcount") == str(count_employed(snapshots.today))
    shot(page, "07-province-english")


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 800), (800, 1000)])
def test_layout_fits_projector_and_laptop(live_server, snapshots, project_manager, page, width, height):
    """Nothing makes the page scroll sideways (wide tables scroll in their own box),
    and the headline figure stays large enough to read across a room."""
    page.set_viewport_size({"width": width, "height": height})
    log_in(page, live_server.url, project_manager.username)
    wait_for_charts(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('[data-kpi=headcount] .kpi-value')).fontSize)"
    )
    assert size >= 32, size
    for chart in page.locator("[data-chart]").all():
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 150
    page.screenshot(path=str(ARTIFACTS / f"08-province-{width}x{height}.png"))


def test_staff_without_the_role_gets_403(live_server, snapshots, page):
    # Staff, so that the admin login lets them in, but not a project manager.
    UserFactory(username="clerk", is_staff=True)
    assert not Group.objects.get(name=PROJECT_MANAGER_GROUP).user_set.filter(username="clerk").exists()
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    for path in ("/dashboards/", "/dashboards/region/520100/", "/dashboards/work/", "/dashboards/programme/"):
        response = page.goto(live_server.url + path)
        assert response.status == 403, path
