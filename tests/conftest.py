"""Named fixtures shared by the suite: an admin, a project manager, an annotator,
a reviewer and an outsider."""

from __future__ import annotations

import pytest

from tests.factories import AnnotatorFactory, FacilityFactory, UserFactory


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(db):
    """A logged-in user with no role at all."""
    return UserFactory(username="outsider")


@pytest.fixture
def facility(db):
    return FacilityFactory()


@pytest.fixture
def annotator(facility):
    return AnnotatorFactory(facility=facility)


@pytest.fixture
def reviewer(facility):
    return AnnotatorFactory(facility=facility, is_reviewer=True, skill_level=3)
