"""Reactions to changes made elsewhere: an annotator who leaves or is suspended
loses their login at once, and the project manager role gets the portal's rights."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_save

from qianbiao.core.roles import PROJECT_MANAGER_GROUP
from qianbiao.workforce.models import Annotator, AnnotatorStatus

# Granted to the project_manager role: activating annotators is a PM's job.
PM_PERMISSIONS = ("issue_activation_code", "view_annotatorlogin")


def annotator_saved(sender, instance: Annotator, update_fields=None, **kwargs) -> None:
    """The user's ``is_active`` follows the workforce status. Django refuses an
    inactive user both at sign-in and when loading the session on each request, so
    this ends every session the annotator has at once; a rehire gives it back."""
    if update_fields is not None and "status" not in update_fields:
        return
    active = instance.status == AnnotatorStatus.ACTIVE
    get_user_model().objects.filter(annotator_login__annotator_id=instance.pk).exclude(
        is_active=active
    ).update(is_active=active)


def grant_project_managers(sender: AppConfig, *, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    # Sent per app after auth created that app's permissions: ours exist by now.
    if sender.label != "portal":
        return
    group, _created = Group.objects.using(using).get_or_create(name=PROJECT_MANAGER_GROUP)
    group.permissions.add(
        *Permission.objects.using(using).filter(content_type__app_label="portal", codename__in=PM_PERMISSIONS)
    )


def connect() -> None:
    post_save.connect(annotator_saved, sender=Annotator, dispatch_uid="portal.annotator_saved")
