"""A project manager activates annotators from the admin: slips and a facility's CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from qianbiao.portal import codes
from qianbiao.portal.models import AnnotatorLogin
from qianbiao.workforce.models import AnnotatorStatus
from tests.factories import AnnotatorFactory

pytestmark = pytest.mark.django_db


def run_action(client, url, action, pks):
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks]})


def test_pm_prints_slips_for_chosen_annotators(client, project_manager, annotator):
    client.force_login(project_manager)
    response = run_action(
        client, reverse("admin:workforce_annotator_changelist"), "annotators_activate", [annotator.pk]
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    code = codes.code_normalize(page.split('data-field="code">', 1)[1].split("<", 1)[0])
    login = AnnotatorLogin.objects.get(annotator=annotator)
    assert codes.code_matches(code, login.code_hash)
    assert annotator.name not in page  # masked
    assert annotator.name[0] + "*" in page and annotator.code in page and "/work/activate/" in page


def test_pm_exports_a_facilitys_codes_as_csv(client, project_manager, facility):
    people = [AnnotatorFactory(facility=facility) for _ in range(3)]
    people[2].status = AnnotatorStatus.LEFT
    people[2].save()
    client.force_login(project_manager)
    response = run_action(
        client, reverse("admin:programme_facility_changelist"), "facilities_activate_csv", [facility.pk]
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["工号", "姓名", "厂房", "激活码"]
    assert sorted(r[0] for r in rows[1:]) == sorted(p.code for p in people[:2])
    for row in rows[1:]:
        login = AnnotatorLogin.objects.get(annotator__code=row[0])
        assert codes.code_matches(row[3], login.code_hash)


def test_the_actions_need_the_permission(client, facility, annotator):
    from tests.factories import UserFactory

    clerk = UserFactory(username="clerk", is_staff=True)
    from django.contrib.auth.models import Permission

    clerk.user_permissions.add(Permission.objects.get(codename="view_annotator"))
    client.force_login(clerk)
    page = client.get(reverse("admin:workforce_annotator_changelist")).content.decode()
    assert "annotators_activate" not in page
    run_action(client, reverse("admin:workforce_annotator_changelist"), "annotators_activate", [annotator.pk])
    assert not AnnotatorLogin.objects.exists()
