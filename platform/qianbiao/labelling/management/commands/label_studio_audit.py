"""``manage.py label_studio_audit [--url URL] [--token TOKEN]``

A self-check of the configured Label Studio (``LABEL_STUDIO_URL``, admin token
``LABEL_STUDIO_API_KEY``; ``--url``/``--token`` point it at another one, e.g. the compose
deployment): a throw-away annotator (made, or reused) tries every call the lock-down
forbids with their own token. One line per call with the status it got; the exit status
is non-zero when any call got through or changed data. Its scene (two small projects) is
deleted afterwards.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from annotation.audit import run_audit
from annotation.errors import LabelStudioError


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]
        return _("Try every call Label Studio's lock-down forbids, as a throw-away annotator.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", help=_("Label Studio URL (default: LABEL_STUDIO_URL)."))
        parser.add_argument("--token", help=_("Admin token (default: LABEL_STUDIO_API_KEY)."))

    def handle(self, *args, url: str | None, token: str | None, **options) -> None:
        url = url or settings.LABEL_STUDIO_URL
        token = token or settings.LABEL_STUDIO_API_KEY
        if not token:
            raise CommandError(_("LABEL_STUDIO_API_KEY is not set."))
        try:
            report = run_audit(
                url, token, settings.LABEL_STUDIO_QIANBIAO_SECRET, settings.LABEL_STUDIO_WEBHOOK_URL
            )
        except LabelStudioError as exc:
            raise CommandError(_("Label Studio failed: %(error)s") % {"error": exc}) from exc
        for result in report.results:
            self.stdout.write(result.line())
        failures = report.failures
        if failures:
            raise CommandError(
                _("%(count)s of %(total)s forbidden calls got through or changed data: %(names)s")
                % {
                    "count": len(failures),
                    "total": len(report.results),
                    "names": "; ".join(f"{r.probe.method} {r.probe.path}" for r in failures),
                }
            )
        self.stdout.write(_("All %(total)s forbidden calls were refused.") % {"total": len(report.results)})
