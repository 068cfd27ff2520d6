"""The admin for project managers: pages, validation on the field, masked
personal data, the reveal page and its log, and the role itself."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from qianbiao.core.roles import (
    PROJECT_MANAGER_GROUP,
    project_manager_group_ensure,
    user_is_project_manager,
)
from qianbiao.enterprises.models import Enterprise
from qianbiao.programme.models import Facility, Grade
from qianbiao.workforce.models import (
    Annotator,
    AnnotatorSkill,
    AnnotatorStatus,
    Employment,
    PersonalDataAccess,
    TaskType,
)
from qianbiao.workforce.services import LanguageSpec, SkillSpec, annotator_find_by_id_card
from seeds.identity import synthetic_credit_code, synthetic_id_card
from tests.factories import (
    AnnotatorFactory,
    EnterpriseFactory,
    FacilityFactory,
    GradeRubricFactory,
    LanguageFactory,
    ParkFactory,
    RegionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [
    ("enterprises", "enterprise"),
    ("programme", "graderubric"),
    ("programme", "region"),
    ("programme", "park"),
    ("programme", "facility"),
    ("programme", "headcounttarget"),
    ("workforce", "language"),
    ("workforce", "annotator"),
]


def wrong_check_digit(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def stored_ciphertext(annotator: Annotator) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_card_number, phone FROM workforce_annotator WHERE id = %s", [annotator.pk])
        return cursor.fetchone()


@pytest.fixture
def pm_client(client, project_manager):
    client.force_login(project_manager)
    return client


@pytest.fixture
def pii_viewer(project_manager):
    project_manager.user_permissions.add(Permission.objects.get(codename="view_personal_data"))
    return project_manager


def annotator_add_data(facility: Facility, **overrides: str) -> dict[str, str]:
    data = {
        "code": "A000001",
        "name": "吴小梅",
        "skill_level": "5",
        "employer": str(facility.operator_id),
        "facility": str(facility.pk),
        "started_on": "2026-03-02",
        "id_card_number": synthetic_id_card(4242),
        "phone": "13800001111",
        "skills-TOTAL_FORMS": "0",
        "skills-INITIAL_FORMS": "0",
        "languages-TOTAL_FORMS": "0",
        "languages-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def bound_form_data(form) -> dict[str, object]:
    """What a browser would submit for a rendered form, unchanged."""
    data: dict[str, object] = {}
    for field in form:
        value = field.value()
        if value is None or value is False:
            continue
        data[field.html_name] = "on" if value is True else value
    return data


def annotator_change_data(client, annotator: Annotator, **overrides: str) -> dict[str, object]:
    """The change form as the browser would post it back, with ``overrides``."""
    response = client.get(reverse("admin:workforce_annotator_change", args=[annotator.pk]))
    data = bound_form_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data.update(bound_form_data(inline.formset.management_form))
        for form in inline.formset.forms:
            data.update(bound_form_data(form))
    data.update(overrides)
    return data


# --- the role ----------------------------------------------------------------


def test_project_manager_group_exists_after_migrate_with_the_role_permissions():
    group = Group.objects.get(name=PROJECT_MANAGER_GROUP)
    granted = set(group.permissions.values_list("content_type__app_label", "codename"))
    # Employment history is the basis of past headcount: nobody erases it through the role.
    history = {("workforce", "delete_annotator"), ("workforce", "delete_employment")}
    for app_label, model in MODELS:
        for action in ("add", "change", "view", "delete"):
            permission = (app_label, f"{action}_{model}")
            assert (permission in granted) is (permission not in history), permission
    assert ("workforce", "change_employment") in granted
    assert ("workforce", "view_personaldataaccess") in granted
    assert ("workforce", "view_personal_data") not in granted
    assert ("workforce", "delete_personaldataaccess") not in granted
    assert not any(app_label == "auth" for app_label, _ in granted)


def test_group_creation_is_idempotent():
    before = set(Group.objects.get(name=PROJECT_MANAGER_GROUP).permissions.values_list("pk", flat=True))
    project_manager_group_ensure()
    project_manager_group_ensure()
    assert Group.objects.filter(name=PROJECT_MANAGER_GROUP).count() == 1
    assert (
        set(Group.objects.get(name=PROJECT_MANAGER_GROUP).permissions.values_list("pk", flat=True)) == before
    )


def test_user_is_project_manager(project_manager, admin_user, outsider):
    staff_without_role = UserFactory(username="staff", is_staff=True)
    assert user_is_project_manager(project_manager)
    assert user_is_project_manager(admin_user)
    assert not user_is_project_manager(outsider)
    assert not user_is_project_manager(staff_without_role)
    project_manager.is_active = False
    assert not user_is_project_manager(project_manager)


def test_outsider_cannot_open_the_admin(client, outsider, annotator):
    client.force_login(outsider)
    for url in (
        reverse("admin:index"),
        reverse("admin:workforce_annotator_changelist"),
        reverse("admin:workforce_annotator_change", args=[annotator.pk]),
        reverse("admin:workforce_annotator_import"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


# --- pages -------------------------------------------------------------------


@pytest.mark.parametrize(("app_label", "model"), MODELS)
def test_changelist_and_add_form_render_for_a_project_manager(pm_client, annotator, app_label, model):
    changelist = pm_client.get(reverse(f"admin:{app_label}_{model}_changelist"))
    assert changelist.status_code == 200
    add = pm_client.get(reverse(f"admin:{app_label}_{model}_add"))
    assert add.status_code == 200


def test_personal_data_log_is_read_only(pm_client, pii_viewer, annotator):
    PersonalDataAccess.objects.create(user=pii_viewer, annotator=annotator, fields="id_card_number")
    assert pm_client.get(reverse("admin:workforce_personaldataaccess_changelist")).status_code == 200
    assert pm_client.get(reverse("admin:workforce_personaldataaccess_add")).status_code == 403
    entry = PersonalDataAccess.objects.get()
    delete = pm_client.post(
        reverse("admin:workforce_personaldataaccess_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert PersonalDataAccess.objects.filter(pk=entry.pk).exists()


def test_annotator_filters_narrow_the_list(pm_client):
    other_region = RegionFactory(code="522600", name="黔东南苗族侗族自治州")
    kaili = FacilityFactory(park=ParkFactory(region=other_region), grade=Grade.L4)
    hmong = LanguageFactory()
    in_kaili = AnnotatorFactory(
        facility=kaili,
        skills=[SkillSpec(task_type=TaskType.TRANSCRIPTION, proficiency=2)],
        languages=[LanguageSpec(code=hmong.code, proficiency=3)],
    )
    bouyei = LanguageFactory(code="pcc", name="布依语", english_name="Bouyei")
    elsewhere = AnnotatorFactory(
        skill_level=3,
        skills=[SkillSpec(task_type=TaskType.BOUNDING_BOX, proficiency=1)],
        languages=[LanguageSpec(code=bouyei.code, proficiency=1)],
    )
    url = reverse("admin:workforce_annotator_changelist")

    def listed(**params: str) -> set[int]:
        response = pm_client.get(url, params)
        assert response.status_code == 200
        return {a.pk for a in response.context["cl"].result_list}

    assert listed() == {in_kaili.pk, elsewhere.pk}
    assert listed(facility__region__id__exact=str(other_region.pk)) == {in_kaili.pk}
    assert listed(facility__park__id__exact=str(kaili.park_id)) == {in_kaili.pk}
    assert listed(facility__id__exact=str(kaili.pk)) == {in_kaili.pk}
    assert listed(facility__grade__exact="L4") == {in_kaili.pk}
    assert listed(skills__task_type__exact=TaskType.BOUNDING_BOX) == {elsewhere.pk}
    assert listed(employer__id__exact=str(elsewhere.employer_id)) == {elsewhere.pk}
    assert listed(status__exact=AnnotatorStatus.ACTIVE) == {in_kaili.pk, elsewhere.pk}
    assert listed(skill_level__exact="3") == {elsewhere.pk}
    assert listed(languages__language__code__exact=hmong.code) == {in_kaili.pk}


def test_facility_filters_narrow_the_list(pm_client):
    other_region = RegionFactory(code="520300", name="遵义市")
    zunyi = FacilityFactory(park=ParkFactory(region=other_region), grade=Grade.L2)
    guiyang = FacilityFactory()
    url = reverse("admin:programme_facility_changelist")
    response = pm_client.get(url, {"region__id__exact": str(other_region.pk)})
    assert [f.pk for f in response.context["cl"].result_list] == [zunyi.pk]
    response = pm_client.get(url, {"operator__id__exact": str(guiyang.operator_id)})
    assert [f.pk for f in response.context["cl"].result_list] == [guiyang.pk]
    response = pm_client.get(url, {"grade__exact": "L2"})
    assert [f.pk for f in response.context["cl"].result_list] == [zunyi.pk]


def test_annotator_changelist_queries_do_not_grow_with_rows(pm_client, facility):
    url = reverse("admin:workforce_annotator_changelist")
    AnnotatorFactory.create_batch(2, facility=facility)
    pm_client.get(url)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as few:
        assert pm_client.get(url).status_code == 200
    for _ in range(8):
        AnnotatorFactory(facility=FacilityFactory())
    with CaptureQueriesContext(connection) as many:
        response = pm_client.get(url)
    assert len(response.context["cl"].result_list) == 10
    assert len(many) == len(few)


# --- validation names the field ---------------------------------------------


def test_wrong_credit_code_is_an_error_on_credit_code(pm_client):
    good = synthetic_credit_code(123)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = pm_client.post(
        reverse("admin:enterprises_enterprise_add"),
        {"name": "某数据公司", "credit_code": bad, "role": "both"},
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"credit_code"}
    assert not Enterprise.objects.exists()
    created = pm_client.post(
        reverse("admin:enterprises_enterprise_add"),
        {"name": "某数据公司", "credit_code": good, "role": "both"},
    )
    assert created.status_code == 302
    assert Enterprise.objects.get().credit_code == good


def test_wrong_id_card_check_digit_is_an_error_on_id_card_number(pm_client, facility):
    data = annotator_add_data(facility, id_card_number=wrong_check_digit(synthetic_id_card(4242)))
    response = pm_client.post(reverse("admin:workforce_annotator_add"), data)
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"id_card_number"}
    assert not Annotator.objects.exists()


def test_bad_phone_is_an_error_on_phone(pm_client, facility):
    response = pm_client.post(
        reverse("admin:workforce_annotator_add"), annotator_add_data(facility, phone="12345")
    )
    assert set(response.context["adminform"].form.errors) == {"phone"}
    assert not Annotator.objects.exists()


def test_duplicate_id_card_is_an_error_on_id_card_number(pm_client, annotator, facility):
    data = annotator_add_data(facility, code="NEW1", id_card_number=annotator.id_card_number.lower())
    response = pm_client.post(reverse("admin:workforce_annotator_add"), data)
    assert set(response.context["adminform"].form.errors) == {"id_card_number"}
    assert Annotator.objects.count() == 1


def test_facility_grade_the_rubric_is_not_met_is_an_error_on_grade(pm_client, facility):
    GradeRubricFactory(grade=Grade.L4, min_seats=300)
    data = {
        "code": "guian-l4",
        "name": "贵安四级厂房",
        "region": str(facility.region_id),
        "grade": "L4",
        "seats": "120",
        "physical_security": "on",
        "network_isolated": "on",
        "security_certification": "等保三级",
    }
    response = pm_client.post(reverse("admin:programme_facility_add"), data)
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"grade"}
    assert not Facility.objects.filter(code="guian-l4").exists()
    response = pm_client.post(reverse("admin:programme_facility_add"), {**data, "seats": "300"})
    assert response.status_code == 302
    assert Facility.objects.filter(code="guian-l4", grade="L4").exists()


# --- hiring through the admin -----------------------------------------------


def test_adding_an_annotator_hires_through_the_service(pm_client, facility):
    data = annotator_add_data(
        facility,
        **{"skills-TOTAL_FORMS": "1", "skills-0-task_type": "bounding_box", "skills-0-proficiency": "2"},
    )
    response = pm_client.post(reverse("admin:workforce_annotator_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    hired = Annotator.objects.get(code="A000001")
    assert hired.id_card_number == synthetic_id_card(4242)
    assert hired.phone == "13800001111"
    assert hired.status == AnnotatorStatus.ACTIVE
    spell = Employment.objects.get(annotator=hired)
    assert (spell.facility_id, spell.employer_id, spell.started_on, spell.ended_on) == (
        facility.pk,
        facility.operator_id,
        dt.date(2026, 3, 2),
        None,
    )
    assert list(AnnotatorSkill.objects.filter(annotator=hired).values_list("task_type", "proficiency")) == [
        ("bounding_box", 2)
    ]
    assert annotator_find_by_id_card(id_card_number=synthetic_id_card(4242)) == hired


def test_a_client_only_enterprise_cannot_employ(pm_client, facility):
    client_only = EnterpriseFactory(role="client")
    response = pm_client.post(
        reverse("admin:workforce_annotator_add"), annotator_add_data(facility, employer=str(client_only.pk))
    )
    assert set(response.context["adminform"].form.errors) == {"employer"}


# --- personal data stays masked ---------------------------------------------


def test_changelist_shows_masked_personal_data_only(pm_client, annotator):
    html = pm_client.get(reverse("admin:workforce_annotator_changelist")).content.decode()
    assert annotator.id_card_masked in html
    assert annotator.phone_masked in html
    assert annotator.id_card_number not in html
    assert annotator.phone not in html


def test_change_form_shows_masked_values_and_empty_inputs(pm_client, annotator):
    response = pm_client.get(reverse("admin:workforce_annotator_change", args=[annotator.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert annotator.id_card_masked in html
    assert annotator.id_card_number not in html
    assert annotator.phone not in html
    form = response.context["adminform"].form
    assert form["id_card_number"].value() in (None, "")
    assert form["phone"].value() in (None, "")


def test_view_only_user_sees_no_plain_personal_data(client, annotator):
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_annotator"))
    client.force_login(viewer)
    response = client.get(reverse("admin:workforce_annotator_change", args=[annotator.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert annotator.id_card_masked in html
    assert annotator.id_card_number not in html
    assert annotator.phone not in html


def test_leaving_personal_inputs_empty_keeps_the_ciphertext(pm_client, annotator):
    before = stored_ciphertext(annotator)
    response = pm_client.post(
        reverse("admin:workforce_annotator_change", args=[annotator.pk]),
        annotator_change_data(pm_client, annotator, name="新名字"),
    )
    assert response.status_code == 302
    annotator.refresh_from_db()
    assert annotator.name == "新名字"
    assert stored_ciphertext(annotator) == before


def test_typing_a_new_phone_replaces_only_the_phone(pm_client, annotator):
    id_cipher, phone_cipher = stored_ciphertext(annotator)
    response = pm_client.post(
        reverse("admin:workforce_annotator_change", args=[annotator.pk]),
        annotator_change_data(pm_client, annotator, phone="139 0000 2222"),
    )
    assert response.status_code == 302
    annotator.refresh_from_db()
    assert annotator.phone == "13900002222"
    new_id_cipher, new_phone_cipher = stored_ciphertext(annotator)
    assert new_id_cipher == id_cipher
    assert new_phone_cipher != phone_cipher


def test_typing_a_new_id_card_updates_the_lookup_digest(pm_client, annotator):
    new_number = synthetic_id_card(4343)
    response = pm_client.post(
        reverse("admin:workforce_annotator_change", args=[annotator.pk]),
        annotator_change_data(pm_client, annotator, id_card_number=new_number),
    )
    assert response.status_code == 302
    assert annotator_find_by_id_card(id_card_number=new_number) == annotator


def test_change_form_refuses_a_bad_new_id_card_on_the_field(pm_client, annotator):
    response = pm_client.post(
        reverse("admin:workforce_annotator_change", args=[annotator.pk]),
        annotator_change_data(
            pm_client, annotator, id_card_number=wrong_check_digit(synthetic_id_card(4343))
        ),
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"id_card_number"}


def test_status_left_is_not_offered_on_the_change_form(pm_client, annotator):
    response = pm_client.post(
        reverse("admin:workforce_annotator_change", args=[annotator.pk]),
        annotator_change_data(pm_client, annotator, status=AnnotatorStatus.LEFT),
    )
    assert set(response.context["adminform"].form.errors) == {"status"}
    annotator.refresh_from_db()
    assert annotator.status == AnnotatorStatus.ACTIVE


# --- search ------------------------------------------------------------------


def test_search_by_exact_id_card_number_finds_the_annotator(pm_client, annotator, reviewer):
    url = reverse("admin:workforce_annotator_changelist")
    spaced = f"{annotator.id_card_number[:6]} {annotator.id_card_number[6:]}".lower()
    for term in (annotator.id_card_number, spaced):
        response = pm_client.get(url, {"q": term})
        assert [a.pk for a in response.context["cl"].result_list] == [annotator.pk]
    partial = pm_client.get(url, {"q": annotator.id_card_number[:10]})
    assert list(partial.context["cl"].result_list) == []
    by_code = pm_client.get(url, {"q": reviewer.code})
    assert [a.pk for a in by_code.context["cl"].result_list] == [reviewer.pk]


# --- reveal ------------------------------------------------------------------


def test_reveal_shows_plain_values_with_the_permission_and_logs_each_time(pm_client, pii_viewer, annotator):
    url = reverse("admin:workforce_annotator_reveal", args=[annotator.pk])
    change = pm_client.get(reverse("admin:workforce_annotator_change", args=[annotator.pk]))
    assert url in change.content.decode()

    confirm = pm_client.get(url)
    assert confirm.status_code == 200
    assert annotator.id_card_number not in confirm.content.decode()
    assert not PersonalDataAccess.objects.exists()

    for expected_rows in (1, 2):
        shown = pm_client.post(url)
        html = shown.content.decode()
        assert shown.status_code == 200
        assert annotator.id_card_number in html
        assert annotator.phone in html
        assert (
            PersonalDataAccess.objects.filter(user=pii_viewer, annotator=annotator).count() == expected_rows
        )
    assert PersonalDataAccess.objects.first().fields == "id_card_number,phone"


def test_reveal_is_forbidden_without_the_permission(pm_client, annotator):
    url = reverse("admin:workforce_annotator_reveal", args=[annotator.pk])
    change = pm_client.get(reverse("admin:workforce_annotator_change", args=[annotator.pk]))
    assert url not in change.content.decode()
    assert pm_client.get(url).status_code == 403
    response = pm_client.post(url)
    assert response.status_code == 403
    assert annotator.id_card_number not in response.content.decode()
    assert not PersonalDataAccess.objects.exists()


# --- the import page ---------------------------------------------------------


def test_changelists_offer_import(pm_client):
    for app_label, model in (
        ("workforce", "annotator"),
        ("enterprises", "enterprise"),
        ("programme", "facility"),
    ):
        import_url = reverse(f"admin:{app_label}_{model}_import")
        changelist = pm_client.get(reverse(f"admin:{app_label}_{model}_changelist"))
        assert import_url in changelist.content.decode()
        assert pm_client.get(import_url).status_code == 200


def test_import_needs_the_add_permission(client, annotator):
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_annotator"))
    client.force_login(viewer)
    assert client.get(reverse("admin:workforce_annotator_import")).status_code == 403
