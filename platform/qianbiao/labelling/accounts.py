"""Annotators' Label Studio accounts: sign-up (pseudonymous, a few at a time) and
deactivation of leavers.

An annotator's Label Studio password is random and thrown away at sign-up: nobody knows
it, so the only way in is the portal's hand-off (qianbiao.portal.handoff). A retried
provisioning finds the account by its email instead of logging in.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import IntegrityError, transaction

from annotation.accounts import deactivate_account, invite_token, sign_up_annotator
from annotation.client import LabelStudioClient
from annotation.signing import route_key_for
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


def _generation(annotator_id: int, previous_ls_user_id: int) -> str:
    # Derived from the account it replaces (not a password): a retried rehire signs up
    # the same email, and so finds the same Label Studio user.
    key = settings.SECRET_KEY.encode()
    message = f"label-studio-generation:{annotator_id}:{previous_ls_user_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:6]


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
        generation = _generation(annotator_id, previous.ls_user_id) if previous else ""
        emails[annotator_id] = annotator_ls_email(annotator_id=annotator_id, generation=generation)

    with contextlib.ExitStack() as stack:
        admin = client or stack.enter_context(label_studio_admin())
        invite = invite_token(admin)
        # Sign-ups are mostly Label Studio hashing a password (which frees its GIL): a few
        # at a time use every core it has. Our rows are written here, one at a time.
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=PROVISION_THREADS))
        signed_up = pool.map(lambda email: sign_up_annotator(admin, invite, email), emails.values())
        for (annotator_id, email), user in zip(emails.items(), signed_up, strict=True):
            # Derived, so that Label Studio's lock-down knows an annotator's tasks without a lookup.
            key = route_key_for(user.id, settings.LABEL_STUDIO_QIANBIAO_SECRET)
            fields = {"ls_user_id": user.id, "email": email, "routing_key": key}
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
