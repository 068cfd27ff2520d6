"""factory_boy factories. Annotators are built through the hiring service so that
digests, history and current placement agree exactly as in production."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model

from qianbiao.enterprises.models import Enterprise, EnterpriseRole
from qianbiao.programme.models import Facility, Grade, GradeRubric, Park, Region
from qianbiao.workforce.models import Annotator, Language
from qianbiao.workforce.services import annotator_hire
from seeds.identity import synthetic_credit_code, synthetic_id_card, synthetic_phone


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct horse battery staple")


class EnterpriseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enterprise

    name = factory.Sequence(lambda n: f"测试数据企业{n}")
    # Offset so that factory codes never collide with seeded sample enterprises.
    credit_code = factory.Sequence(lambda n: synthetic_credit_code(900_000 + n))
    role = EnterpriseRole.BOTH


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = "520100"
    name = "贵阳市"


class ParkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Park

    code = factory.Sequence(lambda n: f"park-{n}")
    name = factory.Sequence(lambda n: f"测试园区{n}")
    region = factory.SubFactory(RegionFactory)


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    code = factory.Sequence(lambda n: f"fac-{n}")
    name = factory.Sequence(lambda n: f"测试厂房{n}")
    park = factory.SubFactory(ParkFactory)
    region = factory.LazyAttribute(lambda f: f.park.region)
    operator = factory.SubFactory(EnterpriseFactory)
    grade = Grade.L3
    seats = 200
    physical_security = True
    network_isolated = True
    security_certification = "等保三级"


class LanguageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Language
        django_get_or_create = ("code",)

    code = "hmn"
    name = "苗语"
    english_name = "Hmong/Miao"


_annotator_index = iter(range(800_000, 10_000_000))


class AnnotatorFactory(factory.Factory):
    """Builds through ``annotator_hire``; pass ``skills``/``languages`` as specs."""

    class Meta:
        model = Annotator

    code = factory.Sequence(lambda n: f"T{n:06d}")
    name = factory.Sequence(lambda n: f"标注员{n}")
    facility = factory.SubFactory(FacilityFactory)
    employer = factory.LazyAttribute(lambda a: a.facility.operator)
    started_on = dt.date(2026, 1, 5)
    skill_level = 5
    skills = ()
    languages = ()
    is_reviewer = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        index = next(_annotator_index)
        kwargs.setdefault("id_card_number", synthetic_id_card(index))
        kwargs.setdefault("phone", synthetic_phone(index))
        return annotator_hire(**kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError("annotators are only created through annotator_hire")


class DatasetProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "projects.DatasetProject"

    client = factory.SubFactory(EnterpriseFactory)
    name = factory.Sequence(lambda n: f"测试数据集{n}")
    domain = "autonomous_driving"
    task_type = "bounding_box"
    label_config = (
        '<View><Image name="image" value="$image"/>'
        '<RectangleLabels name="label" toName="image"><Label value="car"/></RectangleLabels></View>'
    )
    overlap = 3
    gold_ratio = 0
    min_grade = Grade.L3


class GradeRubricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GradeRubric
        django_get_or_create = ("grade",)

    grade = Grade.L4
    min_seats = 300
    requires_physical_security = True
    requires_network_isolation = True
    requires_security_certification = True
