"""Qianbiao's lock-down of Label Studio (annotation/label_studio_site) on a real Label
Studio, with real annotators' sessions and tokens: every forbidden call refused with
nothing changed, the own queue still labelled, the hand-off single-use, SSRF protection
on, and ``label_studio_audit`` telling a locked server from one without the lock-down."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation import server
from annotation.accounts import register_annotator
from annotation.audit import SessionAgent, run_audit
from annotation.client import connect, http_client
from annotation.errors import LabelStudioError
from annotation.queues import ensure_queue_view, next_task
from annotation.signing import HANDOFF_PATH, handoff_token, route_key_for
from annotation.tasks import import_tasks
from annotation.webhooks import delete_webhook, register_webhook
from tests.integration.conftest import ls_annotator, ls_project, start_label_studio  # noqa: F401 - fixtures
from tests.labelstudio.conftest import choice

pytestmark = pytest.mark.integration

SECRET = os.environ.get("LABEL_STUDIO_QIANBIAO_SECRET", "")
PASSWORD = "test-password-8chars"


@pytest.fixture(scope="module")
def unlocked_label_studio(tmp_path_factory):
    """Label Studio as shipped (no lock-down): what the audit must catch."""
    instance = start_label_studio(tmp_path_factory.mktemp("ls-unlocked") / "data", lockdown=False)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def queue(ls_admin, ls_project, ls_annotator):  # noqa: F811 - fixtures
    """An annotator with two tasks routed to them, a colleague with one; both queues."""
    me, my_client = ls_annotator("locked")
    colleague, _ = ls_annotator("colleague")
    mine, theirs = route_key_for(me.user_id, SECRET), route_key_for(colleague.user_id, SECRET)
    tasks = import_tasks(
        ls_admin, ls_project.id,
        [{"text": "一", "route_to": mine}, {"text": "二", "route_to": mine},
         {"text": "三", "route_to": theirs}],
    )  # fmt: skip
    return {
        "me": me, "client": my_client, "colleague": colleague, "project": ls_project.id,
        "my_view": ensure_queue_view(ls_admin, ls_project.id, mine).id,
        "their_view": ensure_queue_view(ls_admin, ls_project.id, theirs).id,
        "my_tasks": tasks[:2], "their_task": tasks[2],
    }  # fmt: skip


@pytest.mark.parametrize("session", [True, False], ids=["session", "token"])
def test_every_forbidden_call_is_refused_and_changes_nothing(label_studio, session):
    hooks = "http://127.0.0.1:9/hooks/"
    report = run_audit(label_studio.url, label_studio.token, SECRET, hooks, session=session)
    assert len(report.results) >= 40
    assert report.ok, "\n".join(result.line() for result in report.failures)
    refused = {result.status for result in report.results if result.probe.leaked is None}
    assert refused == {403}, "the lock-down itself refuses, before Label Studio's own checks"


def test_the_own_queue_is_labelled_with_the_server_setting_the_author(ls_admin, queue):
    me, client = queue["me"], queue["client"]
    task = next_task(client, queue["project"], queue["my_view"])
    assert task is not None and task.id in queue["my_tasks"]
    # A foreign completed_by is dropped: the author is whoever the session is.
    made = client.request(
        "POST", f"/api/tasks/{task.id}/annotations/",
        json={"result": choice("正面"), "completed_by": queue["colleague"].user_id, "ground_truth": True},
    ).json()  # fmt: skip
    assert made["completed_by"] == me.user_id
    assert made["ground_truth"] is False
    client.request("PATCH", f"/api/annotations/{made['id']}/", json={"result": choice("负面")})
    skipped = next_task(client, queue["project"], queue["my_view"])
    assert skipped is not None and skipped.id != task.id
    skip = {"result": [], "was_cancelled": True}
    client.request("POST", f"/api/tasks/{skipped.id}/annotations/", json=skip)
    assert next_task(client, queue["project"], queue["my_view"]) is None
    stored = ls_admin.get_json(f"/api/annotations/{made['id']}/")
    assert (stored["completed_by"], stored["result"]) == (me.user_id, choice("负面"))
    # The Data Manager's list of views shows the annotator their own queue only.
    views = client.get_json("/api/dm/views/", params={"project": queue["project"]})
    assert [view["id"] for view in views] == [queue["my_view"]]
    # ... and none of the colleague's.
    for method, path, params in [
        ("GET", f"/api/projects/{queue['project']}/next", {"view": queue["their_view"]}),
        ("GET", f"/api/tasks/{queue['their_task']}/", None),
        ("GET", "/api/tasks/", {"project": queue["project"], "view": queue["their_view"]}),
    ]:
        assert client.request(method, path, params=params, expect=(403,)).status_code == 403


def _handoff(url: str, token: str) -> httpx.Response:
    """POSTs the token from a fresh browser; records who that browser is afterwards."""
    with http_client(url) as browser:
        response = browser.post(HANDOFF_PATH, data={"token": token})
        me = browser.get("/api/current-user/whoami")
        response.extensions["whoami"] = me.json() if me.status_code == 200 else None
        if response.status_code == 303:
            response.extensions["page_status"] = browser.get(response.headers["location"]).status_code
        return response


def test_a_handoff_logs_in_once_and_lands_on_the_own_queue(label_studio, queue):
    me, project, view = queue["me"], queue["project"], queue["my_view"]
    token = handoff_token(me.user_id, project, view, SECRET, now=time.time())
    first = _handoff(label_studio.url, token)
    assert first.status_code == 303
    assert first.headers["location"] == f"/projects/{project}/data?tab={view}&labeling=1"
    assert first.extensions["whoami"]["id"] == me.user_id
    assert first.extensions["page_status"] == 200
    replay = _handoff(label_studio.url, token)
    assert replay.status_code == 403 and replay.extensions["whoami"] is None, "a replay is refused"
    expired = handoff_token(me.user_id, project, view, SECRET, now=time.time() - 120)
    forged = handoff_token(me.user_id, project, view, SECRET + "-forged", now=time.time())
    foreign_queue = handoff_token(me.user_id, project, queue["their_view"], SECRET, now=time.time())
    admin_id = connect(label_studio.url, label_studio.token).whoami().id
    as_admin = handoff_token(admin_id, project, view, SECRET, now=time.time())
    for refused in (expired, forged, foreign_queue, as_admin, "", "not.a-token"):
        response = _handoff(label_studio.url, refused)
        assert response.status_code == 403, refused
        assert response.extensions["whoami"] is None, "no session granted"
    with http_client(label_studio.url) as browser:
        fresh = handoff_token(me.user_id, project, view, SECRET, now=time.time())
        assert browser.get(HANDOFF_PATH, params={"token": fresh}).status_code == 405, "never in a URL"


def test_label_studio_refuses_to_start_locked_down_without_the_secret(tmp_path):
    locked = server.server_from_template(server.free_port(*server_ports()), tmp_path / "data")
    locked.extra_env["LABEL_STUDIO_QIANBIAO_SECRET"] = ""
    with pytest.raises(server.LabelStudioServerError, match="LABEL_STUDIO_QIANBIAO_SECRET"):
        locked.start()
    # And Label Studio's side refuses on its own, whoever starts it.
    env = {**locked.environment(), "LABEL_STUDIO_QIANBIAO_SECRET": ""}
    python = server.venv_dir() / "bin" / "python"
    result = subprocess.run(
        [str(python), "-c", "import qianbiao_label_studio_wsgi"],
        env=env, cwd=locked.data_dir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "LABEL_STUDIO_QIANBIAO_SECRET" in result.stderr


def server_ports() -> tuple[int, int]:
    from tests.integration.conftest import PORTS

    return PORTS


def test_ssrf_protection_lets_only_the_configured_webhook_origin_through(ls_admin, ls_project):  # noqa: F811
    with pytest.raises(LabelStudioError, match="reserved network address"):
        register_webhook(ls_admin, "http://127.0.0.1:6379/", "secret-0123456789", project_id=ls_project.id)
    hook = register_webhook(
        ls_admin, "http://127.0.0.1:9/hooks/", "secret-0123456789", project_id=ls_project.id
    )
    delete_webhook(ls_admin, hook.id)


def test_the_session_agent_is_the_annotators_own(label_studio, ls_invite):
    login = register_annotator(label_studio.url, ls_invite, "agent@annotators.qianbiao.test", PASSWORD)
    with SessionAgent(label_studio.url, login.email, PASSWORD) as agent:
        assert agent.whoami()["id"] == login.user_id
        assert agent.request("GET", "/api/users/").status_code == 403


def test_label_studio_audit_passes_locked_down(ls_settings, label_studio, capsys):
    ls_settings.LABEL_STUDIO_WEBHOOK_URL = "http://127.0.0.1:9/hooks/label-studio/"
    call_command("label_studio_audit")
    out = capsys.readouterr().out
    assert "GOT THROUGH" not in out and "CHANGED DATA" not in out
    assert out.count("\nok ") + out.startswith("ok ") >= 40


def test_label_studio_audit_names_what_gets_through_without_the_lockdown(
    ls_settings, unlocked_label_studio, capsys
):
    with pytest.raises(CommandError) as failed:
        call_command("label_studio_audit", url=unlocked_label_studio.url, token=unlocked_label_studio.token)
    out = capsys.readouterr().out
    for call in ("GET /api/tasks/", "GET /api/webhooks/", "GET /api/invite", "GET /api/users/"):
        assert any(line.startswith("GOT THROUGH") and call in line for line in out.splitlines()), (call, out)
    assert "PATCH /api/annotations/" in str(failed.value)
    assert "foreign completed_by" in out
