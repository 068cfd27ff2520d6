"""Fixtures of the REST API tests: two client enterprises, A and B, each with a
key and a client; A's project; helpers to put items and results in place."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from qianbiao.api.keys import api_key_issue
from qianbiao.enterprises.models import EnterpriseRole
from qianbiao.projects.items import items_import
from qianbiao.projects.models import Item, ItemState
from qianbiao.quality.models import Result
from tests.factories import DatasetProjectFactory, EnterpriseFactory

LABEL_CONFIG = (
    '<View><Image name="image" value="$image"/>'
    '<RectangleLabels name="label" toName="image"><Label value="car"/></RectangleLabels></View>'
)


@pytest.fixture(autouse=True)
def api_settings(settings):
    """Generous throttles (one test tightens them), a clean throttle cache."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min", "api_import": "100000/min"},
    }
    settings.API_CALLBACKS_ALLOW_PRIVATE = True
    cache.clear()
    yield settings
    cache.clear()


def client_for(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    return client


@pytest.fixture
def enterprise_a(db):
    return EnterpriseFactory(name="甲数据公司", role=EnterpriseRole.CLIENT)


@pytest.fixture
def enterprise_b(db):
    return EnterpriseFactory(name="乙数据公司", role=EnterpriseRole.BOTH)


@pytest.fixture
def key_a(enterprise_a):
    return api_key_issue(enterprise=enterprise_a, name="ETL").plaintext


@pytest.fixture
def key_b(enterprise_b):
    return api_key_issue(enterprise=enterprise_b, name="ETL").plaintext


@pytest.fixture
def api_a(key_a):
    return client_for(key_a)


@pytest.fixture
def api_b(key_b):
    return client_for(key_b)


@pytest.fixture
def project_a(enterprise_a):
    return DatasetProjectFactory(client=enterprise_a, label_config=LABEL_CONFIG, overlap=3)


def item_rows(n: int, *, prefix: str = "i", start: int = 0) -> list[dict]:
    return [
        {"external_id": f"{prefix}{k}", "data": {"image": f"https://img.example/{k}.jpg"}}
        for k in range(start, start + n)
    ]


def results_make(
    project,
    n: int,
    *,
    prefix: str = "r",
    agreement: float | None = 0.9,
    confidence: float | None = None,
    rejected: bool = False,
    when=None,
) -> list[Result]:
    """n items of ``project``, each with a result decided at ``when``: accepted,
    or (``rejected``) rejected in review as quality control records it — an
    empty label, method review, no agreement or confidence."""
    items_import(project=project, rows=item_rows(n, prefix=prefix))
    items = list(Item.objects.filter(project=project, external_id__startswith=prefix).order_by("id"))
    Item.objects.filter(pk__in=[i.pk for i in items]).update(state=ItemState.ACCEPTED)
    results = Result.objects.bulk_create(
        Result(
            item=item,
            project=project,
            label=[] if rejected else {"choice": "car", "n": k},
            method="review" if rejected else "majority_vote",
            agreement=None if rejected else agreement,
            confidence=None if rejected else confidence,
            rejected=rejected,
            annotations_used=3,
        )
        for k, item in enumerate(items)
    )
    when = when or timezone.now() - dt.timedelta(minutes=5)
    Result.objects.filter(pk__in=[r.pk for r in results]).update(updated_at=when, decided_at=when)
    return results
