"""Tabular import: CSV and Excel, every row checked by a form, all or nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from qianbiao.core.tabular import RowError, tabular_import
from qianbiao.enterprises.imports import EnterpriseImporter
from qianbiao.enterprises.models import Enterprise
from qianbiao.programme.imports import FacilityImporter
from qianbiao.programme.models import Facility, Grade
from qianbiao.workforce.imports import AnnotatorImporter
from qianbiao.workforce.models import (
    Annotator,
    AnnotatorLanguage,
    AnnotatorSkill,
    Employment,
    LanguageProficiency,
    Verification,
)
from qianbiao.workforce.services import HireSpec, annotator_find_by_id_card, annotators_bulk_hire
from seeds.identity import synthetic_credit_code, synthetic_id_card, synthetic_phone
from tests.factories import (
    EnterpriseFactory,
    FacilityFactory,
    GradeRubricFactory,
    LanguageFactory,
    ParkFactory,
    RegionFactory,
)

pytestmark = pytest.mark.django_db

ANNOTATOR_COLUMNS = list(AnnotatorImporter.columns)


def csv_bytes(rows: list[dict[str, object]], *, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def annotator_row(index: int, facility: Facility, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "code": f"G{index:06d}",
        "name": f"导入标注员{index}",
        "id_card_number": synthetic_id_card(600_000 + index),
        "phone": synthetic_phone(600_000 + index),
        "employer_credit_code": facility.operator.credit_code,
        "facility_code": facility.code,
        "skill_level": "五级",
        "started_on": "2026-02-01",
        "skills": "bounding_box:2;named_entities:1",
        "languages": "hmn:native:certificate",
        "is_reviewer": "0",
    }
    row.update(overrides)
    return row


def import_annotators(content: bytes, filename: str = "annotators.csv", **kwargs):
    return tabular_import(importer=AnnotatorImporter(), content=content, filename=filename, **kwargs)


def wrong_check_digit(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


@pytest.fixture
def hmong(db):
    return LanguageFactory(code="hmn")


# --- annotators ----------------------------------------------------------------


def test_csv_import_hires_every_row_with_history_skills_and_languages(facility, hmong):
    rows = [annotator_row(i, facility) for i in range(3)]
    rows[1].update(skill_level="2", is_reviewer="是", languages="hmn:fluent", skills="")
    result = import_annotators(csv_bytes(rows))
    assert result.ok, result.errors
    assert result.count == 3
    assert Annotator.objects.count() == 3
    second = annotator_find_by_id_card(id_card_number=str(rows[1]["id_card_number"]))
    assert second.code == "G000001"
    assert second.phone == rows[1]["phone"]
    assert (second.skill_level, second.is_reviewer) == (2, True)
    spells = Employment.objects.filter(annotator__in=Annotator.objects.all())
    assert spells.count() == 3
    assert {(s.facility_id, s.employer_id, s.started_on, s.ended_on) for s in spells} == {
        (facility.pk, facility.operator_id, dt.date(2026, 2, 1), None)
    }
    first = Annotator.objects.get(code="G000000")
    assert first.skill_level == 5
    assert set(AnnotatorSkill.objects.filter(annotator=first).values_list("task_type", "proficiency")) == {
        ("bounding_box", 2),
        ("named_entities", 1),
    }
    assert AnnotatorSkill.objects.filter(annotator=second).count() == 0
    language = AnnotatorLanguage.objects.get(annotator=first)
    assert (language.language_id, language.proficiency, language.verification) == (
        "hmn",
        LanguageProficiency.NATIVE,
        Verification.CERTIFICATE,
    )
    assert AnnotatorLanguage.objects.get(annotator=second).verification == Verification.SELF_DECLARED


def test_xlsx_import_reads_numbers_and_dates_as_written(facility, hmong):
    rows = []
    for i in range(2):
        row = annotator_row(i, facility)
        rows.append(
            [
                row["code"],
                row["name"],
                row["id_card_number"],
                int(str(row["phone"])),  # phone typed as a number
                row["employer_credit_code"],
                row["facility_code"],
                3,  # a number cell
                dt.datetime(2026, 2, 1),  # a date cell
                row["skills"],
                row["languages"],
                True,
            ]
        )
    result = import_annotators(xlsx_bytes(ANNOTATOR_COLUMNS, rows), filename="annotators.xlsx")
    assert result.ok, result.errors
    assert result.count == 2
    imported = Annotator.objects.get(code="G000001")
    assert imported.phone == synthetic_phone(600_001)
    assert (imported.skill_level, imported.is_reviewer) == (3, True)
    assert Employment.objects.get(annotator=imported).started_on == dt.date(2026, 2, 1)


def test_xlsx_error_names_the_spreadsheet_row(facility, hmong):
    good = annotator_row(0, facility)
    bad = annotator_row(1, facility, started_on="01/02/2026")
    rows = [[good[c] for c in ANNOTATOR_COLUMNS], [], [bad[c] for c in ANNOTATOR_COLUMNS]]
    result = import_annotators(xlsx_bytes(ANNOTATOR_COLUMNS, rows), filename="annotators.xlsx")
    # header = 1, good = 2, blank = 3, bad = 4
    assert [(e.row, e.field) for e in result.errors] == [(4, "started_on")]
    assert not Annotator.objects.exists()


def test_one_bad_row_in_the_middle_imports_nothing_and_names_row_and_field(facility, hmong):
    rows = [annotator_row(i, facility) for i in range(5)]
    rows[2]["id_card_number"] = wrong_check_digit(str(rows[2]["id_card_number"]))
    result = import_annotators(csv_bytes(rows))
    assert not result.ok
    assert result.count == 0
    assert [(e.row, e.field) for e in result.errors] == [(4, "id_card_number")]
    # The message must not echo the personal data it refuses.
    assert str(rows[2]["id_card_number"]) not in result.errors[0].message
    assert not Annotator.objects.exists()
    assert not Employment.objects.exists()


def test_every_bad_row_is_reported_with_its_field(facility, hmong):
    rows = [annotator_row(i, facility) for i in range(6)]
    rows[0]["phone"] = "123"
    rows[1]["facility_code"] = "no-such-facility"
    rows[2]["skill_level"] = "六级"
    rows[3]["skills"] = "point_cloud:2"
    rows[4]["languages"] = "xxx:native"
    rows[5]["is_reviewer"] = "maybe"
    result = import_annotators(csv_bytes(rows))
    assert [(e.row, e.field) for e in result.errors] == [
        (2, "phone"),
        (3, "facility_code"),
        (4, "skill_level"),
        (5, "skills"),
        (6, "languages"),
        (7, "is_reviewer"),
    ]
    assert result.bad_rows == 6
    assert not Annotator.objects.exists()


def test_duplicate_id_card_within_the_file_is_reported(facility, hmong):
    rows = [annotator_row(i, facility) for i in range(3)]
    rows[2]["id_card_number"] = str(rows[0]["id_card_number"]).lower()
    result = import_annotators(csv_bytes(rows))
    assert [(e.row, e.field) for e in result.errors] == [(4, "id_card_number")]
    assert "2" in result.errors[0].message  # the row it repeats
    assert not Annotator.objects.exists()


def test_duplicates_against_the_database_are_reported(facility, hmong, annotator):
    rows = [annotator_row(i, facility) for i in range(2)]
    rows[0]["id_card_number"] = annotator.id_card_number
    rows[1]["code"] = annotator.code
    result = import_annotators(csv_bytes(rows))
    assert [(e.row, e.field) for e in result.errors] == [(2, "id_card_number"), (3, "code")]
    assert Annotator.objects.count() == 1


def test_a_client_only_employer_is_refused(facility, hmong):
    client_only = EnterpriseFactory(role="client")
    rows = [annotator_row(0, facility, employer_credit_code=client_only.credit_code)]
    result = import_annotators(csv_bytes(rows))
    assert [(e.row, e.field) for e in result.errors] == [(2, "employer_credit_code")]


def test_missing_and_unknown_columns_are_refused_before_any_row(facility):
    row = annotator_row(0, facility)
    del row["started_on"]
    row["id_card"] = row.pop("id_card_number")
    result = import_annotators(csv_bytes([row]))
    assert {(e.row, e.field) for e in result.errors} == {
        (1, "id_card"),
        (1, "id_card_number"),
        (1, "started_on"),
    }


def test_unreadable_files_are_refused():
    assert not import_annotators(b"", filename="a.csv").ok
    result = import_annotators(b"PK\x03\x04 not really a workbook", filename="a.xlsx")
    assert [(e.row, e.field) for e in result.errors] == [(0, "")]


def test_dry_run_checks_but_imports_nothing(facility, hmong):
    result = import_annotators(csv_bytes([annotator_row(i, facility) for i in range(2)]), dry_run=True)
    assert result.ok and result.dry_run and result.count == 2
    assert not Annotator.objects.exists()


def test_a_large_file_costs_a_bounded_number_of_queries(facility, hmong, django_assert_max_num_queries):
    other = FacilityFactory()
    rows = [annotator_row(i, facility if i % 2 else other) for i in range(300)]
    with django_assert_max_num_queries(25):
        result = import_annotators(csv_bytes(rows))
    assert result.ok, result.errors[:3]
    assert Annotator.objects.count() == 300
    assert Employment.objects.count() == 300
    assert AnnotatorSkill.objects.count() == 600


def test_bulk_hire_keeps_the_hiring_invariants(facility):
    hires = [
        HireSpec(
            code=f"B{i}",
            name=f"批量{i}",
            id_card_number=synthetic_id_card(610_000 + i),
            phone="",
            employer=facility.operator,
            facility=facility,
            started_on=dt.date(2026, 4, 1),
        )
        for i in range(3)
    ]
    hired = annotators_bulk_hire(hires=hires)
    assert all(a.pk for a in hired)
    for hire in hires:
        found = annotator_find_by_id_card(id_card_number=hire.id_card_number)
        assert found is not None and found.code == hire.code
        assert list(Employment.objects.filter(annotator=found).values_list("started_on", "ended_on")) == [
            (dt.date(2026, 4, 1), None)
        ]


def test_bulk_hire_refuses_everything_when_one_entry_is_wrong(facility):
    from django.core.exceptions import ValidationError

    def hire(i: int, number: str) -> HireSpec:
        return HireSpec(
            code=f"B{i}",
            name="x",
            id_card_number=number,
            phone="",
            employer=facility.operator,
            facility=facility,
            started_on=dt.date(2026, 4, 1),
        )

    with pytest.raises(ValidationError):
        annotators_bulk_hire(hires=[hire(0, synthetic_id_card(1)), hire(1, synthetic_id_card(1))])
    with pytest.raises(ValidationError):
        annotators_bulk_hire(
            hires=[hire(0, synthetic_id_card(1)), hire(1, wrong_check_digit(synthetic_id_card(2)))]
        )
    assert not Annotator.objects.exists()


# --- enterprises -----------------------------------------------------------------


def test_enterprise_csv_in_gb18030_imports(db):
    rows = [
        {
            "name": "贵州元壤智能",
            "credit_code": synthetic_credit_code(1),
            "role": "operator",
            "home_city": "贵阳",
        },
        {
            "name": "贵州梦动科技",
            "credit_code": synthetic_credit_code(2).lower(),
            "role": "both",
            "home_city": "",
        },
    ]
    result = tabular_import(
        importer=EnterpriseImporter(), content=csv_bytes(rows, encoding="gb18030"), filename="e.csv"
    )
    assert result.ok, result.errors
    assert set(Enterprise.objects.values_list("name", "credit_code")) == {
        ("贵州元壤智能", synthetic_credit_code(1)),
        ("贵州梦动科技", synthetic_credit_code(2)),
    }


def test_enterprise_errors_name_the_credit_code(db):
    existing = EnterpriseFactory()
    good = synthetic_credit_code(3)
    rows = [
        {"name": "甲", "credit_code": good, "role": "client"},
        {"name": "乙", "credit_code": wrong_check_digit(synthetic_credit_code(4)), "role": "client"},
        {"name": "丙", "credit_code": existing.credit_code, "role": "client"},
        {"name": "丁", "credit_code": good, "role": "boss"},
    ]
    result = tabular_import(importer=EnterpriseImporter(), content=csv_bytes(rows), filename="e.csv")
    assert [(e.row, e.field) for e in result.errors] == [
        (3, "credit_code"),
        (4, "credit_code"),
        (5, "role"),
        (5, "credit_code"),
    ]
    assert Enterprise.objects.count() == 1


# --- facilities ------------------------------------------------------------------


def facility_row(code: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "code": code,
        "name": f"厂房 {code}",
        "region_code": "520100",
        "park_code": "",
        "operator_credit_code": "",
        "grade": "L3",
        "seats": "150",
        "physical_security": "1",
        "network_isolated": "是",
        "security_certification": "等保三级",
    }
    row.update(overrides)
    return row


def test_facility_import_applies_the_grade_rubric(db):
    RegionFactory()
    GradeRubricFactory(grade=Grade.L4, min_seats=300)
    operator = EnterpriseFactory(role="operator")
    park = ParkFactory(code="guian-optics")
    rows = [
        facility_row("ok-l3", operator_credit_code=operator.credit_code),
        facility_row("small-l4", grade="L4", seats="120"),
        facility_row("l6", grade="L6"),
        facility_row("ok-in-park", region_code="", park_code=park.code, grade="L4", seats="300"),
    ]
    result = tabular_import(importer=FacilityImporter(), content=csv_bytes(rows), filename="f.csv")
    assert [(e.row, e.field) for e in result.errors] == [(3, "grade"), (4, "grade")]
    assert not Facility.objects.exists()

    fixed = [rows[0], {**rows[1], "seats": "320"}, rows[3]]
    result = tabular_import(importer=FacilityImporter(), content=csv_bytes(fixed), filename="f.csv")
    assert result.ok, result.errors
    assert Facility.objects.get(code="ok-l3").operator == operator
    assert Facility.objects.get(code="ok-in-park").region_id == park.region_id
    assert Facility.objects.get(code="small-l4").network_isolated is True


def test_facility_relations_are_checked_on_their_columns(db):
    RegionFactory()
    elsewhere = ParkFactory(region=RegionFactory(code="520300", name="遵义市"))
    existing = FacilityFactory(code="taken")
    rows = [
        facility_row("a", region_code="999999"),
        facility_row("b", park_code=elsewhere.code),
        facility_row("c", operator_credit_code=synthetic_credit_code(77)),
        facility_row(existing.code),
        facility_row("d", physical_security="maybe"),
    ]
    result = tabular_import(importer=FacilityImporter(), content=csv_bytes(rows), filename="f.csv")
    assert [(e.row, e.field) for e in result.errors] == [
        (2, "region_code"),
        (3, "park_code"),
        (4, "operator_credit_code"),
        (5, "code"),
        (6, "physical_security"),
    ]


# --- the admin page --------------------------------------------------------------


@pytest.fixture
def pm_client(client, project_manager):
    client.force_login(project_manager)
    return client


def test_admin_import_page_imports_a_good_file(pm_client, facility, hmong):
    upload = SimpleUploadedFile("annotators.csv", csv_bytes([annotator_row(i, facility) for i in range(4)]))
    response = pm_client.post(reverse("admin:workforce_annotator_import"), {"file": upload})
    assert response.status_code == 302
    assert response.url == reverse("admin:workforce_annotator_changelist")
    assert Annotator.objects.count() == 4
    shown = [str(m) for m in pm_client.get(response.url).context["messages"]]
    assert any("4" in message for message in shown)


def test_admin_import_page_lists_every_bad_row_and_imports_nothing(pm_client, facility, hmong):
    rows = [annotator_row(i, facility) for i in range(4)]
    rows[1]["id_card_number"] = wrong_check_digit(str(rows[1]["id_card_number"]))
    rows[3]["started_on"] = "2026-13-01"
    upload = SimpleUploadedFile("annotators.csv", csv_bytes(rows))
    response = pm_client.post(reverse("admin:workforce_annotator_import"), {"file": upload})
    assert response.status_code == 200
    assert [(e.row, e.field) for e in response.context["result"].errors] == [
        (3, "id_card_number"),
        (5, "started_on"),
    ]
    html = response.content.decode()
    assert html.count('class="import-error"') == 2
    assert "<td>3</td>" in html and "<td>id_card_number</td>" in html
    assert "<td>5</td>" in html and "<td>started_on</td>" in html
    assert not Annotator.objects.exists()


def test_admin_import_page_takes_xlsx_facilities(pm_client):
    RegionFactory()
    content = xlsx_bytes(list(FacilityImporter.columns), [list(facility_row("x1").values())])
    upload = SimpleUploadedFile("facilities.xlsx", content)
    response = pm_client.post(reverse("admin:programme_facility_import"), {"file": upload})
    assert response.status_code == 302
    assert Facility.objects.filter(code="x1").exists()


# --- the command -----------------------------------------------------------------


def test_command_exits_non_zero_naming_the_row_and_imports_nothing(tmp_path, facility, hmong, capsys):
    rows = [annotator_row(i, facility) for i in range(3)]
    rows[1]["id_card_number"] = wrong_check_digit(str(rows[1]["id_card_number"]))
    path = tmp_path / "annotators.csv"
    path.write_bytes(csv_bytes(rows))
    with translation.override("en"), pytest.raises(CommandError):
        call_command("import_records", "annotators", str(path))
    err = capsys.readouterr().err
    assert "row 3, id_card_number:" in err
    assert not Annotator.objects.exists()


def test_command_imports_and_prints_the_count(tmp_path, facility, hmong, capsys):
    path = tmp_path / "annotators.xlsx"
    rows = [[annotator_row(i, facility)[c] for c in ANNOTATOR_COLUMNS] for i in range(2)]
    path.write_bytes(xlsx_bytes(ANNOTATOR_COLUMNS, rows))
    call_command("import_records", "annotators", str(path), "--dry-run")
    assert not Annotator.objects.exists()
    call_command("import_records", "annotators", str(path))
    assert "2" in capsys.readouterr().out
    assert Annotator.objects.count() == 2


def test_row_error_formats_like_the_command_prints_it():
    with translation.override("en"):
        assert str(RowError(7, "grade", "Grade L4 requires at least 300 seats.")) == (
            "row 7, grade: Grade L4 requires at least 300 seats."
        )
