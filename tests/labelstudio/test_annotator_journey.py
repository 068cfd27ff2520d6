"""The annotator's whole way in, in a real headless Chromium against the real Label
Studio (locked down), the live server and a real Celery worker: a PM activates an
annotator in the admin and prints the slip; the annotator activates, sees My work,
presses 开始标注, lands in Label Studio's own labelling UI on their own queue, labels
three items there, and the three arrive in Qianbiao as submitted on their own
assignments (Label Studio's webhook to the live server, ingested by the worker).

Nothing that grants a session travels in a URL: the hand-off token goes in a POST
body, and no request the browser makes carries it (or a session id) in its URL or
Referer. Screenshots under test-artifacts/access/."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from qianbiao.labelling.models import Annotation, LabelStudioQueue
from qianbiao.projects.models import Assignment, AssignmentState
from tests.browser import ARTIFACTS, new_page, screenshot
from tests.integration.celery_harness import wait_until
from tests.integration.conftest import broker, start_worker  # noqa: F401 - fixtures
from tests.labelstudio.conftest import ls_settings, make_work  # noqa: F401 - fixture
from tests.portal.test_browser import ANNOTATOR_PASSWORD, pm_prints_a_slip
from workers.enqueue import LABEL_STUDIO_SWEEP

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FOLDER = "access"
LS_TIMEOUT = 60_000  # Label Studio's React app is slow to boot on a shared machine
WORKER_SETTINGS = (
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_API_KEY",
    "LABEL_STUDIO_WEBHOOK_SECRET",
    "LABEL_STUDIO_WEBHOOK_URL",
)


def _wait(predicate, worker, *, what, timeout=90):
    try:
        return wait_until(predicate, timeout=timeout, interval=0.3, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n--- {worker.nodename}\n{worker.log_tail()}") from None


def _annotator_activates(page, base: str, annotator, code: str) -> None:
    page.goto(base + "/work/activate/")
    page.fill("#id_employee_number", annotator.code)
    page.fill("#id_code", code)
    page.fill("#id_password1", ANNOTATOR_PASSWORD)
    page.fill("#id_password2", ANNOTATOR_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/work/$"))


def _label_one(page, value: str, n: int) -> int:
    """Picks ``value`` in the labelling UI's choices and submits; returns the task id shown."""
    shown = page.locator("text=/第 \\d+ 句/").first
    expect(shown).to_be_visible(timeout=LS_TIMEOUT)
    sentence = shown.inner_text()
    choice = page.locator(f'.lsf-choice input[type=checkbox][name="{value}"]')
    choice.click()
    expect(choice).to_be_checked()
    screenshot(page, FOLDER, f"05-label-{n}-chosen")
    with page.expect_response(
        lambda r: re.search(r"/api/tasks/\d+/annotations/?(\?|$)", r.url) and r.request.method == "POST",
        timeout=LS_TIMEOUT,
    ) as posted:
        page.locator("[data-testid=bottombar-submit-button]").click()
    assert posted.value.status == 201, (posted.value.status, posted.value.text())
    task_id = int(re.search(r"/api/tasks/(\d+)/annotations", posted.value.url)[1])
    # The stream moves on to the next task (or says the queue is done).
    expect(page.locator("text=" + sentence)).to_have_count(0, timeout=LS_TIMEOUT)
    return task_id


def test_pm_activates_and_the_annotator_labels_three_items_in_label_studio(
    ls_settings,  # noqa: F811
    label_studio,
    live_server,
    broker,  # noqa: F811
    start_worker,  # noqa: F811
    project_manager,
    facility,
    browser,
):
    ls_settings.LABEL_STUDIO_WEBHOOK_URL = f"{live_server.url}/hooks/label-studio/"
    ls_settings.LABEL_STUDIO_PUBLIC_URL = label_studio.url
    project, (annotator, colleague), assignments = make_work(annotators=2, items=6)
    annotator.facility = facility
    annotator.name = "王小明"
    annotator.save()
    mine = Assignment.objects.filter(project=project, annotator=annotator)
    worker = start_worker("journey", env={name: str(getattr(ls_settings, name)) for name in WORKER_SETTINGS})
    broker.app.send_task(LABEL_STUDIO_SWEEP)
    _wait(
        lambda: not Assignment.objects.filter(project=project, ls_task_id__isnull=True).exists(),
        worker,
        what="every assignment pushed",
    )
    _wait(lambda: LabelStudioQueue.objects.count() == 2, worker, what="both queues made")

    (ARTIFACTS / "portal").mkdir(parents=True, exist_ok=True)  # pm_prints_a_slip's
    code, _ = pm_prints_a_slip(browser, live_server.url, annotator)

    page, errors = new_page(browser, viewport={"width": 1366, "height": 900})
    urls: list[tuple[str, str]] = []  # (url, referer) of every request the browser makes
    page.on("request", lambda r: urls.append((r.url, r.headers.get("referer", ""))))
    handoffs = []
    page.on("request", lambda r: handoffs.append(r) if "/qianbiao/handoff/" in r.url else None)
    _annotator_activates(page, live_server.url, annotator, code)
    card = page.locator(f'section.project[data-project="{project.pk}"]')
    expect(card.locator('[data-field="open"]')).to_have_text("3")
    screenshot(page, FOLDER, "03-my-work")

    card.locator("button.start").click()
    expect(page).to_have_url(
        re.compile(re.escape(label_studio.url) + r"/projects/\d+/data"), timeout=LS_TIMEOUT
    )
    [handoff] = handoffs
    assert handoff.method == "POST"
    token = re.search(r"token=([^&]+)", handoff.post_data)[1]
    queue = LabelStudioQueue.objects.select_related("ls_project", "account").get(account__annotator=annotator)
    assert f"/projects/{queue.ls_project.ls_project_id}/data" in page.url
    assert f"tab={queue.ls_view_id}" in page.url
    expect(page.locator("text=/第 \\d+ 句/").first).to_be_visible(timeout=LS_TIMEOUT)
    screenshot(page, FOLDER, "04-label-studio-stream")

    try:
        values = ["正面", "负面", "正面"]
        labelled = [_label_one(page, value, n) for n, value in enumerate(values, start=1)]
    except Exception:
        screenshot(page, FOLDER, "failed")
        (ARTIFACTS / FOLDER / "failed.html").write_text(page.content())
        raise
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)
    screenshot(page, FOLDER, "06-queue-done")

    by_task = {a.ls_task_id: a for a in mine}
    assert sorted(labelled) == sorted(by_task), "three tasks of the annotator's own queue"
    _wait(
        lambda: mine.filter(state=AssignmentState.SUBMITTED).count() == 3,
        worker,
        what="the webhook deliveries ingested by the worker",
    )
    got = {a.assignment_id: a for a in Annotation.objects.filter(assignment__in=mine)}
    assert sorted(got) == sorted(a.pk for a in mine)
    assert not any(a.flagged for a in got.values())
    for task_id, value in zip(labelled, values, strict=True):
        stored = got[by_task[task_id].pk]
        assert stored.annotator_id == annotator.pk and stored.ls_user_id == queue.account.ls_user_id
        assert [r["value"]["choices"] for r in stored.result] == [[value]], "what was clicked arrived"
    assert not Assignment.objects.filter(annotator=colleague, state=AssignmentState.SUBMITTED).exists()
    assert Annotation.objects.count() == 3

    # Nothing that grants a session was ever in a URL or a Referer.
    for url, referer in urls:
        for seen in (unquote(url), unquote(referer)):
            assert unquote(token) not in seen and "sessionid" not in seen, seen
    assert all("/qianbiao/handoff/" not in referer for _, referer in urls)
    page.context.close()
    # The one error is Label Studio's own answer once the queue is empty (404 for
    # "next task"): nothing the labelling UI asked for was refused by the lock-down.
    assert [e.split("?")[0] for e in errors] == [f"404 {label_studio.url}/api/dm/actions"], errors
