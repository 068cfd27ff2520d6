"""Writes of the portal: issuing activation codes (activation and reset), and an
annotator choosing their password with one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from qianbiao.workforce.models import Annotator, AnnotatorStatus

from . import codes
from .models import AnnotatorLogin


@dataclass(frozen=True)
class IssuedCode:
    annotator: Annotator
    code: str  # plaintext: shown once, on the slip or in the CSV
    expires_at: object

    @property
    def code_display(self) -> str:
        return codes.code_display(self.code)


@dataclass
class IssueOutcome:
    issued: list[IssuedCode] = field(default_factory=list)
    already_active: list[Annotator] = field(default_factory=list)  # activated; a reset re-issues
    not_employed: list[Annotator] = field(default_factory=list)  # left or suspended: no login


def annotator_username(*, annotator_id: int) -> str:
    """By primary key, not employee number: the number may be corrected in the admin,
    and no staff username can collide with this form."""
    return f"annotator-{annotator_id}"


def _users_create(annotators: list[Annotator]) -> dict[int, object]:
    User = get_user_model()
    users = User.objects.bulk_create(
        [
            User(username=annotator_username(annotator_id=a.pk), password=make_password(None), is_active=True)
            for a in annotators
        ]
    )
    return {a.pk: u for a, u in zip(annotators, users, strict=True)}


@transaction.atomic
def logins_issue(*, annotator_ids: Iterable[int], issued_by, reset: bool = False) -> IssueOutcome:
    """A fresh activation code for each employed annotator, creating their login if
    needed; any earlier code stops working. Without ``reset``, annotators who have
    already activated are left alone (reported). With it, their password is made
    unusable at once, which also ends every session they have, and they activate again.
    """
    outcome = IssueOutcome()
    annotators = list(Annotator.objects.filter(pk__in=list(annotator_ids)).select_related("facility"))
    logins = {
        login.annotator_id: login
        for login in AnnotatorLogin.objects.select_for_update().filter(annotator__in=annotators)
    }
    wanted = []
    for annotator in annotators:
        login = logins.get(annotator.pk)
        if annotator.status != AnnotatorStatus.ACTIVE:
            outcome.not_employed.append(annotator)
        elif login is not None and login.activated_at is not None and not reset:
            outcome.already_active.append(annotator)
        else:
            wanted.append(annotator)
    users = _users_create([a for a in wanted if a.pk not in logins])
    now = timezone.now()
    expires_at = now + codes.LIFETIME
    User = get_user_model()
    new_logins, changed, reset_users = [], [], []
    for annotator in wanted:
        code = codes.code_generate()
        login = logins.get(annotator.pk) or AnnotatorLogin(annotator=annotator, user=users[annotator.pk])
        login.code_hash = codes.code_digest(code)
        login.code_issued_at, login.code_expires_at, login.code_issued_by = now, expires_at, issued_by
        if login.pk is None:
            new_logins.append(login)
        else:
            if login.activated_at is not None:
                login.activated_at = None
                reset_users.append(User(pk=login.user_id, password=make_password(None)))
            changed.append(login)
        outcome.issued.append(IssuedCode(annotator=annotator, code=code, expires_at=expires_at))
    AnnotatorLogin.objects.bulk_create(new_logins)
    AnnotatorLogin.objects.bulk_update(
        changed, ["code_hash", "code_issued_at", "code_expires_at", "code_issued_by", "activated_at"]
    )
    User.objects.bulk_update(reset_users, ["password"])
    outcome.issued.sort(key=lambda issued: (issued.annotator.facility.code, issued.annotator.code))
    return outcome


class ActivationRefused(Exception):
    """The code was used, re-issued or expired between the check and the write."""


@transaction.atomic
def login_activate(*, login_id: int, code: str, password: str):
    """Sets the annotator's password with their code, which is then spent (single use:
    the row is locked and the code checked again under the lock). Returns the user."""
    login = AnnotatorLogin.objects.select_for_update().select_related("user").get(pk=login_id)
    if not codes.code_matches(code, login.code_hash) or not login.code_expires_at:
        raise ActivationRefused
    if login.code_expires_at <= timezone.now():
        raise ActivationRefused
    login.user.set_password(password)
    login.user.is_active = True
    login.user.save(update_fields=["password", "is_active"])
    login.code_hash = ""
    login.code_expires_at = None
    login.activated_at = timezone.now()
    login.save(update_fields=["code_hash", "code_expires_at", "activated_at"])
    return login.user
