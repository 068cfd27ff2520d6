"""The platform side of the Label Studio backend on a real Label Studio and PostgreSQL:
provisioning, push (and a push that dies half-way), annotators labelling their own
queues, webhooks into a live server, flagging, reconciliation, withdrawal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count
from django.utils import timezone

from annotation.annotations import create_annotation
from annotation.client import connect
from annotation.errors import LabelStudioError
from annotation.queues import next_task
from annotation.tasks import iter_tasks
from annotation.webhooks import SECRET_HEADER, list_webhooks
from qianbiao.labelling import push, selectors
from qianbiao.labelling.accounts import accounts_deactivate_leavers
from qianbiao.labelling.ingest import annotations_delete, events_ingest
from qianbiao.labelling.models import Annotation, LabelStudioAccount, LabelStudioEvent, LabelStudioQueue
from qianbiao.labelling.push import assignments_push
from qianbiao.labelling.queues import annotator_queues_open, queues_ensure_for_project
from qianbiao.labelling.reconcile import assignments_withdraw_label_studio, project_reconcile_label_studio
from qianbiao.labelling.shards import project_provision_label_studio
from qianbiao.projects.models import Assignment, AssignmentState, Item
from tests.labelstudio.conftest import annotator_label_studio_login, choice, make_work

pytestmark = pytest.mark.integration


def label_own_queue(settings, annotator, *, project, lead_time: float) -> list[int]:
    """The annotator, with their own token, labels every task of their queue via /next?view=."""
    login = annotator_label_studio_login(settings, annotator, project=project)
    queue = annotator_queues_open(annotator_id=annotator.pk, project_id=project.pk)[0]  # first shard
    done = []
    with connect(settings.LABEL_STUDIO_URL, login.token) as me:
        while (task := next_task(me, queue.ls_project.ls_project_id, queue.ls_view_id)) is not None:
            create_annotation(me, task.id, choice("正面"), lead_time=lead_time)
            done.append(task.id)
            assert len(done) < 100, "the queue never empties"
    return done


def ls_tasks_by_assignment(admin, project) -> dict[int, int]:
    """Assignment id -> number of Label Studio tasks carrying it, over every shard."""
    counts: dict[int, int] = {}
    for shard in selectors.project_shards(project_id=project.pk):
        for task in iter_tasks(admin, shard.ls_project_id):
            counts[task.assignment_id] = counts.get(task.assignment_id, 0) + 1
    return counts


@pytest.mark.django_db(transaction=True)
def test_annotators_label_their_queues_and_webhooks_land_on_the_right_assignment(
    ls_settings, ls_admin, live_server
):
    ls_settings.LABEL_STUDIO_WEBHOOK_URL = f"{live_server.url}/hooks/label-studio/"
    project, (ann_a, ann_b), assignments = make_work(annotators=2, items=6)
    project_provision_label_studio(project_id=project.pk)
    [hook] = [w for w in list_webhooks(ls_admin) if w.project_id == project.ls_projects.get().ls_project_id]
    assert hook.url == ls_settings.LABEL_STUDIO_WEBHOOK_URL

    outcome = assignments_push(project_id=project.pk)
    assert (outcome.pushed, outcome.created) == (6, 6)
    accounts = {a.annotator_id: a for a in LabelStudioAccount.objects.all()}
    assert set(accounts) == {ann_a.pk, ann_b.pk}
    assert all(a.email.endswith("@annotators.qianbiao.invalid") for a in accounts.values())

    labelled_a = label_own_queue(ls_settings, ann_a, project=project, lead_time=12.5)
    labelled_b = label_own_queue(ls_settings, ann_b, project=project, lead_time=7.0)
    for x in assignments:
        x.refresh_from_db()
    mine = {p: {x.ls_task_id for x in assignments if x.annotator_id == p} for p in (ann_a.pk, ann_b.pk)}
    assert sorted(labelled_a) == sorted(mine[ann_a.pk]) and len(labelled_a) == 3
    assert sorted(labelled_b) == sorted(mine[ann_b.pk]) and len(labelled_b) == 3

    # Label Studio delivered each annotation to live_server while it was made: recorded, not yet ingested.
    assert LabelStudioEvent.objects.filter(processed_at__isnull=True).count() == 6
    events_ingest(event_ids=selectors.events_pending())
    assert not selectors.events_pending()
    for x in assignments:
        x.refresh_from_db()
        counted = Annotation.objects.get(assignment=x)
        assert x.state == AssignmentState.SUBMITTED and x.submitted_at is not None
        assert counted.annotator_id == x.annotator_id and not counted.flagged
        assert counted.ls_task_id == x.ls_task_id
        assert counted.lead_time_s == (12.5 if x.annotator_id == ann_a.pk else 7.0)
        assert counted.received_via == "webhook"
        assert counted.result == choice("正面")

    # B annotates a task routed to A: Label Studio's lock-down refuses it ...
    theirs = next(x for x in assignments if x.annotator_id == ann_a.pk)
    login_b = annotator_label_studio_login(ls_settings, ann_b, project=project)
    url = ls_settings.LABEL_STUDIO_URL
    with connect(url, login_b.token) as b, pytest.raises(LabelStudioError) as refused:
        create_annotation(b, theirs.ls_task_id, choice("负面"), lead_time=3.0)
    assert refused.value.status == 403
    # ... and one forged anyway (made here with the admin's token, naming B as its author):
    # Label Studio's server records who really made it, so it is kept, flagged, not counted.
    forged = {"lead_time": 3.0, "completed_by": login_b.user_id}
    create_annotation(ls_admin, theirs.ls_task_id, choice("负面"), **forged)
    events_ingest(event_ids=selectors.events_pending())
    flagged = Annotation.objects.get(assignment=theirs, flagged=True)
    assert flagged.flag_reason == "completed_by names someone other than the user who made it"
    assert flagged.annotator_id is None and flagged.ls_user_id != login_b.user_id and not flagged.counts
    assert Annotation.objects.filter(assignment=theirs, flagged=False).get().annotator_id == ann_a.pk
    # Every annotation is on the right assignment: one counted per assignment, by its assignee.
    assert Annotation.objects.count() == 7
    per = Annotation.objects.filter(flagged=False).values("assignment").annotate(n=Count("id"))
    assert sorted(r["n"] for r in per) == [1] * 6


@pytest.mark.django_db(transaction=True)
def test_webhook_view_refuses_a_delivery_without_the_secret(ls_settings, client):
    body = b'{"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "task": 1}}'
    assert client.post("/hooks/label-studio/", body, content_type="application/json").status_code == 403
    wrong = {f"HTTP_{SECRET_HEADER.upper().replace('-', '_')}": "not-the-secret"}
    assert (
        client.post("/hooks/label-studio/", body, content_type="application/json", **wrong).status_code == 403
    )
    assert not LabelStudioEvent.objects.exists()


@pytest.mark.django_db
def test_reconciliation_brings_in_what_the_webhook_missed_and_twice_creates_nothing(ls_settings):
    # The webhook points at a closed port: Label Studio's deliveries go nowhere.
    project, people, assignments = make_work(annotators=3, items=9)
    assignments_push(project_id=project.pk)
    for person in people:
        label_own_queue(ls_settings, person, project=project, lead_time=4.25)
    assert not Annotation.objects.exists() and not LabelStudioEvent.objects.exists()

    first = project_reconcile_label_studio(project_id=project.pk)
    assert (first.created, first.flagged, first.submitted) == (9, 0, 9)
    for x in assignments:
        x.refresh_from_db()
        row = Annotation.objects.get(assignment=x)
        assert x.state == AssignmentState.SUBMITTED
        assert (row.annotator_id, row.lead_time_s, row.received_via) == (x.annotator_id, 4.25, "reconcile")

    # Nothing open any more: a second run exports nothing; re-ingesting the same export
    # changes nothing (no annotation is newer than what we hold): never a duplicate.
    assert project_reconcile_label_studio(project_id=project.pk).created == 0
    Assignment.objects.filter(pk__in=[x.pk for x in assignments]).update(state=AssignmentState.OPEN)
    before = sorted(Annotation.objects.values_list("ls_annotation_id", "result", "ls_updated_at"))
    again = project_reconcile_label_studio(project_id=project.pk)
    assert (again.created, again.updated, again.flagged) == (0, 0, 0)
    assert sorted(Annotation.objects.values_list("ls_annotation_id", "result", "ls_updated_at")) == before


@pytest.mark.django_db
def test_reconciliation_reflects_edits_and_deletions_of_submitted_work(ls_settings):
    # Webhook down throughout: labelled, reconciled (submitted), then edited and deleted in LS.
    project, people, assignments = make_work(annotators=2, items=4)
    assignments_push(project_id=project.pk)
    for person in people:
        label_own_queue(ls_settings, person, project=project, lead_time=3.0)
    assert project_reconcile_label_studio(project_id=project.pk).submitted == 4
    # As if they had arrived a while ago (deletion is judged only on what had settled).
    Annotation.objects.update(received_at=timezone.now() - dt.timedelta(minutes=5))
    edited, deleted = Annotation.objects.order_by("id")[:2]
    login = annotator_label_studio_login(ls_settings, edited.annotator, project=project)
    with connect(ls_settings.LABEL_STUDIO_URL, login.token) as me:
        me.request("PATCH", f"/api/annotations/{edited.ls_annotation_id}/", json={"result": choice("负面")})
    # An annotator may not delete (the lock-down refuses it); the admin's deletion is seen.
    login = annotator_label_studio_login(ls_settings, deleted.annotator, project=project)
    with connect(ls_settings.LABEL_STUDIO_URL, login.token) as me:
        me.request("DELETE", f"/api/annotations/{deleted.ls_annotation_id}/", expect=(403,))
    with connect(ls_settings.LABEL_STUDIO_URL, ls_settings.LABEL_STUDIO_API_KEY) as admin:
        admin.request("DELETE", f"/api/annotations/{deleted.ls_annotation_id}/", expect=(204,))

    outcome = project_reconcile_label_studio(project_id=project.pk)
    assert (outcome.created, outcome.deleted, outcome.reopened) == (0, 1, 1)
    edited.refresh_from_db()
    deleted.refresh_from_db()
    assert edited.result == choice("负面") and edited.deleted_at is None
    assert deleted.deleted_at is not None
    assert deleted.assignment.state == AssignmentState.OPEN  # back in the annotator's queue
    assert Assignment.objects.filter(state=AssignmentState.SUBMITTED).count() == 3
    # Twice changes nothing more.
    again = project_reconcile_label_studio(project_id=project.pk)
    assert (again.created, again.deleted, again.reopened) == (0, 0, 0)


@pytest.mark.django_db
def test_a_push_killed_half_way_and_run_again_leaves_one_task_per_assignment(
    ls_settings, ls_admin, monkeypatch
):
    project, _, assignments = make_work(annotators=4, items=25)
    real = push._record_pushed
    calls = {"n": 0}

    def dies_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # Label Studio has imported batch 2; we never learn its task ids
            raise SystemExit("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(push, "_record_pushed", dies_on_second_batch)
    with pytest.raises(SystemExit):
        assignments_push(project_id=project.pk, batch_size=10)
    monkeypatch.setattr(push, "_record_pushed", real)
    # Batch 3 was importing while batch 2 was being recorded: it finished, and was
    # recorded on the way out. Batch 2 is in Label Studio with no task ids here.
    assert Assignment.objects.filter(ls_task_id__isnull=False).count() == 15
    assert len(ls_tasks_by_assignment(ls_admin, project)) == 25

    # Label Studio might still be committing an import the dead push sent: wait, not look.
    deferred = assignments_push(project_id=project.pk, batch_size=10)
    assert deferred.deferred and deferred.pushed == 0
    ls_settings.LABEL_STUDIO_PUSH_SETTLE_SECONDS = 0  # as if the settle time had passed
    again = assignments_push(project_id=project.pk, batch_size=10)
    assert not again.deferred
    assert (again.pushed, again.found_existing, again.created) == (10, 10, 0)
    counts = ls_tasks_by_assignment(ls_admin, project)
    assert counts == {x.pk: 1 for x in assignments}
    assert sum(s.task_count for s in selectors.project_shards(project_id=project.pk)) == 25  # found ones too
    recorded = dict(Assignment.objects.values_list("pk", "ls_task_id"))
    for shard in selectors.project_shards(project_id=project.pk):
        for task in iter_tasks(ls_admin, shard.ls_project_id):
            assert recorded[task.assignment_id] == task.id
    # And a third run has nothing to do.
    assert assignments_push(project_id=project.pk).pushed == 0


@pytest.mark.django_db
def test_shards_split_a_project_and_queues_follow(ls_settings, ls_admin):
    ls_settings.LABEL_STUDIO_SHARD_TASKS = 8
    project, people, assignments = make_work(annotators=2, items=20)
    assignments_push(project_id=project.pk, batch_size=5)
    shards = selectors.project_shards(project_id=project.pk)
    assert [s.task_count for s in shards] == [5, 5, 5, 5]
    assert ls_tasks_by_assignment(ls_admin, project) == {x.pk: 1 for x in assignments}
    assert not LabelStudioQueue.objects.exists()  # views come after the push, not in it
    assert queues_ensure_for_project(project_id=project.pk) == 2 * len(shards)
    assert LabelStudioQueue.objects.count() == 2 * len(shards)
    assert queues_ensure_for_project(project_id=project.pk) == 0
    labelled = label_own_queue(ls_settings, people[0], project=project, lead_time=1.0)
    assert len(labelled) == 3  # the queue of the first shard only (items 0, 2, 4)
    assert project_reconcile_label_studio(project_id=project.pk).submitted == 3


@pytest.mark.django_db
def test_revoked_work_leaves_label_studio_and_deletion_reopens(ls_settings, ls_admin):
    project, people, assignments = make_work(annotators=2, items=4)
    assignments_push(project_id=project.pk)
    gone = assignments[0]
    Assignment.objects.filter(pk=gone.pk).update(state=AssignmentState.REVOKED)
    assert assignments_withdraw_label_studio() == 1
    assert gone.pk not in ls_tasks_by_assignment(ls_admin, project)
    gone.refresh_from_db()
    assert gone.ls_task_id is None

    label_own_queue(ls_settings, people[1], project=project, lead_time=2.0)
    project_reconcile_label_studio(project_id=project.pk)
    done = Annotation.objects.filter(annotator=people[1]).first()
    assert done.assignment.state == AssignmentState.SUBMITTED
    annotations_delete(ls_annotation_ids=[done.ls_annotation_id])
    done.refresh_from_db()
    assert done.deleted_at is not None and done.assignment.state == AssignmentState.OPEN


@pytest.mark.django_db
def test_leavers_are_deactivated_in_label_studio(ls_settings):
    from qianbiao.workforce.models import AnnotatorStatus

    project, people, _ = make_work(annotators=2, items=2)
    assignments_push(project_id=project.pk)
    people[0].status = AnnotatorStatus.LEFT
    people[0].save(update_fields=["status"])
    assert accounts_deactivate_leavers() == 1
    assert accounts_deactivate_leavers() == 0
    assert not LabelStudioAccount.objects.get(annotator=people[0]).is_active


@pytest.mark.django_db
def test_a_rehired_annotator_gets_a_new_account_and_works_again(ls_settings):
    from qianbiao.workforce.models import AnnotatorStatus

    project, people, assignments = make_work(annotators=2, items=4)
    assignments_push(project_id=project.pk)
    before = LabelStudioAccount.objects.get(annotator=people[0])
    people[0].status = AnnotatorStatus.LEFT
    people[0].save(update_fields=["status"])
    Assignment.objects.filter(annotator=people[0]).update(state=AssignmentState.REVOKED)
    assert accounts_deactivate_leavers() == 1
    assert assignments_withdraw_label_studio() == 2

    people[0].status = AnnotatorStatus.ACTIVE  # rehired, and given new items
    people[0].save(update_fields=["status"])
    now = timezone.now()
    again = [
        Assignment.objects.create(
            project=project,
            item=Item.objects.create(project=project, external_id=f"rehire-{n}", data={"text": f"新 {n}"}),
            annotator=people[0],
            slot=0,
            assigned_at=now,
            expires_at=now + dt.timedelta(hours=24),
        )
        for n in range(2)
    ]
    assert assignments_push(project_id=project.pk).created == 2
    after = LabelStudioAccount.objects.get(annotator=people[0])
    assert after.is_active and after.pk == before.pk
    assert (after.ls_user_id, after.email, after.routing_key) != (
        before.ls_user_id,
        before.email,
        before.routing_key,
    )

    labelled = label_own_queue(ls_settings, people[0], project=project, lead_time=2.0)
    assert len(labelled) == 2
    assert project_reconcile_label_studio(project_id=project.pk).submitted == 2
    for x in again:
        x.refresh_from_db()
        assert x.state == AssignmentState.SUBMITTED
        assert Annotation.objects.get(assignment=x, flagged=False).ls_user_id == after.ls_user_id
