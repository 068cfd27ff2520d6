"""Roles of the platform, as Django groups created on ``migrate``.

A project manager (项目经理) runs the programme's records in the admin: data
enterprises, facilities, targets and annotators. Seeing unmasked personal data is
a separate permission granted person by person (PIPL), never through the role.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS

PROJECT_MANAGER_GROUP = "project_manager"

# Apps whose models a project manager manages.
MANAGED_APPS = ("enterprises", "programme", "workforce", "projects", "labelling", "quality", "api")

# (app_label, codename) never granted through the role. The access log is an
# audit trail: the role may read it but not write or erase it.
WITHHELD_PERMISSIONS = frozenset(
    {
        ("workforce", "view_personal_data"),
        ("workforce", "add_personaldataaccess"),
        ("workforce", "change_personaldataaccess"),
        ("workforce", "delete_personaldataaccess"),
        # Employment history is what past headcount is computed from: a leaver is
        # recorded through the services, never erased.
        ("workforce", "delete_annotator"),
        ("workforce", "delete_employment"),
    }
)

ROLE_ACTIONS = ("add", "change", "view", "delete")


def project_manager_permissions(*, using: str = DEFAULT_DB_ALIAS) -> list[Permission]:
    permissions = Permission.objects.using(using).filter(content_type__app_label__in=MANAGED_APPS)
    return [
        permission
        for permission in permissions.select_related("content_type")
        if permission.codename.split("_", 1)[0] in ROLE_ACTIONS
        and (permission.content_type.app_label, permission.codename) not in WITHHELD_PERMISSIONS
    ]


def project_manager_group_ensure(*, using: str = DEFAULT_DB_ALIAS) -> Group:
    """Create the group if missing and grant it the role's permissions.

    Only adds: a permission an administrator granted or withdrew by hand on top of
    the role is not reverted on the next deployment's ``migrate``."""
    group, _created = Group.objects.using(using).get_or_create(name=PROJECT_MANAGER_GROUP)
    group.permissions.add(*project_manager_permissions(using=using))
    return group


def roles_on_post_migrate(sender: AppConfig, *, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    # post_migrate is sent once per app, and auth creates each app's permissions
    # in its own receiver for that app; reacting to our apps' signals (not to
    # core's, which comes first) means their permissions exist by now.
    if sender.label in MANAGED_APPS:
        project_manager_group_ensure(using=using)


def user_is_project_manager(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=PROJECT_MANAGER_GROUP).exists()
