"""'Why did annotator X get item Y' — from the selector, the command and the admin."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from qianbiao.programme.models import Grade
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.explain import annotator_open_load_at, assignment_explain
from qianbiao.projects.items import items_import
from qianbiao.projects.lifecycle import assignments_revoke_for_annotator, project_set_status
from qianbiao.projects.models import Assignment, AssignmentState, DistributionRun, Item, ProjectStatus
from qianbiao.workforce.services import SkillSpec, annotator_leave
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory

pytestmark = pytest.mark.django_db

BBOX = (SkillSpec("bounding_box", 2),)


@pytest.fixture
def scene():
    """Three eligible annotators, one without the skill; one item already given
    to two of them, so the third was passed over."""
    facility = FacilityFactory(grade=Grade.L3)
    project = DatasetProjectFactory(overlap=2, open_cap=100)
    a, b, c = (AnnotatorFactory(facility=facility, skills=BBOX) for _ in range(3))
    unskilled = AnnotatorFactory(facility=facility, skills=(SkillSpec("transcription", 3),))
    items_import(project=project, rows=[{"external_id": f"e{k}", "data": {"k": k}} for k in range(3)])
    project_distribute(project_id=project.pk)
    return project, (a, b, c), unskilled


def test_a_given_item_is_explained_by_run_rule_and_load(scene):
    project, annotators, _ = scene
    item = Item.objects.filter(project=project).order_by("pk").first()
    given = Assignment.objects.filter(item=item).order_by("slot").first()
    run = DistributionRun.objects.get(project=project)

    expl = assignment_explain(item_id=item.pk, annotator_id=given.annotator_id)

    assert expl.got_it and expl.run == run
    assert expl.verdict.startswith(f"yes: slot {given.slot} given")
    assert f"by distribution run {run.pk}" in expl.verdict
    assert f"held {given.load_at_decision} open assignment(s)" in expl.verdict
    assert any(r.startswith("rule: least-loaded eligible annotator first") for r in expl.reasons)
    text = expl.as_text()
    assert f"Distribution run {run.pk}" in text and "[ok] skill" in text
    assert text.count("assigned (slot") == 2  # the item's history shows both assignees


def test_a_passed_over_annotator_is_shown_the_loads_that_beat_them(scene):
    project, annotators, _ = scene
    # Items 1..3 with overlap 2 over three annotators: the one left off an item
    # held more open work at that moment than both who got it.
    for item in Item.objects.filter(project=project).order_by("pk"):
        holders = set(Assignment.objects.filter(item=item).values_list("annotator_id", flat=True))
        (left_out,) = [a for a in annotators if a.pk not in holders]
        expl = assignment_explain(item_id=item.pk, annotator_id=left_out.pk)
        assert not expl.got_it
        assert expl.verdict == "no: all 2 slot(s) went to other annotators"
        assert len(expl.reasons) == 2
        for reason in expl.reasons:
            assert "with open load" in reason
            assert "more, so least-loaded-first chose the other" in reason or "a tie is broken" in reason


def test_load_at_a_past_moment_is_rebuilt_from_history(scene):
    project, (a, _, _), _ = scene
    mine = list(Assignment.objects.filter(annotator=a).order_by("item_id"))
    moment = mine[0].assigned_at
    # Within the one chunk, the ordinary items before an item count; gold never does.
    for k, assignment in enumerate(mine):
        assert (
            annotator_open_load_at(
                project=project, annotator_id=a.pk, moment=moment, item_id=assignment.item_id
            )
            == k
        )
        assert assignment.load_at_decision == k
    later = moment + dt.timedelta(seconds=1)
    assert annotator_open_load_at(project=project, annotator_id=a.pk, moment=later) == len(mine)


def test_an_ineligible_annotator_is_told_which_rule_fails(scene):
    project, _, unskilled = scene
    item = Item.objects.filter(project=project).first()
    expl = assignment_explain(item_id=item.pk, annotator_id=unskilled.pk)
    assert expl.verdict.startswith("no: not eligible — skill (bounding_box: has none, needs ≥1)")
    assert "[NO] skill" in expl.as_text()


def test_revoked_work_shows_in_the_history_with_its_reason(scene):
    project, (a, b, c), _ = scene
    annotator_leave(annotator=a, last_day=dt.date(2026, 3, 1))
    assignments_revoke_for_annotator(annotator_id=a.pk, reason="annotator left")
    revoked = Assignment.objects.filter(annotator=a).first()
    assert revoked.state == AssignmentState.REVOKED and revoked.ended_at is not None
    project_set_status(project=project, status=ProjectStatus.PAUSED)

    expl = assignment_explain(item_id=revoked.item_id, annotator_id=a.pk)

    assert expl.got_it
    assert "the assignment is now revoked: annotator left" in expl.reasons
    assert any(r.startswith("no longer eligible now: active") for r in expl.reasons)
    assert "revoked: annotator left" in expl.as_text()
    # The freed slot is pending again, but with the project paused nobody gets it.
    holders = set(Assignment.objects.filter(item_id=revoked.item_id).values_list("annotator_id", flat=True))
    (outsider,) = [x for x in (b, c) if x.pk not in holders]
    assert assignment_explain(item_id=revoked.item_id, annotator_id=outsider.pk).verdict == (
        "no: the project is paused, nothing is distributed"
    )


def test_a_pending_item_says_not_yet():
    facility = FacilityFactory(grade=Grade.L3)
    project = DatasetProjectFactory(overlap=1)
    annotator = AnnotatorFactory(facility=facility, skills=BBOX)
    items_import(project=project, rows=[{"external_id": "p", "data": {"k": 1}}])
    expl = assignment_explain(item_id=Item.objects.get().pk, annotator_id=annotator.pk)
    assert expl.verdict.startswith("not yet: the item has 1 free slot(s)")
    assert "(never assigned)" in expl.as_text()


def test_the_command_answers_by_id_or_by_number(scene):
    project, (a, _, _), _ = scene
    assignment = Assignment.objects.filter(annotator=a).first()
    out = StringIO()
    call_command("explain_assignment", "--item", str(assignment.item_id), "--annotator", a.code, stdout=out)
    assert "Verdict: yes: slot" in out.getvalue()
    assert f"annotator {a.pk} ({a.code})" in out.getvalue()
    with pytest.raises(CommandError, match="no annotator"):
        call_command("explain_assignment", "--item", str(assignment.item_id), "--annotator", "NOBODY")
    with pytest.raises(CommandError, match="no item"):
        call_command("explain_assignment", "--item", "0", "--annotator", str(a.pk))


def test_the_admin_explains_an_item_and_an_assignment(client, admin_user, scene):
    project, (a, _, _), _ = scene
    client.force_login(admin_user)
    assignment = Assignment.objects.filter(annotator=a).first()
    url = reverse("admin:projects_item_explain", args=[assignment.item_id])
    page = client.get(url, {"annotator": a.code})
    assert page.status_code == 200
    assert "Verdict: yes: slot" in page.content.decode()
    missing = client.get(url, {"annotator": "NOBODY"})
    assert "NOBODY" in missing.content.decode() and "Verdict" not in missing.content.decode()
    detail = client.get(reverse("admin:projects_assignment_change", args=[assignment.pk]))
    assert detail.status_code == 200 and "Verdict: yes: slot" in detail.content.decode()
