"""Before the compose image serves: Label Studio's migrations, then its admin and
organisation exactly as ``label-studio start`` makes them (``LABEL_STUDIO_USERNAME``,
``LABEL_STUDIO_PASSWORD``, ``LABEL_STUDIO_USER_TOKEN``; idempotent on every start)."""

import argparse
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "label_studio.core.settings.label_studio")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from label_studio.core.utils.params import get_bool_env  # noqa: E402
from label_studio.server import _create_user  # noqa: E402

call_command("migrate", interactive=False)
_create_user(
    argparse.Namespace(
        username=None, password=None, user_token=None, quiet_mode=True,
        enable_legacy_api_token=get_bool_env("ENABLE_LEGACY_API_TOKEN", False),
    ),
    {},
)  # fmt: skip
