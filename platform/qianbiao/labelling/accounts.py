"""Annotators' Label Studio accounts: sign-up (pseudonymous, a few at a time), the
annotator's own login token, and deactivation of leavers.

Passwords are derived from ``SECRET_KEY``, never stored: a retried provisioning signs
in with the same one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import IntegrityError, transaction

from annotation.accounts import deactivate_account, invite_token, login_token, register_annotator
from annotation.client import LabelStudioClient
from annotation.signing import route_key_for
from annotation.types import AnnotatorLogin
from qianbiao.labelling import selectors
from qianbiao.labelling.client import label_studio_admin
from qianbiao.labelling.models import LabelStudioAccount, LabelStudioQueue
from qianbiao.workforce.models import Annotator, AnnotatorStatus

ACCOUNT_DOMAIN = "annotators.qianbiao.invalid"
PROVISION_THREADS = 4  # concurrent Label Studio sign-ups


def annotator_ls_email(*, annotator_id: int, generation: str = "") -> str:
    """Pseudonymous: Label Studio shows it to every member. Never personal data.
    A rehired annotator's new account carries a generation suffix (see below)."""
    suffix = f".{generation}" if generation else ""
    return f"a{annotator_id}{suffix}@{ACCOUNT_DOMAIN}"


def _ls_password(email: str) -> str:
    # Derived, not stored: a retried provisioning logs in with the same password.
    # (Rotating SECRET_KEY changes it; reset passwords in Label Studio if you do.)
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"label-studio-account:{email}".encode(), hashlib.sha256).hexdigest()[:40]


def annotators_provision_label_studio(
    *, annotator_ids: Iterable[int], client: LabelStudioClient | None = None
) -> dict[int, LabelStudioAccount]:
    """A Label Studio account (that can act as itself) for each active annotator
    without one; idempotent. Returns the accounts by annotator id (leavers left out).

    A rehired annotator whose account was deactivated gets a new Label Studio user
    (Label Studio OSS cannot restore a membership) with a new routing key, so their
    old queue views show nothing; their account row moves to the new user.
    """
    wanted = list(dict.fromkeys(annotator_ids))
    accounts = {a.annotator_id: a for a in LabelStudioAccount.objects.filter(annotator_id__in=wanted)}
    stale = {pk for pk, account in accounts.items() if not account.is_active}
    missing = list(
        Annotator.objects.filter(
            pk__in=[i for i in wanted if i not in accounts or i in stale], status=AnnotatorStatus.ACTIVE
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not missing:
        return accounts

    emails = {}
    for annotator_id in missing:
        previous = accounts.get(annotator_id)
        # Derived from the account it replaces: a retried rehire signs in to the same user.
        generation = _ls_password(f"{annotator_id}:{previous.ls_user_id}")[:6] if previous else ""
        emails[annotator_id] = annotator_ls_email(annotator_id=annotator_id, generation=generation)

    with contextlib.ExitStack() as stack:
        admin = client or stack.enter_context(label_studio_admin())
        invite = invite_token(admin)
        # Sign-ups are mostly Label Studio hashing a password (which frees its GIL): a few
        # at a time use every core it has. Our rows are written here, one at a time.
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=PROVISION_THREADS))
        logins = pool.map(
            lambda email: register_annotator(admin.url, invite, email, _ls_password(email)), emails.values()
        )
        for (annotator_id, email), login in zip(emails.items(), logins, strict=True):
            # Derived, so that Label Studio's lock-down knows an annotator's tasks without a lookup.
            key = route_key_for(login.user_id, settings.LABEL_STUDIO_QIANBIAO_SECRET)
            fields = {"ls_user_id": login.user_id, "email": email, "routing_key": key}
            try:
                with transaction.atomic():
                    if annotator_id in stale:
                        account = accounts[annotator_id]
                        if LabelStudioAccount.objects.filter(pk=account.pk, is_active=False).update(
                            is_active=True, **fields
                        ):
                            LabelStudioQueue.objects.filter(account=account).delete()
                    else:
                        LabelStudioAccount.objects.create(annotator_id=annotator_id, **fields)
            except IntegrityError:  # provisioned concurrently: same LS user, one row
                pass
            accounts[annotator_id] = LabelStudioAccount.objects.get(annotator_id=annotator_id)
    return accounts


def annotator_provision_label_studio(*, annotator_id: int) -> LabelStudioAccount | None:
    return annotators_provision_label_studio(annotator_ids=[annotator_id]).get(annotator_id)


def annotator_label_studio_login(*, annotator_id: int) -> AnnotatorLogin:
    """The annotator's own Label Studio token (what an SSO hand-off would give them)."""
    account = LabelStudioAccount.objects.get(annotator_id=annotator_id, is_active=True)
    return login_token(settings.LABEL_STUDIO_URL, account.email, _ls_password(account.email))


def accounts_deactivate_leavers(*, client: LabelStudioClient | None = None) -> int:
    """Removes leavers and suspended annotators from the Label Studio organisation
    (a rehired one gets a new account from ``annotators_provision_label_studio``)."""
    done = 0
    with contextlib.ExitStack() as stack:
        for account in selectors.accounts_of_leavers():
            admin = client or stack.enter_context(label_studio_admin())
            client = admin
            deactivate_account(admin, account.ls_user_id)
            LabelStudioAccount.objects.filter(pk=account.pk).update(is_active=False)
            done += 1
    return done
