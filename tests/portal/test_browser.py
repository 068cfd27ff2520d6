"""The portal in a real headless Chromium (Debian's, driven by Playwright): a PM
activates an annotator in the admin and prints the slip; the annotator, on a
phone-sized screen, activates with the slip's code, signs in and sees My work with
their assignment. Screenshots (and the printed slip) under test-artifacts/portal/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from qianbiao.portal.models import AnnotatorLogin
from tests.browser import new_page
from tests.factories import AnnotatorFactory
from tests.portal.helpers import give_work

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory
PHONE = {"width": 390, "height": 844}
ANNOTATOR_PASSWORD = "qiandongnan rice terraces 7"

pytestmark = pytest.mark.django_db(transaction=True)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fits_the_screen(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def pm_prints_a_slip(browser, base: str, annotator) -> tuple[str, str]:
    page, errors = new_page(browser, viewport={"width": 1280, "height": 900})
    page.goto(base + "/admin/login/?next=/admin/workforce/annotator/")
    page.fill("#id_username", "pm")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/workforce/annotator/$"))
    page.check(f'input[name="_selected_action"][value="{annotator.pk}"]')
    page.select_option('select[name="action"]', "annotators_activate")
    page.click('button[name="index"]')
    slip = page.locator(f'article.slip[data-code-for="{annotator.code}"]')
    expect(slip).to_be_visible()
    shot(page, "01-pm-onboarding-slip")
    page.emulate_media(media="print")
    page.pdf(path=str(ARTIFACTS / "01-onboarding-slip.pdf"), format="A4")
    code = slip.locator('[data-field="code"]').inner_text().strip()
    url = slip.locator(".url").inner_text().strip()
    assert annotator.name not in slip.inner_text()  # masked on paper
    page.context.close()
    assert not errors, errors
    return code, url


def test_pm_activates_and_the_annotator_works_from_a_phone(live_server, project_manager, facility, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    annotator = AnnotatorFactory(facility=facility, name="王小明")
    project, assignments = give_work(annotator, n=2, prefix="img")
    other = AnnotatorFactory(facility=facility)
    give_work(other, project=project, n=1, prefix="not-mine")

    code, url = pm_prints_a_slip(browser, live_server.url, annotator)
    assert re.fullmatch(r"[A-Z0-9]{5}-[A-Z0-9]{5}", code) and url == live_server.url + "/work/activate/"

    phone, errors = new_page(browser, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    phone.goto(url)
    assert fits_the_screen(phone)
    phone.fill("#id_employee_number", annotator.code)
    phone.fill("#id_code", code.lower())  # as typed from the paper slip
    phone.fill("#id_password1", ANNOTATOR_PASSWORD)
    phone.fill("#id_password2", ANNOTATOR_PASSWORD)
    shot(phone, "02-phone-activate")
    phone.click("button[type=submit]")
    expect(phone).to_have_url(re.compile(r"/work/$"))
    assert AnnotatorLogin.objects.get(annotator=annotator).activated_at is not None

    # Sign out, and in again with the employee number and the new password.
    phone.click(".logout button")
    expect(phone).to_have_url(re.compile(r"/work/login/$"))
    phone.fill("#id_username", annotator.code)
    phone.fill("#id_password", ANNOTATOR_PASSWORD)
    shot(phone, "03-phone-sign-in")
    phone.click("button[type=submit]")
    expect(phone).to_have_url(re.compile(r"/work/$"))

    card = phone.locator(f'section.project[data-project="{project.pk}"]')
    expect(card.locator('[data-field="open"]')).to_have_text("2")
    expect(card.locator("button.start")).to_have_text("开始标注")
    expect(card.locator("button.start")).to_be_enabled()
    card.locator("summary").click()
    for a in assignments:
        expect(card.locator(f'tr[data-assignment="{a.pk}"]')).to_contain_text(a.item.external_id)
    assert "not-mine" not in phone.content()
    assert fits_the_screen(phone)
    shot(phone, "04-phone-my-work")
    phone.context.close()
    assert not errors, errors
