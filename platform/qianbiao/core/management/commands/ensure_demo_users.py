"""Creates (or repairs) the two logins of a local platform: ``admin`` and ``pm``.

Idempotent. Passwords come from ``QIANBIAO_ADMIN_PASSWORD`` / ``QIANBIAO_PM_PASSWORD``
when set; otherwise, in embedded mode only, they are generated once and kept in
``var/secrets.json`` (git-ignored), like the other embedded secrets. Outside embedded
mode the command refuses to invent a password.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

try:  # the role module owns the group and its permissions
    from qianbiao.core.roles import PROJECT_MANAGER_GROUP, project_manager_group_ensure
except ImportError:  # pragma: no cover - only before roles.py exists
    PROJECT_MANAGER_GROUP = "project_manager"

    def project_manager_group_ensure(**kwargs) -> Group:
        return Group.objects.get_or_create(name=PROJECT_MANAGER_GROUP)[0]


ADMIN_PASSWORD_VAR = "QIANBIAO_ADMIN_PASSWORD"
PM_PASSWORD_VAR = "QIANBIAO_PM_PASSWORD"


def stored_password(name: str) -> str:
    """The environment wins; in embedded mode a password is generated once into var/secrets.json."""
    value = os.environ.get(name)
    if value:
        return value
    if not settings.EMBEDDED:
        raise CommandError(f"Set {name}: passwords are generated only in embedded mode.")
    store = Path(settings.VAR_DIR) / "secrets.json"
    store.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(store.read_text()) if store.exists() else {}
    if name not in known:
        # 16 letters and digits (95 bits): strong, and still easy to copy and type.
        known[name] = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
        tmp = store.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=2))
        tmp.chmod(0o600)
        tmp.replace(store)
    return known[name]


class Command(BaseCommand):
    help = "Create or repair the local 'admin' (superuser) and 'pm' (project manager) logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/admin/",
            help="where the platform answers, printed with the logins",
        )

    def handle(self, *args, url: str, **options):
        admin_password = stored_password(ADMIN_PASSWORD_VAR)
        pm_password = stored_password(PM_PASSWORD_VAR)
        with transaction.atomic():
            admin_note = self._ensure_user("admin", admin_password, superuser=True)
            group = project_manager_group_ensure()
            pm_note = self._ensure_user("pm", pm_password, superuser=False)
            get_user_model().objects.get(username="pm").groups.add(group)

        where = (
            "the environment"
            if os.environ.get(ADMIN_PASSWORD_VAR)
            else Path(settings.VAR_DIR) / "secrets.json"
        )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Qianbiao admin: {url}"))
        self.stdout.write(f"  admin / {admin_password}    superuser{admin_note}")
        self.stdout.write(f"  pm    / {pm_password}    project manager{pm_note}")
        self.stdout.write(
            f"  (passwords from {where}; {ADMIN_PASSWORD_VAR} / {PM_PASSWORD_VAR} override them)"
        )

    def _ensure_user(self, username: str, password: str, *, superuser: bool) -> str:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        changed = created
        for field, value in (("is_active", True), ("is_staff", True), ("is_superuser", superuser)):
            if getattr(user, field) != value:
                setattr(user, field, value)
                changed = True
        note = ", created" if created else ""
        # The printed login must work: a password changed since is put back.
        if not user.check_password(password):
            user.set_password(password)
            changed = True
            note = note or ", password reset"
        if changed:
            user.save()
        return note
