"""Account provisioning, per-annotator tokens and deactivation on a real Label Studio."""

from __future__ import annotations

import os

import pytest

from annotation.accounts import (
    deactivate_account,
    list_accounts,
    login_token,
    provision_accounts,
    register_annotator,
    sign_up_annotator,
)
from annotation.annotations import create_annotation, list_annotations
from annotation.errors import LabelStudioError, LabelStudioNotFound
from annotation.projects import get_project
from annotation.queues import ensure_queue_view, next_task
from annotation.signing import route_key_for
from annotation.tasks import push_tasks
from annotation.types import AccountSpec, TaskSpec

pytestmark = pytest.mark.integration

CHOICE = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["正面"]}}]


def test_provisioning_twice_creates_each_account_once(ls_admin):
    specs = [AccountSpec(email=f"Bulk{i}-{os.getpid()}@annotators.qianbiao.test") for i in range(5)]
    before = len(list_accounts(ls_admin))
    first = provision_accounts(ls_admin, specs)
    assert [a.created for a in first] == [True] * 5
    assert [a.email for a in first] == [s.email.lower() for s in specs]
    second = provision_accounts(ls_admin, specs + specs[:2])
    assert [a.created for a in second] == [False] * 7
    assert [a.id for a in second[:5]] == [a.id for a in first]
    assert len(list_accounts(ls_admin)) == before + 5


def test_provisioned_accounts_belong_to_the_organisation(ls_admin):
    (account,) = provision_accounts(
        ls_admin, [AccountSpec(email=f"org-{os.getpid()}@annotators.qianbiao.test")]
    )
    user = ls_admin.get_json(f"/api/users/{account.id}/")
    assert user["active_organization"] == ls_admin.get_json("/api/current-user/whoami")["active_organization"]


def test_an_annotator_registers_once_and_gets_their_own_token(label_studio, ls_invite, ls_admin):
    email = f"self-{os.getpid()}@annotators.qianbiao.test"
    first = register_annotator(label_studio.url, ls_invite, email, "a-password-of-mine")
    again = register_annotator(label_studio.url, ls_invite, email, "a-password-of-mine")
    assert first.created and not again.created
    assert (again.user_id, again.token) == (first.user_id, first.token)
    assert first.token != label_studio.token
    assert login_token(label_studio.url, email, "a-password-of-mine").token == first.token
    with pytest.raises(LabelStudioError):
        login_token(label_studio.url, email, "not-the-password")
    assert sum(a.id == first.user_id for a in list_accounts(ls_admin)) == 1


def test_an_annotator_signs_up_once_with_a_password_nobody_knows(label_studio, ls_invite, ls_admin):
    email = f"Random-{os.getpid()}@annotators.qianbiao.test"
    first = sign_up_annotator(ls_admin, ls_invite, email)
    again = sign_up_annotator(ls_admin, ls_invite, email)  # a retry after a crash
    assert first.created and not again.created
    assert first.id == again.id and first.email == email.lower()
    assert sum(a.id == first.id for a in list_accounts(ls_admin)) == 1
    # Its password was random and thrown away: nothing we hold logs it in.
    with pytest.raises(LabelStudioError):
        login_token(label_studio.url, email, "")
    with pytest.raises(LabelStudioError):
        sign_up_annotator(ls_admin, "wrong-invite", f"other-{os.getpid()}@annotators.qianbiao.test")


def test_signup_needs_the_invite_token(label_studio):
    with pytest.raises(LabelStudioError):
        register_annotator(label_studio.url, "wrong-token", "stranger@example.test", "a-password-of-mine")


def test_a_deactivated_annotator_can_no_longer_work(ls_admin, ls_project, ls_annotator):
    login, annotator = ls_annotator("leaver")
    route = route_key_for(login.user_id, os.environ["LABEL_STUDIO_QIANBIAO_SECRET"])  # their own queue
    view = ensure_queue_view(ls_admin, ls_project.id, route)
    (pushed,) = push_tasks(
        ls_admin, ls_project.id, [TaskSpec(assignment_id=1, route_key=route, data={"text": "x"})]
    )
    assert get_project(annotator, ls_project.id).id == ls_project.id
    assert deactivate_account(ls_admin, login.user_id) is True
    assert deactivate_account(ls_admin, login.user_id) is False  # idempotent
    with pytest.raises(LabelStudioNotFound):
        get_project(annotator, ls_project.id)
    with pytest.raises(LabelStudioError) as caught:
        next_task(annotator, ls_project.id, view.id)
    assert caught.value.status in (403, 404)
    # The project list is closed to every annotator by the lock-down.
    assert annotator.request("GET", "/api/projects/", expect=(403,)).status_code == 403
    with pytest.raises(LabelStudioError):
        create_annotation(annotator, pushed.task_id, CHOICE)
    assert list_annotations(ls_admin, pushed.task_id) == []


def test_a_fresh_server_takes_concurrent_sign_ups_and_an_import(tmp_path):
    """Label Studio's SQLite as annotation.server serves it (WAL, immediate transactions):
    writes that arrive together wait for each other. Served with Label Studio's shipped
    database settings, this failed 2 runs in 3 with "database is locked" (HTTP 500) on a
    fresh organisation's first requests."""
    from concurrent.futures import ThreadPoolExecutor

    from annotation import server
    from annotation.accounts import invite_token
    from annotation.client import connect
    from annotation.label_configs import text_classification
    from annotation.projects import create_project
    from tests.integration.conftest import PORTS

    emails = [f"together{i}@annotators.qianbiao.test" for i in range(16)]
    specs = [
        TaskSpec(assignment_id=f"together-{i}", route_key="r", data={"text": str(i)}) for i in range(4000)
    ]
    fresh = server.server_from_template(server.free_port(*PORTS), tmp_path / "data")
    with fresh, connect(fresh.url, fresh.token) as admin:
        invite = invite_token(admin)
        project = create_project(admin, "together", text_classification(["正面", "负面"]))
        with ThreadPoolExecutor(max_workers=9) as pool:
            imported = pool.submit(push_tasks, admin, project.id, specs, batch_size=500, check_existing=False)
            logins = list(pool.map(lambda e: register_annotator(fresh.url, invite, e, "pw-" + e), emails))
            assert len(imported.result()) == 4000
        assert get_project(admin, project.id).task_count == 4000
    assert [login.email for login in logins] == emails
    assert len({login.user_id for login in logins}) == 16
