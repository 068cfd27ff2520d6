import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from qianbiao.workforce.models import Annotator, AnnotatorStatus, Employment
from qianbiao.workforce.services import (
    annotator_find_by_id_card,
    annotator_hire,
    annotator_leave,
    annotator_rehire,
    annotator_transfer,
)
from seeds.identity import synthetic_id_card
from tests.factories import FacilityFactory

pytestmark = pytest.mark.django_db


def test_id_card_is_ciphertext_in_the_table_and_findable_by_exact_value(annotator):
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_card_number, phone FROM workforce_annotator WHERE id = %s", [annotator.pk])
        stored_id, stored_phone = cursor.fetchone()
    plain = Annotator.objects.get(pk=annotator.pk).id_card_number
    assert len(plain) == 18
    assert plain not in stored_id and plain[-8:] not in stored_id
    assert annotator.phone not in stored_phone
    assert annotator_find_by_id_card(id_card_number=plain.lower()) == annotator
    assert annotator.id_card_masked == plain[:4] + "*" * 10 + plain[-4:]


def test_duplicate_id_card_is_refused_on_the_field(annotator, facility):
    with pytest.raises(ValidationError) as exc:
        annotator_hire(
            code="DUP1",
            name="重复",
            id_card_number=annotator.id_card_number,
            phone="",
            employer=facility.operator,
            facility=facility,
            started_on=dt.date(2026, 2, 1),
        )
    assert "id_card_number" in exc.value.error_dict


def test_wrong_check_digit_is_refused_on_the_field(facility):
    good = synthetic_id_card(5)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(ValidationError) as exc:
        annotator_hire(
            code="BAD1",
            name="错误",
            id_card_number=bad,
            phone="",
            employer=facility.operator,
            facility=facility,
            started_on=dt.date(2026, 2, 1),
        )
    assert "id_card_number" in exc.value.error_dict
    assert not Annotator.objects.filter(code="BAD1").exists()


def test_transfer_leave_and_rehire_keep_a_gapless_history(annotator):
    first_facility = annotator.facility_id
    other = FacilityFactory()
    annotator_transfer(annotator=annotator, facility=other, on=dt.date(2026, 3, 1))
    annotator_leave(annotator=annotator, last_day=dt.date(2026, 6, 30))
    assert annotator.status == AnnotatorStatus.LEFT
    annotator_rehire(
        annotator=annotator, facility=other, employer=other.operator, started_on=dt.date(2026, 9, 1)
    )
    spells = list(
        Employment.objects.filter(annotator=annotator).values_list("facility", "started_on", "ended_on")
    )
    assert spells == [
        (first_facility, dt.date(2026, 1, 5), dt.date(2026, 2, 28)),
        (other.pk, dt.date(2026, 3, 1), dt.date(2026, 6, 30)),
        (other.pk, dt.date(2026, 9, 1), None),
    ]
    assert annotator.facility_id == other.pk


def test_rehire_overlapping_the_last_spell_is_refused(annotator):
    annotator_leave(annotator=annotator, last_day=dt.date(2026, 6, 30))
    with pytest.raises(ValidationError):
        annotator_rehire(
            annotator=annotator,
            facility=annotator.facility,
            employer=annotator.employer,
            started_on=dt.date(2026, 6, 30),
        )
